//! The 2.40 and 3.0 interfaces predate `CKR_TOKEN_RESOURCE_EXCEEDED` (PKCS#11 3.2), so a full
//! KMS quota reaches their callers as `CKR_DEVICE_MEMORY`, the code they know for "the token
//! has no room". These are the functions that can hit a quota, as the older lists carry them;
//! they are not exported symbols.

// Named after the functions they stand in for.
#![allow(non_snake_case)]

use cryptoki_sys::*;

fn older(rv: CK_RV) -> CK_RV {
    if rv == CKR_TOKEN_RESOURCE_EXCEEDED { CKR_DEVICE_MEMORY } else { rv }
}

macro_rules! older_code {
    ($module:ident :: $name:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {
        /// # Safety
        /// As the function it wraps.
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> CK_RV {
            // SAFETY: the arguments pass through unchanged to the function of the same contract.
            older(unsafe { super::$module::$name($($arg),*) })
        }
    };
}

older_code!(object::C_CreateObject(
    session: CK_SESSION_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    object: *mut CK_OBJECT_HANDLE,
));
older_code!(object::C_CopyObject(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    new_object: *mut CK_OBJECT_HANDLE,
));
older_code!(object::C_SetAttributeValue(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
));
older_code!(keys::C_GenerateKey(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
));
older_code!(keys::C_GenerateKeyPair(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    pub_tpl: *mut CK_ATTRIBUTE,
    pub_count: CK_ULONG,
    priv_tpl: *mut CK_ATTRIBUTE,
    priv_count: CK_ULONG,
    public: *mut CK_OBJECT_HANDLE,
    private: *mut CK_OBJECT_HANDLE,
));
older_code!(keys::C_UnwrapKey(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: *mut CK_BYTE,
    len: CK_ULONG,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
));
older_code!(keys::C_DeriveKey(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
));

/// The same functions for the 3.2 list, which reports the quota code as it is.
pub mod current {
    pub use super::super::keys::{C_DeriveKey, C_GenerateKey, C_GenerateKeyPair, C_UnwrapKey};
    pub use super::super::object::{C_CopyObject, C_CreateObject, C_SetAttributeValue};
}
