//! Ciphertext blobs, encryption contexts and the text form of data keys, byte-compatible with
//! Alibaba Cloud KMS (reference/kms-api.md §8, §9). Pure functions: the mechanism layer does the
//! GCM, this module says what goes around it.
//!
//! Blob: `KeyVersionId` (36 ASCII bytes) ‖ 12-byte IV ‖ ciphertext ‖ 16-byte tag. The API
//! carries it as Base64 text; PKCS#11 carries the bytes.

use super::{KmsCode, KmsError};
use base64ct::{Base64, Encoding};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::cell::Cell;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Length of a `KeyVersionId`: a hyphenated UUID.
pub const VERSION_ID_LEN: usize = 36;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Version id and IV, in front of the ciphertext.
pub const HEADER_LEN: usize = VERSION_ID_LEN + IV_LEN;
/// Everything in a blob besides the ciphertext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// The KMS's limit on direct Encrypt (6 KiB).
pub const MAX_PLAINTEXT: usize = 6144;
/// The longest blob an Encrypt can produce.
pub const MAX_BLOB: usize = MAX_PLAINTEXT + OVERHEAD;
/// The KMS's limit on an encryption context, in characters of its JSON text.
pub const MAX_CONTEXT_CHARS: usize = 8192;
/// Length of the AAD a non-empty context yields (a SHA-256 digest).
pub const AAD_LEN: usize = 32;

fn invalid(message: impl Into<String>) -> KmsError {
    KmsError::new(KmsCode::InvalidParameter, message)
}

/// Whether `id` is a `KeyVersionId`: a UUID in its 36-character hyphenated form (8-4-4-4-12 hex
/// digits, either case).
pub fn is_version_id(id: &[u8]) -> bool {
    id.len() == VERSION_ID_LEN
        && id.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The id as the 36 bytes a blob starts with.
pub fn version_id_bytes(id: &str) -> Result<&[u8; VERSION_ID_LEN], KmsError> {
    if !is_version_id(id.as_bytes()) {
        return Err(invalid("a key version id is a 36-character UUID"));
    }
    id.as_bytes().try_into().map_err(|_| invalid("a key version id is a 36-character UUID"))
}

/// Blob length for `plaintext_len` bytes of plaintext (saturating: a size query may name any
/// length).
pub const fn blob_len(plaintext_len: usize) -> usize {
    plaintext_len.saturating_add(OVERHEAD)
}

/// Plaintext length of a blob of `blob_len` bytes; `None` when it is too short to be a blob.
pub const fn plaintext_len(blob_len: usize) -> Option<usize> {
    blob_len.checked_sub(OVERHEAD)
}

/// Refuses plaintext the KMS's Encrypt would refuse.
pub fn check_plaintext_len(len: usize) -> Result<(), KmsError> {
    if len > MAX_PLAINTEXT {
        return Err(invalid(format!("plaintext is {len} bytes; Encrypt takes at most {MAX_PLAINTEXT}")));
    }
    Ok(())
}

/// A blob split into its parts (borrowed from the bytes it was parsed from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob<'a> {
    pub version_id: &'a str,
    pub iv: &'a [u8; IV_LEN],
    pub ciphertext: &'a [u8],
    pub tag: &'a [u8; TAG_LEN],
    /// Ciphertext and tag together, as GCM implementations take them.
    pub sealed: &'a [u8],
}

