//! Elliptic curves (to be implemented).

pub struct EcPrivateKey;
pub struct EcPublicKey;
