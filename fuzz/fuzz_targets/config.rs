//! The configuration parser: any text is a configuration or a clear error, never a panic.

#![no_main]

use kms_pkcs11::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match Config::parse(text, "fuzz") {
            Ok(c) => assert!(!c.token.is_empty(), "a parsed configuration has a token"),
            Err(e) => assert!(e.0.starts_with("fuzz"), "errors name where they come from: {}", e.0),
        }
    }
});
