//! The KMS actions `kmsctl` performs, on the same engine as the C ABI: each runs in a session
//! logged in as the user, passes the rate limiter and the KMS rules, and names keys by key id or
//! alias. Results are plain data, shaped like the KMS API's responses.

use super::Library;
use super::session::Out;
use super::slot::{Token, Who};
use crate::error::{Error, Result};
use crate::kms::audit::record::Ident;
use crate::kms::envelope::{self, blob_from_text, blob_to_text};
use crate::kms::import::{WrappingAlgorithm, WrappingSpec};
use crate::kms::managed;
use crate::kms::names::{self, Tags};
use crate::kms::rate_limit::Group;
use crate::kms::{KeySpec, KeyUsage, KmsCode, KmsError, Origin};
use crate::mechanism::{Mechanism, Param};
use crate::object::attribute::{Template, bool_bytes, ulong_bytes};
use crate::store::KmsKeyRecord;
use crate::vendor::*;
use base64ct::{Base64, Encoding};
use cryptoki_sys::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// DescribeKey's `KeyMetadata`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    pub key_id: String,
    pub key_spec: String,
    pub key_usage: String,
    pub origin: String,
    pub key_state: String,
    pub description: String,
    pub creation_date: String,
    pub primary_key_version: String,
    pub automatic_rotation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub material_expire_time: Option<String>,
    pub deletion_protection: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deletion_protection_description: String,
    pub protection_level: &'static str,
    pub tags: BTreeMap<String, String>,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyVersion {
    pub key_id: String,
    pub key_version_id: String,
    pub creation_date: String,
    pub primary: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alias {
    pub alias_name: String,
    pub key_id: String,
}

/// Encrypt's and GenerateDataKey's answer; `plaintext` (Base64) only for GenerateDataKey.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sealed {
    pub key_id: String,
    pub key_version_id: String,
    pub ciphertext_blob: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Zeroizing<String>>,
}

/// Decrypt's answer; `plaintext` in Base64.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Opened {
    pub key_id: String,
    pub key_version_id: String,
    pub plaintext: Zeroizing<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QuotaUsage {
    pub resource: &'static str,
    pub used: u64,
    pub quota: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RateUsage {
    pub group: &'static str,
    /// Requests per second; `None` for unlimited.
    pub rate: Option<f64>,
    pub granted_last_second: Option<u64>,
    pub throttled_last_second: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Quotas {
    pub resources: Vec<QuotaUsage>,
    pub request_rates: Vec<RateUsage>,
}

/// CreateKey's parameters.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub description: String,
    /// Seconds; 0 = no automatic rotation.
    pub rotation_interval: u64,
    pub tags: Option<Tags>,
    pub deletion_protection: bool,
    pub label: String,
    /// `EXTERNAL`: the key starts in `PendingImport` and waits for its material.
    pub origin: Origin,
}

/// GetParametersForImport's answer, in the API's form (Base64, ISO time).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportParameters {
    pub key_id: String,
    pub import_token: String,
    /// The wrapping public key: DER `SubjectPublicKeyInfo` in Base64.
    pub public_key: String,
    pub token_expire_time: String,
}

/// Unix seconds as the API shows times (`2026-11-29T03:40:35Z`).
pub fn iso_time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

fn when(secs: u64) -> Option<String> {
    (secs != 0).then(|| iso_time(secs))
}

fn enabled(on: bool) -> &'static str {
    if on { "Enabled" } else { "Disabled" }
}

fn metadata(rec: &KmsKeyRecord, aliases: Vec<String>) -> KeyMetadata {
    let rotating = rec.rotation_interval > 0;
    KeyMetadata {
        key_id: rec.key_id.clone(),
        key_spec: rec.spec.clone(),
        key_usage: rec.usage.clone(),
        origin: rec.origin.clone(),
        key_state: rec.state.clone(),
        description: rec.description.clone(),
        creation_date: iso_time(rec.created),
        primary_key_version: rec.primary_version.clone(),
        automatic_rotation: enabled(rotating),
        rotation_interval: rotating.then(|| names::format_rotation_interval(rec.rotation_interval)),
        next_rotation_date: when(rec.next_rotation),
        last_rotation_date: when(rec.last_rotation),
        delete_date: when(rec.deletion_date),
        material_expire_time: when(rec.material_expiry),
        deletion_protection: enabled(rec.deletion_protection),
        deletion_protection_description: rec.deletion_protection_description.clone(),
        protection_level: "SOFTWARE",
        tags: Tags::parse(rec.tags.as_bytes())
            .map(|t| t.iter().map(|(k, v)| (k.into(), v.into())).collect())
            .unwrap_or_default(),
        aliases,
    }
}

