//! Recovery of an unsealed segment on arbitrary bytes: a prefix of whole frames and a footer
//! that reads back, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tickwatch::__fuzz::segment_recovery(data);
});
