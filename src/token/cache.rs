//! The objects a process has seen, by handle. Token objects are loaded from the store on first
//! use and kept; another process's writes invalidate them (see `Token::sync`). Handles of token
//! objects stay the same for the life of the process.

use crate::object::Object;
use cryptoki_sys::*;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

enum Slot {
    Ready(Arc<Object>),
    /// A token object known by handle whose current version is not loaded, with whether it was
    /// private when last seen.
    Unloaded {
        uid: String,
        private: bool,
    },
}

#[derive(Default)]
struct Inner {
    by_handle: HashMap<CK_OBJECT_HANDLE, Slot>,
    by_uid: HashMap<String, CK_OBJECT_HANDLE>,
    session_objects: HashSet<CK_OBJECT_HANDLE>,
}

/// What a handle refers to.
pub enum Lookup {
    Ready(Arc<Object>),
    Unloaded(String),
    Unknown,
}

#[derive(Default)]
pub struct ObjectCache {
    inner: RwLock<Inner>,
}

impl ObjectCache {
    pub fn get(&self, handle: CK_OBJECT_HANDLE) -> Lookup {
        match self.inner.read().by_handle.get(&handle) {
            Some(Slot::Ready(o)) => Lookup::Ready(o.clone()),
            Some(Slot::Unloaded { uid, .. }) => Lookup::Unloaded(uid.clone()),
            None => Lookup::Unknown,
        }
    }

    /// The handle of a token object, allocated with `alloc` the first time its uid is seen.
    pub fn handle_for(&self, uid: &str, alloc: impl FnOnce() -> CK_OBJECT_HANDLE) -> CK_OBJECT_HANDLE {
        if let Some(h) = self.inner.read().by_uid.get(uid) {
            return *h;
        }
        let mut inner = self.inner.write();
        if let Some(h) = inner.by_uid.get(uid) {
            return *h;
        }
        let h = alloc();
        inner.by_uid.insert(uid.to_string(), h);
        // Not yet known: counted as private, the safe side, until loaded.
        inner.by_handle.insert(h, Slot::Unloaded { uid: uid.to_string(), private: true });
        h
    }

    /// A cached token object if its loaded version is `seq`.
    pub fn current(&self, handle: CK_OBJECT_HANDLE, seq: u64) -> Option<Arc<Object>> {
        match self.inner.read().by_handle.get(&handle) {
            Some(Slot::Ready(o)) if o.seq == seq => Some(o.clone()),
            _ => None,
        }
    }

    /// Adds or replaces an object under its handle.
    pub fn put(&self, obj: Arc<Object>) {
        let mut inner = self.inner.write();
        if obj.on_token {
            inner.by_uid.insert(obj.uid.clone(), obj.handle);
        } else {
            inner.session_objects.insert(obj.handle);
        }
        inner.by_handle.insert(obj.handle, Slot::Ready(obj));
    }

    /// Puts a freshly loaded object, unless the handle was dropped meanwhile.
    pub fn put_loaded(&self, obj: Arc<Object>) {
        let mut inner = self.inner.write();
        if inner.by_handle.contains_key(&obj.handle) {
            inner.by_handle.insert(obj.handle, Slot::Ready(obj));
        }
    }

    pub fn remove(&self, handle: CK_OBJECT_HANDLE) -> Option<Arc<Object>> {
        let mut inner = self.inner.write();
        inner.session_objects.remove(&handle);
        let slot = inner.by_handle.remove(&handle)?;
        match slot {
            Slot::Ready(o) => {
                if o.on_token {
                    inner.by_uid.remove(&o.uid);
                }
                Some(o)
            }
            Slot::Unloaded { uid, .. } => {
                inner.by_uid.remove(&uid);
                None
            }
        }
    }

    /// Marks a token object changed elsewhere: the next use reloads it.
    pub fn invalidate(&self, uid: &str) {
        let mut inner = self.inner.write();
        if let Some(h) = inner.by_uid.get(uid).copied() {
            let private = match inner.by_handle.get(&h) {
                Some(Slot::Ready(o)) => o.private,
                Some(Slot::Unloaded { private, .. }) => *private,
                None => true,
            };
            inner.by_handle.insert(h, Slot::Unloaded { uid: uid.to_string(), private });
        }
    }

    /// Forgets a token object destroyed elsewhere.
    pub fn forget(&self, uid: &str) {
        let mut inner = self.inner.write();
        if let Some(h) = inner.by_uid.remove(uid) {
            inner.by_handle.remove(&h);
        }
    }

    /// Forgets every token object (the token was wiped).
    pub fn forget_token_objects(&self) {
        let mut inner = self.inner.write();
        let uids: Vec<_> = inner.by_uid.drain().map(|(_, h)| h).collect();
        for h in uids {
            inner.by_handle.remove(&h);
        }
    }

    /// At logout: destroys private session objects and forgets private token objects, so the
    /// application's handles to private objects stay invalid even after the next login (PKCS#11
    /// 2.40 `C_Logout`); a later search gives private token objects new handles.
    pub fn forget_private(&self) {
        let mut inner = self.inner.write();
        let doomed: Vec<(CK_OBJECT_HANDLE, Option<String>)> = inner
            .by_handle
            .iter()
            .filter_map(|(h, slot)| match slot {
                Slot::Ready(o) if o.private => Some((*h, o.on_token.then(|| o.uid.clone()))),
                Slot::Unloaded { uid, private: true } => Some((*h, Some(uid.clone()))),
                _ => None,
            })
            .collect();
        for (h, uid) in doomed {
            inner.by_handle.remove(&h);
            inner.session_objects.remove(&h);
            if let Some(uid) = uid {
                inner.by_uid.remove(&uid);
            }
        }
    }

    /// Session objects, for searches.
    pub fn session_objects(&self) -> Vec<Arc<Object>> {
        let inner = self.inner.read();
        inner
            .session_objects
            .iter()
            .filter_map(|h| match inner.by_handle.get(h) {
                Some(Slot::Ready(o)) => Some(o.clone()),
                _ => None,
            })
            .collect()
    }

    /// Removes the session objects owned by `session` (or all of them with `None`).
    pub fn remove_session_objects(&self, session: Option<CK_SESSION_HANDLE>) {
        let mut inner = self.inner.write();
        let doomed: Vec<_> = inner
            .session_objects
            .iter()
            .copied()
            .filter(|h| match inner.by_handle.get(h) {
                Some(Slot::Ready(o)) => session.is_none() || o.owner == session,
                _ => true,
            })
            .collect();
        for h in doomed {
            inner.session_objects.remove(&h);
            inner.by_handle.remove(&h);
        }
    }
}
