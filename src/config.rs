//! Configuration (DESIGN §6): TOML from `$KMS_PKCS11_CONFIG`, else
//! `$XDG_CONFIG_HOME/kms-pkcs11/config.toml` (or `~/.config/…`), else built-in defaults with one
//! local token. Unknown keys and values of the wrong type are refused with a message that names
//! the key, so a typo never silently falls back to a default.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The tokens, one slot each, in slot order.
    #[serde(default = "default_tokens")]
    pub token: Vec<TokenConfig>,
    #[serde(default)]
    pub pin: PinConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub quota: QuotaConfig,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    #[serde(default)]
    pub kms: KmsConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
}

/// What the token lets applications do, beyond what PKCS#11 attributes say.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Secret and private key material may arrive in the clear (`C_CreateObject` with
    /// `CKA_VALUE` and friends). `false` leaves wrapped import only (`C_UnwrapKey`, and
    /// `kmsctl import-key-material` for EXTERNAL keys).
    pub plaintext_import: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig { plaintext_import: true }
    }
}

/// The audit trail (DESIGN §7): one chained JSON-lines file per token, and optional sinks.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    pub enabled: bool,
    /// Directory of the audit files; default: the token store's directory.
    pub dir: Option<PathBuf>,
    /// `batch` (default) or `fsync` (every call waits until its record is on disk).
    pub durability: crate::kms::audit::Durability,
    /// Records not yet on disk, at most; a crash loses no more than this.
    pub batch_records: usize,
    /// The longest a record waits for its batch to be written.
    pub batch_ms: u64,
    /// `block` (default: wait until the record is accepted) or `fail` (`CKR_DEVICE_ERROR`).
    pub on_failure: crate::kms::audit::OnFailure,
    /// Start a new file past this size; 0 = never.
    pub rotate_bytes: u64,
    /// How long `C_Finalize` keeps trying to deliver records a failing sink refuses.
    pub finalize_wait_ms: u64,
    /// Also send every record to syslog.
    pub syslog: bool,
    pub syslog_socket: PathBuf,
    pub syslog_facility: crate::kms::audit::sink::Facility,
    pub syslog_tag: String,
    /// A command (run with `/bin/sh -c`) that reads every record on its standard input.
    pub hook: Option<String>,
    /// A hook that takes nothing for this long counts as failing.
    pub hook_timeout_ms: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            dir: None,
            durability: crate::kms::audit::Durability::Batch,
            batch_records: 65_536,
            batch_ms: 200,
            on_failure: crate::kms::audit::OnFailure::Block,
            rotate_bytes: 64 << 20,
            finalize_wait_ms: 10_000,
            syslog: false,
            syslog_socket: PathBuf::from("/dev/log"),
            syslog_facility: crate::kms::audit::sink::Facility::Auth,
            syslog_tag: "kms-pkcs11".into(),
            hook: None,
            hook_timeout_ms: 5_000,
        }
    }
}

/// Per-token resource quotas, counted across every process on the token (DESIGN §1).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    pub keys: u64,
    pub aliases: u64,
    pub key_versions: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig { keys: 200, aliases: 300, key_versions: 10_000 }
    }
}

/// A request rate: requests per second, or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    PerSecond(f64),
    Unlimited,
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) if n > 0.0 && n.is_finite() => Ok(Rate::PerSecond(n)),
            Raw::Text(t) if t == "unlimited" => Ok(Rate::Unlimited),
            _ => Err(serde::de::Error::custom(
                "expected a positive number of requests per second or \"unlimited\"",
            )),
        }
    }
}

/// Requests per second per operation group, per process (DESIGN §1). A burst over the rate
/// waits, with exponential backoff and jitter, up to `max_wait_ms`, then fails.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub create: Rate,
    /// Cryptographic calls with AES and SM4 keys.
    pub crypto_symmetric: Rate,
    /// Cryptographic calls with RSA, EC and SM2 keys.
    pub crypto_asymmetric: Rate,
    pub read: Rate,
    pub write: Rate,
    pub max_wait_ms: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            create: Rate::PerSecond(10.0),
            crypto_symmetric: Rate::PerSecond(750.0),
            crypto_asymmetric: Rate::PerSecond(200.0),
            read: Rate::PerSecond(20.0),
            write: Rate::PerSecond(10.0),
            max_wait_ms: 2_000,
        }
    }
}