fn alias_not_found(alias: &str) -> Error {
    KmsError::new(KmsCode::AliasNotFound, format!("alias {alias} does not exist")).into()
}

/// The standard templates of a new CMK of `spec` with one usage (DESIGN §3: keys made by
/// `kmsctl` have exactly one usage): the mechanism, and the templates of the secret key or of
/// the public and private halves.
fn key_templates(k: &NewKey) -> Result<(CK_MECHANISM_TYPE, Template, Template)> {
    let sign = k.usage.sign;
    let invalid = |m: &str| -> Error { KmsError::new(KmsCode::InvalidParameter, m).into() };
    if k.usage.sign && k.usage.encrypt {
        return Err(invalid("a key has one usage: ENCRYPT/DECRYPT or SIGN/VERIFY"));
    }
    let common =
        |t: Template| t.with(CKA_TOKEN, bool_bytes(true)).with(CKA_LABEL, k.label.clone().into_bytes());
    let private = |t: Template| {
        common(t)
            .with(CKA_PRIVATE, bool_bytes(true))
            .with(CKA_SENSITIVE, bool_bytes(true))
            .with(CKA_EXTRACTABLE, bool_bytes(false))
    };
    let mut kms = Template::new();
    if !k.description.is_empty() {
        kms.push(CKA_KMS_DESCRIPTION, k.description.clone().into_bytes());
    }
    if k.rotation_interval > 0 {
        kms.push(CKA_KMS_ROTATION_INTERVAL, ulong_bytes(k.rotation_interval as CK_ULONG));
    }
    if let Some(tags) = &k.tags {
        kms.push(CKA_KMS_TAGS, tags.to_json().into_bytes());
    }
    if k.deletion_protection {
        kms.push(CKA_KMS_DELETION_PROTECTION, bool_bytes(true));
    }
    if k.origin == Origin::External {
        kms.push(CKA_KMS_ORIGIN, Origin::External.name().as_bytes().to_vec());
    }
    let with_kms = |mut t: Template| {
        t.0.extend(kms.0.iter().cloned());
        t
    };
    if k.spec.is_symmetric() {
        if sign {
            return Err(invalid("symmetric keys are for ENCRYPT/DECRYPT"));
        }
        let (mech, t) = match k.spec {
            KeySpec::Aes256 | KeySpec::Aes192 | KeySpec::Aes128 => {
                let len = match k.spec {
                    KeySpec::Aes128 => 16,
                    KeySpec::Aes192 => 24,
                    _ => 32,
                };
                (CKM_AES_KEY_GEN, Template::new().with(CKA_VALUE_LEN, ulong_bytes(len)))
            }
            KeySpec::Sm4 => (CKM_SM4_KEY_GEN, Template::new()),
            _ => return Err(invalid("kmsctl creates Aliyun_AES_256, Aliyun_SM4 and the asymmetric specs")),
        };
        let t = private(t)
            .with(CKA_CLASS, ulong_bytes(CKO_SECRET_KEY))
            .with(CKA_ENCRYPT, bool_bytes(true))
            .with(CKA_DECRYPT, bool_bytes(true))
            .with(CKA_WRAP, bool_bytes(true))
            .with(CKA_UNWRAP, bool_bytes(true))
            .with(CKA_SIGN, bool_bytes(false))
            .with(CKA_VERIFY, bool_bytes(false));
        return Ok((mech, with_kms(t), Template::new()));
    }
    let (mech, public) = match k.spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
            let bits: CK_ULONG = match k.spec {
                KeySpec::Rsa3072 => 3072,
                KeySpec::Rsa4096 => 4096,
                _ => 2048,
            };
            (
                CKM_RSA_PKCS_KEY_PAIR_GEN,
                Template::new()
                    .with(CKA_MODULUS_BITS, ulong_bytes(bits))
                    .with(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
            )
        }
        KeySpec::EcP256 | KeySpec::EcP256K | KeySpec::EcP384 => {
            if !sign {
                return Err(invalid("EC keys other than SM2 are for SIGN/VERIFY"));
            }
            let params = match k.spec {
                KeySpec::EcP256 => managed::P256,
                KeySpec::EcP384 => managed::P384,
                _ => managed::SECP256K1,
            };
            (CKM_EC_KEY_PAIR_GEN, Template::new().with(CKA_EC_PARAMS, params.to_vec()))
        }
        KeySpec::EcSm2 => (CKM_SM2_KEY_PAIR_GEN, Template::new().with(CKA_EC_PARAMS, managed::SM2.to_vec())),
        _ => return Err(invalid("kmsctl cannot create keys of this spec")),
    };
    let public = common(public)
        .with(CKA_PRIVATE, bool_bytes(false))
        .with(CKA_VERIFY, bool_bytes(sign))
        .with(CKA_ENCRYPT, bool_bytes(!sign))
        .with(CKA_WRAP, bool_bytes(!sign));
    let private = private(Template::new())
        .with(CKA_SIGN, bool_bytes(sign))
        .with(CKA_DECRYPT, bool_bytes(!sign))
        .with(CKA_UNWRAP, bool_bytes(!sign));
    Ok((mech, public, with_kms(private)))
}

