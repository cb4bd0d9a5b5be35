//! `CKM_SHA_1`, `CKM_SHA224`, `CKM_SHA256`, `CKM_SHA384`, `CKM_SHA512` and the vendor `CKM_SM3`:
//! digests, single- and multi-part, and `C_DigestKey` (the token feeds the key's value to
//! `update`).

use super::{Digester, Info, Mechanism, Param, hash_of};
use crate::engine::digest::Hasher;
use crate::engine::sm3::Sm3;
use crate::error::{Error, Result};
use crate::vendor::CKM_SM3;
use cryptoki_sys::*;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[
    (CKM_SHA_1, Info::new(0, 0, CKF_DIGEST)),
    (CKM_SHA224, Info::new(0, 0, CKF_DIGEST)),
    (CKM_SHA256, Info::new(0, 0, CKF_DIGEST)),
    (CKM_SHA384, Info::new(0, 0, CKF_DIGEST)),
    (CKM_SHA512, Info::new(0, 0, CKF_DIGEST)),
    (CKM_SM3, Info::new(0, 0, CKF_DIGEST)),
];

struct Digest(Hasher);

impl Digester for Digest {
    fn len(&self) -> usize {
        self.0.algorithm().len()
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data);
        Ok(())
    }
    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        let d = self.0.finish_reset();
        out[..d.len()].copy_from_slice(&d);
        Ok(d.len())
    }
}

struct Sm3Digest(Sm3);

impl Digester for Sm3Digest {
    fn len(&self) -> usize {
        32
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0.update(data);
        Ok(())
    }
    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        out[..32].copy_from_slice(&self.0.finish_reset());
        Ok(32)
    }
}

pub fn digest_init(mech: &Mechanism) -> Result<Box<dyn Digester>> {
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    if mech.ty == CKM_SM3 {
        return Ok(Box::new(Sm3Digest(Sm3::new())));
    }
    let alg = hash_of(mech.ty).map_err(|_| Error::MechanismInvalid)?;
    Ok(Box::new(Digest(Hasher::new(alg))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_abc_multi_part() {
        let mut d = digest_init(&Mechanism::new(CKM_SHA256)).unwrap();
        assert_eq!(d.len(), 32);
        d.update(b"a").unwrap();
        d.update(b"bc").unwrap();
        let mut out = [0u8; 32];
        assert_eq!(d.finish(&mut out).unwrap(), 32);
        assert_eq!(out[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn sm3_abc() {
        let mut d = digest_init(&Mechanism::new(CKM_SM3)).unwrap();
        d.update(b"abc").unwrap();
        let mut out = [0u8; 32];
        assert_eq!(d.finish(&mut out).unwrap(), 32);
        assert_eq!(out[..4], [0x66, 0xc7, 0xf0, 0xf4]);
    }

    #[test]
    fn parameters_are_refused() {
        let m = Mechanism::with(CKM_SHA256, Param::Bytes(vec![1]));
        assert_eq!(digest_init(&m).err(), Some(Error::MechanismParamInvalid));
    }
}
