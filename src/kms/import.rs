//! Bring your own key (reference/kms-api.md §7, §16; DESIGN §1): the wrapping key specs and
//! algorithms of GetParametersForImport, which material each key spec takes, which PKCS#11
//! mechanism carries each algorithm, and the checks an import passes before it changes anything.

use super::{KeySpec, KmsCode, KmsError};
use crate::mechanism::{Mechanism, Param};
use aws_lc_rs::hmac;
use cryptoki_sys::*;

/// How long an import token (and its wrapping key pair) lives.
pub const TOKEN_LIFETIME: u64 = 24 * 3600;

/// The key pair GetParametersForImport makes to receive the material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingSpec {
    Rsa2048,
    EcSm2,
}

impl WrappingSpec {
    pub fn name(self) -> &'static str {
        match self {
            WrappingSpec::Rsa2048 => "RSA_2048",
            WrappingSpec::EcSm2 => "EC_SM2",
        }
    }

    pub fn parse(name: &str) -> Result<WrappingSpec, KmsError> {
        [WrappingSpec::Rsa2048, WrappingSpec::EcSm2].into_iter().find(|s| s.name() == name).ok_or_else(|| {
            KmsError::new(
                KmsCode::InvalidParameter,
                format!("WrappingKeySpec {name:?}: use RSA_2048 or EC_SM2"),
            )
        })
    }
}

/// How the customer encrypts the material under the wrapping public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingAlgorithm {
    OaepSha256,
    OaepSha1,
    Pkcs1V15,
    /// RSA-OAEP of a fresh AES-256 key, then AES-KWP of the material under it
    /// (`CKM_RSA_AES_KEY_WRAP`; the only way to bring asymmetric material).
    RsaAesSha256,
    RsaAesSha1,
    Sm2Pke,
}

const ALGORITHMS: [WrappingAlgorithm; 6] = [
    WrappingAlgorithm::OaepSha256,
    WrappingAlgorithm::OaepSha1,
    WrappingAlgorithm::Pkcs1V15,
    WrappingAlgorithm::RsaAesSha256,
    WrappingAlgorithm::RsaAesSha1,
    WrappingAlgorithm::Sm2Pke,
];

impl WrappingAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            WrappingAlgorithm::OaepSha256 => "RSAES_OAEP_SHA_256",
            WrappingAlgorithm::OaepSha1 => "RSAES_OAEP_SHA_1",
            WrappingAlgorithm::Pkcs1V15 => "RSAES_PKCS1_V1_5",
            WrappingAlgorithm::RsaAesSha256 => "RSA_AES_KEY_WRAP_SHA_256",
            WrappingAlgorithm::RsaAesSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            WrappingAlgorithm::Sm2Pke => "SM2PKE",
        }
    }

    pub fn parse(name: &str) -> Result<WrappingAlgorithm, KmsError> {
        ALGORITHMS.into_iter().find(|a| a.name() == name).ok_or_else(|| {
            let all: Vec<_> = ALGORITHMS.iter().map(|a| a.name()).collect();
            KmsError::new(
                KmsCode::InvalidParameter,
                format!("WrappingAlgorithm {name:?}: use one of {}", all.join(", ")),
            )
        })
    }

    pub fn spec(self) -> WrappingSpec {
        if self == WrappingAlgorithm::Sm2Pke { WrappingSpec::EcSm2 } else { WrappingSpec::Rsa2048 }
    }

    /// The OAEP hash (and MGF1 hash) of the RSA algorithms that use OAEP.
    fn oaep(self) -> Option<(CK_MECHANISM_TYPE, CK_RSA_PKCS_MGF_TYPE)> {
        match self {
            WrappingAlgorithm::OaepSha256 | WrappingAlgorithm::RsaAesSha256 => {
                Some((CKM_SHA256, CKG_MGF1_SHA256))
            }
            WrappingAlgorithm::OaepSha1 | WrappingAlgorithm::RsaAesSha1 => Some((CKM_SHA_1, CKG_MGF1_SHA1)),
            _ => None,
        }
    }

    /// The PKCS#11 mechanism that undoes this algorithm: what `kmsctl import-key-material`
    /// unwraps with, and what `C_UnwrapKey` must be called with.
    pub fn mechanism(self) -> Mechanism {
        let oaep = self.oaep().map(|(hash, mgf)| Param::Oaep { hash, mgf, source: Vec::new() });
        match self {
            WrappingAlgorithm::OaepSha256 | WrappingAlgorithm::OaepSha1 => {
                Mechanism::with(CKM_RSA_PKCS_OAEP, oaep.unwrap_or(Param::None))
            }
            WrappingAlgorithm::Pkcs1V15 => Mechanism::new(CKM_RSA_PKCS),
            WrappingAlgorithm::RsaAesSha256 | WrappingAlgorithm::RsaAesSha1 => {
                let oaep = Box::new(oaep.unwrap_or(Param::None));
                Mechanism::with(CKM_RSA_AES_KEY_WRAP, Param::RsaAes { aes_key_bits: 256, oaep })
            }
            WrappingAlgorithm::Sm2Pke => Mechanism::new(crate::vendor::CKM_SM2_CIPHER_DER),
        }
    }

    /// Whether `C_UnwrapKey`'s mechanism is this algorithm. The OAEP hashes must be the ones
    /// the parameters were issued for; an RSA-AES caller may pick its AES key size, and SM2
    /// ciphertexts come in either layout.
    pub fn accepts(self, mech: &Mechanism) -> bool {
        let oaep_matches = |p: &Param| match p {
            Param::Oaep { hash, mgf, source } => self.oaep() == Some((*hash, *mgf)) && source.is_empty(),
            _ => false,
        };
        match (self, mech.ty) {
            (WrappingAlgorithm::OaepSha256 | WrappingAlgorithm::OaepSha1, CKM_RSA_PKCS_OAEP) => {
                oaep_matches(&mech.param)
            }
            (WrappingAlgorithm::Pkcs1V15, CKM_RSA_PKCS) => true,
            (WrappingAlgorithm::RsaAesSha256 | WrappingAlgorithm::RsaAesSha1, CKM_RSA_AES_KEY_WRAP) => {
                matches!(&mech.param, Param::RsaAes { oaep, .. } if oaep_matches(oaep))
            }
            (WrappingAlgorithm::Sm2Pke, crate::vendor::CKM_SM2_RAW | crate::vendor::CKM_SM2_CIPHER_DER) => {
                true
            }
            _ => false,
        }
    }
}