/// What an action's record names as its key.
trait ActionResult {
    fn key_id(&self) -> Option<&str> {
        None
    }
}

impl ActionResult for KeyMetadata {
    fn key_id(&self) -> Option<&str> {
        Some(&self.key_id)
    }
}

impl ActionResult for KeyVersion {
    fn key_id(&self) -> Option<&str> {
        Some(&self.key_id)
    }
}

impl ActionResult for Vec<KeyVersion> {
    fn key_id(&self) -> Option<&str> {
        self.first().map(|v| v.key_id.as_str())
    }
}

impl ActionResult for Alias {
    fn key_id(&self) -> Option<&str> {
        Some(&self.key_id)
    }
}

impl ActionResult for Sealed {
    fn key_id(&self) -> Option<&str> {
        Some(&self.key_id)
    }
}

impl ActionResult for Opened {
    fn key_id(&self) -> Option<&str> {
        Some(&self.key_id)
    }
}

impl From<super::import::ImportParameters> for ImportParameters {
    fn from(p: super::import::ImportParameters) -> ImportParameters {
        ImportParameters {
            key_id: p.key_id,
            import_token: p.import_token,
            public_key: Base64::encode_string(&p.public_key),
            token_expire_time: iso_time(p.expires),
        }
    }
}

impl ActionResult for ImportParameters {
    fn key_id(&self) -> Option<&str> {
        Some(&self.key_id)
    }
}

impl ActionResult for Vec<KeyMetadata> {}
impl ActionResult for Vec<Alias> {}
impl ActionResult for Quotas {}
impl ActionResult for () {}

impl Library {
    /// Runs one KMS action as one audited call: the record is the action's, not that of the
    /// PKCS#11 steps it takes inside.
    fn action<T: ActionResult>(
        &self,
        h: CK_SESSION_HANDLE,
        event: &'static str,
        key: Option<&str>,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let session = self.session(h)?;
        self.audited(&session.token, "kmsctl", event, |call| {
            let r = super::audit::inside_action(f);
            let key_id = match &r {
                Ok(v) => v.key_id(),
                Err(_) => key.filter(|k| !k.starts_with(names::ALIAS_PREFIX)),
            };
            call.key_id = Ident::from(key_id);
            r
        })
    }

    /// The token of a session logged in as the user, up to date with other processes.
    fn admin_token(&self, h: CK_SESSION_HANDLE) -> Result<Arc<Token>> {
        let session = self.session(h)?;
        if session.token.who() != Who::User {
            return Err(Error::UserNotLoggedIn);
        }
        session.token.sync()?;
        Ok(session.token.clone())
    }

    /// The key a key id or an alias names.
    pub fn resolve_key(&self, h: CK_SESSION_HANDLE, key: &str) -> Result<String> {
        let token = self.admin_token(h)?;
        if key.starts_with(names::ALIAS_PREFIX) {
            return token.alias_key(key)?.ok_or_else(|| alias_not_found(key));
        }
        Ok(token.key_record(key)?.key_id)
    }

    fn describe(&self, token: &Token, key_id: &str) -> Result<KeyMetadata> {
        Ok(metadata(&token.key_record(key_id)?, token.aliases_of(key_id)?))
    }

