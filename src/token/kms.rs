//! The token side of managed keys: making a CMK out of new token key objects, resolving a
//! CMK's material through its primary version, rotating, changing metadata and state,
//! scheduling and purging deletions, aliases. The rules themselves are in `crate::kms`.

use super::slot::{Token, new_uuid};
use crate::config::DestroyPolicy;
use crate::error::{Error, Result};
use crate::kms::managed::{self, NewKeyOptions};
use crate::kms::{KeySpec, KeyState, KmsCode, KmsError, Origin, names};
use crate::mechanism::{self, LoadedKey, Mechanism, Versions};
use crate::object::Object;
use crate::object::attribute::{Attributes, Template, decode_bool, decode_ulong, ulong_bytes};
use crate::store::{Filter, KmsKeyRecord, StoreError, StoreResult, Tx};
use crate::vendor::*;
use cryptoki_sys::*;
use std::sync::Arc;

/// A KMS refusal inside a store transaction.
pub(super) fn refuse(e: KmsError) -> StoreError {
    StoreError::Refused(e)
}

pub(super) fn not_found(key_id: &str) -> StoreError {
    refuse(KmsError::new(KmsCode::KeyNotFound, format!("key {key_id} does not exist")))
}

/// Refuses, inside the transaction that would add it, a key version the token's quota has no
/// room for.
pub(super) fn check_version_room(tx: &mut dyn Tx, quota: u64) -> StoreResult<()> {
    if tx.counts()?.versions + 1 > quota {
        return Err(refuse(KmsError::new(
            KmsCode::LimitExceeded,
            "the token's key version quota is used up",
        )));
    }
    Ok(())
}

/// The KMS options a creation template carried (taken out of the attribute sets).
#[derive(Default)]
struct CreationOptions {
    rotation_interval: u64,
    description: String,
    tags: String,
    aliases: Vec<String>,
    deletion_protection: bool,
}

impl CreationOptions {
    /// Takes the settable KMS attributes out of the sets; refuses the token-owned ones.
    fn take(sets: &mut [Attributes]) -> Result<CreationOptions> {
        let mut o = CreationOptions { tags: "{}".into(), ..CreationOptions::default() };
        for set in sets.iter_mut() {
            let kms: Vec<_> = set.iter().map(|(t, _)| t).filter(|t| managed::is_kms_attribute(*t)).collect();
            for ty in kms {
                let value = set.remove(ty).unwrap_or_default();
                if !managed::settable_at_creation(ty) {
                    return Err(Error::AttributeReadOnly);
                }
                match ty {
                    CKA_KMS_ROTATION_INTERVAL => {
                        o.rotation_interval = crate::object::attribute::decode_ulong(&value)?;
                    }
                    CKA_KMS_DESCRIPTION => o.description = description(&value)?,
                    CKA_KMS_TAGS => o.tags = tags(&value)?,
                    CKA_KMS_ALIASES => o.aliases = names::parse_aliases(&value)?,
                    CKA_KMS_DELETION_PROTECTION => {
                        o.deletion_protection = crate::object::attribute::decode_bool(&value)?;
                    }
                    _ => return Err(Error::AttributeReadOnly),
                }
            }
        }
        Ok(o)
    }
}

/// A description from an attribute value.
fn description(value: &[u8]) -> Result<String> {
    let text = String::from_utf8(value.to_vec()).map_err(|_| Error::AttributeValueInvalid)?;
    names::check_description(&text)?;
    Ok(text)
}

/// Tags (a JSON object of strings) from an attribute value, normalized.
fn tags(value: &[u8]) -> Result<String> {
    Ok(names::Tags::parse(value)?.to_json())
}

/// Whether a set of new objects is a key that becomes a managed key: token secret or private
/// keys (with the public half of a pair).
pub fn becomes_managed(sets: &[Attributes]) -> bool {
    sets.iter().any(|a| {
        a.flag(CKA_TOKEN) && matches!(a.ulong(CKA_CLASS), Some(CKO_SECRET_KEY) | Some(CKO_PRIVATE_KEY))
    })
}