/// What `C_DestroyObject` does to a managed key.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DestroyPolicy {
    /// Schedule its deletion with the shortest window; it can be cancelled until then.
    #[default]
    Schedule,
    /// Delete it at once (tokens used as scratch HSMs).
    Immediate,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KmsConfig {
    pub destroy: DestroyPolicy,
    /// Read the current time (Unix seconds) from this file instead of the system clock: how
    /// tests move time forward by days without waiting. Never set in production.
    pub clock_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Label of the slot and, until `C_InitToken` sets another, of the token.
    pub label: String,
    #[serde(default)]
    pub backend: BackendKind,
    /// SQLite file of the token; default `<data home>/<label>.sqlite3`.
    pub store: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    Local,
}

/// PIN policy and the cost of deriving a key from a PIN.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PinConfig {
    pub min_len: usize,
    pub max_len: usize,
    /// Wrong PINs in a row before the PIN locks (`CKF_*_PIN_LOCKED`).
    pub max_attempts: u32,
    /// Argon2id memory in KiB, passes and lanes for PINs set from now on.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_lanes: u32,
}

impl Default for PinConfig {
    fn default() -> Self {
        // Argon2id over 19 MiB, one pass: about 17 ms on this class of machine, paid by the first
        // login of each process (a repeated login in one process reuses the derived key). Two
        // passes (OWASP's floor for password storage) doubles that, and the first login is part
        // of every short-lived process's start-up; deployments that want it set
        // `argon2_iterations = 2`. (Against a copied store file no KDF saves a 4-digit PIN;
        // the file's owner-only permissions and the lockout counter are what guard those.)
        PinConfig {
            min_len: 4,
            max_len: 255,
            max_attempts: 10,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 1,
            argon2_lanes: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `off`, `error`, `warn`, `info`, `debug` or `trace`; `KMS_PKCS11_LOG` overrides it.
    pub level: LogLevel,
    /// Append to this file instead of standard error.
    pub file: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: LogLevel::Warn, file: None }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s.to_ascii_lowercase().as_str() {
            "off" => LogLevel::Off,
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }

    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

fn default_tokens() -> Vec<TokenConfig> {
    vec![TokenConfig { label: "kms".into(), backend: BackendKind::Local, store: None }]
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token: default_tokens(),
            pin: PinConfig::default(),
            log: LogConfig::default(),
            quota: QuotaConfig::default(),
            rate_limit: RateLimitConfig::default(),
            kms: KmsConfig::default(),
            audit: AuditConfig::default(),
            policy: PolicyConfig::default(),
        }
    }
}