    pub fn create_key(&self, h: CK_SESSION_HANDLE, k: &NewKey) -> Result<KeyMetadata> {
        self.action(h, "CreateKey", None, || {
            let token = self.admin_token(h)?;
            let (mech, first, second) = key_templates(k)?;
            let handle = if k.spec.is_symmetric() {
                self.generate_key(h, &Mechanism::new(mech), &first)?
            } else {
                self.generate_key_pair(h, &Mechanism::new(mech), &first, &second)?.1
            };
            let key_id = token.object(handle)?.key_id().ok_or(Error::GeneralError)?.to_string();
            self.describe(&token, &key_id)
        })
    }

    /// GetParametersForImport: a wrapping public key and an import token, valid 24 hours, for
    /// the material of an EXTERNAL key.
    pub fn get_parameters_for_import(
        &self,
        h: CK_SESSION_HANDLE,
        key: &str,
        wrapping_key_spec: &str,
        wrapping_algorithm: &str,
    ) -> Result<ImportParameters> {
        self.action(h, "GetParametersForImport", Some(key), || {
            self.throttle(Group::Write)?;
            let spec = WrappingSpec::parse(wrapping_key_spec)?;
            let algorithm = WrappingAlgorithm::parse(wrapping_algorithm)?;
            if algorithm.spec() != spec {
                return Err(KmsError::new(
                    KmsCode::InvalidParameter,
                    format!("{wrapping_algorithm} needs WrappingKeySpec {}", algorithm.spec().name()),
                )
                .into());
            }
            let key_id = self.resolve_key(h, key)?;
            self.admin_token(h)?;
            let s = self.session(h)?;
            Ok(s.token.issue_wrapping_pair(&key_id, algorithm, s.handle)?.into())
        })
    }

    /// ImportKeyMaterial: `encrypted` is the material encrypted under the wrapping public key of
    /// `import_token` with the algorithm it was issued for; `expire` (Unix seconds, 0 = never)
    /// is when the material is erased again.
    pub fn import_key_material(
        &self,
        h: CK_SESSION_HANDLE,
        key: &str,
        encrypted: &[u8],
        import_token: &str,
        expire: u64,
    ) -> Result<KeyMetadata> {
        self.action(h, "ImportKeyMaterial", Some(key), || {
            self.throttle(Group::Write)?;
            let key_id = self.resolve_key(h, key)?;
            let token = self.admin_token(h)?;
            let session = self.session(h)?;
            let wrapping = self.import_wrapping_key(&session, import_token, &key_id)?;
            let name = wrapping.text(CKA_KMS_WRAPPING_ALGORITHM).unwrap_or_default();
            let algorithm = WrappingAlgorithm::parse(name)?;
            // SM2 ciphertexts come as GM/T 0009 DER (OpenSSL's) or as C1‖C3‖C2.
            let mech = match (algorithm, encrypted.first()) {
                (WrappingAlgorithm::Sm2Pke, Some(0x04)) => Mechanism::new(CKM_SM2_RAW),
                _ => algorithm.mechanism(),
            };
            self.import_wrapped(&session, &wrapping, &mech, encrypted, &key_id, expire)?;
            self.describe(&token, &key_id)
        })
    }

    pub fn describe_key(&self, h: CK_SESSION_HANDLE, key: &str) -> Result<KeyMetadata> {
        self.action(h, "DescribeKey", Some(key), || {
            self.throttle(Group::Read)?;
            let key_id = self.resolve_key(h, key)?;
            self.describe(&*self.admin_token(h)?, &key_id)
        })
    }

    pub fn list_keys(&self, h: CK_SESSION_HANDLE) -> Result<Vec<KeyMetadata>> {
        self.action(h, "ListKeys", None, || {
            self.throttle(Group::Read)?;
            let token = self.admin_token(h)?;
            let mut out = Vec::new();
            for rec in token.all_keys()? {
                let aliases = token.aliases_of(&rec.key_id)?;
                out.push(metadata(&rec, aliases));
            }
            Ok(out)
        })
    }

    pub fn list_key_versions(&self, h: CK_SESSION_HANDLE, key: &str) -> Result<Vec<KeyVersion>> {
        self.action(h, "ListKeyVersions", Some(key), || {
            self.throttle(Group::Read)?;
            let key_id = self.resolve_key(h, key)?;
            let token = self.admin_token(h)?;
            let primary = token.key_record(&key_id)?.primary_version;
            Ok(token
                .version_list(&key_id)?
                .into_iter()
                .map(|(v, created)| KeyVersion {
                    key_id: key_id.clone(),
                    primary: v == primary,
                    key_version_id: v,
                    creation_date: iso_time(created),
                })
                .collect())
        })
    }

