//! The token side of bring-your-own-key: EXTERNAL keys created without material, the wrapping
//! key pairs GetParametersForImport issues, imported material loaded as a key's version (from
//! `kmsctl import-key-material` or `C_UnwrapKey` with a wrapping key), and material erased when
//! it expires. The rules are in `crate::kms::import`.

use super::Library;
use super::kms::{check_version_room, not_found, refuse};
use super::session::Session;
use super::slot::{Token, new_uuid};
use crate::error::{Error, Result};
use crate::kms::import::{self, WrappingAlgorithm, WrappingSpec};
use crate::kms::managed;
use crate::kms::{KeyState, KmsCode, KmsError, Origin};
use crate::mechanism::{self, Mechanism};
use crate::object::Object;
use crate::object::attribute::{Attributes, Template, bool_bytes, decode_ulong, ulong_bytes};
use crate::object::rules;
use crate::store::Filter;
use crate::vendor::*;
use cryptoki_sys::*;
use std::sync::Arc;

/// What GetParametersForImport hands the customer, as the engine holds it (the API's form is
/// [`super::admin::ImportParameters`]).
pub struct ImportParameters {
    pub key_id: String,
    pub import_token: String,
    /// DER `SubjectPublicKeyInfo` of the wrapping key.
    pub public_key: Vec<u8>,
    /// Unix seconds.
    pub expires: u64,
}

/// Checked material, ready to become a version: the attributes of each class of the key's
/// objects, and the digest later imports are compared with.
struct Material {
    sets: Vec<(CK_OBJECT_CLASS, Attributes)>,
    digest: Vec<u8>,
}

/// Whether creation templates ask for an EXTERNAL key (`CKA_KMS_ORIGIN`); the attribute is
/// taken out of them, as the key's origin is the token's to record.
pub fn take_origin(templates: &mut [&mut Template]) -> Result<Origin> {
    let mut origin = Origin::Kms;
    for t in templates.iter_mut() {
        if let Some(v) = t.get(CKA_KMS_ORIGIN) {
            origin =
                std::str::from_utf8(v).ok().and_then(Origin::parse).ok_or(Error::AttributeValueInvalid)?;
            **t = t.without(CKA_KMS_ORIGIN);
        }
    }
    Ok(origin)
}

fn label_of(key_id: &str) -> Vec<u8> {
    format!("kms-import:{key_id}").into_bytes()
}

impl Token {
    /// The wrapping key pair objects (public and private) an import token names.
    fn wrapping_pair(&self, import_token: &str) -> Result<Vec<Arc<Object>>> {
        let filter = Filter {
            ckid: Some(import_token.as_bytes().to_vec()),
            include_private: true,
            ..Filter::default()
        };
        Ok(self
            .find_token_objects(&filter)?
            .into_iter()
            .filter(|o| o.text(CKA_KMS_IMPORT_TOKEN) == Some(import_token))
            .collect())
    }

    /// Deletes the wrapping key pairs issued for `key_id` that expired by `now` (all of them
    /// with `now` = `u64::MAX`).
    pub fn purge_wrapping_pairs(&self, key_id: &str, now: u64) -> Result<()> {
        let filter = Filter { label: Some(label_of(key_id)), include_private: true, ..Filter::default() };
        let stale: Vec<String> = self
            .find_token_objects(&filter)?
            .into_iter()
            .filter(|o| {
                o.text(CKA_KMS_IMPORT_KEY_ID) == Some(key_id)
                    && o.attrs().ulong(CKA_KMS_IMPORT_EXPIRY).is_some_and(|e| e <= now)
            })
            .map(|o| o.uid.clone())
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        self.store()?.write(&mut |tx| stale.iter().try_for_each(|uid| tx.delete_object(uid).map(|_| ())))?;
        self.forget(&stale);
        Ok(())
    }