impl Token {
    /// The objects of a managed key from the store: the key objects, and with `versions` the
    /// version objects too.
    pub fn key_objects(&self, key_id: &str, versions: bool) -> Result<Vec<Arc<Object>>> {
        let filter = Filter {
            key_id: Some(key_id.to_string()),
            include_private: true,
            include_versions: versions,
            ..Filter::default()
        };
        self.find_token_objects(&filter)
    }

    /// The metadata of a managed key.
    pub fn key_record(&self, key_id: &str) -> Result<KmsKeyRecord> {
        let mut out = None;
        self.store()?.read(&mut |tx| {
            out = tx.kms_key(key_id)?;
            Ok(())
        })?;
        out.ok_or_else(|| KmsError::new(KmsCode::KeyNotFound, format!("key {key_id} does not exist")).into())
    }

    /// The version objects of a managed key of one class, newest first.
    fn version_objects(&self, key_id: &str, class: CK_OBJECT_CLASS) -> Result<Vec<Arc<Object>>> {
        let mut order = Vec::new();
        self.store()?.read(&mut |tx| {
            order = tx.versions(key_id)?;
            Ok(())
        })?;
        let objs = self.key_objects(key_id, true)?;
        let mut out = Vec::with_capacity(order.len());
        for (vid, _) in order.iter().rev() {
            if let Some(o) = objs
                .iter()
                .find(|o| o.is_version() && o.class == class && o.text(CKA_KMS_KEY_VERSION_ID) == Some(vid))
            {
                out.push(o.clone());
            }
        }
        Ok(out)
    }

    /// The parsed key an object acts with: its own, or for a managed key the primary version's.
    pub fn key_material(&self, obj: &Object) -> Result<Arc<LoadedKey>> {
        if !obj.is_managed_key() || obj.class == CKO_PUBLIC_KEY {
            return self.material(obj);
        }
        obj.material_or(|| {
            let key_id = obj.key_id().ok_or(Error::GeneralError)?;
            let primary = obj.text(CKA_KMS_PRIMARY_VERSION_ID).ok_or(Error::GeneralError)?;
            let version = self
                .version_objects(key_id, obj.class)?
                .into_iter()
                .find(|v| v.text(CKA_KMS_KEY_VERSION_ID) == Some(primary))
                .ok_or_else(|| {
                    log::error!("managed key {key_id} has no object for its primary version {primary}");
                    Error::DeviceError
                })?;
            self.material(&version)
        })
    }

    /// The secret attributes an object stands for: its own, or a managed key's primary
    /// version's.
    pub fn key_secrets(&self, obj: &Object) -> Result<Attributes> {
        if !obj.is_managed_key() {
            return Ok(self.secrets(obj)?.clone());
        }
        let key_id = obj.key_id().ok_or(Error::GeneralError)?;
        let primary = obj.text(CKA_KMS_PRIMARY_VERSION_ID).ok_or(Error::GeneralError)?;
        let version = self
            .version_objects(key_id, obj.class)?
            .into_iter()
            .find(|v| v.text(CKA_KMS_KEY_VERSION_ID) == Some(primary))
            .ok_or(Error::DeviceError)?;
        Ok(self.secrets(&version)?.clone())
    }

    /// The versions a managed key (or one of its versions) can open data with, newest first;
    /// a plain key is its own single version.
    pub fn key_versions(&self, obj: &Object) -> Result<Arc<Versions>> {
        let Some(key_id) = obj.key_id().map(str::to_string) else {
            return Ok(Arc::new(Versions(vec![(String::new(), self.material(obj)?)])));
        };
        obj.versions_or(|| {
            let mut out = Vec::new();
            for v in self.version_objects(&key_id, obj.class)? {
                let vid = v.text(CKA_KMS_KEY_VERSION_ID).unwrap_or_default().to_string();
                out.push((vid, self.material(&v)?));
            }
            // A version object opens only what it sealed itself; the key object, all versions.
            if obj.is_version() {
                let own = obj.text(CKA_KMS_KEY_VERSION_ID);
                out.retain(|(vid, _)| Some(vid.as_str()) == own);
            }
            if out.is_empty() {
                return Err(Error::DeviceError);
            }
            Ok(Arc::new(Versions(out)))
        })
    }

