//! Vendor values the library accepts beyond the standard; the Rust mirror of
//! `include/kms_pkcs11.h` (a test checks that the two agree).

use cryptoki_sys::{CK_ATTRIBUTE_TYPE, CK_KEY_TYPE, CK_MECHANISM_TYPE};

/// SM2 key pair; `CKA_EC_PARAMS` is the SM2 curve OID 1.2.156.10197.1.301.
pub const CKK_SM2: CK_KEY_TYPE = 0x8000_0004;
/// SM4 secret key, 16 bytes.
pub const CKK_SM4: CK_KEY_TYPE = 0x8000_0002;

/// Generate an SM2 key pair.
pub const CKM_SM2_KEY_PAIR_GEN: CK_MECHANISM_TYPE = 0x8000_8001;
/// Sign/verify a caller-supplied 32-byte digest e; signature r‖s.
pub const CKM_SM2: CK_MECHANISM_TYPE = 0x8000_8000;
/// SM3(Z_A ‖ M) inside; parameter = signer ID; signature r‖s.
pub const CKM_SM3_SM2: CK_MECHANISM_TYPE = 0x8000_8100;
/// As [`CKM_SM3_SM2`], signature DER `SEQUENCE { r, s }`.
pub const CKM_SM3_SM2_DER: CK_MECHANISM_TYPE = 0x8000_8101;
/// SM2 encryption, ciphertext C1 ‖ C3 ‖ C2.
pub const CKM_SM2_RAW: CK_MECHANISM_TYPE = 0x8000_8200;
/// SM2 encryption, GM/T 0009 DER ciphertext.
pub const CKM_SM2_CIPHER_DER: CK_MECHANISM_TYPE = 0x8000_8201;
/// SM3 digest.
pub const CKM_SM3: CK_MECHANISM_TYPE = 0x8000_0005;
/// Generate a 16-byte SM4 key.
pub const CKM_SM4_KEY_GEN: CK_MECHANISM_TYPE = 0x8000_0107;
/// SM4-ECB, no padding.
pub const CKM_SM4_ECB: CK_MECHANISM_TYPE = 0x8000_0108;
/// SM4-CBC, no padding.
pub const CKM_SM4_CBC: CK_MECHANISM_TYPE = 0x8000_0109;
/// SM4-CBC with PKCS#7 padding.
pub const CKM_SM4_CBC_PAD: CK_MECHANISM_TYPE = 0x8000_010C;
/// SM4-GCM, `CK_GCM_PARAMS`.
pub const CKM_SM4_GCM: CK_MECHANISM_TYPE = 0x8000_010F;
/// SM4-CTR, `CK_AES_CTR_PARAMS` layout.
pub const CKM_SM4_CTR: CK_MECHANISM_TYPE = 0x8000_0110;

/// First value of the KMS attribute block (`CKA_VENDOR_DEFINED | 0x004B4D00`).
pub const CKA_KMS_BASE: CK_ATTRIBUTE_TYPE = 0x804B_4D00;
/// First value of the KMS mechanism block (`CKM_VENDOR_DEFINED | 0x004B4D00`).
pub const CKM_KMS_BASE: CK_MECHANISM_TYPE = 0x804B_4D00;