    /// GetParametersForImport: a fresh wrapping key pair for `key_id`, stored in the token (its
    /// public half visible to every application, its private half usable only to import).
    pub(super) fn issue_wrapping_pair(
        &self,
        key_id: &str,
        algorithm: WrappingAlgorithm,
        owner: CK_SESSION_HANDLE,
    ) -> Result<ImportParameters> {
        let now = self.kms.clock.now();
        let rec = self.key_record(key_id)?;
        external_only(&rec.origin)?;
        if managed::state_of(&rec) == KeyState::PendingDeletion {
            return Err(
                KmsError::new(KmsCode::PendingDeletion, format!("key {key_id} is pending deletion")).into()
            );
        }
        import::check_algorithm(managed::spec_of_record(&rec), algorithm)?;
        self.purge_wrapping_pairs(key_id, now)?;
        let (mech, public_template) = match algorithm.spec() {
            WrappingSpec::Rsa2048 => (
                CKM_RSA_PKCS_KEY_PAIR_GEN,
                Template::new()
                    .with(CKA_MODULUS_BITS, ulong_bytes(2048))
                    .with(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
            ),
            WrappingSpec::EcSm2 => {
                (CKM_SM2_KEY_PAIR_GEN, Template::new().with(CKA_EC_PARAMS, managed::SM2.to_vec()))
            }
        };
        let pair = mechanism::generate_key_pair(&Mechanism::new(mech), &public_template, &Template::new())?;
        let import_token = new_uuid()?;
        let expires = now + import::TOKEN_LIFETIME;
        let tag = |mut a: Attributes| {
            a.set(CKA_LABEL, label_of(key_id));
            a.set(CKA_ID, import_token.clone().into_bytes());
            a.set(CKA_KMS_IMPORT_KEY_ID, key_id.as_bytes().to_vec());
            a.set(CKA_KMS_IMPORT_TOKEN, import_token.clone().into_bytes());
            a.set_ulong(CKA_KMS_IMPORT_EXPIRY, expires as CK_ULONG);
            a.set(CKA_KMS_WRAPPING_ALGORITHM, algorithm.name().as_bytes().to_vec());
            a
        };
        let origin = rules::Origin::Generated(mech);
        let public = Template::new()
            .with(CKA_TOKEN, bool_bytes(true))
            .with(CKA_PRIVATE, bool_bytes(false))
            .with(CKA_ENCRYPT, bool_bytes(true))
            .with(CKA_WRAP, bool_bytes(true))
            .with(CKA_VERIFY, bool_bytes(false))
            .with(CKA_MODIFIABLE, bool_bytes(false));
        let mut public = rules::new_object(&public, CKO_PUBLIC_KEY, Some(pair.key_type), origin, false)?;
        public.extend(pair.public);
        // The private half decrypts nothing but import material: it is no decryption oracle.
        let private = Template::new()
            .with(CKA_TOKEN, bool_bytes(true))
            .with(CKA_PRIVATE, bool_bytes(true))
            .with(CKA_SENSITIVE, bool_bytes(true))
            .with(CKA_EXTRACTABLE, bool_bytes(false))
            .with(CKA_DECRYPT, bool_bytes(false))
            .with(CKA_SIGN, bool_bytes(false))
            .with(CKA_DERIVE, bool_bytes(false))
            .with(CKA_UNWRAP, bool_bytes(true))
            .with(CKA_MODIFIABLE, bool_bytes(false))
            .with(CKA_COPYABLE, bool_bytes(false));
        let mut private = rules::new_object(&private, CKO_PRIVATE_KEY, Some(pair.key_type), origin, false)?;
        private.extend(pair.private);
        let public_key = public.get(CKA_PUBLIC_KEY_INFO).ok_or(Error::GeneralError)?.to_vec();
        let quota = self.kms.quota.key_versions;
        self.add_objects_with(vec![tag(public), tag(private)], owner, &mut |tx| {
            // An import makes a version: refuse early what could not be imported.
            check_version_room(tx, quota)
        })?;
        log::info!("import parameters issued for key {key_id} ({}, valid 24 h)", algorithm.name());
        Ok(ImportParameters { key_id: key_id.to_string(), import_token, public_key, expires })
    }

    /// Loads checked material as the key's version: a key pending import gets a new primary
    /// version and is enabled; a key that has its material only takes the new expiry (the
    /// material must be the same).
    fn import_material(&self, key_id: &str, material: Material, expiry: u64) -> Result<()> {
        let now = self.kms.clock.now();
        let rec = self.key_record(key_id)?;
        let keys: Vec<Arc<Object>> =
            self.key_objects(key_id, false)?.into_iter().filter(|o| !o.is_version()).collect();
        let version_id = new_uuid()?;
        let mut objects = Vec::new();
        let mut primary_public = Vec::new();
        for key in &keys {
            let kt = key.key_type.ok_or(Error::GeneralError)?;
            let Some((_, m)) = material.sets.iter().find(|(c, _)| *c == key.class) else { continue };
            let mut attrs = key.attrs().clone();
            attrs.split_off(|t| {
                managed::is_kms_attribute(t) || managed::follows_primary(t) || t == CKA_UNIQUE_ID
            });
            attrs.extend(m.clone());
            mechanism::import(key.class, kt, &mut attrs)?;
            attrs.extend(managed::version_object_attrs(&rec, &version_id, now));
            attrs.set(CKA_UNIQUE_ID, new_uuid()?.into_bytes());
            let mut public = attrs.clone();
            public.split_off(|t| !managed::follows_primary(t));
            primary_public.push((key.class, public));
            objects.push(Object::new(self.new_handle(), attrs, None, 0));
        }
        let records = objects.iter().map(|o| self.encode(o)).collect::<Result<Vec<_>>>()?;
        let quota = self.kms.quota.key_versions;
        let mut touched = Vec::new();
        self.store()?.write(&mut |tx| {
            let mut current = tx.kms_key(key_id)?.ok_or_else(|| not_found(key_id))?;
            import::check_same_material(&current.material_digest, &material.digest).map_err(refuse)?;
            match managed::state_of(&current) {
                KeyState::PendingDeletion => {
                    return Err(refuse(KmsError::new(
                        KmsCode::PendingDeletion,
                        "the key is pending deletion",
                    )));
                }
                KeyState::PendingImport => {
                    check_version_room(tx, quota)?;
                    for r in &records {
                        tx.insert_object(r)?;
                    }
                    tx.add_version(key_id, &version_id, now)?;
                    current.primary_version = version_id.clone();
                    current.state = KeyState::Enabled.name().to_string();
                }
                // Material already there (and the same): only the expiry changes.
                KeyState::Enabled | KeyState::Disabled => {}
            }
            current.material_digest = material.digest.clone();
            current.material_expiry = expiry;
            tx.put_kms_key(&current)?;
            touched = self.rewrite_key_objects(tx, &current, Some(&primary_public))?;
            Ok(())
        })?;
        self.invalidate(&touched);
        log::info!("key material imported into key {key_id}");
        Ok(())
    }

    /// Erases a key's imported material once its expiry has passed: its versions go, and the
    /// key waits for the same material again (`PendingImport`). Returns whether it did.
    pub fn expire_material(&self, key_id: &str) -> Result<bool> {
        let now = self.kms.clock.now();
        let mut gone = Vec::new();
        let mut touched = Vec::new();
        self.store()?.write(&mut |tx| {
            let Some(mut rec) = tx.kms_key(key_id)? else { return Ok(()) };
            if rec.material_expiry == 0 || rec.material_expiry > now {
                return Ok(());
            }
            for (uid, is_version) in tx.objects_of_key(key_id)? {
                if is_version {
                    tx.delete_object(&uid)?;
                    gone.push(uid);
                }
            }
            tx.delete_versions(key_id)?;
            rec.primary_version = String::new();
            rec.material_expiry = 0;
            if managed::state_of(&rec) != KeyState::PendingDeletion {
                rec.state = KeyState::PendingImport.name().to_string();
            }
            tx.put_kms_key(&rec)?;
            touched = self.rewrite_key_objects(tx, &rec, None)?;
            Ok(())
        })?;
        self.forget(&gone);
        self.invalidate(&touched);
        if gone.is_empty() && touched.is_empty() {
            return Ok(false);
        }
        log::info!("imported key material of key {key_id} expired and was erased");
        Ok(true)
    }
}

fn external_only(origin: &str) -> Result<()> {
    if Origin::parse(origin) != Some(Origin::External) {
        return Err(KmsError::new(
            KmsCode::UnsupportedOperation,
            "key material can be imported only into keys of origin EXTERNAL",
        )
        .into());
    }
    Ok(())
}

impl Library {
    /// The wrapping private key of an import token, checked against the key it must import
    /// into and the clock.
    pub(crate) fn import_wrapping_key(
        &self,
        s: &Session,
        import_token: &str,
        key_id: &str,
    ) -> Result<Arc<Object>> {
        let private =
            s.token
                .wrapping_pair(import_token)?
                .into_iter()
                .find(|o| o.class == CKO_PRIVATE_KEY)
                .ok_or_else(|| KmsError::new(KmsCode::InvalidImportToken, "the import token is unknown"))?;
        self.check_wrapping_key(s, &private, key_id)?;
        Ok(private)
    }