    /// CreateKeyVersion: a new primary version now.
    pub fn create_key_version(&self, h: CK_SESSION_HANDLE, key: &str) -> Result<KeyVersion> {
        self.action(h, "CreateKeyVersion", Some(key), || {
            self.throttle(Group::Write)?;
            let key_id = self.resolve_key(h, key)?;
            let token = self.admin_token(h)?;
            let version = token.rotate(&key_id, true)?.ok_or(Error::FunctionFailed)?;
            Ok(KeyVersion {
                key_id,
                key_version_id: version,
                creation_date: iso_time(token.kms.clock.now()),
                primary: true,
            })
        })
    }

    /// Changes a key's metadata under the KMS rules (a write request).
    fn change_key(
        &self,
        h: CK_SESSION_HANDLE,
        key: &str,
        change: &mut dyn FnMut(&mut KmsKeyRecord, u64) -> std::result::Result<(), KmsError>,
    ) -> Result<KeyMetadata> {
        self.throttle(Group::Write)?;
        let key_id = self.resolve_key(h, key)?;
        let token = self.admin_token(h)?;
        let now = token.kms.clock.now();
        token
            .update_key(&key_id, &mut |rec, _| change(rec, now).map_err(crate::store::StoreError::Refused))?;
        self.describe(&token, &key_id)
    }

    /// UpdateRotationPolicy: `None` turns automatic rotation off.
    pub fn update_rotation_policy(
        &self,
        h: CK_SESSION_HANDLE,
        key: &str,
        interval: Option<u64>,
    ) -> Result<KeyMetadata> {
        self.action(h, "UpdateRotationPolicy", Some(key), || {
            self.change_key(h, key, &mut |rec, now| managed::set_rotation(rec, interval.unwrap_or(0), now))
        })
    }

    pub fn enable_key(&self, h: CK_SESSION_HANDLE, key: &str) -> Result<KeyMetadata> {
        self.action(h, "EnableKey", Some(key), || self.change_key(h, key, &mut |rec, _| managed::enable(rec)))
    }

    pub fn disable_key(&self, h: CK_SESSION_HANDLE, key: &str) -> Result<KeyMetadata> {
        self.action(h, "DisableKey", Some(key), || {
            self.change_key(h, key, &mut |rec, _| managed::disable(rec))
        })
    }

    /// ScheduleKeyDeletion with a window of `days` (default 30).
    pub fn schedule_key_deletion(
        &self,
        h: CK_SESSION_HANDLE,
        key: &str,
        days: Option<u64>,
    ) -> Result<KeyMetadata> {
        self.action(h, "ScheduleKeyDeletion", Some(key), || {
            let days = names::deletion_window_days(days)?;
            self.change_key(h, key, &mut |rec, now| managed::schedule_deletion(rec, days, now))
        })
    }

    pub fn cancel_key_deletion(&self, h: CK_SESSION_HANDLE, key: &str) -> Result<KeyMetadata> {
        self.action(h, "CancelKeyDeletion", Some(key), || {
            self.change_key(h, key, &mut |rec, _| {
                managed::cancel_deletion(rec, !rec.primary_version.is_empty())
            })
        })
    }

    pub fn set_deletion_protection(
        &self,
        h: CK_SESSION_HANDLE,
        key: &str,
        on: bool,
        description: &str,
    ) -> Result<KeyMetadata> {
        self.action(h, "SetDeletionProtection", Some(key), || {
            names::check_description(description)?;
            self.change_key(h, key, &mut |rec, _| managed::set_deletion_protection(rec, on, description))
        })
    }

    pub fn tag_resource(&self, h: CK_SESSION_HANDLE, key: &str, tags: &Tags) -> Result<KeyMetadata> {
        self.action(h, "TagResource", Some(key), || {
            self.change_key(h, key, &mut |rec, _| {
                let mut current = Tags::parse(rec.tags.as_bytes())?;
                current.merge(tags)?;
                rec.tags = current.to_json();
                Ok(())
            })
        })
    }

