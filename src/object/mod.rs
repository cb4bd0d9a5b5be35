//! Objects: attribute values, templates and the spec's per-class rules, and the in-memory object
//! an application's handle refers to.

pub mod attribute;
pub mod rules;

use crate::error::{Error, Result};
use crate::kms::KeyState;
use crate::mechanism::{LoadedKey, Versions};
use crate::vendor::{
    CKA_KMS_IS_VERSION, CKA_KMS_KEY_ID, CKA_KMS_KEY_STATE, CKA_KMS_KEY_VERSION_ID, CKA_KMS_MATERIAL_EXPIRY,
    CKA_KMS_NEXT_ROTATION, CKA_KMS_PRIMARY_VERSION_ID,
};
use attribute::Attributes;
use cryptoki_sys::*;
use once_cell::sync::OnceCell;
use std::sync::Arc;

/// A secret attribute as kept at rest: its type and its sealed value.
pub type SealedAttr = (CK_ATTRIBUTE_TYPE, Vec<u8>);

/// One object. It never changes once made: `C_SetAttributeValue` builds a new one under the same
/// handle, so readers and running operations need no lock on it.
pub struct Object {
    pub handle: CK_OBJECT_HANDLE,
    /// `CKA_UNIQUE_ID`; also the store key of token objects.
    pub uid: String,
    pub class: CK_OBJECT_CLASS,
    pub key_type: Option<CK_KEY_TYPE>,
    pub on_token: bool,
    pub private: bool,
    /// The session that made a session object; it dies with it.
    pub owner: Option<CK_SESSION_HANDLE>,
    /// Store sequence number of the version loaded (0 for session objects).
    pub seq: u64,
    /// Every attribute but secret material.
    attrs: Attributes,
    /// Secret material in the clear, once known (set at creation, or unsealed on first use).
    secrets: OnceCell<Attributes>,
    /// Secret material as stored, for objects loaded from the store.
    sealed: Vec<SealedAttr>,
    /// The parsed key, made on first use and kept for the object's life.
    material: OnceCell<Arc<LoadedKey>>,
    /// A managed key's versions with their keys, newest first, once needed.
    versions: OnceCell<Arc<Versions>>,
    /// For an object of a managed key, what every cryptographic call checks, read once.
    managed: Option<Managed>,
}

/// The facts of a managed key's object that the hot path checks on every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Managed {
    pub key_id: Arc<str>,
    /// The version the object is, or a key's primary version (for audit records).
    pub version_id: Option<Arc<str>>,
    /// One version of the key (rather than the key itself).
    pub is_version: bool,
    pub state: KeyState,
    /// Unix seconds; 0 = none.
    pub next_rotation: u64,
    /// When imported material is erased, Unix seconds; 0 = never.
    pub material_expiry: u64,
}

impl Managed {
    fn of(attrs: &Attributes) -> Option<Managed> {
        let key_id: Arc<str> = std::str::from_utf8(attrs.get(CKA_KMS_KEY_ID)?).ok()?.into();
        let is_version = attrs.flag(CKA_KMS_IS_VERSION);
        let version_attr = if is_version { CKA_KMS_KEY_VERSION_ID } else { CKA_KMS_PRIMARY_VERSION_ID };
        let version_id = attrs.get(version_attr).and_then(|v| std::str::from_utf8(v).ok()).map(Arc::from);
        let state =
            attrs.get(CKA_KMS_KEY_STATE).and_then(|v| std::str::from_utf8(v).ok()).and_then(KeyState::parse);
        Some(Managed {
            key_id,
            version_id,
            is_version,
            // An unreadable state refuses use rather than allowing it.
            state: state.unwrap_or(KeyState::Disabled),
            next_rotation: attrs.ulong(CKA_KMS_NEXT_ROTATION).unwrap_or(0),
            material_expiry: attrs.ulong(CKA_KMS_MATERIAL_EXPIRY).unwrap_or(0),
        })
    }
}

impl Object {
    /// An object whose secrets are known in the clear.
    pub fn new(
        handle: CK_OBJECT_HANDLE,
        mut attrs: Attributes,
        owner: Option<CK_SESSION_HANDLE>,
        seq: u64,
    ) -> Object {
        let class = attrs.ulong(CKA_CLASS).unwrap_or(CKO_DATA);
        let private = attrs.flag(CKA_PRIVATE);
        let secrets = attrs.split_off(|t| rules::sealed_at_rest(class, private, t));
        let mut o = Object::from_parts(handle, attrs, Vec::new(), owner, seq);
        let _ = o.secrets.set(secrets);
        o.material = OnceCell::new();
        o
    }

