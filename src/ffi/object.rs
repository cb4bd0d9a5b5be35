//! Object management: create, copy, destroy, size, attributes, search.

use super::util::{attributes, template, write};
use super::with_library;
use crate::error::Error;
use crate::token::AttrValue;
use cryptoki_sys::*;

/// # Safety
/// `tpl` points to `count` readable attributes; `object` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CreateObject(
    session: CK_SESSION_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    object: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_CreateObject", |lib| {
        if object.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: the caller's template, checked inside.
        let t = unsafe { template(tpl, count)? };
        let h = lib.create_object(session, &t)?;
        // SAFETY: checked for null above.
        unsafe { write(object, h) }
    })
}

/// # Safety
/// `tpl` points to `count` readable attributes; `new_object` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_CopyObject(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    new_object: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_CopyObject", |lib| {
        if new_object.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: the caller's template, checked inside.
        let t = unsafe { template(tpl, count)? };
        let h = lib.copy_object(session, object, &t)?;
        // SAFETY: checked for null above.
        unsafe { write(new_object, h) }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_DestroyObject(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> CK_RV {
    with_library("C_DestroyObject", |lib| lib.destroy_object(session, object))
}

/// # Safety
/// `size` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetObjectSize(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    size: *mut CK_ULONG,
) -> CK_RV {
    with_library("C_GetObjectSize", |lib| {
        if size.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let n = lib.object_size(session, object)?;
        // SAFETY: checked for null above.
        unsafe { write(size, n as CK_ULONG) }
    })
}

/// Fills the caller's template: each value whose buffer is large enough, `ulValueLen` alone
/// for a null buffer, and `CK_UNAVAILABLE_INFORMATION` with the matching error otherwise.
///
/// # Safety
/// `tpl` points to `count` attributes, each with a value buffer writable for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetAttributeValue(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    with_library("C_GetAttributeValue", |lib| {
        if tpl.is_null() && count > 0 {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: the caller's array, checked for null and size inside.
        let asked = unsafe { attributes(tpl, count)? };
        let types: Vec<CK_ATTRIBUTE_TYPE> = asked.iter().map(|a| a.type_).collect();
        let lengths_only = asked.iter().all(|a| a.pValue.is_null());
        let values = lib.get_attributes(session, object, &types, lengths_only)?;
        let (mut sensitive, mut invalid, mut short) = (false, false, false);
        for (i, value) in values.into_iter().enumerate() {
            // SAFETY: `i` < `count`, within the caller's array.
            let a = unsafe { &mut *tpl.add(i) };
            match value {
                AttrValue::Value(v) if a.pValue.is_null() => a.ulValueLen = v.len() as CK_ULONG,
                AttrValue::Value(v) if a.ulValueLen as usize >= v.len() => {
                    // SAFETY: the caller's buffer holds `ulValueLen` >= `v.len()` bytes.
                    unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len()) };
                    a.ulValueLen = v.len() as CK_ULONG;
                }
                AttrValue::Value(_) => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    short = true;
                }
                AttrValue::Sensitive => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    sensitive = true;
                }
                AttrValue::Invalid => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    invalid = true;
                }
            }
        }
        if sensitive {
            Err(Error::AttributeSensitive)
        } else if invalid {
            Err(Error::AttributeTypeInvalid)
        } else if short {
            Err(Error::BufferTooSmall(0))
        } else {
            Ok(())
        }
    })
}

/// # Safety
/// `tpl` points to `count` readable attributes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SetAttributeValue(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    with_library("C_SetAttributeValue", |lib| {
        // SAFETY: the caller's template, checked inside.
        let t = unsafe { template(tpl, count)? };
        lib.set_attributes(session, object, &t)
    })
}

/// # Safety
/// `tpl` points to `count` readable attributes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_FindObjectsInit(
    session: CK_SESSION_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    with_library("C_FindObjectsInit", |lib| {
        // SAFETY: the caller's template, checked inside.
        let t = unsafe { template(tpl, count)? };
        lib.find_init(session, &t)
    })
}

/// # Safety
/// `objects` writable for `max` handles; `found` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_FindObjects(
    session: CK_SESSION_HANDLE,
    objects: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    found: *mut CK_ULONG,
) -> CK_RV {
    with_library("C_FindObjects", |lib| {
        if found.is_null() || (objects.is_null() && max > 0) {
            return Err(Error::ArgumentsBad);
        }
        let handles = lib.find(session, max.min(1 << 24) as usize)?;
        if !handles.is_empty() {
            // SAFETY: the caller's array holds `max` >= `handles.len()` handles.
            unsafe { std::ptr::copy_nonoverlapping(handles.as_ptr(), objects, handles.len()) };
        }
        // SAFETY: checked for null above.
        unsafe { write(found, handles.len() as CK_ULONG) }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_FindObjectsFinal(session: CK_SESSION_HANDLE) -> CK_RV {
    with_library("C_FindObjectsFinal", |lib| lib.find_final(session))
}