    fn check_wrapping_key(&self, s: &Session, wrapping: &Object, key_id: &str) -> Result<WrappingAlgorithm> {
        if wrapping.text(CKA_KMS_IMPORT_KEY_ID) != Some(key_id) {
            return Err(KmsError::new(
                KmsCode::InvalidImportToken,
                "the import token was issued for another key",
            )
            .into());
        }
        let expires = wrapping.attrs().ulong(CKA_KMS_IMPORT_EXPIRY).unwrap_or(0);
        if expires <= s.token.kms.clock.now() {
            return Err(KmsError::new(
                KmsCode::ExpiredImportToken,
                "the import token has expired; get new import parameters",
            )
            .into());
        }
        let name = wrapping.text(CKA_KMS_WRAPPING_ALGORITHM).unwrap_or_default();
        Ok(WrappingAlgorithm::parse(name)?)
    }

    /// ImportKeyMaterial: unwraps `wrapped` with the wrapping key under `mech`, checks the
    /// material against the key's spec (and any earlier import), and loads it.
    pub(crate) fn import_wrapped(
        &self,
        s: &Session,
        wrapping: &Object,
        mech: &Mechanism,
        wrapped: &[u8],
        key_id: &str,
        expiry: u64,
    ) -> Result<()> {
        let token = &s.token;
        let algorithm = self.check_wrapping_key(s, wrapping, key_id)?;
        if !algorithm.accepts(mech) {
            log::warn!("import into key {key_id}: the import token was issued for {}", algorithm.name());
            return Err(Error::MechanismInvalid);
        }
        let rec = token.key_record(key_id)?;
        external_only(&rec.origin)?;
        let spec = managed::spec_of_record(&rec);
        import::check_algorithm(spec, algorithm)?;
        import::check_expiry(expiry, token.kms.clock.now())?;
        let master = token.master_key().ok_or(Error::UserNotLoggedIn)?;
        let bytes = mechanism::unwrap(mech, &*token.material(wrapping)?, wrapped)?;
        let invalid = |why: String| -> Error { KmsError::new(KmsCode::InvalidKeyMaterial, why).into() };
        let material = if spec.is_symmetric() {
            import::check_symmetric_len(spec, bytes.len())?;
            let mut a = Attributes::new();
            a.set(CKA_VALUE, bytes.to_vec());
            Material {
                digest: import::material_digest(master.bytes(), &bytes),
                sets: vec![(CKO_SECRET_KEY, a)],
            }
        } else {
            let kt = token
                .key_objects(key_id, false)?
                .iter()
                .find(|o| o.class == CKO_PRIVATE_KEY)
                .and_then(|o| o.key_type)
                .ok_or(Error::GeneralError)?;
            let private = mechanism::private_key_from_pkcs8(kt, &bytes).map_err(|_| {
                invalid(format!("the material is not a PKCS#8 private key for {}", spec.name()))
            })?;
            if managed::spec_of(kt, &private) != Some(spec) {
                return Err(invalid(format!("the private key is not of the key's spec {}", spec.name())));
            }
            let public = mechanism::public_from_private(kt, &private)?;
            // The digest is over the canonical encoding, so the same key in another PKCS#8 form
            // (with or without its public key, say) is the same material.
            let canonical = mechanism::private_key_to_pkcs8(kt, &private)?;
            Material {
                digest: import::material_digest(master.bytes(), &canonical),
                sets: vec![(CKO_PRIVATE_KEY, private), (CKO_PUBLIC_KEY, public)],
            }
        };
        token.import_material(key_id, material, expiry)
    }

