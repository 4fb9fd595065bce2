//! The segment reader on arbitrary bytes: frames, dictionary and records decoded or refused,
//! never a panic, an out-of-bounds read or an endless loop.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tickwatch::__fuzz::segment(data);
});
