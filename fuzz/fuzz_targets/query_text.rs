//! The log query text parser on arbitrary text: a query or a `QueryError` that points at a
//! token, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        tickwatch::__fuzz::query_text(text);
    }
});