    /// Stores new token key objects as a managed key (DESIGN §3): a key object per set, which
    /// applications hold, and a version object per set with the material; metadata, the first
    /// version and any aliases, all in one transaction within the token's quotas. Returns the
    /// handles of the key objects, in the order of `sets`.
    pub fn create_managed(
        &self,
        sets: Vec<Attributes>,
        owner: CK_SESSION_HANDLE,
        origin: Origin,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        self.create_managed_as(sets, owner, origin, false)
    }

    /// [`Token::create_managed`]; a `pending` key (EXTERNAL, its material still to be
    /// imported) gets its key objects only, no version, and starts in `PendingImport`.
    pub(crate) fn create_managed_as(
        &self,
        mut sets: Vec<Attributes>,
        owner: CK_SESSION_HANDLE,
        origin: Origin,
        pending: bool,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let options = CreationOptions::take(&mut sets)?;
        let main = sets
            .iter()
            .find(|a| matches!(a.ulong(CKA_CLASS), Some(CKO_SECRET_KEY) | Some(CKO_PRIVATE_KEY)))
            .ok_or(Error::TemplateInconsistent)?;
        let key_type = main.ulong(CKA_KEY_TYPE).ok_or(Error::TemplateIncomplete)?;
        // The spec reads sizes from whichever half carries them (an RSA private key may lack
        // CKA_MODULUS_BITS, its public half has it).
        let spec =
            sets.iter().find_map(|a| managed::spec_of(key_type, a)).ok_or(Error::TemplateInconsistent)?;
        let usage = managed::usage_of(spec, &sets.iter().collect::<Vec<_>>());
        let now = self.kms.clock.now();
        let opts = NewKeyOptions {
            key_id: new_uuid()?,
            version_id: new_uuid()?,
            now,
            spec,
            usage,
            origin,
            rotation_interval: options.rotation_interval,
            description: options.description.clone(),
            tags: options.tags.clone(),
            deletion_protection: options.deletion_protection,
            creator: String::new(),
        };
        let mut rec = managed::new_record(&opts)?;
        if pending {
            crate::kms::import::check_external_spec(spec)?;
            if options.rotation_interval != 0 {
                return Err(KmsError::new(
                    KmsCode::UnsupportedOperation,
                    "keys with imported material do not rotate automatically",
                )
                .into());
            }
            rec.state = KeyState::PendingImport.name().to_string();
            rec.primary_version = String::new();
        }
        let mut all = Vec::with_capacity(sets.len() * 2);
        let mut keys = Vec::with_capacity(sets.len());
        for set in &sets {
            let (mut key, version) = managed::split_roles(set, &rec, &rec.primary_version, now);
            // CKA_ID names the key when the caller gave none.
            if key.get(CKA_ID).is_none_or(|id| id.is_empty()) {
                key.set(CKA_ID, rec.key_id.clone().into_bytes());
            }
            keys.push(all.len());
            all.push(key);
            if !pending {
                all.push(version);
            }
        }
        let quota = self.kms.quota.clone();
        let handles = self.add_objects_with(all, owner, &mut |tx| {
            let counts = tx.counts()?;
            if counts.keys + 1 > quota.keys {
                return Err(refuse(KmsError::new(
                    KmsCode::LimitExceeded,
                    format!("the token holds {} keys, its quota", quota.keys),
                )));
            }
            if !pending && counts.versions + 1 > quota.key_versions {
                return Err(refuse(KmsError::new(
                    KmsCode::LimitExceeded,
                    "the token's key version quota is used up",
                )));
            }
            if counts.aliases + options.aliases.len() as u64 > quota.aliases {
                return Err(refuse(KmsError::new(
                    KmsCode::LimitExceeded,
                    "the token's alias quota is used up",
                )));
            }
            tx.put_kms_key(&rec)?;
            if !pending {
                tx.add_version(&rec.key_id, &opts.version_id, now)?;
            }
            for alias in &options.aliases {
                if tx.alias_target(alias)?.is_some() {
                    return Err(refuse(KmsError::new(
                        KmsCode::AlreadyExists,
                        format!("alias {alias} exists"),
                    )));
                }
                tx.put_alias(alias, &rec.key_id, now)?;
            }
            Ok(())
        })?;
        log::info!("created managed key {} ({}, {})", rec.key_id, rec.spec, rec.usage);
        Ok(keys.into_iter().map(|i| handles[i]).collect())
    }