/// The specs an EXTERNAL key may have.
pub fn check_external_spec(spec: KeySpec) -> Result<(), KmsError> {
    match spec {
        KeySpec::Aes128
        | KeySpec::Aes192
        | KeySpec::Aes256
        | KeySpec::Sm4
        | KeySpec::Rsa2048
        | KeySpec::Rsa3072
        | KeySpec::Rsa4096
        | KeySpec::EcP256
        | KeySpec::EcP256K
        | KeySpec::EcSm2 => Ok(()),
        other => Err(KmsError::new(
            KmsCode::UnsupportedOperation,
            format!("keys of spec {} cannot be imported", other.name()),
        )),
    }
}

/// Whether material for a key of `spec` can travel with `algorithm` (reference §7, §16): SM2PKE
/// carries SM4 keys only, and asymmetric material (PKCS#8, longer than one RSA block) needs
/// the RSA-AES two-layer wrap.
pub fn check_algorithm(spec: KeySpec, algorithm: WrappingAlgorithm) -> Result<(), KmsError> {
    let refuse = |why: &str| Err(KmsError::new(KmsCode::InvalidParameter, why.to_string()));
    match algorithm {
        WrappingAlgorithm::Sm2Pke if spec != KeySpec::Sm4 => {
            refuse("SM2PKE wraps Aliyun_SM4 key material only")
        }
        WrappingAlgorithm::OaepSha256 | WrappingAlgorithm::OaepSha1 | WrappingAlgorithm::Pkcs1V15
            if !spec.is_symmetric() =>
        {
            refuse(
                "asymmetric key material (PKCS#8) needs RSA_AES_KEY_WRAP_SHA_256 or RSA_AES_KEY_WRAP_SHA_1",
            )
        }
        _ => Ok(()),
    }
}

/// The bytes of symmetric material a key of `spec` takes.
pub fn symmetric_len(spec: KeySpec) -> Option<usize> {
    match spec {
        KeySpec::Aes128 | KeySpec::Sm4 => Some(16),
        KeySpec::Aes192 => Some(24),
        KeySpec::Aes256 => Some(32),
        _ => None,
    }
}

/// Symmetric material of the wrong length is refused before anything changes.
pub fn check_symmetric_len(spec: KeySpec, len: usize) -> Result<(), KmsError> {
    match symmetric_len(spec) {
        Some(want) if want == len => Ok(()),
        Some(want) => Err(KmsError::new(
            KmsCode::InvalidKeyMaterial,
            format!("key material for {} is {want} bytes, got {len}", spec.name()),
        )),
        None => Ok(()),
    }
}

/// `KeyMaterialExpireUnix`: 0 (never) or a time still to come.
pub fn check_expiry(expire: u64, now: u64) -> Result<(), KmsError> {
    if expire != 0 && expire <= now {
        return Err(KmsError::new(KmsCode::InvalidParameter, "KeyMaterialExpireUnix is not in the future"));
    }
    Ok(())
}

