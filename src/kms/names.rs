//! The KMS's rules for names and values (reference/kms-api.md §2, §4, §5, §8, §11): aliases,
//! tags, descriptions, rotation intervals, deletion windows and data key lengths. Each refusal
//! is `InvalidParameter` with a message that names the rule broken.

use super::envelope::string_object;
use super::{KmsCode, KmsError};
use std::collections::BTreeMap;

fn invalid(message: impl Into<String>) -> KmsError {
    KmsError::new(KmsCode::InvalidParameter, message)
}

const DAY: u64 = 86_400;

// ---- Aliases (§5) ----

pub const ALIAS_PREFIX: &str = "alias/";
/// Reserved for the cloud's own aliases.
pub const ALIAS_RESERVED_PREFIX: &str = "alias/acs";
/// The whole `AliasName`, prefix included.
pub const ALIAS_MAX_CHARS: usize = 255;

/// Checks an `AliasName`: `alias/` and at least one character, at most 255 in all, not
/// `alias/acs…`, from ASCII letters, digits, `_`, `-` and `/`. The prefixes are compared as the
/// API states them, case-sensitively, so that every name Alibaba takes is taken here.
pub fn check_alias(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix(ALIAS_PREFIX) else {
        return Err(invalid(format!("alias {name:?} must start with \"{ALIAS_PREFIX}\"")));
    };
    if rest.is_empty() {
        return Err(invalid(format!("alias {name:?} has no name after \"{ALIAS_PREFIX}\"")));
    }
    if name.chars().count() > ALIAS_MAX_CHARS {
        return Err(invalid(format!("an alias is at most {ALIAS_MAX_CHARS} characters; {name:?} is longer")));
    }
    if name.starts_with(ALIAS_RESERVED_PREFIX) {
        return Err(invalid(format!("alias {name:?}: \"{ALIAS_RESERVED_PREFIX}\" is reserved")));
    }
    if let Some(c) = rest.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/'))) {
        return Err(invalid(format!(
            "alias {name:?}: {c:?} is not allowed (letters, digits, '_', '-' and '/' only)"
        )));
    }
    Ok(())
}

/// Parses the `CKA_KMS_ALIASES` value: a JSON array of distinct valid aliases.
pub fn parse_aliases(json: &[u8]) -> Result<Vec<String>, KmsError> {
    let aliases: Vec<String> =
        serde_json::from_slice(json).map_err(|_| invalid("aliases are a JSON array of strings"))?;
    for (i, a) in aliases.iter().enumerate() {
        check_alias(a)?;
        if aliases[..i].contains(a) {
            return Err(invalid(format!("alias {a:?} is listed twice")));
        }
    }
    Ok(aliases)
}

/// The `CKA_KMS_ALIASES` value.
pub fn aliases_json(aliases: &[String]) -> String {
    serde_json::to_string(aliases).unwrap_or_else(|_| "[]".to_string())
}

// ---- Tags (§2, §11) ----

pub const MAX_TAGS: usize = 20;
pub const TAG_MAX_CHARS: usize = 128;
/// Tag keys reserved for the cloud.
pub const TAG_RESERVED_PREFIXES: [&str; 2] = ["aliyun", "acs:"];

fn tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '\\' | '_' | '-' | '.' | '+' | '=' | ':' | '@')
}

/// Checks one tag. A key has 1–128 characters and does not start with `aliyun` or `acs:`; a
/// value has 0–128 (the API states no minimum for values, and an empty value is a common
/// marker tag); both from letters, digits and `/ \ _ - . + = : @`.
pub fn check_tag(key: &str, value: &str) -> Result<(), KmsError> {
    if key.is_empty() {
        return Err(invalid("a tag key is at least one character"));
    }
    for (what, s) in [("tag key", key), ("tag value", value)] {
        if s.chars().count() > TAG_MAX_CHARS {
            return Err(invalid(format!("{what} {s:?} is longer than {TAG_MAX_CHARS} characters")));
        }
        if let Some(c) = s.chars().find(|c| !tag_char(*c)) {
            return Err(invalid(format!(
                "{what} {s:?}: {c:?} is not allowed (letters, digits and / \\ _ - . + = : @ only)"
            )));
        }
    }
    if let Some(p) = TAG_RESERVED_PREFIXES.iter().find(|p| key.starts_with(*p)) {
        return Err(invalid(format!("tag key {key:?}: the prefix {p:?} is reserved")));
    }
    Ok(())
}

