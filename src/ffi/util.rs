//! Conversions between C memory and Rust values. Every raw pointer the library reads or writes
//! passes through here, with its null and length checks.

use crate::error::{Error, Result};
use crate::object::attribute::Template;
use crate::token::Out;
use cryptoki_sys::*;
use std::borrow::Cow;

/// Longest byte string accepted from a caller (data, attribute value): lengths beyond it are a
/// caller bug (an uninitialized length, `CK_UNAVAILABLE_INFORMATION`), not data.
const MAX_LEN: CK_ULONG = 1 << 31;

/// Most attributes accepted in one template.
const MAX_TEMPLATE: CK_ULONG = 1 << 16;

/// Caller input of `len` bytes at `ptr`.
///
/// # Safety
/// When `ptr` is non-null it must be valid for reads of `len` bytes for the returned lifetime.
pub unsafe fn input<'a>(ptr: *const CK_BYTE, len: CK_ULONG) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() || len > MAX_LEN {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len as usize) })
}

/// A caller output buffer described by `ptr` and `*len_ptr`: no buffer means a length query.
///
/// # Safety
/// `len_ptr` must be valid for reads when non-null; when `ptr` is non-null it must be valid for
/// writes of `*len_ptr` bytes for the returned lifetime.
pub unsafe fn output<'a>(ptr: *mut CK_BYTE, len_ptr: *mut CK_ULONG) -> Result<Out<'a>> {
    if len_ptr.is_null() {
        return Err(Error::ArgumentsBad);
    }
    if ptr.is_null() {
        return Ok(Out::Query);
    }
    // SAFETY: checked non-null above; the caller guarantees it is readable.
    let cap = unsafe { *len_ptr }.min(MAX_LEN);
    // SAFETY: non-null, and the caller guarantees `*len_ptr` writable bytes.
    Ok(Out::Buf(unsafe { std::slice::from_raw_parts_mut(ptr, cap as usize) }))
}

