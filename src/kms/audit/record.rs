//! One audit record (DESIGN §7): what the engine captures on the call path ([`Event`]), cheap
//! to make, and the JSON body the writer turns it into off that path.

use cryptoki_sys::*;
use std::time::{Instant, SystemTime};

/// What one audited call did. Holds no secret by construction: names, identifiers and the
/// result, never data, key material, PINs or encryption-context values.
#[derive(Debug, Clone)]
pub struct Event {
    pub time: EventTime,
    /// The KMS action (`Encrypt`, `CreateKey`, …) or, where the KMS has none, the PKCS#11 verb.
    pub name: &'static str,
    /// The `C_*` function that ended the operation, or `kmsctl`.
    pub function: &'static str,
    pub mechanism: Option<CK_MECHANISM_TYPE>,
    pub key_id: Ident,
    pub key_version_id: Ident,
    /// The login the call ran under: `SO`, `USER` or `PUBLIC`.
    pub principal: &'static str,
    /// The `CKR_*` name of the outcome.
    pub result: &'static str,
    /// The KMS error code of a failure (`Rejected.Disabled`, …).
    pub error_code: Option<&'static str>,
    pub latency_us: u64,
}

/// When a call began: the instant the engine read, turned into wall time by the writer (off
/// the call path), or a wall time given outright.
#[derive(Debug, Clone, Copy)]
pub enum EventTime {
    Instant(Instant),
    Wall(SystemTime),
}

impl EventTime {
    pub fn wall(self) -> SystemTime {
        // One pairing of the two clocks per process: records stay in order with the monotonic
        // clock even if the wall clock is stepped.
        static BASE: once_cell::sync::Lazy<(Instant, SystemTime)> =
            once_cell::sync::Lazy::new(|| (Instant::now(), SystemTime::now()));
        match self {
            EventTime::Wall(t) => t,
            EventTime::Instant(started) => {
                let (i, s) = *BASE;
                match started.checked_duration_since(i) {
                    Some(d) => s + d,
                    None => s - i.duration_since(started),
                }
            }
        }
    }
}

/// A key or version id carried by value: an event crosses to the writer's thread, and a
/// shared reference count would bounce its cache line between the two cores on every call. A
/// plain aligned array copies in a few moves, where an enum with a heap variant copies field
/// by field.
///
/// Ids this library makes are UUIDs (36 bytes). A longer one, which only a store written by
/// something else can hold, is recorded by its first bytes and an ellipsis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
pub struct Ident {
    bytes: [u8; IDENT_MAX],
    len: u8,
}

const IDENT_MAX: usize = 39;
const UUID_LEN: usize = 36;
const ELLIPSIS: &str = "\u{2026}";

impl Ident {
    /// No id: recorded as `""`.
    pub const NONE: Ident = Ident { bytes: [0; IDENT_MAX], len: 0 };

    /// The id's bytes: UTF-8, as the `&str` it was made from.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Any id but a UUID: kept out of line, off the path every call takes.
    #[cold]
    fn other(s: &str) -> Ident {
        let mut id = Ident::NONE;
        if s.len() <= IDENT_MAX {
            id.bytes[..s.len()].copy_from_slice(s.as_bytes());
            id.len = s.len() as u8;
        } else {
            let mut cut = IDENT_MAX - ELLIPSIS.len();
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            id.bytes[..cut].copy_from_slice(&s.as_bytes()[..cut]);
            id.bytes[cut..cut + ELLIPSIS.len()].copy_from_slice(ELLIPSIS.as_bytes());
            id.len = (cut + ELLIPSIS.len()) as u8;
        }
        id
    }
}

impl From<&str> for Ident {
    // Inlined, so the id is built where it is kept: built in a temporary and copied out, its
    // narrow stores would stall the wide loads of the copy.
    #[inline]
    fn from(s: &str) -> Ident {
        match <&[u8; UUID_LEN]>::try_from(s.as_bytes()) {
            // The ids this library makes: a copy of fixed length, which compiles to a few moves.
            Ok(uuid) => {
                let mut id = Ident::NONE;
                id.bytes[..UUID_LEN].copy_from_slice(uuid);
                id.len = UUID_LEN as u8;
                id
            }
            Err(_) => Ident::other(s),
        }
    }
}