    /// An object loaded from the store, its secrets still sealed.
    pub fn from_parts(
        handle: CK_OBJECT_HANDLE,
        attrs: Attributes,
        sealed: Vec<SealedAttr>,
        owner: Option<CK_SESSION_HANDLE>,
        seq: u64,
    ) -> Object {
        let class = attrs.ulong(CKA_CLASS).unwrap_or(CKO_DATA);
        let key_type = attrs.ulong(CKA_KEY_TYPE);
        let uid =
            attrs.get(CKA_UNIQUE_ID).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
        Object {
            handle,
            uid,
            class,
            key_type,
            on_token: attrs.flag(CKA_TOKEN),
            private: attrs.flag(CKA_PRIVATE),
            owner,
            seq,
            secrets: OnceCell::new(),
            sealed,
            material: OnceCell::new(),
            versions: OnceCell::new(),
            managed: Managed::of(&attrs),
            attrs,
        }
    }

    /// The attributes that are not secret material.
    pub fn attrs(&self) -> &Attributes {
        &self.attrs
    }

    pub fn flag(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.attrs.flag(ty)
    }

    pub fn is_key(&self) -> bool {
        matches!(self.class, CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY)
    }

    /// Whether the object holds secret attributes that must be unsealed to be read.
    pub fn has_secrets(&self) -> bool {
        self.secrets.get().is_some_and(|s| !s.is_empty()) || !self.sealed.is_empty()
    }

    /// The sealed secrets as loaded from the store (empty for objects made in this process).
    pub fn sealed(&self) -> &[SealedAttr] {
        &self.sealed
    }

    /// The secret attributes in the clear; `unseal` opens the stored form the first time.
    pub fn secrets(&self, unseal: impl FnOnce(&[SealedAttr]) -> Result<Attributes>) -> Result<&Attributes> {
        self.secrets.get_or_try_init(|| unseal(&self.sealed))
    }

    /// Every attribute, secrets included.
    pub fn all_attrs(&self, unseal: impl FnOnce(&[SealedAttr]) -> Result<Attributes>) -> Result<Attributes> {
        let mut all = self.attrs.clone();
        all.extend(self.secrets(unseal)?.clone());
        Ok(all)
    }

    /// The parsed key, made once.
    pub fn material(
        &self,
        unseal: impl FnOnce(&[SealedAttr]) -> Result<Attributes>,
    ) -> Result<Arc<LoadedKey>> {
        self.material
            .get_or_try_init(|| {
                let key_type = self.key_type.ok_or(Error::KeyHandleInvalid)?;
                let all = self.all_attrs(unseal)?;
                crate::mechanism::load(self.class, key_type, &all).map(Arc::new)
            })
            .cloned()
    }

    /// Key material made another way (a managed key's comes from its primary version), kept
    /// like parsed material.
    pub fn material_or(&self, make: impl FnOnce() -> Result<Arc<LoadedKey>>) -> Result<Arc<LoadedKey>> {
        self.material.get_or_try_init(make).cloned()
    }

    /// A managed key's versions, made once.
    pub fn versions_or(&self, make: impl FnOnce() -> Result<Arc<Versions>>) -> Result<Arc<Versions>> {
        self.versions.get_or_try_init(make).cloned()
    }

    /// The managed key this object belongs to (as the key itself or as one of its versions).
    pub fn key_id(&self) -> Option<&str> {
        self.managed.as_ref().map(|m| &*m.key_id)
    }

    /// The managed-key facts of this object, if it belongs to a managed key.
    pub fn managed(&self) -> Option<&Managed> {
        self.managed.as_ref()
    }

    /// One version of a managed key (rather than the key itself).
    pub fn is_version(&self) -> bool {
        self.managed.as_ref().is_some_and(|m| m.is_version)
    }

    /// The object applications hold for a managed key (not one of its versions).
    pub fn is_managed_key(&self) -> bool {
        self.managed.as_ref().is_some_and(|m| !m.is_version)
    }

    /// A UTF-8 attribute.
    pub fn text(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&str> {
        self.attrs.get(ty).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Approximate size in bytes, for `C_GetObjectSize`.
    pub fn size(&self) -> usize {
        let secrets: usize = self.secrets.get().map(|s| s.iter().map(|(_, v)| v.len()).sum()).unwrap_or(0);
        let sealed: usize = self.sealed.iter().map(|(_, v)| v.len()).sum();
        self.attrs.iter().map(|(_, v)| v.len() + 16).sum::<usize>() + secrets.max(sealed)
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("handle", &self.handle)
            .field("uid", &self.uid)
            .field("class", &self.class)
            .field("on_token", &self.on_token)
            .finish_non_exhaustive()
    }
}