    pub fn untag_resource(
        &self,
        h: CK_SESSION_HANDLE,
        key: &str,
        tag_keys: &[String],
    ) -> Result<KeyMetadata> {
        self.action(h, "UntagResource", Some(key), || {
            self.change_key(h, key, &mut |rec, _| {
                let mut current = Tags::parse(rec.tags.as_bytes())?;
                current.remove(tag_keys.iter().map(String::as_str));
                rec.tags = current.to_json();
                Ok(())
            })
        })
    }

    pub fn create_alias(&self, h: CK_SESSION_HANDLE, alias: &str, key: &str) -> Result<Alias> {
        self.action(h, "CreateAlias", Some(key), || {
            names::check_alias(alias)?;
            self.throttle(Group::Write)?;
            let key_id = self.resolve_key(h, key)?;
            self.admin_token(h)?.add_alias(alias, &key_id)?;
            Ok(Alias { alias_name: alias.to_string(), key_id })
        })
    }

    /// UpdateAlias: points an existing alias at another key.
    pub fn update_alias(&self, h: CK_SESSION_HANDLE, alias: &str, key: &str) -> Result<Alias> {
        self.action(h, "UpdateAlias", Some(key), || {
            names::check_alias(alias)?;
            self.throttle(Group::Write)?;
            let key_id = self.resolve_key(h, key)?;
            self.admin_token(h)?.repoint_alias(alias, &key_id)?;
            Ok(Alias { alias_name: alias.to_string(), key_id })
        })
    }

    pub fn delete_alias(&self, h: CK_SESSION_HANDLE, alias: &str) -> Result<()> {
        self.action(h, "DeleteAlias", None, || {
            self.throttle(Group::Write)?;
            if !self.admin_token(h)?.remove_alias(alias)? {
                return Err(alias_not_found(alias));
            }
            Ok(())
        })
    }

    /// ListAliases, or ListAliasesByKeyId with `key`.
    pub fn list_aliases(&self, h: CK_SESSION_HANDLE, key: Option<&str>) -> Result<Vec<Alias>> {
        self.action(h, "ListAliases", None, || {
            self.throttle(Group::Read)?;
            let token = self.admin_token(h)?;
            let wanted = key.map(|k| self.resolve_key(h, k)).transpose()?;
            Ok(token
                .all_aliases()?
                .into_iter()
                .filter(|(_, k)| wanted.as_ref().is_none_or(|w| w == k))
                .map(|(alias_name, key_id)| Alias { alias_name, key_id })
                .collect())
        })
    }

    /// The secret key object applications hold for a symmetric CMK.
    fn secret_key_handle(&self, token: &Token, key_id: &str) -> Result<CK_OBJECT_HANDLE> {
        token
            .key_objects(key_id, false)?
            .into_iter()
            .find(|o| o.class == CKO_SECRET_KEY)
            .map(|o| o.handle)
            .ok_or_else(|| {
                KmsError::new(KmsCode::UnsupportedOperation, "envelope encryption needs a symmetric key")
                    .into()
            })
    }

    /// Runs a single-part cipher operation that was just initialized.
    fn run_cipher(&self, h: CK_SESSION_HANDLE, encrypt: bool, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let len =
            if encrypt { self.encrypt(h, input, Out::Query)? } else { self.decrypt(h, input, Out::Query)? };
        let mut out = Zeroizing::new(vec![0u8; len]);
        let n = if encrypt {
            self.encrypt(h, input, Out::Buf(&mut out))?
        } else {
            self.decrypt(h, input, Out::Buf(&mut out))?
        };
        out.truncate(n);
        Ok(out)
    }

    /// Encrypt: a blob of `plaintext` under the key's primary version.
    pub fn kms_encrypt(
        &self,
        h: CK_SESSION_HANDLE,
        key: &str,
        plaintext: &[u8],
        context: Option<&[u8]>,
    ) -> Result<Sealed> {
        self.action(h, "Encrypt", Some(key), || {
            let key_id = self.resolve_key(h, key)?;
            let token = self.admin_token(h)?;
            let handle = self.secret_key_handle(&token, &key_id)?;
            self.encrypt_init(h, &envelope_mechanism(CKM_KMS_ENVELOPE, context), handle)?;
            let blob = self.run_cipher(h, true, plaintext)?;
            sealed(&key_id, &blob, None)
        })
    }

