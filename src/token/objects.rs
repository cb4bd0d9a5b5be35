//! Object management: create, copy, destroy, attributes and search, with the spec's rules on
//! sessions (read-only, login) and on object attributes.

use super::Library;
use super::audit::Call;
use super::session::{Search, Session};
use super::slot::{Who, may_reveal};
use crate::error::{Error, Result};
use crate::kms::managed;
use crate::kms::rate_limit::Group;
use crate::mechanism;
use crate::object::Object;
use crate::object::attribute::{Attributes, Template};
use crate::object::rules::{self, Origin};
use crate::store::Filter;
use crate::vendor::{
    CKA_KMS_ALIASES, CKA_KMS_DELETION_PROTECTION, CKA_KMS_DESCRIPTION, CKA_KMS_IS_VERSION, CKA_KMS_KEY_ID,
    CKA_KMS_KEY_STATE, CKA_KMS_KEY_VERSION_ID, CKA_KMS_ROTATION_INTERVAL, CKA_KMS_TAGS,
};
use cryptoki_sys::*;
use std::sync::Arc;

/// One attribute of a `C_GetAttributeValue` answer.
pub enum AttrValue {
    Value(Vec<u8>),
    /// `CKR_ATTRIBUTE_SENSITIVE`.
    Sensitive,
    /// `CKR_ATTRIBUTE_TYPE_INVALID`.
    Invalid,
}

impl Library {
    /// An object visible to a session.
    pub(crate) fn visible_object(&self, session: &Session, handle: CK_OBJECT_HANDLE) -> Result<Arc<Object>> {
        let token = &session.token;
        let obj = token.object(handle)?;
        if !token.visible(&obj) {
            return Err(Error::ObjectHandleInvalid);
        }
        Ok(obj)
    }

    /// Checks that a session may add or change an object with these properties.
    pub(crate) fn check_writable(&self, session: &Session, on_token: bool, private: bool) -> Result<()> {
        if on_token && !session.read_write {
            return Err(Error::SessionReadOnly);
        }
        if private && session.token.who() != Who::User {
            return Err(Error::UserNotLoggedIn);
        }
        Ok(())
    }

    /// Stores new objects made from complete attribute sets. Token keys become managed keys
    /// (`origin` says where their material came from); anything else is stored as it is and
    /// may not carry KMS attributes.
    pub(crate) fn add_objects(
        &self,
        session: &Session,
        sets: Vec<Attributes>,
        origin: crate::kms::Origin,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        for a in &sets {
            self.check_writable(session, a.flag(CKA_TOKEN), a.flag(CKA_PRIVATE))?;
        }
        if super::kms::becomes_managed(&sets) {
            self.throttle(Group::Create)?;
            return session.token.create_managed(sets, session.handle, origin);
        }
        if sets.iter().any(|a| a.iter().any(|(t, _)| managed::is_kms_attribute(t))) {
            return Err(Error::TemplateInconsistent);
        }
        session.token.add_objects(sets, session.handle)
    }