/// The managed key's id (UTF-8, a 36-character UUID).
pub const CKA_KMS_KEY_ID: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x01;
/// The key version this object acts with (UTF-8 UUID); on a managed key, the primary's.
pub const CKA_KMS_KEY_VERSION_ID: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x02;
/// The primary version of the managed key (UTF-8 UUID).
pub const CKA_KMS_PRIMARY_VERSION_ID: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x03;
/// Key spec (UTF-8): `Aliyun_AES_256`, `Aliyun_SM4`, `RSA_2048`, `EC_P256`, `EC_P256K`, `EC_SM2`, …
pub const CKA_KMS_KEY_SPEC: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x04;
/// Key usage (UTF-8): `ENCRYPT/DECRYPT`, `SIGN/VERIFY`, or both joined by a comma.
pub const CKA_KMS_KEY_USAGE: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x05;
/// Key state (UTF-8): `Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`.
pub const CKA_KMS_KEY_STATE: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x06;
/// Origin (UTF-8): `Aliyun_KMS` or `EXTERNAL`.
pub const CKA_KMS_ORIGIN: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x07;
/// Automatic rotation interval in seconds (CK_ULONG); 0 = no automatic rotation.
pub const CKA_KMS_ROTATION_INTERVAL: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x08;
/// When the next automatic rotation is due, Unix seconds (CK_ULONG); 0 = none.
pub const CKA_KMS_NEXT_ROTATION: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x09;
/// When a key pending deletion is deleted, Unix seconds (CK_ULONG); 0 = not pending.
pub const CKA_KMS_DELETION_DATE: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x0A;
/// Tags: a JSON object of strings (UTF-8).
pub const CKA_KMS_TAGS: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x0B;
/// Aliases: a JSON array of `alias/…` names (UTF-8).
pub const CKA_KMS_ALIASES: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x0C;
/// Description (UTF-8).
pub const CKA_KMS_DESCRIPTION: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x0D;
/// Creation time, Unix seconds (CK_ULONG).
pub const CKA_KMS_CREATION_DATE: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x0E;
/// Deletion protection (CK_BBOOL).
pub const CKA_KMS_DELETION_PROTECTION: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x0F;
/// Protection level (UTF-8): `SOFTWARE` (local backend) or `HSM`.
pub const CKA_KMS_PROTECTION_LEVEL: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x10;
/// True on an object that is one version of a managed key rather than the key itself
/// (CK_BBOOL); searches see version objects only when they name this attribute or a version id.
pub const CKA_KMS_IS_VERSION: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x11;
/// When the last rotation happened, Unix seconds (CK_ULONG); 0 = never.
pub const CKA_KMS_LAST_ROTATION: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x12;
/// When imported material expires and is erased (BYOK), Unix seconds (CK_ULONG); 0 = never.
pub const CKA_KMS_MATERIAL_EXPIRY: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x13;
/// On an import wrapping key pair (GetParametersForImport): the key id of the CMK whose material
/// it carries (UTF-8). In a `C_UnwrapKey` template, `CKA_KMS_KEY_ID` names that CMK instead.
pub const CKA_KMS_IMPORT_KEY_ID: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x14;
/// On an import wrapping key pair: its import token (UTF-8).
pub const CKA_KMS_IMPORT_TOKEN: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x15;
/// On an import wrapping key pair: when its import token expires, Unix seconds (CK_ULONG).
pub const CKA_KMS_IMPORT_EXPIRY: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x16;
/// On an import wrapping key pair: the wrapping algorithm it was issued for
/// (`RSAES_OAEP_SHA_256`, `RSAES_OAEP_SHA_1`, `RSAES_PKCS1_V1_5`, `RSA_AES_KEY_WRAP_SHA_256`,
/// `RSA_AES_KEY_WRAP_SHA_1`, `SM2PKE`).
pub const CKA_KMS_WRAPPING_ALGORITHM: CK_ATTRIBUTE_TYPE = CKA_KMS_BASE + 0x17;

/// KMS Encrypt/Decrypt (and data-key wrap/unwrap): ciphertext blobs of DESIGN §1; parameter =
/// the encryption context as JSON, or none.
pub const CKM_KMS_ENVELOPE: CK_MECHANISM_TYPE = CKM_KMS_BASE + 0x01;
/// GenerateDataKeyWithoutPlaintext through `C_Encrypt` of no data: the output is the blob of a
/// fresh data key that never leaves the token in the clear; parameter `CK_KMS_DATA_KEY_PARAMS`.
pub const CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT: CK_MECHANISM_TYPE = CKM_KMS_BASE + 0x02;

