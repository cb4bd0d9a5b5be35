//! RSA (to be implemented).

pub struct RsaPrivateKey;
pub struct RsaPublicKey;
