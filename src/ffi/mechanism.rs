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
            // SAFETY: the label is caller memory under the same guarantee.
            unsafe { oaep(&p)? }
        }
        // SAFETY: the parameter and the OAEP structure it points to are the caller's guarantee.
        CKM_RSA_AES_KEY_WRAP => unsafe { rsa_aes(&m)? },
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

/// `CK_RSA_PKCS_OAEP_PARAMS`, alone (`CKM_RSA_PKCS_OAEP`) or inside `CK_RSA_AES_KEY_WRAP_PARAMS`.
///
/// # Safety
/// `p.pSourceData` must be readable for `p.ulSourceDataLen` bytes when non-null.
unsafe fn oaep(p: &CK_RSA_PKCS_OAEP_PARAMS) -> Result<Param> {
    let source = match p.source {
        0 => Vec::new(),
        // SAFETY: the caller's guarantee for the label, passed on.
        CKZ_DATA_SPECIFIED => unsafe { param_bytes(p.pSourceData as *const CK_BYTE, p.ulSourceDataLen)? },
        _ => return Err(Error::MechanismParamInvalid),
    };
    Ok(Param::Oaep { hash: p.hashAlg, mgf: p.mgf, source })
}

/// `CK_RSA_AES_KEY_WRAP_PARAMS`. Only AES-128, -192 and -256 keys exist, so any other size is a
/// bad parameter rather than something for the mechanism to refuse later.
///
/// # Safety
/// As [`mechanism`]; `pOAEPParams`, when non-null, must point to a readable
/// `CK_RSA_PKCS_OAEP_PARAMS` whose label is readable for its length.
unsafe fn rsa_aes(m: &CK_MECHANISM) -> Result<Param> {
    // SAFETY: the caller guarantees the parameter's memory; `read_param` checks null and size.
    let p: CK_RSA_AES_KEY_WRAP_PARAMS = unsafe { read_param(m)? };
    if !matches!(p.ulAESKeyBits, 128 | 192 | 256) || p.pOAEPParams.is_null() {
        return Err(Error::MechanismParamInvalid);
    }
    // SAFETY: non-null, and a CK_RSA_PKCS_OAEP_PARAMS per the caller; read unaligned since it
    // is caller memory.
    let inner = unsafe { p.pOAEPParams.read_unaligned() };
    // SAFETY: the label's memory is the caller's guarantee, passed on.
    let oaep = unsafe { oaep(&inner)? };
    Ok(Param::RsaAes { aes_key_bits: p.ulAESKeyBits as u64, oaep: Box::new(oaep) })
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
    fn rsa_aes_key_wrap_parameters() {
        let label = *b"lbl";
        let mut oaep = CK_RSA_PKCS_OAEP_PARAMS {
            hashAlg: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            source: CKZ_DATA_SPECIFIED,
            pSourceData: label.as_ptr() as *mut _,
            ulSourceDataLen: 3,
        };
        let parse = |bits: CK_ULONG, oaep: *mut CK_RSA_PKCS_OAEP_PARAMS, len: usize| {
            let p = CK_RSA_AES_KEY_WRAP_PARAMS { ulAESKeyBits: bits, pOAEPParams: oaep };
            let m = CK_MECHANISM {
                mechanism: CKM_RSA_AES_KEY_WRAP,
                pParameter: &p as *const _ as *mut _,
                ulParameterLen: len as CK_ULONG,
            };
            // SAFETY: everything points into this frame or is null.
            unsafe { mechanism(&m) }.map(|m| m.param)
        };
        let size = size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>();
        let expected = |bits| Param::RsaAes {
            aes_key_bits: bits,
            oaep: Box::new(Param::Oaep { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, source: label.to_vec() }),
        };
        for bits in [128, 192, 256] {
            assert_eq!(parse(bits, &mut oaep, size), Ok(expected(bits)));
        }
        let invalid = Err(Error::MechanismParamInvalid);
        for bits in [0, 64, 255, 512] {
            assert_eq!(parse(bits, &mut oaep, size), invalid, "{bits} bits");
        }
        assert_eq!(parse(256, std::ptr::null_mut(), size), invalid, "no OAEP parameters");
        assert_eq!(parse(256, &mut oaep, size - 1), invalid, "short");
        assert_eq!(parse(256, &mut oaep, 0), invalid, "empty");
        let m = CK_MECHANISM {
            mechanism: CKM_RSA_AES_KEY_WRAP,
            pParameter: std::ptr::null_mut(),
            ulParameterLen: 0,
        };
        // SAFETY: a null parameter, which is checked.
        assert_eq!(unsafe { mechanism(&m) }.map(|m| m.param), invalid, "null parameter");
        // The OAEP parameters are checked as CKM_RSA_PKCS_OAEP checks them.
        oaep.source = 7;
        assert_eq!(parse(256, &mut oaep, size), invalid, "unknown label source");
        oaep.source = CKZ_DATA_SPECIFIED;
        oaep.pSourceData = std::ptr::null_mut();
        assert_eq!(parse(256, &mut oaep, size), invalid, "label length without a label");
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
