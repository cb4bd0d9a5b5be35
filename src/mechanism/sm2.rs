//! SM2 (to be implemented).

use super::{Cipher, GeneratedPair, Info, LoadedKey, Mechanism, Signer, Verifier};
use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[];

/// Whether DER `CKA_EC_PARAMS` name the SM2 curve.
pub fn is_sm2_params(params: &[u8]) -> bool {
    params == [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d]
}

pub fn cipher_init(_m: &Mechanism, _k: &Arc<LoadedKey>, _encrypt: bool) -> Result<Box<dyn Cipher>> {
    Err(Error::MechanismInvalid)
}
pub fn sign_init(_m: &Mechanism, _k: &Arc<LoadedKey>) -> Result<Box<dyn Signer>> {
    Err(Error::MechanismInvalid)
}
pub fn verify_init(_m: &Mechanism, _k: &Arc<LoadedKey>) -> Result<Box<dyn Verifier>> {
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
pub fn generate_pair(_m: &Mechanism, _p: &Template, _q: &Template) -> Result<GeneratedPair> {
    Err(Error::MechanismInvalid)
}
pub fn import(_class: CK_OBJECT_CLASS, _attrs: &mut Attributes) -> Result<()> {
    Err(Error::AttributeValueInvalid)
}
pub fn load(_class: CK_OBJECT_CLASS, _attrs: &Attributes) -> Result<LoadedKey> {
    Err(Error::KeyTypeInconsistent)
}
pub fn to_pkcs8(_attrs: &Attributes) -> Result<Zeroizing<Vec<u8>>> {
    Err(Error::KeyNotWrappable)
}
pub fn from_pkcs8(_der: &[u8]) -> Result<Attributes> {
    Err(Error::WrappedKeyInvalid)
}
