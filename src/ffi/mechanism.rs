//! Decodes a caller's `CK_MECHANISM` and the parameter structure its type implies into a
//! [`Mechanism`]. A parameter of the wrong size for its type is `CKR_MECHANISM_PARAM_INVALID`.

use super::util::input;
use crate::error::{Error, Result};
use crate::mechanism::{Mechanism, Param};
use crate::vendor::{CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT, CKM_SM4_CTR, CKM_SM4_GCM};

/// `CK_KMS_DATA_KEY_PARAMS` of `include/kms_pkcs11.h`.
#[repr(C)]
#[derive(Clone, Copy)]
struct DataKeyParams {
    key_len: CK_ULONG,
    context: *mut CK_BYTE,
    context_len: CK_ULONG,
}
use cryptoki_sys::*;
use std::mem::size_of;

/// `CK_GCM_PARAMS` as the 2.40 headers printed it, without `ulIvBits`; some callers still
/// pass this layout, recognisable by its size.
#[repr(C)]
#[derive(Clone, Copy)]
struct GcmParams240 {
    iv: *mut CK_BYTE,
    iv_len: CK_ULONG,
    aad: *mut CK_BYTE,
    aad_len: CK_ULONG,
    tag_bits: CK_ULONG,
}

/// Reads the parameter as a `T` when its length is exactly `T`'s.
///
/// # Safety
/// `m.pParameter` must be readable for `m.ulParameterLen` bytes when non-null.
unsafe fn read_param<T: Copy>(m: &CK_MECHANISM) -> Result<T> {
    if m.pParameter.is_null() || m.ulParameterLen as usize != size_of::<T>() {
        return Err(Error::MechanismParamInvalid);
    }
    // SAFETY: non-null and exactly size_of::<T>() readable bytes; read unaligned.
    Ok(unsafe { (m.pParameter as *const T).read_unaligned() })
}

/// Caller bytes referenced from inside a parameter structure.
///
/// # Safety
/// As [`input`].
unsafe fn param_bytes(ptr: *const CK_BYTE, len: CK_ULONG) -> Result<Vec<u8>> {
    // SAFETY: caller's guarantee, passed on.
    unsafe { input(ptr, len) }.map(<[u8]>::to_vec).map_err(|_| Error::MechanismParamInvalid)
}