    /// Decrypt: the blob names its version, and so its key.
    pub fn kms_decrypt(
        &self,
        h: CK_SESSION_HANDLE,
        blob_text: &str,
        context: Option<&[u8]>,
    ) -> Result<Opened> {
        self.action(h, "Decrypt", None, || {
            let blob = blob_from_text(blob_text)?;
            let version =
                envelope::Blob::parse(&blob).map_err(|_| Error::EncryptedDataInvalid)?.version_id.to_string();
            let token = self.admin_token(h)?;
            let key_id = token.key_of_version(&version)?.ok_or_else(|| {
                Error::from(KmsError::new(
                    KmsCode::KeyVersionNotFound,
                    format!("version {version} does not exist"),
                ))
            })?;
            let handle = self.secret_key_handle(&token, &key_id)?;
            self.decrypt_init(h, &envelope_mechanism(CKM_KMS_ENVELOPE, context), handle)?;
            let plain = self.run_cipher(h, false, &blob)?;
            Ok(Opened {
                key_id,
                key_version_id: version,
                plaintext: Zeroizing::new(Base64::encode_string(&plain)),
            })
        })
    }

    /// GenerateDataKey (`with_plaintext`) or GenerateDataKeyWithoutPlaintext.
    pub fn generate_data_key(
        &self,
        h: CK_SESSION_HANDLE,
        key: &str,
        len: Option<u64>,
        context: Option<&[u8]>,
        with_plaintext: bool,
    ) -> Result<Sealed> {
        self.action(
            h,
            if with_plaintext { "GenerateDataKey" } else { "GenerateDataKeyWithoutPlaintext" },
            Some(key),
            || {
                let len = names::data_key_len(len)?;
                let key_id = self.resolve_key(h, key)?;
                let token = self.admin_token(h)?;
                let handle = self.secret_key_handle(&token, &key_id)?;
                if !with_plaintext {
                    let mech = Mechanism::with(
                        CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT,
                        Param::DataKey { len: len as u64, context: context.unwrap_or_default().to_vec() },
                    );
                    self.encrypt_init(h, &mech, handle)?;
                    let blob = self.run_cipher(h, true, &[])?;
                    return sealed(&key_id, &blob, None);
                }
                let mut key = Zeroizing::new(vec![0u8; len]);
                crate::engine::rand::fill(&mut key).map_err(|_| Error::FunctionFailed)?;
                let text = envelope::data_key_text(&key);
                self.encrypt_init(h, &envelope_mechanism(CKM_KMS_ENVELOPE, context), handle)?;
                let blob = self.run_cipher(h, true, &text)?;
                let plaintext = Zeroizing::new(Base64::encode_string(&key));
                sealed(&key_id, &blob, Some(plaintext))
            },
        )
    }

    pub fn describe_quotas(&self, h: CK_SESSION_HANDLE) -> Result<Quotas> {
        self.action(h, "DescribeQuotas", None, || {
            self.throttle(Group::Read)?;
            let token = self.admin_token(h)?;
            let counts = token.counts()?;
            let q = &token.kms.quota;
            Ok(Quotas {
                resources: vec![
                    QuotaUsage { resource: "Keys", used: counts.keys, quota: q.keys },
                    QuotaUsage { resource: "Aliases", used: counts.aliases, quota: q.aliases },
                    QuotaUsage { resource: "KeyVersions", used: counts.versions, quota: q.key_versions },
                ],
                request_rates: self
                    .rate_usage()
                    .into_iter()
                    .map(|u| RateUsage {
                        group: u.group.name(),
                        rate: match u.rate {
                            crate::config::Rate::PerSecond(n) => Some(n),
                            crate::config::Rate::Unlimited => None,
                        },
                        granted_last_second: u.granted_last_second,
                        throttled_last_second: u.throttled_last_second,
                    })
                    .collect(),
            })
        })
    }
}

fn envelope_mechanism(ty: CK_MECHANISM_TYPE, context: Option<&[u8]>) -> Mechanism {
    match context {
        Some(c) => Mechanism::with(ty, Param::Bytes(c.to_vec())),
        None => Mechanism::new(ty),
    }
}

fn sealed(key_id: &str, blob: &[u8], plaintext: Option<Zeroizing<String>>) -> Result<Sealed> {
    let version = envelope::Blob::parse(blob).map_err(|_| Error::GeneralError)?.version_id.to_string();
    Ok(Sealed {
        key_id: key_id.to_string(),
        key_version_id: version,
        ciphertext_blob: blob_to_text(blob),
        plaintext,
    })
}
