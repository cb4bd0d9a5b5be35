//! SM2 (to be implemented).

pub struct Sm2PrivateKey;
pub struct Sm2PublicKey;