/// Why a configuration could not be used; the text names the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Parses and checks a configuration text.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError(format!("{origin}: {e}")))?;
        config.check(origin)?;
        Ok(config)
    }

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("{origin}: {key}: {why}")));
        if self.token.is_empty() {
            return bad("token", "at least one [[token]] is needed");
        }
        for (i, t) in self.token.iter().enumerate() {
            if t.label.is_empty() || t.label.len() > 32 {
                return bad(&format!("token[{i}].label"), "must be 1 to 32 bytes");
            }
            if self.token[..i].iter().any(|o| o.label == t.label) {
                return bad(&format!("token[{i}].label"), "labels must be unique");
            }
        }
        let p = &self.pin;
        if p.min_len == 0 || p.min_len > p.max_len || p.max_len > 255 {
            return bad("pin.min_len/pin.max_len", "need 1 <= min_len <= max_len <= 255");
        }
        if p.max_attempts == 0 {
            return bad("pin.max_attempts", "must be at least 1");
        }
        if p.argon2_memory_kib < 8 * p.argon2_lanes.max(1) || p.argon2_iterations == 0 {
            return bad("pin.argon2_*", "memory must be >= 8 KiB per lane and iterations >= 1");
        }
        if p.argon2_lanes == 0 || p.argon2_lanes > 16 {
            return bad("pin.argon2_lanes", "must be 1 to 16");
        }
        Ok(())
    }

    /// Loads the configuration the environment points at, or the built-in defaults.
    pub fn load() -> Result<Config, ConfigError> {
        let path = match std::env::var_os("KMS_PKCS11_CONFIG") {
            Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
            _ => config_home().map(|d| d.join("kms-pkcs11").join("config.toml")).filter(|p| p.exists()),
        };
        match path {
            None => Ok(Config::default()),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError(format!("{}: cannot read configuration: {e}", path.display()))
                })?;
                Config::parse(&text, &path.display().to_string())
            }
        }
    }

    /// The effective log level: `KMS_PKCS11_LOG` if set and valid, else `[log] level`.
    pub fn log_level(&self) -> LogLevel {
        std::env::var("KMS_PKCS11_LOG").ok().and_then(|v| LogLevel::parse(&v)).unwrap_or(self.log.level)
    }
}

fn config_home() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")),
    }
}

/// Where token stores live by default (DESIGN §5).
pub fn data_home() -> PathBuf {
    if let Some(p) = std::env::var_os("KMS_PKCS11_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("kms-pkcs11");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    Path::new(&home).join(".local/share/kms-pkcs11")
}

impl TokenConfig {
    /// The token's SQLite file.
    pub fn store_path(&self) -> PathBuf {
        match &self.store {
            Some(p) => p.clone(),
            None => {
                let name: String = self
                    .label
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                    .collect();
                data_home().join(format!("{name}.sqlite3"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_defaults() {
        assert_eq!(Config::parse("", "t").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[pin]\nmax_atempts = 3\n", "cfg.toml").unwrap_err();
        assert!(err.0.contains("max_atempts"), "{}", err.0);
        assert!(err.0.contains("cfg.toml"), "{}", err.0);
    }

    #[test]
    fn wrong_type_is_named() {
        let err = Config::parse("[pin]\nmax_attempts = \"three\"\n", "c").unwrap_err();
        assert!(err.0.contains("max_attempts"), "{}", err.0);
    }

    #[test]
    fn tokens_parse_in_order() {
        let c =
            Config::parse("[[token]]\nlabel = \"a\"\n[[token]]\nlabel = \"b\"\nstore = \"/x/b.db\"\n", "c")
                .unwrap();
        assert_eq!(c.token.len(), 2);
        assert_eq!(c.token[1].store_path(), PathBuf::from("/x/b.db"));
    }

    #[test]
    fn rates_are_numbers_or_unlimited() {
        let c = Config::parse("[rate_limit]\ncreate = 5\ncrypto_symmetric = \"unlimited\"\n", "c").unwrap();
        assert_eq!(c.rate_limit.create, Rate::PerSecond(5.0));
        assert_eq!(c.rate_limit.crypto_symmetric, Rate::Unlimited);
        assert_eq!(c.rate_limit.read, Rate::PerSecond(20.0));
        let err = Config::parse("[rate_limit]\nwrite = \"fast\"\n", "c").unwrap_err();
        assert!(err.0.contains("unlimited"), "{}", err.0);
        assert!(Config::parse("[rate_limit]\nwrite = 0\n", "c").is_err());
    }

    #[test]
    fn kms_sections_parse() {
        let c = Config::parse("[quota]\nkeys = 3\n[kms]\ndestroy = \"immediate\"\n", "c").unwrap();
        assert_eq!(c.quota.keys, 3);
        assert_eq!(c.quota.aliases, 300);
        assert_eq!(c.kms.destroy, DestroyPolicy::Immediate);
    }

    #[test]
    fn duplicate_labels_are_refused() {
        let err = Config::parse("[[token]]\nlabel = \"a\"\n[[token]]\nlabel = \"a\"\n", "c");
        assert!(err.unwrap_err().0.contains("unique"));
    }
}