    pub fn create_object(&self, handle: CK_SESSION_HANDLE, template: &Template) -> Result<CK_OBJECT_HANDLE> {
        let session = self.session(handle)?;
        self.audited(&session.token, "C_CreateObject", "CreateObject", |call| {
            let class = template.get_ulong(CKA_CLASS).ok().flatten();
            if matches!(class, Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY)) {
                call.event = super::crypto::creation_event(&[template], "CreateObject");
            }
            let handle = self.create_object_in(&session, template)?;
            self.note_created(&session, call, handle);
            Ok(handle)
        })
    }

    fn create_object_in(&self, session: &Session, template: &Template) -> Result<CK_OBJECT_HANDLE> {
        template.validate()?;
        let class = template.get_ulong(CKA_CLASS)?.ok_or(Error::TemplateIncomplete)?;
        let key_type = match class {
            CKO_SECRET_KEY | CKO_PUBLIC_KEY | CKO_PRIVATE_KEY => {
                Some(template.get_ulong(CKA_KEY_TYPE)?.ok_or(Error::TemplateIncomplete)?)
            }
            CKO_DATA | CKO_CERTIFICATE => None,
            _ => return Err(Error::AttributeValueInvalid),
        };
        if matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY) && !session.token.kms.plaintext_import {
            log::warn!(
                "C_CreateObject of key material refused: [policy] plaintext_import = false allows wrapped import only (C_UnwrapKey, kmsctl import-key-material)"
            );
            return Err(Error::TemplateInconsistent);
        }
        let so = session.token.who() == Who::So;
        let mut attrs = rules::new_object(template, class, key_type, Origin::Created, so)?;
        if let Some(kt) = key_type {
            check_key_class(class, kt)?;
            mechanism::import(class, kt, &mut attrs)?;
        }
        Ok(self.add_objects(session, vec![attrs], crate::kms::Origin::External)?[0])
    }

    pub fn copy_object(
        &self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let session = self.session(handle)?;
        self.audited(&session.token, "C_CopyObject", "CopyObject", |call| {
            self.copy_object_in(&session, call, object, template)
        })
    }

    fn copy_object_in(
        &self,
        session: &Session,
        call: &mut Call,
        object: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        session.token.sync()?;
        let obj = self.visible_object(session, object)?;
        call.key(&obj);
        // A managed key is one key with versions and metadata; a copy would be a second,
        // unmanaged key sharing its material.
        if !obj.flag(CKA_COPYABLE) || obj.key_id().is_some() {
            return Err(Error::ActionProhibited);
        }
        template.validate()?;
        let so = session.token.who() == Who::So;
        let mut attrs = session.token.all_attrs(&obj)?;
        for (ty, value) in template.iter() {
            rules::check_change(obj.attrs(), ty, value, true, so)?;
            attrs.set(ty, value.to_vec());
        }
        attrs.remove(CKA_UNIQUE_ID);
        Ok(self.add_objects(session, vec![attrs], crate::kms::Origin::External)?[0])
    }

    pub fn destroy_object(&self, handle: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> Result<()> {
        let session = self.session(handle)?;
        self.audited(&session.token, "C_DestroyObject", "DestroyObject", |call| {
            self.destroy_object_in(&session, call, object)
        })
    }

    fn destroy_object_in(&self, session: &Session, call: &mut Call, object: CK_OBJECT_HANDLE) -> Result<()> {
        session.token.sync()?;
        let obj = self.visible_object(session, object)?;
        call.key(&obj);
        if obj.is_managed_key() && obj.class != CKO_PUBLIC_KEY {
            call.event = match session.token.kms.destroy {
                crate::config::DestroyPolicy::Schedule => "ScheduleKeyDeletion",
                crate::config::DestroyPolicy::Immediate => "DeleteKey",
            };
        }
        if obj.on_token && !session.read_write {
            return Err(Error::SessionReadOnly);
        }
        if !obj.flag(CKA_DESTROYABLE) {
            return Err(Error::ActionProhibited);
        }
        // A key whose deletion is already scheduled (the other half of a pair, say) is on its
        // way out.
        if obj.is_managed_key() && session.token.pending_deletion(&obj) {
            return Ok(());
        }
        match obj.key_id() {
            // Versions go only with their key.
            Some(_) if obj.is_version() => Err(Error::ActionProhibited),
            // A public key is no secret and its versions keep it: the object goes, the key
            // stays.
            Some(_) if obj.class == CKO_PUBLIC_KEY => session.token.destroy(&obj),
            Some(key_id) => {
                self.throttle(Group::Write)?;
                session.token.destroy_managed(key_id)
            }
            None => session.token.destroy(&obj),
        }
    }

    pub fn object_size(&self, handle: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> Result<usize> {
        let session = self.session(handle)?;
        session.token.sync()?;
        Ok(self.visible_object(&session, object)?.size())
    }

    /// The values of the requested attributes; the FFI layer lays them out per the spec.
    pub fn get_attributes(
        &self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
        lengths_only: bool,
    ) -> Result<Vec<AttrValue>> {
        let session = self.session(handle)?;
        self.audited(&session.token, "C_GetAttributeValue", "GetKeyMaterial", |call| {
            // Only reading secret material (or trying to) is a key use worth a record; asking
            // for lengths reveals nothing, and the read that follows is the one recorded.
            call.skip = true;
            self.get_attributes_in(&session, call, object, types, lengths_only)
        })
    }

    fn get_attributes_in(
        &self,
        session: &Session,
        call: &mut Call,
        object: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
        lengths_only: bool,
    ) -> Result<Vec<AttrValue>> {
        session.token.sync()?;
        let obj = self.visible_object(session, object)?;
        let secret = |t: &&CK_ATTRIBUTE_TYPE| {
            rules::sealed_at_rest(obj.class, obj.private, **t)
                && rules::rule(obj.class, obj.key_type, **t).is_some()
        };
        let mut secrets = types.iter().filter(secret).peekable();
        let asks_secrets = secrets.peek().is_some();
        let refused = secrets.any(|t| !may_reveal(&obj, *t));
        if asks_secrets && (!lengths_only || refused) {
            call.skip = false;
            call.key(&obj);
        }
        // Reading a managed key's KMS attributes is DescribeKey.
        if obj.key_id().is_some() && types.iter().any(|t| managed::is_kms_attribute(*t)) {
            self.throttle(Group::Read)?;
        }
        let mut out = Vec::with_capacity(types.len());
        for &ty in types {
            // Aliases live with the key's metadata, not in its objects.
            if ty == CKA_KMS_ALIASES && obj.is_managed_key() {
                let key_id = obj.key_id().unwrap_or_default();
                let names = session.token.aliases_of(key_id)?;
                out.push(AttrValue::Value(serde_json::to_vec(&names).map_err(|_| Error::GeneralError)?));
                continue;
            }
            if let Some(v) = obj.attrs().get(ty) {
                out.push(AttrValue::Value(v.to_vec()));
                continue;
            }
            let secret = rules::sealed_at_rest(obj.class, obj.private, ty);
            if !secret || rules::rule(obj.class, obj.key_type, ty).is_none() {
                out.push(AttrValue::Invalid);
                continue;
            }
            if !may_reveal(&obj, ty) {
                out.push(AttrValue::Sensitive);
                continue;
            }
            match session.token.key_secrets(&obj)?.get(ty) {
                Some(v) => out.push(AttrValue::Value(v.to_vec())),
                None => out.push(AttrValue::Invalid),
            }
        }
        if out.iter().any(|v| matches!(v, AttrValue::Sensitive)) {
            call.reported = Some("CKR_ATTRIBUTE_SENSITIVE");
        }
        Ok(out)
    }

    pub fn set_attributes(
        &self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<()> {
        let session = self.session(handle)?;
        self.audited(&session.token, "C_SetAttributeValue", set_event(template), |call| {
            self.set_attributes_in(&session, call, object, template)
        })
    }

    fn set_attributes_in(
        &self,
        session: &Session,
        call: &mut Call,
        object: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<()> {
        session.token.sync()?;
        let obj = self.visible_object(session, object)?;
        call.key(&obj);
        if obj.on_token && !session.read_write {
            return Err(Error::SessionReadOnly);
        }
        if !obj.flag(CKA_MODIFIABLE) {
            return Err(Error::ActionProhibited);
        }
        template.validate()?;
        let so = session.token.who() == Who::So;
        if let Some(key_id) = obj.key_id() {
            return self.set_managed_attributes(session, &obj, key_id, template, so);
        }
        let mut attrs = session.token.all_attrs(&obj)?;
        for (ty, value) in template.iter() {
            if managed::is_kms_attribute(ty) {
                return Err(Error::AttributeTypeInvalid);
            }
            rules::check_change(&attrs, ty, value, false, so)?;
            attrs.set(ty, value.to_vec());
        }
        session.token.replace_attrs(&obj, attrs)
    }

    /// `C_SetAttributeValue` on a managed key: KMS attributes change the key's metadata through
    /// the KMS rules; standard ones change every object of the key of that class, so that a
    /// version (or a later one) never keeps a looser setting than the key.
    fn set_managed_attributes(
        &self,
        session: &Session,
        obj: &Object,
        key_id: &str,
        template: &Template,
        so: bool,
    ) -> Result<()> {
        self.throttle(Group::Write)?;
        let mut standard = Attributes::new();
        let mut kms = Attributes::new();
        for (ty, value) in template.iter() {
            if managed::is_kms_attribute(ty) {
                if obj.is_version() || !managed::settable_later(ty) {
                    return Err(Error::AttributeReadOnly);
                }
                kms.set(ty, value.to_vec());
            } else {
                rules::check_change(obj.attrs(), ty, value, false, so)?;
                standard.set(ty, value.to_vec());
            }
        }
        if !kms.is_empty() {
            session.token.set_kms_attributes(key_id, &kms)?;
        }
        if !standard.is_empty() {
            session.token.set_key_attributes(key_id, obj.class, &standard)?;
        }
        Ok(())
    }

    pub fn find_init(&self, handle: CK_SESSION_HANDLE, template: &Template) -> Result<()> {
        let session = self.session(handle)?;
        if session.ops.lock().search.is_some() {
            return Err(Error::OperationActive);
        }
        let token = &session.token;
        token.sync()?;
        let logged_in = token.who() == Who::User;
        let matches = |o: &Object| logged_in || !o.private;
        let mut results: Vec<CK_OBJECT_HANDLE> = Vec::new();
        let want_token = template.get_bool(CKA_TOKEN).ok().flatten();
        // A label of the form alias/… names a managed key by one of its aliases.
        let alias_key = match template.get(CKA_LABEL) {
            Some(l) if l.starts_with(b"alias/") => {
                let name = std::str::from_utf8(l).map_err(|_| Error::AttributeValueInvalid)?;
                Some(token.alias_key(name)?)
            }
            _ => None,
        };
        let stripped;
        let template = match alias_key {
            Some(_) => {
                stripped = template.without(CKA_LABEL);
                &stripped
            }
            None => template,
        };
        // Versions are found only by a search that asks for them.
        let include_versions =
            template.contains(CKA_KMS_IS_VERSION) || template.contains(CKA_KMS_KEY_VERSION_ID);
        if want_token != Some(true) && alias_key.is_none() {
            for o in token.session_objects() {
                if matches(&o) && self.matches(&session, &o, template) {
                    results.push(o.handle);
                }
            }
        }
        let key_id = match (&alias_key, template.get(CKA_KMS_KEY_ID)) {
            (Some(target), _) => target.clone(),
            (None, Some(id)) => {
                Some(String::from_utf8(id.to_vec()).map_err(|_| Error::AttributeValueInvalid)?)
            }
            (None, None) => None,
        };
        let alias_unknown = matches!(alias_key, Some(None));
        if want_token != Some(false) && !alias_unknown {
            let filter = Filter {
                class: template.get_ulong(CKA_CLASS).ok().flatten(),
                label: template.get(CKA_LABEL).map(<[u8]>::to_vec),
                ckid: template.get(CKA_ID).map(<[u8]>::to_vec),
                key_id,
                include_private: logged_in,
                include_versions,
            };
            for o in token.find_token_objects(&filter)? {
                if matches(&o) && !token.pending_deletion(&o) && self.matches(&session, &o, template) {
                    results.push(o.handle);
                }
            }
        }
        results.sort_unstable();
        let mut ops = session.ops.lock();
        if ops.search.is_some() {
            return Err(Error::OperationActive);
        }
        ops.search = Some(Search { results, next: 0 });
        Ok(())
    }

    /// Whether an object has every attribute of a search template with the same value. Key
    /// material never matches, so a search cannot probe a key's value; the sealed value of a
    /// private data object does (only a logged-in user sees such objects).
    fn matches(&self, session: &Session, obj: &Object, template: &Template) -> bool {
        template.iter().all(|(ty, value)| match obj.attrs().get(ty) {
            Some(v) => v == value,
            None if rules::sealed_at_rest(obj.class, obj.private, ty) && !rules::is_secret(obj.class, ty) => {
                session.token.secrets(obj).is_ok_and(|s| s.get(ty) == Some(value))
            }
            None => false,
        })
    }

    pub fn find(&self, handle: CK_SESSION_HANDLE, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let session = self.session(handle)?;
        let mut ops = session.ops.lock();
        let search = ops.search.as_mut().ok_or(Error::OperationNotInitialized)?;
        let end = (search.next + max).min(search.results.len());
        let out = search.results[search.next..end].to_vec();
        search.next = end;
        Ok(out)
    }

    pub fn find_final(&self, handle: CK_SESSION_HANDLE) -> Result<()> {
        let session = self.session(handle)?;
        let mut ops = session.ops.lock();
        ops.search.take().map(|_| ()).ok_or(Error::OperationNotInitialized)
    }
}

/// Checks that a key type belongs to a key class.
pub(crate) fn check_key_class(class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE) -> Result<()> {
    let ok = match class {
        CKO_SECRET_KEY => mechanism::is_secret_key_type(kt),
        CKO_PUBLIC_KEY | CKO_PRIVATE_KEY => kt == CKK_RSA || mechanism::is_ec_key_type(kt),
        _ => false,
    };
    if ok { Ok(()) } else { Err(Error::TemplateInconsistent) }
}

/// The KMS action a `C_SetAttributeValue` performs: named by the first vendor attribute it sets.
fn set_event(template: &Template) -> &'static str {
    for (ty, value) in template.iter() {
        return match ty {
            CKA_KMS_KEY_STATE if value == b"Enabled" => "EnableKey",
            CKA_KMS_KEY_STATE if value == b"Disabled" => "DisableKey",
            CKA_KMS_KEY_STATE => "UpdateKeyState",
            CKA_KMS_ROTATION_INTERVAL => "UpdateRotationPolicy",
            CKA_KMS_DESCRIPTION => "UpdateKeyDescription",
            CKA_KMS_TAGS => "TagResource",
            CKA_KMS_ALIASES => "UpdateAlias",
            CKA_KMS_DELETION_PROTECTION => "SetDeletionProtection",
            _ => continue,
        };
    }
    "SetAttributeValue"
}
