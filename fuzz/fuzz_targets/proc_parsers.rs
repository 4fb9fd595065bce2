//! The resource sampler's procfs parsers (`/proc/*/stat`, `status`, `schedstat`) on
//! arbitrary text: they must return `Ok` or `Err`, never panic or loop. A process name in a
//! stat line may hold any bytes, so invalid UTF-8 is fed the way the sampler reads files:
//! lossily converted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let accepted = tickwatch::__fuzz::parse_proc(&text);
    assert!(accepted <= 3);
});
