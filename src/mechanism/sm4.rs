//! SM4 (to be implemented).

use super::{Cipher, Generated, Info, LoadedKey, Mechanism};
use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[];

pub fn cipher_init(_m: &Mechanism, _k: &Arc<LoadedKey>, _encrypt: bool) -> Result<Box<dyn Cipher>> {
    Err(Error::MechanismInvalid)
}
pub fn wrap_len(_m: &Mechanism, _k: &LoadedKey, _len: usize) -> Result<usize> {
    Err(Error::MechanismInvalid)
}
pub fn wrap(_m: &Mechanism, _k: &LoadedKey, _material: &[u8]) -> Result<Vec<u8>> {
    Err(Error::MechanismInvalid)
}
pub fn unwrap(_m: &Mechanism, _k: &LoadedKey, _wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    Err(Error::MechanismInvalid)
}
pub fn generate(_m: &Mechanism, _t: &Template) -> Result<Generated> {
    Err(Error::MechanismInvalid)
}
pub fn import(_class: CK_OBJECT_CLASS, _attrs: &mut Attributes) -> Result<()> {
    Err(Error::AttributeValueInvalid)
}
pub fn load(_class: CK_OBJECT_CLASS, _attrs: &Attributes) -> Result<LoadedKey> {
    Err(Error::KeyTypeInconsistent)
}
