//! The collector's record decoder on arbitrary bytes: it must return `Ok` or `Err`, never
//! panic, read out of bounds or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(n) = tickwatch::__fuzz::decode_record(data) {
        // A payload is accepted whole or not at all.
        assert_eq!(n, data.len());
    }
});