    /// Changes a managed key's metadata with `change`, and rewrites its objects to match, in one
    /// transaction.
    pub fn update_key(
        &self,
        key_id: &str,
        change: &mut dyn FnMut(&mut KmsKeyRecord, &mut dyn Tx) -> StoreResult<()>,
    ) -> Result<KmsKeyRecord> {
        let mut touched = Vec::new();
        let mut result = None;
        self.store()?.write(&mut |tx| {
            let mut rec = tx.kms_key(key_id)?.ok_or_else(|| not_found(key_id))?;
            change(&mut rec, tx)?;
            tx.put_kms_key(&rec)?;
            touched = self.rewrite_key_objects(tx, &rec, None)?;
            result = Some(rec);
            Ok(())
        })?;
        self.invalidate(&touched);
        result.ok_or(Error::GeneralError)
    }

    /// Rewrites the metadata attributes of every object of a key from its record; with
    /// `primary`, the key objects also take the primary version's public attributes.
    pub(super) fn rewrite_key_objects(
        &self,
        tx: &mut dyn Tx,
        rec: &KmsKeyRecord,
        primary: Option<&[(CK_OBJECT_CLASS, Attributes)]>,
    ) -> StoreResult<Vec<String>> {
        let mut touched = Vec::new();
        for (uid, is_version) in tx.objects_of_key(&rec.key_id)? {
            let Some(stored) = tx.load_object(&uid)? else { continue };
            let class = stored.class as CK_OBJECT_CLASS;
            let updated = self
                .rewrite_record(&stored, |attrs| {
                    if is_version {
                        attrs.set(CKA_KMS_KEY_STATE, rec.state.clone().into_bytes());
                        attrs.set(CKA_KMS_PRIMARY_VERSION_ID, rec.primary_version.clone().into_bytes());
                        attrs.set_ulong(CKA_KMS_MATERIAL_EXPIRY, rec.material_expiry as CK_ULONG);
                    } else {
                        attrs.extend(managed::key_object_attrs(rec));
                        if let Some((_, from)) = primary.and_then(|p| p.iter().find(|(c, _)| *c == class)) {
                            for (ty, v) in from.iter().filter(|(t, _)| managed::follows_primary(*t)) {
                                attrs.set(ty, v.to_vec());
                            }
                        }
                    }
                })
                .map_err(|e| StoreError::Corrupt(format!("object {uid}: {e}")))?;
            tx.update_object(&updated)?;
            touched.push(uid);
        }
        Ok(touched)
    }

    /// Makes a new version of a managed key and makes it the primary (`manual`: on request;
    /// otherwise only if an automatic rotation is due). Needs the master key, to seal the new
    /// material. Returns the new version id, or `None` when nothing was due (another process
    /// may have rotated first).
    pub fn rotate(&self, key_id: &str, manual: bool) -> Result<Option<String>> {
        let now = self.kms.clock.now();
        let rec = self.key_record(key_id)?;
        if !manual && !managed::rotation_due(&rec, now) {
            return Ok(None);
        }
        if self.master_key().is_none() {
            return Err(Error::UserNotLoggedIn);
        }
        let mut versions = Vec::new();
        self.store()?.read(&mut |tx| {
            versions = tx.versions(key_id)?;
            Ok(())
        })?;
        managed::check_new_version(&rec, &versions, now, manual)?;
        let spec = managed::spec_of_record(&rec);
        // The new version looks like the primary one (usage flags, label, sensitivity…) with
        // fresh material.
        let mut templates = Vec::new();
        for class in [CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY] {
            if let Some(v) = self
                .version_objects(key_id, class)?
                .into_iter()
                .find(|v| v.text(CKA_KMS_KEY_VERSION_ID) == Some(rec.primary_version.as_str()))
            {
                templates.push(v);
            }
        }
        let fresh = generate_like(spec, &templates)?;
        let version_id = new_uuid()?;
        let mut new_objects = Vec::new();
        let mut primary_public = Vec::new();
        for (template, material) in templates.iter().zip(fresh) {
            let mut attrs = template.attrs().clone();
            attrs.remove(CKA_UNIQUE_ID);
            attrs.extend(material);
            attrs.set_bool(CKA_LOCAL, true);
            attrs.set(CKA_KMS_KEY_VERSION_ID, version_id.clone().into_bytes());
            attrs.set(CKA_KMS_CREATION_DATE, ulong_bytes(now as CK_ULONG));
            attrs.set(CKA_UNIQUE_ID, new_uuid()?.into_bytes());
            let public: Attributes = {
                let mut p = attrs.clone();
                p.split_off(|t| !managed::follows_primary(t));
                p
            };
            primary_public.push((template.class, attrs.split_off(managed::follows_primary)));
            attrs.extend(public);
            new_objects.push(Object::new(self.new_handle(), attrs, None, 0));
        }
        let records = new_objects.iter().map(|o| self.encode(o)).collect::<Result<Vec<_>>>()?;
        let expected = rec.primary_version.clone();
        let quota = self.kms.quota.key_versions;
        let mut touched = Vec::new();
        let mut rotated = false;
        self.store()?.write(&mut |tx| {
            let mut current = tx.kms_key(key_id)?.ok_or_else(|| not_found(key_id))?;
            // Someone else rotated meanwhile, or the rotation stopped being due.
            if current.primary_version != expected || (!manual && !managed::rotation_due(&current, now)) {
                return Ok(());
            }
            check_version_room(tx, quota)?;
            for r in &records {
                tx.insert_object(r)?;
            }
            tx.add_version(key_id, &version_id, now)?;
            managed::rotated(&mut current, &version_id, now);
            tx.put_kms_key(&current)?;
            touched = self.rewrite_key_objects(tx, &current, Some(&primary_public))?;
            rotated = true;
            Ok(())
        })?;
        self.invalidate(&touched);
        if rotated {
            log::info!("managed key {key_id} rotated to version {version_id}");
            Ok(Some(version_id))
        } else {
            Ok(None)
        }
    }