impl From<Option<&str>> for Ident {
    #[inline]
    fn from(s: Option<&str>) -> Ident {
        s.map_or(Ident::NONE, Ident::from)
    }
}

/// Who writes: fixed for one writer.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The token label as a JSON string, escaped once.
    token_json: String,
    pub pid: u32,
    pub uid: u32,
}

impl Origin {
    pub fn new(token: &str, pid: u32, uid: u32) -> Origin {
        Origin { token_json: serde_json::to_string(token).unwrap_or_else(|_| "\"\"".into()), pid, uid }
    }
}

impl Event {
    /// Appends the JSON object of the record without its closing brace (the chain appends its
    /// fields and MACs the exact bytes). Written by hand, in the fixed field order of DESIGN §7:
    /// the writer makes one of these per call, and a generic serializer costs several times more.
    pub fn write_body(&self, event_id: &str, origin: &Origin, out: &mut Vec<u8>) {
        let mut n = itoa::Buffer::new();
        out.reserve(512);
        out.extend_from_slice(b"{\"eventId\":");
        push_ours(out, event_id);
        out.extend_from_slice(b",\"eventTime\":\"");
        write_time(out, self.time.wall());
        out.extend_from_slice(b"\",\"eventName\":");
        push_ours(out, self.name);
        out.extend_from_slice(b",\"pkcs11Function\":");
        push_ours(out, self.function);
        out.extend_from_slice(b",\"mechanism\":");
        match self.mechanism {
            Some(m) => push_mechanism(out, m),
            None => out.extend_from_slice(b"\"\""),
        }
        out.extend_from_slice(b",\"keyId\":");
        push_str(out, self.key_id.as_bytes());
        out.extend_from_slice(b",\"keyVersionId\":");
        push_str(out, self.key_version_id.as_bytes());
        out.extend_from_slice(b",\"principal\":");
        push_ours(out, self.principal);
        out.extend_from_slice(b",\"token\":");
        out.extend_from_slice(origin.token_json.as_bytes());
        out.extend_from_slice(b",\"pid\":");
        out.extend_from_slice(n.format(origin.pid).as_bytes());
        out.extend_from_slice(b",\"uid\":");
        out.extend_from_slice(n.format(origin.uid).as_bytes());
        out.extend_from_slice(b",\"result\":");
        push_ours(out, self.result);
        out.extend_from_slice(b",\"errorCode\":");
        push_ours(out, self.error_code.unwrap_or(""));
        out.extend_from_slice(b",\"latencyUs\":");
        out.extend_from_slice(n.format(self.latency_us).as_bytes());
    }

    /// [`Event::write_body`] as a string.
    #[cfg(test)]
    pub fn body(&self, event_id: &str, origin: &Origin) -> String {
        let mut out = Vec::new();
        self.write_body(event_id, origin, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// RFC 3339 UTC with microseconds. The date and time of day change once a second while the
/// writer formats hundreds of thousands of records a second: they are formatted once per
/// second (per thread) and the microseconds appended.
fn write_time(out: &mut Vec<u8>, time: SystemTime) {
    use std::cell::RefCell;
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (secs, micros) = (since.as_secs(), since.subsec_micros());
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let whole = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            // "YYYY-MM-DDTHH:MM:SSZ" without its "Z".
            let text = humantime::format_rfc3339_seconds(whole).to_string();
            *cached = (secs, text.trim_end_matches('Z').to_string());
        }
        out.extend_from_slice(cached.1.as_bytes());
    });
    let mut digits = [b'0'; 6];
    let mut m = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (m % 10) as u8;
        m /= 10;
    }
    out.push(b'.');
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