/// # Safety
/// `ptr` must be null or point to a `CK_MECHANISM` whose parameter is readable as described by
/// its length and, for structured parameters, whose inner pointers are readable for their
/// lengths.
pub unsafe fn mechanism(ptr: *const CK_MECHANISM) -> Result<Mechanism> {
    if ptr.is_null() {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: non-null, a CK_MECHANISM per the caller.
    let m = unsafe { ptr.read_unaligned() };
    let ty = m.mechanism;
    // SAFETY (all blocks below): the caller guarantees the parameter's memory as described above.
    let param = match ty {
        CKM_AES_GCM | CKM_SM4_GCM => unsafe { gcm(&m)? },
        CKM_AES_CTR | CKM_SM4_CTR => {
            let p: CK_AES_CTR_PARAMS = unsafe { read_param(&m)? };
            Param::Ctr { counter_bits: p.ulCounterBits as u64, counter_block: p.cb }
        }
        CKM_RSA_PKCS_OAEP => {
            let p: CK_RSA_PKCS_OAEP_PARAMS = unsafe { read_param(&m)? };
            let source = match p.source {
                0 => Vec::new(),
                CKZ_DATA_SPECIFIED => unsafe {
                    param_bytes(p.pSourceData as *const CK_BYTE, p.ulSourceDataLen)?
                },
                _ => return Err(Error::MechanismParamInvalid),
            };
            Param::Oaep { hash: p.hashAlg, mgf: p.mgf, source }
        }
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => {
            let p: CK_RSA_PKCS_PSS_PARAMS = unsafe { read_param(&m)? };
            Param::Pss { hash: p.hashAlg, mgf: p.mgf, salt_len: p.sLen as u64 }
        }
        CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE => {
            let p: CK_ECDH1_DERIVE_PARAMS = unsafe { read_param(&m)? };
            Param::Ecdh {
                kdf: p.kdf,
                shared_data: unsafe { param_bytes(p.pSharedData, p.ulSharedDataLen)? },
                public_data: unsafe { param_bytes(p.pPublicData, p.ulPublicDataLen)? },
            }
        }
        CKM_SHA_1_HMAC_GENERAL
        | CKM_SHA224_HMAC_GENERAL
        | CKM_SHA256_HMAC_GENERAL
        | CKM_SHA384_HMAC_GENERAL
        | CKM_SHA512_HMAC_GENERAL
        | CKM_AES_CMAC_GENERAL => {
            let n: CK_MAC_GENERAL_PARAMS = unsafe { read_param(&m)? };
            Param::Ulong(n as u64)
        }
        CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT => {
            let p: DataKeyParams = unsafe { read_param(&m)? };
            Param::DataKey { len: p.key_len, context: unsafe { param_bytes(p.context, p.context_len)? } }
        }
        _ if m.ulParameterLen == 0 => Param::None,
        _ => Param::Bytes(unsafe { param_bytes(m.pParameter as *const CK_BYTE, m.ulParameterLen)? }),
    };
    Ok(Mechanism { ty, param })
}

/// # Safety
/// As [`mechanism`].
unsafe fn gcm(m: &CK_MECHANISM) -> Result<Param> {
    // SAFETY (all blocks): the caller's parameter memory, per the contract above.
    let (iv, aad, tag_bits) = if m.ulParameterLen as usize == size_of::<CK_GCM_PARAMS>() {
        let p: CK_GCM_PARAMS = unsafe { read_param(m)? };
        (unsafe { param_bytes(p.pIv, p.ulIvLen)? }, unsafe { param_bytes(p.pAAD, p.ulAADLen)? }, p.ulTagBits)
    } else {
        let p: GcmParams240 = unsafe { read_param(m)? };
        (unsafe { param_bytes(p.iv, p.iv_len)? }, unsafe { param_bytes(p.aad, p.aad_len)? }, p.tag_bits)
    };
    Ok(Param::Gcm { iv, aad, tag_bits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_both_layouts() {
        let mut iv = [7u8; 12];
        let mut aad = [1u8, 2];
        let p = CK_GCM_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: 12,
            ulIvBits: 96,
            pAAD: aad.as_mut_ptr(),
            ulAADLen: 2,
            ulTagBits: 128,
        };
        let m = CK_MECHANISM {
            mechanism: CKM_AES_GCM,
            pParameter: &p as *const _ as *mut _,
            ulParameterLen: size_of::<CK_GCM_PARAMS>() as CK_ULONG,
        };
        // SAFETY: everything points into this frame.
        let got = unsafe { mechanism(&m) }.unwrap();
        assert_eq!(got.param, Param::Gcm { iv: iv.to_vec(), aad: aad.to_vec(), tag_bits: 128 });
        let old =
            GcmParams240 { iv: iv.as_mut_ptr(), iv_len: 12, aad: aad.as_mut_ptr(), aad_len: 2, tag_bits: 96 };
        let m = CK_MECHANISM {
            mechanism: CKM_AES_GCM,
            pParameter: &old as *const _ as *mut _,
            ulParameterLen: size_of::<GcmParams240>() as CK_ULONG,
        };
        // SAFETY: as above.
        let got = unsafe { mechanism(&m) }.unwrap();
        assert_eq!(got.param, Param::Gcm { iv: iv.to_vec(), aad: aad.to_vec(), tag_bits: 96 });
    }

    #[test]
    fn wrong_parameter_size_is_param_invalid() {
        let n: CK_ULONG = 0;
        let m =
            CK_MECHANISM { mechanism: CKM_AES_CTR, pParameter: &n as *const _ as *mut _, ulParameterLen: 8 };
        // SAFETY: points into this frame.
        assert_eq!(unsafe { mechanism(&m) }.err(), Some(Error::MechanismParamInvalid));
        // SAFETY: null is checked.
        assert_eq!(unsafe { mechanism(std::ptr::null()) }.err(), Some(Error::ArgumentsBad));
    }

    #[test]
    fn plain_iv_is_bytes() {
        let iv = [9u8; 16];
        let m =
            CK_MECHANISM { mechanism: CKM_AES_CBC, pParameter: iv.as_ptr() as *mut _, ulParameterLen: 16 };
        // SAFETY: points into this frame.
        assert_eq!(unsafe { mechanism(&m) }.unwrap().param, Param::Bytes(iv.to_vec()));
    }
}