    /// Deletes a managed key and everything of it (its window has passed, or the token is
    /// configured to delete at once).
    pub fn purge(&self, key_id: &str) -> Result<()> {
        let mut gone = Vec::new();
        self.store()?.write(&mut |tx| {
            for (uid, _) in tx.objects_of_key(key_id)? {
                tx.delete_object(&uid)?;
                gone.push(uid);
            }
            tx.delete_kms_key(key_id)
        })?;
        self.forget(&gone);
        self.purge_wrapping_pairs(key_id, u64::MAX)?;
        log::info!("managed key {key_id} deleted");
        Ok(())
    }

    /// Carries out what is due: deletions whose window has passed, and (with the master key)
    /// automatic rotations. Runs at `C_Initialize`, at login and from `kmsctl`; each is done once
    /// even with several processes (the write re-checks inside its transaction).
    pub fn run_due(&self) -> Result<()> {
        let now = self.kms.clock.now();
        let mut due = Vec::new();
        self.store()?.read(&mut |tx| {
            due = tx.due_keys(now)?;
            Ok(())
        })?;
        for key_id in due {
            let rec = match self.key_record(&key_id) {
                Ok(r) => r,
                Err(_) => continue,
            };
            if managed::state_of(&rec) == KeyState::PendingDeletion && rec.deletion_date <= now {
                self.purge(&key_id)?;
            } else if rec.material_expiry != 0 && rec.material_expiry <= now {
                self.expire_material(&key_id)?;
            } else if managed::rotation_due(&rec, now) && self.master_key().is_some() {
                self.rotate(&key_id, false)?;
            }
        }
        Ok(())
    }

    /// The key an alias names.
    pub fn alias_key(&self, alias: &str) -> Result<Option<String>> {
        let mut out = None;
        self.store()?.read(&mut |tx| {
            out = tx.alias_target(alias)?;
            Ok(())
        })?;
        Ok(out)
    }

    pub fn aliases_of(&self, key_id: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.store()?.read(&mut |tx| {
            out = tx.aliases_of(key_id)?;
            Ok(())
        })?;
        Ok(out)
    }

    /// Replaces the aliases of a key with `wanted` (`CKA_KMS_ALIASES`).
    pub fn set_aliases(&self, key_id: &str, wanted: &[String]) -> Result<()> {
        let now = self.kms.clock.now();
        let limit = self.kms.quota.aliases;
        self.update_key(key_id, &mut |_, tx| replace_aliases(tx, key_id, wanted, now, limit))?;
        Ok(())
    }

