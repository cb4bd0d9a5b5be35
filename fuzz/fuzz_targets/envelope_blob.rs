//! The KMS ciphertext blob parser and the encryption context parser: any bytes, any text.

#![no_main]

use kms_pkcs11::kms::envelope::{Blob, Context, blob_from_text, blob_to_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(blob) = Blob::parse(data) {
        // A blob that parses splits into parts that cover it exactly.
        assert_eq!(blob.sealed.len(), blob.ciphertext.len() + blob.tag.len());
        assert!(blob.ciphertext.len() < data.len());
        let text = blob_to_text(data);
        assert_eq!(blob_from_text(&text).unwrap(), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = blob_from_text(text);
    }
    let _ = Context::parse(data);
});