/// Input and output of one call, which callers may let overlap (in-place encryption): the input
/// is then copied first, so the two never alias.
///
/// # Safety
/// As for [`input`] and [`output`].
pub unsafe fn input_output<'a>(
    in_ptr: *const CK_BYTE,
    in_len: CK_ULONG,
    out_ptr: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> Result<(Cow<'a, [u8]>, Out<'a>)> {
    if out_len.is_null() {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: caller's guarantee, passed on.
    let data = unsafe { input(in_ptr, in_len)? };
    if out_ptr.is_null() {
        return Ok((Cow::Borrowed(data), Out::Query));
    }
    // SAFETY: `out_len` is non-null (checked) and readable per the caller.
    let cap = unsafe { *out_len }.min(MAX_LEN) as usize;
    let (a, b) = (in_ptr as usize, out_ptr as usize);
    let overlap = !data.is_empty() && cap > 0 && a < b + cap && b < a + data.len();
    let data = if overlap { Cow::Owned(data.to_vec()) } else { Cow::Borrowed(data) };
    // SAFETY: caller's guarantee, passed on; `data` no longer borrows an overlapping region.
    let out = unsafe { output(out_ptr, out_len)? };
    Ok((data, out))
}

/// Writes a value through a caller pointer.
///
/// # Safety
/// `ptr` must be valid for writes when non-null.
pub unsafe fn write<T>(ptr: *mut T, value: T) -> Result<()> {
    if ptr.is_null() {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: non-null and writable per the caller.
    unsafe { ptr.write_unaligned(value) };
    Ok(())
}

/// Reports the length of an operation's output (or the length needed) through `len_ptr`.
///
/// # Safety
/// `len_ptr` must be valid for writes when non-null.
pub unsafe fn deliver(len_ptr: *mut CK_ULONG, result: Result<usize>) -> Result<()> {
    match result {
        Ok(n) => {
            // SAFETY: caller's guarantee, passed on.
            unsafe { write(len_ptr, n as CK_ULONG) }
        }
        Err(Error::BufferTooSmall(n)) => {
            // SAFETY: caller's guarantee, passed on.
            unsafe { write(len_ptr, n as CK_ULONG)? };
            Err(Error::BufferTooSmall(n))
        }
        Err(e) => Err(e),
    }
}

/// Copies a list into a caller array with the size-query convention.
///
/// # Safety
/// `count_ptr` must be valid for reads and writes when non-null; `list` when non-null must be
/// valid for writes of `*count_ptr` elements.
pub unsafe fn fill_list<T: Copy>(items: &[T], list: *mut T, count_ptr: *mut CK_ULONG) -> Result<()> {
    if count_ptr.is_null() {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: non-null, readable per the caller.
    let cap = unsafe { *count_ptr } as usize;
    // SAFETY: non-null, writable per the caller.
    unsafe { *count_ptr = items.len() as CK_ULONG };
    if list.is_null() {
        return Ok(());
    }
    if cap < items.len() {
        return Err(Error::BufferTooSmall(items.len()));
    }
    // SAFETY: the caller's array holds `cap` >= `items.len()` elements.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), list, items.len()) };
    Ok(())
}

/// A caller template, values copied.
///
/// # Safety
/// When non-null, `ptr` must point to `count` attributes whose value pointers are valid for
/// reads of their lengths.
pub unsafe fn template(ptr: *const CK_ATTRIBUTE, count: CK_ULONG) -> Result<Template> {
    // SAFETY: caller's guarantee, passed on.
    let attrs = unsafe { attributes(ptr, count)? };
    let mut t = Template::new();
    for a in attrs {
        // SAFETY: each attribute's value pointer is readable per the caller.
        let value = unsafe { input(a.pValue as *const CK_BYTE, a.ulValueLen) }?;
        t.push(a.type_, value.to_vec());
    }
    Ok(t)
}

/// The caller's attribute array.
///
/// # Safety
/// When non-null, `ptr` must point to `count` attributes valid for the returned lifetime.
pub unsafe fn attributes<'a>(ptr: *const CK_ATTRIBUTE, count: CK_ULONG) -> Result<&'a [CK_ATTRIBUTE]> {
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() || count > MAX_TEMPLATE {
        return Err(Error::ArgumentsBad);
    }
    // SAFETY: non-null, `count` attributes per the caller.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count as usize) })
}

/// Fills a fixed-width, blank-padded text field.
pub fn pad<const N: usize>(text: &str) -> [CK_UTF8CHAR; N] {
    let mut out = [b' '; N];
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&text.as_bytes()[..end]);
    out
}

/// Reads a fixed-width, blank-padded text field (a token label).
pub fn unpad(field: &[u8]) -> String {
    let end = field.iter().rposition(|b| *b != b' ' && *b != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&field[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_round_trips() {
        let f: [u8; 8] = pad("kms");
        assert_eq!(&f, b"kms     ");
        assert_eq!(unpad(&f), "kms");
        let long: [u8; 4] = pad("abcdef");
        assert_eq!(&long, b"abcd");
        // A multi-byte character is never cut in half.
        let u: [u8; 2] = pad("aé");
        assert_eq!(&u, b"a ");
    }

    #[test]
    fn null_input_with_length_is_refused() {
        // SAFETY: a null pointer is never dereferenced.
        assert_eq!(unsafe { input(std::ptr::null(), 4) }.err(), Some(Error::ArgumentsBad));
        // SAFETY: a zero length reads nothing.
        assert_eq!(unsafe { input(std::ptr::null(), 0) }.unwrap(), &[] as &[u8]);
    }

    #[test]
    fn overlapping_buffers_are_separated() {
        let mut buf = *b"0123456789";
        let mut len: CK_ULONG = 10;
        let p = buf.as_mut_ptr();
        // SAFETY: both pointers come from `buf`, valid for 10 bytes.
        let (data, out) = unsafe { input_output(p, 4, p, &mut len) }.unwrap();
        assert!(matches!(data, Cow::Owned(_)));
        assert!(matches!(out, Out::Buf(b) if b.len() == 10));
    }

    #[test]
    fn list_size_query_convention() {
        let items = [1u64, 2, 3];
        let mut n: CK_ULONG = 0;
        // SAFETY: null list, valid count pointer.
        unsafe { fill_list(&items, std::ptr::null_mut(), &mut n) }.unwrap();
        assert_eq!(n, 3);
        let mut small = [0u64; 2];
        n = 2;
        // SAFETY: `small` holds 2 elements and `n` says so.
        assert_eq!(unsafe { fill_list(&items, small.as_mut_ptr(), &mut n) }, Err(Error::BufferTooSmall(3)));
        let mut big = [0u64; 4];
        n = 4;
        // SAFETY: `big` holds 4 elements.
        unsafe { fill_list(&items, big.as_mut_ptr(), &mut n) }.unwrap();
        assert_eq!((n, &big[..3]), (3, &items[..]));
    }
}