impl<'a> Blob<'a> {
    /// Splits a blob. Too short, or a version id that is no UUID → InvalidParameter. Whether
    /// the version exists, and the tag, are for the caller to check.
    pub fn parse(blob: &'a [u8]) -> Result<Blob<'a>, KmsError> {
        if plaintext_len(blob.len()).is_none() {
            return Err(invalid(format!(
                "a ciphertext blob is at least {OVERHEAD} bytes; this one is {}",
                blob.len()
            )));
        }
        let (id, rest) = blob.split_at(VERSION_ID_LEN);
        let (iv, sealed) = rest.split_at(IV_LEN);
        let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        if !is_version_id(id) {
            return Err(invalid("the ciphertext blob does not start with a key version id"));
        }
        let bad = |_| invalid("malformed ciphertext blob");
        Ok(Blob {
            // ASCII by the check above.
            version_id: std::str::from_utf8(id).map_err(|_| invalid("malformed ciphertext blob"))?,
            iv: iv.try_into().map_err(bad)?,
            ciphertext,
            tag: tag.try_into().map_err(bad)?,
            sealed,
        })
    }
}

/// Assembles a blob from its parts.
pub fn build(
    version_id: &str,
    iv: &[u8; IV_LEN],
    ciphertext: &[u8],
    tag: &[u8; TAG_LEN],
) -> Result<Vec<u8>, KmsError> {
    let id = version_id_bytes(version_id)?;
    let mut out = Vec::with_capacity(blob_len(ciphertext.len()));
    out.extend_from_slice(id);
    out.extend_from_slice(iv);
    out.extend_from_slice(ciphertext);
    out.extend_from_slice(tag);
    Ok(out)
}

/// The `CiphertextBlob` text of the API.
pub fn blob_to_text(blob: &[u8]) -> String {
    Base64::encode_string(blob)
}

/// A blob from the API's `CiphertextBlob` text.
pub fn blob_from_text(text: &str) -> Result<Vec<u8>, KmsError> {
    Base64::decode_vec(text.trim()).map_err(|_| invalid("a ciphertext blob is Base64 text"))
}

/// Parses a JSON object whose values are all strings, refusing duplicate keys (serde_json's own
/// maps keep the last duplicate silently, and a context or tag set with two values for one key
/// is ambiguous). `what` names the value in error messages; messages never repeat the
/// content, which may be confidential.
pub(crate) fn string_object(json: &str, what: &str) -> Result<BTreeMap<String, String>, KmsError> {
    let duplicate = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(json);
    let parsed = de.deserialize_map(StringObject { duplicate: &duplicate }).and_then(|m| de.end().map(|_| m));
    parsed.map_err(|e| {
        let why = if duplicate.get() { "has a duplicate key" } else { "is not a JSON object of strings" };
        invalid(format!("{what} {why} (line {}, column {})", e.line(), e.column()))
    })
}

struct StringObject<'c> {
    duplicate: &'c Cell<bool>,
}

impl<'de> Visitor<'de> for StringObject<'_> {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value::<String>()?;
            if out.insert(k, v).is_some() {
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate key"));
            }
        }
        Ok(out)
    }
}

/// An encryption context: string keys to string values, kept sorted by the keys' UTF-8 bytes
/// (`String`'s order), which is the order the AAD is made in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pairs: BTreeMap<String, String>,
}

impl Context {
    /// Parses the JSON text of a context. No bytes at all is the empty context, like `{}`.
    pub fn parse(json: &[u8]) -> Result<Context, KmsError> {
        if json.is_empty() {
            return Ok(Context::default());
        }
        let text = std::str::from_utf8(json).map_err(|_| invalid("the encryption context is not UTF-8"))?;
        let chars = text.chars().count();
        if chars > MAX_CONTEXT_CHARS {
            return Err(invalid(format!(
                "the encryption context is {chars} characters; at most {MAX_CONTEXT_CHARS}"
            )));
        }
        Ok(Context { pairs: string_object(text, "the encryption context")? })
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Context {
        Context { pairs: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `k1=v1&k2=v2…`, keys sorted, nothing escaped — as Alibaba's SDK makes it. (So
    /// `{"a":"b&c=d"}` and `{"a":"b","c":"d"}` give the same AAD; compatibility requires
    /// keeping that.)
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                s.push('&');
            }
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }

    /// The GCM AAD: SHA-256 of the canonical string; none at all for the empty context (not
    /// the digest of the empty string), which is what lets blobs made without a context open
    /// with `{}` and the other way round.
    pub fn aad(&self) -> Option<[u8; AAD_LEN]> {
        if self.is_empty() {
            return None;
        }
        let digest = crate::engine::digest::sha256(self.canonical().as_bytes());
        let mut aad = [0u8; AAD_LEN];
        aad.copy_from_slice(&digest);
        Some(aad)
    }

    /// The context as compact JSON (keys sorted).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.pairs).unwrap_or_default()
    }
}

/// The AAD of a context given as JSON text (none for absent or empty).
pub fn aad_of(json: &[u8]) -> Result<Option<[u8; AAD_LEN]>, KmsError> {
    Ok(Context::parse(json)?.aad())
}

/// Length of the Base64 text of a `key_len`-byte data key.
pub const fn data_key_text_len(key_len: usize) -> usize {
    key_len.div_ceil(3).saturating_mul(4)
}

/// Writes the Base64 text of a data key into `out` (at least [`data_key_text_len`] bytes) and
/// returns its length: what GenerateDataKey returns as `Plaintext` and seals in its blob.
/// Base64ct is constant-time, which matters for a secret.
pub fn data_key_text_into(key: &[u8], out: &mut [u8]) -> Result<usize, KmsError> {
    Base64::encode(key, out)
        .map(str::len)
        .map_err(|_| KmsError::new(KmsCode::InternalFailure, "data key text buffer too small"))
}