/// A key's tags, at most 20, each checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(BTreeMap<String, String>);

impl Tags {
    pub fn new(tags: BTreeMap<String, String>) -> Result<Tags, KmsError> {
        if tags.len() > MAX_TAGS {
            return Err(invalid(format!("a key has at most {MAX_TAGS} tags; {} given", tags.len())));
        }
        for (k, v) in &tags {
            check_tag(k, v)?;
        }
        Ok(Tags(tags))
    }

    /// Parses the `CKA_KMS_TAGS` value: a JSON object of strings, no duplicate keys. No bytes
    /// at all is no tags.
    pub fn parse(json: &[u8]) -> Result<Tags, KmsError> {
        if json.is_empty() {
            return Ok(Tags::default());
        }
        let text = std::str::from_utf8(json).map_err(|_| invalid("tags are not UTF-8"))?;
        Tags::new(string_object(text, "the tags")?)
    }

    /// Parses the API's form, `[{"TagKey":"k","TagValue":"v"},…]`.
    pub fn parse_api(json: &[u8]) -> Result<Tags, KmsError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Tag {
            #[serde(rename = "TagKey")]
            key: String,
            #[serde(rename = "TagValue", default)]
            value: String,
        }
        let list: Vec<Tag> = serde_json::from_slice(json)
            .map_err(|_| invalid("tags are a JSON array of {\"TagKey\":…,\"TagValue\":…}"))?;
        let mut tags = BTreeMap::new();
        for t in list {
            if tags.contains_key(&t.key) {
                return Err(invalid(format!("tag key {:?} is given twice", t.key)));
            }
            tags.insert(t.key, t.value);
        }
        Tags::new(tags)
    }

    /// The `CKA_KMS_TAGS` value: compact JSON, keys sorted.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_string())
    }

    /// TagResource: adds or replaces tags; the result must still be within the limit, else
    /// nothing changes.
    pub fn merge(&mut self, other: &Tags) -> Result<(), KmsError> {
        let mut merged = self.0.clone();
        merged.extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        *self = Tags::new(merged)?;
        Ok(())
    }

    /// UntagResource: removes the tags with these keys (absent keys are no error).
    pub fn remove<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        for k in keys {
            self.0.remove(k);
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// ---- Description (§2) ----

pub const DESCRIPTION_MAX_CHARS: usize = 8192;

pub fn check_description(description: &str) -> Result<(), KmsError> {
    let n = description.chars().count();
    if n > DESCRIPTION_MAX_CHARS {
        return Err(invalid(format!(
            "a description is at most {DESCRIPTION_MAX_CHARS} characters; this one is {n}"
        )));
    }
    Ok(())
}

// ---- Rotation interval (§2, §6) ----

pub const ROTATION_MIN_DAYS: u64 = 7;
pub const ROTATION_MAX_DAYS: u64 = 730;

/// Checks an automatic rotation interval in seconds: 7 to 730 days (UpdateRotationPolicy's
/// range; CreateKey's docs say 365 for software keys, the wider one is what the newer API
/// takes).
pub fn check_rotation_interval(seconds: u64) -> Result<u64, KmsError> {
    if !(ROTATION_MIN_DAYS * DAY..=ROTATION_MAX_DAYS * DAY).contains(&seconds) {
        return Err(invalid(format!(
            "a rotation interval is {ROTATION_MIN_DAYS} to {ROTATION_MAX_DAYS} days \
             ({}s to {}s); {seconds}s given",
            ROTATION_MIN_DAYS * DAY,
            ROTATION_MAX_DAYS * DAY
        )));
    }
    Ok(seconds)
}

/// Parses the API's `integer[unit]` (unit `d`, `h`, `m` or `s`; none means seconds) to
/// seconds, and checks the range: `"7d"` and `"604800s"` are the same interval.
pub fn parse_rotation_interval(text: &str) -> Result<u64, KmsError> {
    let bad = || invalid(format!("rotation interval {text:?} is not an integer with unit d, h, m or s"));
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c),
        _ => (t, 's'),
    };
    let scale = match unit {
        'd' => DAY,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(bad()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    check_rotation_interval(n.checked_mul(scale).ok_or_else(bad)?)
}

/// The interval as DescribeKey shows it (`"604800s"`).
pub fn format_rotation_interval(seconds: u64) -> String {
    format!("{seconds}s")
}

// ---- Deletion window (§4) ----

pub const DELETION_MIN_DAYS: u64 = 7;
pub const DELETION_MAX_DAYS: u64 = 366;
pub const DELETION_DEFAULT_DAYS: u64 = 30;

/// ScheduleKeyDeletion's `PendingWindowInDays`: 7 to 366, 30 when not given.
pub fn deletion_window_days(days: Option<u64>) -> Result<u64, KmsError> {
    let days = days.unwrap_or(DELETION_DEFAULT_DAYS);
    if !(DELETION_MIN_DAYS..=DELETION_MAX_DAYS).contains(&days) {
        return Err(invalid(format!(
            "a deletion window is {DELETION_MIN_DAYS} to {DELETION_MAX_DAYS} days; {days} given"
        )));
    }
    Ok(days)
}

// ---- Data keys (§8) ----

pub const DATA_KEY_MIN: usize = 1;
pub const DATA_KEY_MAX: usize = 1024;
pub const DATA_KEY_DEFAULT: usize = 32;

/// GenerateDataKey's `NumberOfBytes`: 1 to 1024, 32 when not given.
pub fn data_key_len(bytes: Option<u64>) -> Result<usize, KmsError> {
    let Some(n) = bytes else { return Ok(DATA_KEY_DEFAULT) };
    match usize::try_from(n) {
        Ok(n) if (DATA_KEY_MIN..=DATA_KEY_MAX).contains(&n) => Ok(n),
        _ => Err(invalid(format!("a data key is {DATA_KEY_MIN} to {DATA_KEY_MAX} bytes; {n} asked"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(e: KmsError, words: &str) {
        assert_eq!(e.code, KmsCode::InvalidParameter);
        assert!(e.message.contains(words), "{:?} lacks {words:?}", e.message);
    }

    #[test]
    fn alias_bounds() {
        check_alias("alias/a").unwrap();
        check_alias("alias/my-key_1/prod").unwrap();
        check_alias("alias/ac").unwrap();
        check_alias("alias/Acs").unwrap();
        let longest = format!("alias/{}", "x".repeat(ALIAS_MAX_CHARS - 6));
        check_alias(&longest).unwrap();
        rule(check_alias(&format!("{longest}x")).unwrap_err(), "at most 255");
        rule(check_alias("alias/").unwrap_err(), "no name");
        rule(check_alias("").unwrap_err(), "must start");
        rule(check_alias("key/a").unwrap_err(), "must start");
        rule(check_alias("Alias/a").unwrap_err(), "must start");
        rule(check_alias("alias/acs").unwrap_err(), "reserved");
        rule(check_alias("alias/acs/ecs").unwrap_err(), "reserved");
        rule(check_alias("alias/acsx").unwrap_err(), "reserved");
        for bad in ["alias/a b", "alias/a.b", "alias/é", "alias/a:b", "alias/a\\b"] {
            rule(check_alias(bad).unwrap_err(), "not allowed");
        }
    }

    #[test]
    fn aliases_json_round_trip() {
        let a = parse_aliases(br#"["alias/a","alias/b/c"]"#).unwrap();
        assert_eq!(a, ["alias/a", "alias/b/c"]);
        assert_eq!(parse_aliases(aliases_json(&a).as_bytes()).unwrap(), a);
        assert!(parse_aliases(b"[]").unwrap().is_empty());
        rule(parse_aliases(br#"["alias/a","alias/a"]"#).unwrap_err(), "twice");
        rule(parse_aliases(br#"["alias/acs1"]"#).unwrap_err(), "reserved");
        rule(parse_aliases(br#"{"a":"alias/a"}"#).unwrap_err(), "JSON array");
        rule(parse_aliases(br#"["alias/a",1]"#).unwrap_err(), "JSON array");
        rule(parse_aliases(b"").unwrap_err(), "JSON array");
    }

    #[test]
    fn tag_bounds() {
        check_tag("env", "prod").unwrap();
        check_tag("a/b\\c_d-e.f+g=h:i@j", "A/b\\c_d-e.f+g=h:i@j0").unwrap();
        check_tag("k", "").unwrap();
        check_tag(&"k".repeat(128), &"v".repeat(128)).unwrap();
        rule(check_tag(&"k".repeat(129), "v").unwrap_err(), "longer than 128");
        rule(check_tag("k", &"v".repeat(129)).unwrap_err(), "longer than 128");
        rule(check_tag("", "v").unwrap_err(), "at least one");
        rule(check_tag("a b", "v").unwrap_err(), "not allowed");
        rule(check_tag("k", "v,w").unwrap_err(), "not allowed");
        rule(check_tag("k", "é").unwrap_err(), "not allowed");
        rule(check_tag("aliyun", "v").unwrap_err(), "reserved");
        rule(check_tag("aliyunTag", "v").unwrap_err(), "reserved");
        rule(check_tag("acs:x", "v").unwrap_err(), "reserved");
        // Only the exact prefixes are reserved.
        check_tag("acs", "v").unwrap();
        check_tag("acsx", "v").unwrap();
        check_tag("my-aliyun", "v").unwrap();
        check_tag("k", "aliyun").unwrap();
    }

    #[test]
    fn tags_json_round_trip() {
        let t = Tags::parse(br#"{"env":"prod","team":"a@b","empty":""}"#).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.get("team"), Some("a@b"));
        assert_eq!(t.to_json(), r#"{"empty":"","env":"prod","team":"a@b"}"#);
        assert_eq!(Tags::parse(t.to_json().as_bytes()).unwrap(), t);
        assert!(Tags::parse(b"").unwrap().is_empty());
        assert!(Tags::parse(b"{}").unwrap().is_empty());
        rule(Tags::parse(br#"{"a":"1","a":"2"}"#).unwrap_err(), "duplicate");
        rule(Tags::parse(br#"{"a":1}"#).unwrap_err(), "JSON object of strings");
        rule(Tags::parse(br#"["a"]"#).unwrap_err(), "JSON object of strings");
        rule(Tags::parse(br#"{"acs:a":"1"}"#).unwrap_err(), "reserved");
    }

    fn n_tags(n: usize) -> String {
        let body: Vec<String> = (0..n).map(|i| format!(r#""k{i}":"v""#)).collect();
        format!("{{{}}}", body.join(","))
    }

    #[test]
    fn at_most_twenty_tags() {
        assert_eq!(Tags::parse(n_tags(20).as_bytes()).unwrap().len(), 20);
        rule(Tags::parse(n_tags(21).as_bytes()).unwrap_err(), "at most 20");
        let mut t = Tags::parse(n_tags(20).as_bytes()).unwrap();
        // Replacing a value keeps the count; a 21st tag is refused and changes nothing.
        t.merge(&Tags::parse(br#"{"k0":"w"}"#).unwrap()).unwrap();
        assert_eq!(t.get("k0"), Some("w"));
        rule(t.merge(&Tags::parse(br#"{"new":"v"}"#).unwrap()).unwrap_err(), "at most 20");
        assert_eq!(t.len(), 20);
        assert_eq!(t.get("new"), None);
        t.remove(["k1", "absent"]);
        assert_eq!(t.len(), 19);
    }

    #[test]
    fn api_tag_form() {
        let t =
            Tags::parse_api(br#"[{"TagKey":"env","TagValue":"prod"},{"TagKey":"x","TagValue":""}]"#).unwrap();
        assert_eq!(t.to_json(), r#"{"env":"prod","x":""}"#);
        rule(
            Tags::parse_api(br#"[{"TagKey":"a","TagValue":"1"},{"TagKey":"a","TagValue":"2"}]"#).unwrap_err(),
            "twice",
        );
        rule(Tags::parse_api(br#"[{"Key":"a"}]"#).unwrap_err(), "JSON array");
        rule(Tags::parse_api(br#"[{"TagKey":"aliyun1","TagValue":"v"}]"#).unwrap_err(), "reserved");
    }

    #[test]
    fn description_bound() {
        check_description("").unwrap();
        check_description(&"é".repeat(8192)).unwrap();
        rule(check_description(&"x".repeat(8193)).unwrap_err(), "at most 8192");
    }

    #[test]
    fn rotation_interval_bounds() {
        assert_eq!(check_rotation_interval(7 * DAY).unwrap(), 604_800);
        assert_eq!(check_rotation_interval(730 * DAY).unwrap(), 63_072_000);
        rule(check_rotation_interval(7 * DAY - 1).unwrap_err(), "7 to 730 days");
        rule(check_rotation_interval(730 * DAY + 1).unwrap_err(), "7 to 730 days");
        rule(check_rotation_interval(0).unwrap_err(), "7 to 730 days");
    }

    #[test]
    fn rotation_interval_text() {
        assert_eq!(parse_rotation_interval("7d").unwrap(), 604_800);
        assert_eq!(parse_rotation_interval("604800s").unwrap(), 604_800);
        assert_eq!(parse_rotation_interval("604800").unwrap(), 604_800);
        assert_eq!(parse_rotation_interval("30d").unwrap(), 30 * DAY);
        assert_eq!(parse_rotation_interval("168h").unwrap(), 604_800);
        assert_eq!(parse_rotation_interval("10080m").unwrap(), 604_800);
        assert_eq!(parse_rotation_interval("730d").unwrap(), 730 * DAY);
        assert_eq!(parse_rotation_interval(" 365d ").unwrap(), 365 * DAY);
        rule(parse_rotation_interval("12h").unwrap_err(), "7 to 730 days");
        rule(parse_rotation_interval("6d").unwrap_err(), "7 to 730 days");
        rule(parse_rotation_interval("731d").unwrap_err(), "7 to 730 days");
        for bad in ["", "d", "7w", "7D", "-7d", "+7d", "7.5d", "7 d", "d7", "99999999999999999999d", "7dd"] {
            rule(parse_rotation_interval(bad).unwrap_err(), "integer with unit");
        }
        rule(parse_rotation_interval("18446744073709551615d").unwrap_err(), "integer with unit");
        assert_eq!(format_rotation_interval(31_536_000), "31536000s");
        let s = format_rotation_interval(604_800);
        assert_eq!(parse_rotation_interval(&s).unwrap(), 604_800);
    }

    #[test]
    fn deletion_window_bounds() {
        assert_eq!(deletion_window_days(None).unwrap(), 30);
        assert_eq!(deletion_window_days(Some(7)).unwrap(), 7);
        assert_eq!(deletion_window_days(Some(366)).unwrap(), 366);
        rule(deletion_window_days(Some(6)).unwrap_err(), "7 to 366 days");
        rule(deletion_window_days(Some(367)).unwrap_err(), "7 to 366 days");
        rule(deletion_window_days(Some(0)).unwrap_err(), "7 to 366 days");
    }

    #[test]
    fn data_key_len_bounds() {
        assert_eq!(data_key_len(None).unwrap(), 32);
        assert_eq!(data_key_len(Some(1)).unwrap(), 1);
        assert_eq!(data_key_len(Some(1024)).unwrap(), 1024);
        rule(data_key_len(Some(0)).unwrap_err(), "1 to 1024 bytes");
        rule(data_key_len(Some(1025)).unwrap_err(), "1 to 1024 bytes");
        rule(data_key_len(Some(u64::MAX)).unwrap_err(), "1 to 1024 bytes");
    }
}
