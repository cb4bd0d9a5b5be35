//! The crypto engine: typed primitives with no PKCS#11 in them. This is the one small interface
//! that hides which library serves which algorithm: aws-lc-rs for AES, RSA, ECDSA/ECDH on
//! P-256/P-384, SHA-1/SHA-2, HMAC and CMAC; RustCrypto's `k256` for secp256k1 (several times
//! faster there), `rsa` for the few RSA forms aws-lc-rs does not offer, and `aes-kw` for key
//! wrap with a cached key schedule.

pub mod aes;
pub mod digest;
pub mod ec;
pub mod hmac;
pub mod rand;
pub mod rsa;
pub mod sm2;
pub mod sm3;
pub mod sm4;

/// A primitive failed; the mechanism layer says what that means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoError;

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cryptographic operation failed")
    }
}

impl std::error::Error for CryptoError {}

impl From<aws_lc_rs::error::Unspecified> for CryptoError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        CryptoError
    }
}

impl From<aws_lc_rs::error::KeyRejected> for CryptoError {
    fn from(_: aws_lc_rs::error::KeyRejected) -> Self {
        CryptoError
    }
}