/// A string of ours (a constant name, an identifier we made): nothing in it needs escaping.
fn push_ours(out: &mut Vec<u8>, s: &str) {
    debug_assert!(s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'));
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// A JSON string from elsewhere (identifiers read from the store), as the UTF-8 bytes of a
/// `str`: usually plain, so that is checked first and escaping is the exception.
fn push_str(out: &mut Vec<u8>, s: &[u8]) {
    // A fold without an early exit, which the compiler turns into vector compares.
    let plain = s.iter().fold(true, |ok, &b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(s));
    }
}

/// The name of `mechanism` in quotes. A writer sees the same few mechanisms over and over: it
/// keeps the last one's name rather than search the tables for each record.
fn push_mechanism(out: &mut Vec<u8>, mechanism: CK_MECHANISM_TYPE) {
    use std::cell::RefCell;
    thread_local! {
        static LAST: RefCell<Option<(CK_MECHANISM_TYPE, std::borrow::Cow<'static, str>)>> =
            const { RefCell::new(None) };
    }
    LAST.with(|cell| {
        let mut last = cell.borrow_mut();
        let (_, name) = match &mut *last {
            Some(hit) if hit.0 == mechanism => hit,
            slot => slot.insert((mechanism, mechanism_name(mechanism))),
        };
        push_ours(out, name);
    });
}

/// The mechanism's C name, or its value in hex for one without a name here.
pub fn mechanism_name(ty: CK_MECHANISM_TYPE) -> std::borrow::Cow<'static, str> {
    STANDARD
        .iter()
        .chain(crate::vendor::ALL.iter())
        .find(|(name, v)| *v == ty && name.starts_with("CKM_"))
        .map(|(name, _)| std::borrow::Cow::Borrowed(*name))
        .unwrap_or_else(|| format!("0x{ty:08X}").into())
}

const STANDARD: &[(&str, CK_MECHANISM_TYPE)] = &[
    ("CKM_RSA_PKCS_KEY_PAIR_GEN", CKM_RSA_PKCS_KEY_PAIR_GEN),
    ("CKM_RSA_PKCS", CKM_RSA_PKCS),
    ("CKM_RSA_X_509", CKM_RSA_X_509),
    ("CKM_RSA_PKCS_OAEP", CKM_RSA_PKCS_OAEP),
    ("CKM_RSA_AES_KEY_WRAP", CKM_RSA_AES_KEY_WRAP),
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
            time: EventTime::Wall(UNIX_EPOCH + Duration::from_micros(1_764_390_000_123_456)),
            name: "Encrypt",
            function: "C_Encrypt",
            mechanism: Some(CKM_AES_GCM),
            key_id: "k-1".into(),
            key_version_id: "v-1".into(),
            principal: "USER",
            result: "CKR_OK",
            error_code: None,
            latency_us: 7,
        };
        let origin = Origin::new("t", 10, 20);
        let body = e.body("e-1", &origin);
        assert_eq!(
            body,
            r#"{"eventId":"e-1","eventTime":"2025-11-29T04:20:00.123456Z","eventName":"Encrypt","pkcs11Function":"C_Encrypt","mechanism":"CKM_AES_GCM","keyId":"k-1","keyVersionId":"v-1","principal":"USER","token":"t","pid":10,"uid":20,"result":"CKR_OK","errorCode":"","latencyUs":7"#
        );
    }

    #[test]
    fn ids_are_kept_whole_up_to_their_room_and_cut_visibly_beyond() {
        let uuid = "2383710f-6de3-4da2-bd9d-164afbbca523";
        assert_eq!(Ident::from(uuid).as_bytes(), uuid.as_bytes());
        assert!(Ident::from(None).as_bytes().is_empty());
        let long = "é".repeat(30);
        let id = Ident::from(long.as_str());
        let text = std::str::from_utf8(id.as_bytes()).unwrap();
        assert!(text.ends_with('\u{2026}') && long.starts_with(text.trim_end_matches('\u{2026}')));
        assert!(text.len() <= IDENT_MAX);
    }

    #[test]
    fn mechanisms_are_named_or_shown_in_hex() {
        assert_eq!(mechanism_name(CKM_SHA256_RSA_PKCS), "CKM_SHA256_RSA_PKCS");
        assert_eq!(mechanism_name(CKM_RSA_AES_KEY_WRAP), "CKM_RSA_AES_KEY_WRAP");
        assert_eq!(mechanism_name(crate::vendor::CKM_SM4_GCM), "CKM_SM4_GCM");
        assert_eq!(mechanism_name(crate::vendor::CKM_KMS_ENVELOPE), "CKM_KMS_ENVELOPE");
        assert_eq!(mechanism_name(0x1234_5678), "0x12345678");
    }
}
