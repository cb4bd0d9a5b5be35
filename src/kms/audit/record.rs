//! One audit record (DESIGN §7): what the engine captures on the call path ([`Event`]), cheap
//! to make, and the JSON body the writer turns it into off that path.

use cryptoki_sys::*;
use serde::Serialize;
use std::sync::Arc;
use std::time::SystemTime;

/// What one audited call did. Holds no secret by construction: names, identifiers and the
/// result, never data, key material, PINs or encryption-context values.
#[derive(Debug, Clone)]
pub struct Event {
    pub time: SystemTime,
    /// The KMS action (`Encrypt`, `CreateKey`, …) or, where the KMS has none, the PKCS#11 verb.
    pub name: &'static str,
    /// The `C_*` function that ended the operation, or `kmsctl`.
    pub function: &'static str,
    pub mechanism: Option<CK_MECHANISM_TYPE>,
    pub key_id: Option<Arc<str>>,
    pub key_version_id: Option<Arc<str>>,
    /// The login the call ran under: `SO`, `USER` or `PUBLIC`.
    pub principal: &'static str,
    /// The `CKR_*` name of the outcome.
    pub result: &'static str,
    /// The KMS error code of a failure (`Rejected.Disabled`, …).
    pub error_code: Option<&'static str>,
    pub latency_us: u64,
}

/// The record's fields in their fixed order, as written (before the chain fields).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    event_id: &'a str,
    event_time: &'a str,
    event_name: &'a str,
    pkcs11_function: &'a str,
    mechanism: &'a str,
    key_id: &'a str,
    key_version_id: &'a str,
    principal: &'a str,
    token: &'a str,
    pid: u32,
    uid: u32,
    result: &'a str,
    error_code: &'a str,
    latency_us: u64,
}

/// Who writes: fixed for one writer.
#[derive(Debug, Clone)]
pub struct Origin {
    pub token: String,
    pub pid: u32,
    pub uid: u32,
}

impl Event {
    /// The JSON object of the record without its closing brace, so the chain can append its
    /// fields and MAC the exact bytes.
    pub fn body(&self, event_id: &str, origin: &Origin) -> String {
        let time = humantime::format_rfc3339_micros(self.time).to_string();
        let mechanism = self.mechanism.map(mechanism_name).unwrap_or_default();
        let body = Body {
            event_id,
            event_time: &time,
            event_name: self.name,
            pkcs11_function: self.function,
            mechanism: &mechanism,
            key_id: self.key_id.as_deref().unwrap_or(""),
            key_version_id: self.key_version_id.as_deref().unwrap_or(""),
            principal: self.principal,
            token: &origin.token,
            pid: origin.pid,
            uid: origin.uid,
            result: self.result,
            error_code: self.error_code.unwrap_or(""),
            latency_us: self.latency_us,
        };
        let mut json = serde_json::to_string(&body).unwrap_or_else(|_| "{".into());
        json.pop();
        json
    }
}

/// The mechanism's C name, or its value in hex for one without a name here.
pub fn mechanism_name(ty: CK_MECHANISM_TYPE) -> String {
    STANDARD
        .iter()
        .chain(crate::vendor::ALL.iter())
        .find(|(name, v)| *v == ty && name.starts_with("CKM_"))
        .map(|(name, _)| (*name).to_string())
        .unwrap_or_else(|| format!("0x{ty:08X}"))
}