    /// `C_UnwrapKey` with an import wrapping key: the template names the key to import into
    /// (`CKA_KMS_KEY_ID`) and may set the material's expiry (`CKA_KMS_MATERIAL_EXPIRY`); the
    /// result is that key's object.
    pub(crate) fn import_by_unwrap(
        &self,
        s: &Session,
        mech: &Mechanism,
        wrapping: &Object,
        wrapped: &[u8],
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let key_id = template
            .get(CKA_KMS_KEY_ID)
            .and_then(|v| std::str::from_utf8(v).ok())
            .ok_or_else(|| {
                log::warn!(
                    "C_UnwrapKey with an import wrapping key: the template must name the key (CKA_KMS_KEY_ID)"
                );
                Error::TemplateIncomplete
            })?
            .to_string();
        let expiry = template.get(CKA_KMS_MATERIAL_EXPIRY).map(decode_ulong).transpose()?.unwrap_or(0) as u64;
        let target = s
            .token
            .key_objects(&key_id, false)?
            .into_iter()
            .find(|o| !o.is_version() && matches!(o.class, CKO_SECRET_KEY | CKO_PRIVATE_KEY))
            .ok_or_else(|| KmsError::new(KmsCode::KeyNotFound, format!("key {key_id} does not exist")))?;
        for (ty, value) in template.iter() {
            let fits = match ty {
                CKA_KMS_KEY_ID | CKA_KMS_MATERIAL_EXPIRY => true,
                CKA_CLASS => decode_ulong(value)? == target.class,
                CKA_KEY_TYPE => Some(decode_ulong(value)?) == target.key_type,
                CKA_TOKEN => value.first().is_some_and(|b| *b != CK_FALSE),
                _ => false,
            };
            if !fits {
                log::warn!(
                    "C_UnwrapKey into key {key_id}: attribute 0x{ty:08X} does not fit an import (the key's own attributes stay as they are)"
                );
                return Err(Error::TemplateInconsistent);
            }
        }
        self.import_wrapped(s, wrapping, mech, wrapped, &key_id, expiry)?;
        Ok(target.handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_attribute_is_taken_out_of_the_templates() {
        let mut a = Template::new().with(CKA_KMS_ORIGIN, b"EXTERNAL".to_vec()).with(CKA_LABEL, b"x".to_vec());
        let mut b = Template::new();
        assert_eq!(take_origin(&mut [&mut a, &mut b]).unwrap(), Origin::External);
        assert!(!a.contains(CKA_KMS_ORIGIN) && a.contains(CKA_LABEL));
        let mut c = Template::new().with(CKA_KMS_ORIGIN, b"Aliyun_KMS".to_vec());
        assert_eq!(take_origin(&mut [&mut c]).unwrap(), Origin::Kms);
        let mut d = Template::new().with(CKA_KMS_ORIGIN, b"external".to_vec());
        assert_eq!(take_origin(&mut [&mut d]).unwrap_err(), Error::AttributeValueInvalid);
    }
}
