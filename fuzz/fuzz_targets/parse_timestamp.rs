//! `Timestamp`'s RFC 3339 parser on arbitrary text: never panics, and whatever it accepts
//! prints back (in the schema's form) to text that parses to the same instant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwatch::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = text.parse::<Timestamp>() {
        let printed = t.to_string();
        assert_eq!(printed.parse::<Timestamp>(), Ok(t), "{text:?} -> {printed}");
        // JSON: the same string, and integers of nanoseconds.
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }
});
