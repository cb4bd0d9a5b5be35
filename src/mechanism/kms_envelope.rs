//! KMS envelope encryption (to be implemented).

use super::{Cipher, Info, Mechanism, Versions};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[];

pub fn cipher_init(_m: &Mechanism, _versions: &Arc<Versions>, _encrypt: bool) -> Result<Box<dyn Cipher>> {
    Err(Error::MechanismInvalid)
}
pub fn wrap_len(_m: &Mechanism, _versions: &Versions, _len: usize) -> Result<usize> {
    Err(Error::MechanismInvalid)
}
pub fn wrap(_m: &Mechanism, _versions: &Versions, _material: &[u8]) -> Result<Vec<u8>> {
    Err(Error::MechanismInvalid)
}
pub fn unwrap(_m: &Mechanism, _versions: &Versions, _wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    Err(Error::MechanismInvalid)
}