    /// Every managed key's metadata, oldest first.
    pub fn all_keys(&self) -> Result<Vec<KmsKeyRecord>> {
        let mut out = Vec::new();
        self.store()?.read(&mut |tx| {
            out = tx.kms_keys()?;
            Ok(())
        })?;
        Ok(out)
    }

    /// A key's versions, oldest first: (version id, created).
    pub fn version_list(&self, key_id: &str) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        self.store()?.read(&mut |tx| {
            out = tx.versions(key_id)?;
            Ok(())
        })?;
        Ok(out)
    }

    /// The key a version belongs to.
    pub fn key_of_version(&self, version_id: &str) -> Result<Option<String>> {
        let mut out = None;
        self.store()?.read(&mut |tx| {
            out = tx.key_of_version(version_id)?;
            Ok(())
        })?;
        Ok(out)
    }

    /// Every alias with its key.
    pub fn all_aliases(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        self.store()?.read(&mut |tx| {
            out = tx.all_aliases()?;
            Ok(())
        })?;
        Ok(out)
    }

    /// The token's resource counts, for quotas.
    pub fn counts(&self) -> Result<crate::store::Counts> {
        let mut out = crate::store::Counts::default();
        self.store()?.read(&mut |tx| {
            out = tx.counts()?;
            Ok(())
        })?;
        Ok(out)
    }

    /// CreateAlias: a new alias for a key, within the alias quota.
    pub fn add_alias(&self, alias: &str, key_id: &str) -> Result<()> {
        let now = self.kms.clock.now();
        let limit = self.kms.quota.aliases;
        self.update_key(key_id, &mut |_, tx| {
            let mut wanted = tx.aliases_of(key_id)?;
            wanted.push(alias.to_string());
            replace_aliases(tx, key_id, &wanted, now, limit)
        })?;
        Ok(())
    }

    /// UpdateAlias: an existing alias now names `key_id`.
    pub fn repoint_alias(&self, alias: &str, key_id: &str) -> Result<()> {
        let now = self.kms.clock.now();
        self.update_key(key_id, &mut |_, tx| {
            if tx.alias_target(alias)?.is_none() {
                return Err(refuse(KmsError::new(
                    KmsCode::AliasNotFound,
                    format!("alias {alias} does not exist"),
                )));
            }
            tx.put_alias(alias, key_id, now)
        })?;
        Ok(())
    }

    /// DeleteAlias; `false` when there was no such alias.
    pub fn remove_alias(&self, alias: &str) -> Result<bool> {
        let mut removed = false;
        self.store()?.write(&mut |tx| {
            removed = tx.delete_alias(alias)?;
            Ok(())
        })?;
        Ok(removed)
    }

    /// A managed key's object made ready for a cryptographic call: refreshed if another
    /// process may have changed the key, rotated first when an automatic rotation is due, and
    /// refused unless the key is enabled.
    ///
    /// The cached state may be up to `SYNC_INTERVAL_MS` (100 ms) old. A refusal is
    /// confirmed against the store before it is given: a key another process has just enabled,
    /// or given its material back, works at once; only the other direction (a key just
    /// disabled elsewhere) takes up to that interval.
    pub fn ready_for_use(&self, obj: Arc<Object>, now: std::time::Instant) -> Result<Arc<Object>> {
        let synced = self.sync_if_stale(now)?;
        let obj = if synced { self.object(obj.handle)? } else { obj };
        let (mut obj, mut state) = self.rotated_and_unexpired(obj)?;
        if state.refusal().is_some() && !synced {
            self.sync()?;
            (obj, state) = self.rotated_and_unexpired(self.object(obj.handle)?)?;
        }
        if let Some(code) = state.refusal() {
            return Err(KmsError::new(
                code,
                format!("key {} is {}", obj.key_id().unwrap_or_default(), state.name()),
            )
            .into());
        }
        Ok(obj)
    }

    /// Carries out what is due on a managed key before its use (an automatic rotation, the
    /// erasure of expired imported material); the object as it is then, and its state.
    fn rotated_and_unexpired(&self, obj: Arc<Object>) -> Result<(Arc<Object>, KeyState)> {
        let mut obj = obj;
        let next = obj.managed().map_or(0, |m| m.next_rotation);
        if next != 0 && obj.is_managed_key() && next <= self.kms.clock.now() {
            // Another process may have rotated already; `rotate` re-checks in its transaction.
            self.sync()?;
            let key_id = obj.key_id().unwrap_or_default().to_string();
            // A rotation that cannot happen now (no master key before a login, a full version
            // quota, a busy store) waits for the next use; the key still works with its
            // current primary version.
            match self.rotate(&key_id, false) {
                Ok(_) | Err(Error::UserNotLoggedIn) => {}
                Err(e) => log::warn!("managed key {key_id}: automatic rotation deferred: {e:?}"),
            }
            obj = self.object(obj.handle)?;
        }
        let expiry = obj.managed().map_or(0, |m| m.material_expiry);
        if expiry != 0 && expiry <= self.kms.clock.now() {
            let key_id = obj.key_id().unwrap_or_default().to_string();
            self.expire_material(&key_id)?;
            obj = self.object(obj.handle)?;
        }
        let state = obj.managed().map_or(KeyState::Enabled, |m| m.state);
        Ok((obj, state))
    }

    /// `C_DestroyObject` of a managed key: its deletion is scheduled with the shortest window
    /// (or, on a token configured so, carried out at once). Deletion protection holds either
    /// way.
    pub fn destroy_managed(&self, key_id: &str) -> Result<()> {
        let now = self.kms.clock.now();
        match self.kms.destroy {
            DestroyPolicy::Schedule => {
                self.update_key(key_id, &mut |rec, _| {
                    managed::schedule_deletion(rec, names::DELETION_MIN_DAYS, now).map_err(refuse)
                })?;
                log::info!("managed key {key_id} scheduled for deletion");
                Ok(())
            }
            DestroyPolicy::Immediate => {
                let rec = self.key_record(key_id)?;
                if rec.deletion_protection {
                    return Err(
                        KmsError::new(KmsCode::DeletionProtected, "the key has deletion protection").into()
                    );
                }
                self.purge(key_id)
            }
        }
    }

    /// `C_SetAttributeValue` of KMS attributes on a managed key: each change goes through the
    /// KMS rules, all of them in one transaction.
    pub fn set_kms_attributes(&self, key_id: &str, changes: &Attributes) -> Result<()> {
        let now = self.kms.clock.now();
        let limit = self.kms.quota.aliases;
        let mut edits = Vec::new();
        for (ty, value) in changes.iter() {
            edits.push(match ty {
                CKA_KMS_ROTATION_INTERVAL => Edit::Rotation(decode_ulong(value)? as u64),
                CKA_KMS_DESCRIPTION => Edit::Description(description(value)?),
                CKA_KMS_TAGS => Edit::Tags(tags(value)?),
                CKA_KMS_ALIASES => Edit::Aliases(names::parse_aliases(value)?),
                CKA_KMS_DELETION_PROTECTION => Edit::Protection(decode_bool(value)?),
                CKA_KMS_KEY_STATE => match std::str::from_utf8(value).ok().and_then(KeyState::parse) {
                    Some(s @ (KeyState::Enabled | KeyState::Disabled)) => Edit::State(s),
                    // Deletion goes through C_DestroyObject (or kmsctl), which say how long.
                    _ => return Err(Error::AttributeValueInvalid),
                },
                _ => return Err(Error::AttributeReadOnly),
            });
        }
        self.update_key(key_id, &mut |rec, tx| {
            for edit in &edits {
                match edit {
                    Edit::Rotation(secs) => managed::set_rotation(rec, *secs, now).map_err(refuse)?,
                    Edit::Description(d) => rec.description = d.clone(),
                    Edit::Tags(t) => rec.tags = t.clone(),
                    Edit::Aliases(a) => replace_aliases(tx, key_id, a, now, limit)?,
                    Edit::Protection(on) => managed::set_deletion_protection(rec, *on, "").map_err(refuse)?,
                    Edit::State(KeyState::Enabled) => managed::enable(rec).map_err(refuse)?,
                    Edit::State(_) => managed::disable(rec).map_err(refuse)?,
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Changes standard attributes on every object of a managed key of one class (the key
    /// object and all its versions), in one transaction.
    pub fn set_key_attributes(
        &self,
        key_id: &str,
        class: CK_OBJECT_CLASS,
        changes: &Attributes,
    ) -> Result<()> {
        let mut touched = Vec::new();
        self.store()?.write(&mut |tx| {
            touched.clear();
            for (uid, _) in tx.objects_of_key(key_id)? {
                let Some(stored) = tx.load_object(&uid)? else { continue };
                if stored.class as CK_OBJECT_CLASS != class {
                    continue;
                }
                let updated = self
                    .rewrite_record(&stored, |attrs| {
                        for (ty, v) in changes.iter() {
                            attrs.set(ty, v.to_vec());
                        }
                    })
                    .map_err(|e| StoreError::Corrupt(format!("object {uid}: {e}")))?;
                tx.update_object(&updated)?;
                touched.push(uid);
            }
            Ok(())
        })?;
        self.invalidate(&touched);
        Ok(())
    }
}

/// One change of `C_SetAttributeValue` on a managed key's KMS attributes.
enum Edit {
    Rotation(u64),
    Description(String),
    Tags(String),
    Aliases(Vec<String>),
    Protection(bool),
    State(KeyState),
}

/// Makes `wanted` the aliases of a key, within the alias quota.
fn replace_aliases(
    tx: &mut dyn Tx,
    key_id: &str,
    wanted: &[String],
    now: u64,
    limit: u64,
) -> StoreResult<()> {
    let current = tx.aliases_of(key_id)?;
    for alias in current.iter().filter(|a| !wanted.contains(a)) {
        tx.delete_alias(alias)?;
    }
    for alias in wanted.iter().filter(|a| !current.contains(a)) {
        if tx.alias_target(alias)?.is_some() {
            return Err(refuse(KmsError::new(KmsCode::AlreadyExists, format!("alias {alias} exists"))));
        }
        if tx.counts()?.aliases + 1 > limit {
            return Err(refuse(KmsError::new(KmsCode::LimitExceeded, "the token's alias quota is used up")));
        }
        tx.put_alias(alias, key_id, now)?;
    }
    Ok(())
}

/// Fresh material for a new version, one attribute set per template object (key pair halves
/// get their halves of one pair).
fn generate_like(spec: KeySpec, templates: &[Arc<Object>]) -> Result<Vec<Attributes>> {
    let first = templates.first().ok_or(Error::GeneralError)?;
    if spec.is_symmetric() {
        let kt = first.key_type.ok_or(Error::GeneralError)?;
        let (mech, template) = match kt {
            CKK_AES => (
                CKM_AES_KEY_GEN,
                Template::new()
                    .with(CKA_VALUE_LEN, ulong_bytes(first.attrs().ulong(CKA_VALUE_LEN).unwrap_or(32))),
            ),
            CKK_SM4 => (CKM_SM4_KEY_GEN, Template::new()),
            _ => (
                CKM_GENERIC_SECRET_KEY_GEN,
                Template::new()
                    .with(CKA_KEY_TYPE, ulong_bytes(kt))
                    .with(CKA_VALUE_LEN, ulong_bytes(first.attrs().ulong(CKA_VALUE_LEN).unwrap_or(32))),
            ),
        };
        return Ok(vec![mechanism::generate_key(&Mechanism::new(mech), &template)?.attrs]);
    }
    let kt = first.key_type.ok_or(Error::GeneralError)?;
    let public_template = match kt {
        CKK_RSA => {
            let bits = templates.iter().find_map(|t| t.attrs().ulong(CKA_MODULUS_BITS)).unwrap_or(2048);
            (CKM_RSA_PKCS_KEY_PAIR_GEN, Template::new().with(CKA_MODULUS_BITS, ulong_bytes(bits)))
        }
        _ => {
            let params = first.attrs().get(CKA_EC_PARAMS).ok_or(Error::GeneralError)?.to_vec();
            let mech = if kt == CKK_SM2 { CKM_SM2_KEY_PAIR_GEN } else { CKM_EC_KEY_PAIR_GEN };
            (mech, Template::new().with(CKA_EC_PARAMS, params))
        }
    };
    let pair = mechanism::generate_key_pair(
        &Mechanism::new(public_template.0),
        &public_template.1,
        &Template::new(),
    )?;
    Ok(templates
        .iter()
        .map(|t| if t.class == CKO_PUBLIC_KEY { pair.public.clone() } else { pair.private.clone() })
        .collect())
}
