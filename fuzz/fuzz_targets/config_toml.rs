//! The configuration loader on arbitrary text, with and without an environment override:
//! a `Config` or a `ConfigError`, never a panic (the error's key and line come from slicing
//! the text around the parser's span: this is what checks that slicing).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tickwatch::Config::from_toml(text);
        let env = [("TICKWATCH_PIPELINE__LEVEL", text)];
        let _ = tickwatch::Config::from_toml_with_env("[pipeline]\n", env);
    }
});