/// A digest of imported material, keyed by the token master key so that the store holds
/// nothing a guess could be checked against without it: what a re-import is compared with.
pub fn material_digest(master_key: &[u8; 32], material: &[u8]) -> Vec<u8> {
    let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, master_key), b"kms-pkcs11 import digest v1");
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()), material).as_ref().to_vec()
}

/// A re-import must bring the material the key had (reference §7).
pub fn check_same_material(recorded: &[u8], digest: &[u8]) -> Result<(), KmsError> {
    if recorded.is_empty() || aws_lc_rs::constant_time::verify_slices_are_equal(recorded, digest).is_ok() {
        return Ok(());
    }
    Err(KmsError::new(
        KmsCode::IncorrectKeyMaterial,
        "the key material differs from what this key had; only the same material can be imported again",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for a in ALGORITHMS {
            assert_eq!(WrappingAlgorithm::parse(a.name()).unwrap(), a);
        }
        assert_eq!(
            WrappingAlgorithm::parse("RSAES_OAEP_SHA_512").unwrap_err().code,
            KmsCode::InvalidParameter
        );
        assert_eq!(WrappingSpec::parse("EC_SM2").unwrap(), WrappingSpec::EcSm2);
        assert!(WrappingSpec::parse("RSA_4096").is_err());
        assert_eq!(WrappingAlgorithm::Sm2Pke.spec(), WrappingSpec::EcSm2);
        assert_eq!(WrappingAlgorithm::RsaAesSha1.spec(), WrappingSpec::Rsa2048);
    }

    #[test]
    fn algorithms_fit_their_key_specs() {
        assert!(check_algorithm(KeySpec::Aes256, WrappingAlgorithm::OaepSha256).is_ok());
        assert!(check_algorithm(KeySpec::Aes256, WrappingAlgorithm::RsaAesSha256).is_ok());
        assert!(check_algorithm(KeySpec::Sm4, WrappingAlgorithm::Sm2Pke).is_ok());
        assert!(check_algorithm(KeySpec::Aes256, WrappingAlgorithm::Sm2Pke).is_err());
        assert!(check_algorithm(KeySpec::Rsa2048, WrappingAlgorithm::OaepSha256).is_err());
        assert!(check_algorithm(KeySpec::EcP256, WrappingAlgorithm::RsaAesSha1).is_ok());
        assert!(check_external_spec(KeySpec::GenericSecret).is_err());
    }

    #[test]
    fn the_unwrap_mechanism_must_be_the_issued_algorithm() {
        for a in ALGORITHMS {
            assert!(a.accepts(&a.mechanism()), "{}", a.name());
        }
        let sha1 = WrappingAlgorithm::OaepSha1.mechanism();
        assert!(!WrappingAlgorithm::OaepSha256.accepts(&sha1));
        assert!(!WrappingAlgorithm::OaepSha256.accepts(&Mechanism::new(CKM_RSA_PKCS)));
        let labelled = Mechanism::with(
            CKM_RSA_PKCS_OAEP,
            Param::Oaep { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, source: b"x".to_vec() },
        );
        assert!(!WrappingAlgorithm::OaepSha256.accepts(&labelled));
        assert!(WrappingAlgorithm::Sm2Pke.accepts(&Mechanism::new(crate::vendor::CKM_SM2_RAW)));
        assert!(!WrappingAlgorithm::RsaAesSha256.accepts(&WrappingAlgorithm::RsaAesSha1.mechanism()));
    }

    #[test]
    fn material_lengths_expiry_and_re_import() {
        assert!(check_symmetric_len(KeySpec::Aes256, 32).is_ok());
        assert_eq!(check_symmetric_len(KeySpec::Aes256, 16).unwrap_err().code, KmsCode::InvalidKeyMaterial);
        assert!(check_symmetric_len(KeySpec::Sm4, 16).is_ok());
        assert!(check_symmetric_len(KeySpec::Sm4, 32).is_err());
        assert!(check_expiry(0, 100).is_ok());
        assert!(check_expiry(101, 100).is_ok());
        assert!(check_expiry(100, 100).is_err());
        let mk = [7u8; 32];
        let d = material_digest(&mk, b"material");
        assert_ne!(d, material_digest(&[8u8; 32], b"material"), "keyed by the master key");
        assert!(check_same_material(&[], &d).is_ok());
        assert!(check_same_material(&d, &material_digest(&mk, b"material")).is_ok());
        assert_eq!(
            check_same_material(&d, &material_digest(&mk, b"other")).unwrap_err().code,
            KmsCode::IncorrectKeyMaterial
        );
    }
}