/// The Base64 text of a data key.
pub fn data_key_text(key: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; data_key_text_len(key.len())]);
    // The buffer is exactly the encoded length, so encoding cannot fail.
    let n = data_key_text_into(key, &mut out).unwrap_or(0);
    out.truncate(n);
    out
}

/// The data key a data-key blob's plaintext (its Base64 text) stands for. Canonical padded
/// Base64 only, no whitespace: the text came from [`data_key_text`].
pub fn data_key_from_text(text: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let mut out = Zeroizing::new(vec![0u8; text.len() / 4 * 3]);
    let n = Base64::decode(text, &mut out).map_err(|_| invalid("a data key is Base64 text"))?.len();
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "86a9efd9-3d16-4894-bd4f-1fc43f3f2abf";

    #[test]
    fn layout_round_trip() {
        let iv = [7u8; IV_LEN];
        let tag = [9u8; TAG_LEN];
        let blob = build(ID, &iv, b"ciphertext", &tag).unwrap();
        assert_eq!(blob.len(), blob_len(10));
        assert_eq!(&blob[..36], ID.as_bytes());
        assert_eq!(&blob[36..48], &iv);
        let b = Blob::parse(&blob).unwrap();
        assert_eq!(b.version_id, ID);
        assert_eq!(b.iv, &iv);
        assert_eq!(b.ciphertext, b"ciphertext");
        assert_eq!(b.tag, &tag);
        assert_eq!(b.sealed, &blob[48..]);
        assert_eq!(plaintext_len(blob.len()), Some(10));
        assert_eq!(blob_from_text(&blob_to_text(&blob)).unwrap(), blob);
        // The API's example blob starts with this version id.
        assert!(blob_to_text(&blob).starts_with("ODZhOWVm"));
    }

    #[test]
    fn empty_ciphertext_is_a_blob() {
        let blob = build(ID, &[0; IV_LEN], b"", &[0; TAG_LEN]).unwrap();
        assert_eq!(blob.len(), OVERHEAD);
        assert_eq!(Blob::parse(&blob).unwrap().ciphertext, b"");
    }

    #[test]
    fn short_or_foreign_blobs_are_invalid() {
        let blob = build(ID, &[0; IV_LEN], b"x", &[0; TAG_LEN]).unwrap();
        for n in [0, 1, 36, 48, OVERHEAD - 1] {
            assert_eq!(Blob::parse(&blob[..n]).unwrap_err().code, KmsCode::InvalidParameter);
        }
        let mut bad = blob.clone();
        bad[8] = b'x';
        assert_eq!(Blob::parse(&bad).unwrap_err().code, KmsCode::InvalidParameter);
        let mut bad = blob.clone();
        bad[0] = b'g';
        assert!(Blob::parse(&bad).is_err());
        assert!(build("not-a-uuid", &[0; IV_LEN], b"", &[0; TAG_LEN]).is_err());
        assert!(build(&ID.replace('-', ""), &[0; IV_LEN], b"", &[0; TAG_LEN]).is_err());
        assert!(is_version_id(ID.to_uppercase().as_bytes()));
    }

    #[test]
    fn plaintext_limit() {
        assert!(check_plaintext_len(MAX_PLAINTEXT).is_ok());
        assert_eq!(check_plaintext_len(MAX_PLAINTEXT + 1).unwrap_err().code, KmsCode::InvalidParameter);
        assert_eq!(MAX_BLOB, 6208);
        assert_eq!(blob_len(usize::MAX), usize::MAX);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // Computed apart from this code, with Python:
    //   hashlib.sha256("Example=Test&Name=Alice&Zeta=ü 1".encode()).hexdigest()
    const FIXED_CONTEXT: &str = r#"{"Zeta":"ü 1", "Name":"Alice","Example":"Test"}"#;
    const FIXED_CANONICAL: &str = "Example=Test&Name=Alice&Zeta=ü 1";
    const FIXED_AAD: &str = "a7695c317f64778f1f3a393de14922d90643ecd2d90f6af0c6bc4c13a7f9c3b3";

    #[test]
    fn context_aad_matches_an_independent_computation() {
        let c = Context::parse(FIXED_CONTEXT.as_bytes()).unwrap();
        assert_eq!(c.canonical(), FIXED_CANONICAL);
        assert_eq!(hex(&c.aad().unwrap()), FIXED_AAD);
        assert_eq!(hex(&aad_of(FIXED_CONTEXT.as_bytes()).unwrap().unwrap()), FIXED_AAD);
    }

    #[test]
    fn keys_sort_by_utf8_bytes() {
        // 'B' < 'a' < 'é' < '中' in UTF-16 order too; a supplementary character is where the two
        // orders part (UTF-16 puts its surrogates before U+FFFD, UTF-8 after). DESIGN §1 fixes
        // UTF-8 order; a Java `TreeMap` would sort by UTF-16 and differ on such keys only.
        let c =
            Context::parse(r#"{"a":"1","中":"2","B":"3","é":"4","😀":"5","\uFFFD":"6"}"#.as_bytes()).unwrap();
        assert_eq!(c.canonical(), "B=3&a=1&é=4&中=2&\u{FFFD}=6&😀=5");
    }

    #[test]
    fn order_does_not_matter_and_nothing_is_escaped() {
        let a = Context::parse(br#"{"k1":"v1","k2":"v2"}"#).unwrap();
        let b = Context::parse(br#" { "k2" : "v2" , "k1" : "v1" } "#).unwrap();
        assert_eq!(a.aad(), b.aad());
        let c = Context::parse(br#"{"q":"a \"quoted\" \\ value\n"}"#).unwrap();
        assert_eq!(c.canonical(), "q=a \"quoted\" \\ value\n");
        assert_eq!(Context::parse(c.to_json().as_bytes()).unwrap(), c);
    }

    #[test]
    fn empty_context_means_no_aad() {
        assert_eq!(aad_of(b"").unwrap(), None);
        assert_eq!(aad_of(b"{}").unwrap(), None);
        assert_eq!(aad_of(b" { } ").unwrap(), None);
        assert!(Context::parse(b"").unwrap().is_empty());
        // An empty key or value is still a pair.
        assert!(aad_of(br#"{"":""}"#).unwrap().is_some());
    }

    #[test]
    fn context_rules() {
        for bad in [
            &br#"{"a":1}"#[..],
            br#"{"a":true}"#,
            br#"{"a":null}"#,
            br#"{"a":["x"]}"#,
            br#"{"a":{"b":"c"}}"#,
            br#"["a","b"]"#,
            br#""a""#,
            b"null",
            b"   ",
            br#"{"a":"b""#,
            br#"{"a":"b"} x"#,
            br#"{"a":"b"}{}"#,
            br#"{'a':'b'}"#,
            b"{\"a\":\"\xff\"}",
        ] {
            let e = Context::parse(bad).unwrap_err();
            assert_eq!(e.code, KmsCode::InvalidParameter, "{}", String::from_utf8_lossy(bad));
        }
        let e = Context::parse(br#"{"a":"1","b":"2","a":"1"}"#).unwrap_err();
        assert!(e.message.contains("duplicate"), "{}", e.message);
        // Escapes are decoded before comparing keys.
        assert!(Context::parse(br#"{"a":"1","\u0061":"2"}"#).is_err());
        // Values are not echoed into messages.
        let e = Context::parse(br#"{"a":12345}"#).unwrap_err();
        assert!(!e.message.contains("12345"), "{}", e.message);
    }

    #[test]
    fn context_length_is_counted_in_characters() {
        // {"k":"…"} is 8 characters plus the value.
        let fits = format!(r#"{{"k":"{}"}}"#, "é".repeat(MAX_CONTEXT_CHARS - 8));
        assert_eq!(fits.chars().count(), MAX_CONTEXT_CHARS);
        assert!(fits.len() > MAX_CONTEXT_CHARS);
        assert!(Context::parse(fits.as_bytes()).is_ok());
        let over = format!(r#"{{"k":"{}"}}"#, "é".repeat(MAX_CONTEXT_CHARS - 7));
        let e = Context::parse(over.as_bytes()).unwrap_err();
        assert!(e.message.contains("8192"), "{}", e.message);
    }

    #[test]
    fn data_key_text_round_trip() {
        for len in [1usize, 2, 3, 16, 31, 32, 1024] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let text = data_key_text(&key);
            assert_eq!(text.len(), data_key_text_len(len));
            assert!(text.iter().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b)));
            assert_eq!(*data_key_from_text(&text).unwrap(), key);
        }
        assert_eq!(&*data_key_text(b"\xfb\xff"), b"+/8=");
        assert_eq!(data_key_text_len(1024), 1368);
        for bad in [&b"+/8"[..], b"+/9=", b"+/8=\n", b"-_8=", b"+/8=AAAA="] {
            assert!(data_key_from_text(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