const STANDARD: &[(&str, CK_MECHANISM_TYPE)] = &[
    ("CKM_RSA_PKCS_KEY_PAIR_GEN", CKM_RSA_PKCS_KEY_PAIR_GEN),
    ("CKM_RSA_PKCS", CKM_RSA_PKCS),
    ("CKM_RSA_X_509", CKM_RSA_X_509),
    ("CKM_RSA_PKCS_OAEP", CKM_RSA_PKCS_OAEP),
    ("CKM_RSA_PKCS_PSS", CKM_RSA_PKCS_PSS),
    ("CKM_SHA1_RSA_PKCS", CKM_SHA1_RSA_PKCS),
    ("CKM_SHA224_RSA_PKCS", CKM_SHA224_RSA_PKCS),
    ("CKM_SHA256_RSA_PKCS", CKM_SHA256_RSA_PKCS),
    ("CKM_SHA384_RSA_PKCS", CKM_SHA384_RSA_PKCS),
    ("CKM_SHA512_RSA_PKCS", CKM_SHA512_RSA_PKCS),
    ("CKM_SHA1_RSA_PKCS_PSS", CKM_SHA1_RSA_PKCS_PSS),
    ("CKM_SHA224_RSA_PKCS_PSS", CKM_SHA224_RSA_PKCS_PSS),
    ("CKM_SHA256_RSA_PKCS_PSS", CKM_SHA256_RSA_PKCS_PSS),
    ("CKM_SHA384_RSA_PKCS_PSS", CKM_SHA384_RSA_PKCS_PSS),
    ("CKM_SHA512_RSA_PKCS_PSS", CKM_SHA512_RSA_PKCS_PSS),
    ("CKM_EC_KEY_PAIR_GEN", CKM_EC_KEY_PAIR_GEN),
    ("CKM_ECDSA", CKM_ECDSA),
    ("CKM_ECDSA_SHA1", CKM_ECDSA_SHA1),
    ("CKM_ECDSA_SHA224", CKM_ECDSA_SHA224),
    ("CKM_ECDSA_SHA256", CKM_ECDSA_SHA256),
    ("CKM_ECDSA_SHA384", CKM_ECDSA_SHA384),
    ("CKM_ECDSA_SHA512", CKM_ECDSA_SHA512),
    ("CKM_ECDH1_DERIVE", CKM_ECDH1_DERIVE),
    ("CKM_AES_KEY_GEN", CKM_AES_KEY_GEN),
    ("CKM_AES_ECB", CKM_AES_ECB),
    ("CKM_AES_CBC", CKM_AES_CBC),
    ("CKM_AES_CBC_PAD", CKM_AES_CBC_PAD),
    ("CKM_AES_CTR", CKM_AES_CTR),
    ("CKM_AES_GCM", CKM_AES_GCM),
    ("CKM_AES_CMAC", CKM_AES_CMAC),
    ("CKM_AES_KEY_WRAP", CKM_AES_KEY_WRAP),
    ("CKM_AES_KEY_WRAP_KWP", CKM_AES_KEY_WRAP_KWP),
    ("CKM_GENERIC_SECRET_KEY_GEN", CKM_GENERIC_SECRET_KEY_GEN),
    ("CKM_SHA_1", CKM_SHA_1),
    ("CKM_SHA224", CKM_SHA224),
    ("CKM_SHA256", CKM_SHA256),
    ("CKM_SHA384", CKM_SHA384),
    ("CKM_SHA512", CKM_SHA512),
    ("CKM_SHA_1_HMAC", CKM_SHA_1_HMAC),
    ("CKM_SHA224_HMAC", CKM_SHA224_HMAC),
    ("CKM_SHA256_HMAC", CKM_SHA256_HMAC),
    ("CKM_SHA384_HMAC", CKM_SHA384_HMAC),
    ("CKM_SHA512_HMAC", CKM_SHA512_HMAC),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn body_has_the_design_fields_in_order_and_no_closing_brace() {
        let e = Event {
            time: UNIX_EPOCH + Duration::from_micros(1_764_390_000_123_456),
            name: "Encrypt",
            function: "C_Encrypt",
            mechanism: Some(CKM_AES_GCM),
            key_id: Some("k-1".into()),
            key_version_id: Some("v-1".into()),
            principal: "USER",
            result: "CKR_OK",
            error_code: None,
            latency_us: 7,
        };
        let origin = Origin { token: "t".into(), pid: 10, uid: 20 };
        let body = e.body("e-1", &origin);
        assert_eq!(
            body,
            r#"{"eventId":"e-1","eventTime":"2025-11-29T04:20:00.123456Z","eventName":"Encrypt","pkcs11Function":"C_Encrypt","mechanism":"CKM_AES_GCM","keyId":"k-1","keyVersionId":"v-1","principal":"USER","token":"t","pid":10,"uid":20,"result":"CKR_OK","errorCode":"","latencyUs":7"#
        );
    }

    #[test]
    fn mechanisms_are_named_or_shown_in_hex() {
        assert_eq!(mechanism_name(CKM_SHA256_RSA_PKCS), "CKM_SHA256_RSA_PKCS");
        assert_eq!(mechanism_name(crate::vendor::CKM_SM4_GCM), "CKM_SM4_GCM");
        assert_eq!(mechanism_name(crate::vendor::CKM_KMS_ENVELOPE), "CKM_KMS_ENVELOPE");
        assert_eq!(mechanism_name(0x1234_5678), "0x12345678");
    }
}