/// Every value above by its C name, for the header check and for logs.
pub const ALL: &[(&str, u64)] = &[
    ("CKK_SM2", CKK_SM2),
    ("CKK_SM4", CKK_SM4),
    ("CKM_SM2_KEY_PAIR_GEN", CKM_SM2_KEY_PAIR_GEN),
    ("CKM_SM2", CKM_SM2),
    ("CKM_SM3_SM2", CKM_SM3_SM2),
    ("CKM_SM3_SM2_DER", CKM_SM3_SM2_DER),
    ("CKM_SM2_RAW", CKM_SM2_RAW),
    ("CKM_SM2_CIPHER_DER", CKM_SM2_CIPHER_DER),
    ("CKM_SM3", CKM_SM3),
    ("CKM_SM4_KEY_GEN", CKM_SM4_KEY_GEN),
    ("CKM_SM4_ECB", CKM_SM4_ECB),
    ("CKM_SM4_CBC", CKM_SM4_CBC),
    ("CKM_SM4_CBC_PAD", CKM_SM4_CBC_PAD),
    ("CKM_SM4_GCM", CKM_SM4_GCM),
    ("CKM_SM4_CTR", CKM_SM4_CTR),
    ("CKA_KMS_BASE", CKA_KMS_BASE),
    ("CKM_KMS_BASE", CKM_KMS_BASE),
    ("CKA_KMS_KEY_ID", CKA_KMS_KEY_ID),
    ("CKA_KMS_KEY_VERSION_ID", CKA_KMS_KEY_VERSION_ID),
    ("CKA_KMS_PRIMARY_VERSION_ID", CKA_KMS_PRIMARY_VERSION_ID),
    ("CKA_KMS_KEY_SPEC", CKA_KMS_KEY_SPEC),
    ("CKA_KMS_KEY_USAGE", CKA_KMS_KEY_USAGE),
    ("CKA_KMS_KEY_STATE", CKA_KMS_KEY_STATE),
    ("CKA_KMS_ORIGIN", CKA_KMS_ORIGIN),
    ("CKA_KMS_ROTATION_INTERVAL", CKA_KMS_ROTATION_INTERVAL),
    ("CKA_KMS_NEXT_ROTATION", CKA_KMS_NEXT_ROTATION),
    ("CKA_KMS_DELETION_DATE", CKA_KMS_DELETION_DATE),
    ("CKA_KMS_TAGS", CKA_KMS_TAGS),
    ("CKA_KMS_ALIASES", CKA_KMS_ALIASES),
    ("CKA_KMS_DESCRIPTION", CKA_KMS_DESCRIPTION),
    ("CKA_KMS_CREATION_DATE", CKA_KMS_CREATION_DATE),
    ("CKA_KMS_DELETION_PROTECTION", CKA_KMS_DELETION_PROTECTION),
    ("CKA_KMS_PROTECTION_LEVEL", CKA_KMS_PROTECTION_LEVEL),
    ("CKA_KMS_IS_VERSION", CKA_KMS_IS_VERSION),
    ("CKA_KMS_LAST_ROTATION", CKA_KMS_LAST_ROTATION),
    ("CKA_KMS_MATERIAL_EXPIRY", CKA_KMS_MATERIAL_EXPIRY),
    ("CKA_KMS_IMPORT_KEY_ID", CKA_KMS_IMPORT_KEY_ID),
    ("CKA_KMS_IMPORT_TOKEN", CKA_KMS_IMPORT_TOKEN),
    ("CKA_KMS_IMPORT_EXPIRY", CKA_KMS_IMPORT_EXPIRY),
    ("CKA_KMS_WRAPPING_ALGORITHM", CKA_KMS_WRAPPING_ALGORITHM),
    ("CKM_KMS_ENVELOPE", CKM_KMS_ENVELOPE),
    ("CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT", CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT),
];

#[cfg(test)]
mod tests {
    use super::ALL;

    /// The `#define NAME 0x…UL` lines of the C header.
    fn header_values() -> Vec<(String, u64)> {
        let text = include_str!("../include/kms_pkcs11.h");
        text.lines()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next()? == "#define").then_some(())?;
                let name = parts.next()?.to_string();
                let value = parts.next()?.strip_prefix("0x")?.trim_end_matches("UL");
                Some((name, u64::from_str_radix(value, 16).ok()?))
            })
            .collect()
    }

    #[test]
    fn header_and_rust_agree() {
        let header = header_values();
        let rust: Vec<(String, u64)> = ALL.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        let mut h = header.clone();
        let mut r = rust.clone();
        h.sort();
        r.sort();
        assert_eq!(h, r, "include/kms_pkcs11.h and src/vendor.rs differ");
    }

    #[test]
    fn values_are_vendor_defined_and_distinct_per_kind() {
        for (name, v) in ALL {
            assert!(*v >= 0x8000_0000, "{name} is not vendor-defined");
        }
        let kms: Vec<_> = ALL.iter().filter(|(n, _)| n.contains("KMS")).collect();
        for (name, v) in kms {
            assert_eq!(v & 0x4000_0000, 0, "{name} sets the array-attribute bit");
        }
        for prefix in ["CKK_", "CKM_"] {
            let mut vals: Vec<u64> =
                ALL.iter().filter(|(n, _)| n.starts_with(prefix)).map(|(_, v)| *v).collect();
            let n = vals.len();
            vals.sort();
            vals.dedup();
            assert_eq!(vals.len(), n, "{prefix} values collide");
        }
    }
}
