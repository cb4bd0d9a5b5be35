//! `kmsctl`: the KMS actions on a token, with the library's own engine and configuration
//! (`$KMS_PKCS11_CONFIG`, as for `libkms_pkcs11.so`). Subcommands are named after the KMS
//! actions; output is for people by default and JSON with `--json`. Every failure exits
//! non-zero with the KMS error code (or the `CKR_*` when there is none) and a message.

use clap::{Args, Parser, Subcommand};
use cryptoki_sys::{CK_SESSION_HANDLE, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKU_USER};
use kms_pkcs11::config::Config;
use kms_pkcs11::error::Error;
use kms_pkcs11::kms::audit::Filter;
use kms_pkcs11::kms::names::{self, Tags};
use kms_pkcs11::kms::{self as kms, KeySpec, KeyUsage};
use kms_pkcs11::token::Library;
use kms_pkcs11::token::admin::{self, NewKey};
use kms_pkcs11::token::audit::Trail;
use serde::Serialize;
use std::process::ExitCode;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(name = "kmsctl", version, about = "KMS actions on a kms-pkcs11 token")]
struct Cli {
    /// The token, by its configured label (default: the first one).
    #[arg(long, global = true)]
    token: Option<String>,
    /// The user PIN (visible to other local users in the process list; prefer --pin-file or
    /// KMSCTL_PIN).
    #[arg(long, global = true, env = "KMSCTL_PIN", hide_env_values = true)]
    pin: Option<String>,
    /// A file whose first line is the user PIN.
    #[arg(long, global = true)]
    pin_file: Option<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Action,
}

#[derive(Args)]
struct KeyArg {
    /// Key id or alias (alias/…).
    key: String,
}

#[derive(Args)]
struct ContextArg {
    /// Encryption context: a JSON object of strings.
    #[arg(long)]
    context: Option<String>,
}

#[derive(Subcommand)]
enum Action {
    /// CreateKey: a new CMK.
    CreateKey {
        /// Aliyun_AES_256, Aliyun_SM4, RSA_2048, EC_P256, EC_P256K, EC_SM2 (also
        /// Aliyun_AES_128/192, RSA_3072/4096, EC_P384).
        #[arg(long, default_value = "Aliyun_AES_256")]
        key_spec: String,
        /// ENCRYPT/DECRYPT or SIGN/VERIFY (default: the spec's natural one).
        #[arg(long)]
        key_usage: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Automatic rotation interval, e.g. 30d or 604800s (symmetric keys).
        #[arg(long)]
        rotation_interval: Option<String>,
        /// Tags: {"k":"v"} or [{"TagKey":"k","TagValue":"v"}].
        #[arg(long)]
        tags: Option<String>,
        #[arg(long)]
        deletion_protection: bool,
        /// CKA_LABEL of the key objects.
        #[arg(long, default_value = "kmsctl")]
        label: String,
        /// Aliyun_KMS (the token makes the material) or EXTERNAL (you import it).
        #[arg(long, default_value = "Aliyun_KMS")]
        origin: String,
    },
    /// GetParametersForImport: a wrapping public key and a 24-hour import token for an
    /// EXTERNAL key.
    GetParametersForImport {
        key: String,
        /// RSA_2048 or EC_SM2.
        #[arg(long, default_value = "RSA_2048")]
        wrapping_key_spec: String,
        /// RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1, RSAES_PKCS1_V1_5, RSA_AES_KEY_WRAP_SHA_256,
        /// RSA_AES_KEY_WRAP_SHA_1 (asymmetric keys) or SM2PKE (with EC_SM2, for SM4 keys).
        #[arg(long, default_value = "RSAES_OAEP_SHA_256")]
        wrapping_algorithm: String,
        /// Write the wrapping public key here as PEM (SubjectPublicKeyInfo).
        #[arg(long)]
        public_key_out: Option<std::path::PathBuf>,
    },
    /// ImportKeyMaterial: load key material encrypted under the wrapping public key.
    ImportKeyMaterial {
        key: String,
        /// A file with the encrypted key material (binary, or Base64 text).
        #[arg(long)]
        encrypted_key_material: std::path::PathBuf,
        #[arg(long)]
        import_token: String,
        /// When the material is erased again, Unix seconds (0 = never).
        #[arg(long, default_value_t = 0)]
        key_material_expire_unix: u64,
    },
    /// DescribeKey.
    DescribeKey(KeyArg),
    /// ListKeys.
    ListKeys,
    /// ListKeyVersions.
    ListKeyVersions(KeyArg),
    /// CreateKeyVersion: a new primary version now.
    CreateKeyVersion(KeyArg),
    /// UpdateRotationPolicy.
    UpdateRotationPolicy {
        #[command(flatten)]
        key: KeyArg,
        /// Turn automatic rotation on (with --rotation-interval) or off.
        #[arg(long, value_parser = ["true", "false"])]
        enable_automatic_rotation: String,
        #[arg(long)]
        rotation_interval: Option<String>,
    },
    /// EnableKey.
    EnableKey(KeyArg),
    /// DisableKey.
    DisableKey(KeyArg),
    /// ScheduleKeyDeletion.
    ScheduleKeyDeletion {
        #[command(flatten)]
        key: KeyArg,
        /// 7 to 366 days.
        #[arg(long, default_value_t = names::DELETION_DEFAULT_DAYS)]
        pending_window_in_days: u64,
    },
    /// CancelKeyDeletion.
    CancelKeyDeletion(KeyArg),
    /// SetDeletionProtection.
    SetDeletionProtection {
        #[command(flatten)]
        key: KeyArg,
        #[arg(long, value_parser = ["true", "false"])]
        enable_deletion_protection: String,
        #[arg(long, default_value = "")]
        deletion_protection_description: String,
    },
    /// CreateAlias.
    CreateAlias { alias: String, key: String },
    /// UpdateAlias: point an existing alias at another key.
    UpdateAlias { alias: String, key: String },
    /// DeleteAlias.
    DeleteAlias { alias: String },
    /// ListAliases (of one key with --key).
    ListAliases {
        #[arg(long)]
        key: Option<String>,
    },
    /// Encrypt (up to 6 KiB): prints the ciphertext blob in Base64.
    Encrypt {
        #[command(flatten)]
        key: KeyArg,
        /// The plaintext (UTF-8); or --plaintext-file.
        #[arg(long, conflicts_with = "plaintext_file")]
        plaintext: Option<String>,
        #[arg(long)]
        plaintext_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        context: ContextArg,
    },
    /// Decrypt: prints the plaintext in Base64.
    Decrypt {
        #[arg(long)]
        ciphertext_blob: String,
        #[command(flatten)]
        context: ContextArg,
    },
    /// GenerateDataKey: a data key in Base64 and sealed.
    GenerateDataKey {
        #[command(flatten)]
        key: KeyArg,
        /// 1 to 1024 (default 32).
        #[arg(long)]
        number_of_bytes: Option<u64>,
        #[command(flatten)]
        context: ContextArg,
    },
    /// GenerateDataKeyWithoutPlaintext: a data key, sealed only.
    GenerateDataKeyWithoutPlaintext {
        #[command(flatten)]
        key: KeyArg,
        #[arg(long)]
        number_of_bytes: Option<u64>,
        #[command(flatten)]
        context: ContextArg,
    },
    /// TagResource.
    TagResource {
        #[command(flatten)]
        key: KeyArg,
        /// {"k":"v"} or [{"TagKey":"k","TagValue":"v"}].
        #[arg(long)]
        tags: String,
    },
    /// UntagResource.
    UntagResource {
        #[command(flatten)]
        key: KeyArg,
        /// A JSON array of tag keys.
        #[arg(long)]
        tag_keys: String,
    },
    /// Usage of the token's quotas and this process's request rates.
    DescribeQuotas,
    /// The token's audit trail (needs no PIN).
    #[command(subcommand)]
    Audit(AuditAction),
}

#[derive(Subcommand)]
enum AuditAction {
    /// The records that match every filter given, oldest first.
    List {
        /// From this time (RFC 3339, e.g. 2026-11-29T10:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Up to this time.
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        key_id: Option<String>,
        /// A KMS action (Encrypt, CreateKey, Login, …).
        #[arg(long)]
        event_name: Option<String>,
        /// ok, failed, or a CKR_* name.
        #[arg(long)]
        result: Option<String>,
        /// SO, USER or PUBLIC.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Checks the chain: exits non-zero at the first changed, removed, reordered or inserted
    /// record, or a cut tail.
    Verify,
}

/// A failure as kmsctl reports it.
struct Failure {
    code: String,
    message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        // The KMS error behind the CKR_*, when the KMS rules refused.
        match kms::last_error() {
            Some(k) if k.code.error() == e => Failure { code: k.code.name().into(), message: k.message },
            _ => Failure { code: e.name().into(), message: describe_ckr(e) },
        }
    }
}

impl From<kms::KmsError> for Failure {
    fn from(e: kms::KmsError) -> Failure {
        Failure { code: e.code.name().into(), message: e.message }
    }
}

fn usage_error(message: impl Into<String>) -> Failure {
    Failure { code: "InvalidParameter".into(), message: message.into() }
}

fn describe_ckr(e: Error) -> String {
    match e {
        Error::PinIncorrect => "the PIN is incorrect".into(),
        Error::PinLocked => "the PIN is locked".into(),
        Error::UserPinNotInitialized => "the token's user PIN is not set (C_InitPIN)".into(),
        Error::TokenNotRecognized | Error::TokenNotPresent => "the token's store cannot be used".into(),
        Error::EncryptedDataInvalid => "the ciphertext does not open with this context".into(),
        _ => "the token refused the request".into(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("kmsctl: {}: {}", f.code, f.message);
            ExitCode::FAILURE
        }
    }
}

fn pin(cli: &Cli) -> Result<Zeroizing<String>, Failure> {
    if let Some(file) = &cli.pin_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(file).map_err(|e| usage_error(format!("{}: {e}", file.display())))?,
        );
        return Ok(Zeroizing::new(text.lines().next().unwrap_or_default().to_string()));
    }
    cli.pin
        .clone()
        .map(Zeroizing::new)
        .ok_or_else(|| usage_error("a user PIN is needed: --pin-file, KMSCTL_PIN or --pin"))
}

fn chosen_token(cli: &Cli, config: &Config) -> Result<usize, Failure> {
    match &cli.token {
        None => Ok(0),
        Some(label) => config
            .token
            .iter()
            .position(|t| &t.label == label)
            .ok_or_else(|| usage_error(format!("no token labelled {label:?} in the configuration"))),
    }
}

fn time(text: &Option<String>) -> Result<Option<std::time::SystemTime>, Failure> {
    text.as_deref()
        .map(|t| humantime::parse_rfc3339_weak(t).map_err(|e| usage_error(format!("time {t:?}: {e}"))))
        .transpose()
}

fn audit(cli: &Cli, action: &AuditAction) -> Result<(), Failure> {
    let config = Config::load().map_err(|e| usage_error(format!("configuration: {e}")))?;
    kms_pkcs11::logging::configure(&config);
    let token = &config.token[chosen_token(cli, &config)?];
    let trail = Trail::open(&config.audit, token)?;
    let io =
        |e: std::io::Error| Failure { code: "InternalFailure".into(), message: format!("audit trail: {e}") };
    match action {
        AuditAction::List { since, until, key_id, event_name, result, principal } => {
            let filter = Filter {
                since: time(since)?,
                until: time(until)?,
                key_id: key_id.clone(),
                event_name: event_name.clone(),
                result: result.clone(),
                principal: principal.clone(),
            };
            let records = trail.list(&filter).map_err(io)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&records).unwrap_or_default());
            } else {
                let f = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or("").to_string();
                println!("{:<27} {:<24} {:<22} {:<36} RESULT", "TIME", "EVENT", "FUNCTION", "KEY ID");
                for r in &records {
                    let mut result = f(r, "result");
                    if !f(r, "errorCode").is_empty() {
                        result = format!("{result} ({})", f(r, "errorCode"));
                    }
                    println!(
                        "{:<27} {:<24} {:<22} {:<36} {}",
                        f(r, "eventTime"),
                        f(r, "eventName"),
                        f(r, "pkcs11Function"),
                        f(r, "keyId"),
                        result
                    );
                }
            }
            Ok(())
        }
        AuditAction::Verify => {
            let v = trail.verify().map_err(io)?;
            if cli.json {
                let problem = v.problem.as_ref().map(|p| {
                    serde_json::json!({"File": p.file.display().to_string(), "Line": p.line, "Problem": p.what})
                });
                let out = serde_json::json!({"Valid": v.problem.is_none(), "Files": v.files, "Records": v.records, "FirstBadRecord": problem});
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            }
            match v.problem {
                None => {
                    if !cli.json {
                        let files = if v.files == 1 { "file" } else { "files" };
                        println!("audit trail intact: {} records in {} {files}", v.records, v.files);
                    }
                    Ok(())
                }
                Some(p) => Err(Failure {
                    code: "AuditTrailInvalid".into(),
                    message: format!(
                        "{}:{}: {} ({} records verified before it)",
                        p.file.display(),
                        p.line,
                        p.what,
                        v.records
                    ),
                }),
            }
        }
    }
}

/// The library, a read-write session on the chosen token, logged in as the user.
fn open(cli: &Cli) -> Result<(Library, CK_SESSION_HANDLE), Failure> {
    let config = Config::load().map_err(|e| usage_error(format!("configuration: {e}")))?;
    kms_pkcs11::logging::configure(&config);
    let slot = chosen_token(cli, &config)?;
    let library = Library::new(config)?;
    let h = library.open_session(slot as _, CKF_SERIAL_SESSION | CKF_RW_SESSION)?;
    library.login(h, CKU_USER, pin(cli)?.as_bytes())?;
    Ok((library, h))
}

fn interval(text: Option<&str>) -> Result<u64, Failure> {
    Ok(text.map(names::parse_rotation_interval).transpose()?.unwrap_or(0))
}

fn tags(text: &str) -> Result<Tags, Failure> {
    let bytes = text.as_bytes();
    Ok(if text.trim_start().starts_with('[') { Tags::parse_api(bytes)? } else { Tags::parse(bytes)? })
}

fn context(c: &ContextArg) -> Result<Option<Vec<u8>>, Failure> {
    match &c.context {
        None => Ok(None),
        Some(json) => {
            // Checked here for a clear message; the mechanism checks it again.
            kms::envelope::Context::parse(json.as_bytes())?;
            Ok(Some(json.clone().into_bytes()))
        }
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    if let Action::Audit(a) = &cli.action {
        return audit(cli, a);
    }
    let (lib, h) = open(cli)?;
    let out = Output { json: cli.json };
    match &cli.action {
        Action::CreateKey {
            key_spec,
            key_usage,
            description,
            rotation_interval,
            tags: tag_text,
            deletion_protection,
            label,
            origin,
        } => {
            let spec = KeySpec::parse(key_spec)
                .ok_or_else(|| usage_error(format!("unknown key spec {key_spec}")))?;
            let usage = match key_usage.as_deref() {
                Some(u) => KeyUsage::parse(u).ok_or_else(|| usage_error(format!("unknown key usage {u}")))?,
                None => KeyUsage { encrypt: spec.is_symmetric(), sign: !spec.is_symmetric() },
            };
            let new = NewKey {
                spec,
                usage,
                description: description.clone(),
                rotation_interval: interval(rotation_interval.as_deref())?,
                tags: tag_text.as_deref().map(tags).transpose()?,
                deletion_protection: *deletion_protection,
                label: label.clone(),
                origin: kms::Origin::parse(origin)
                    .ok_or_else(|| usage_error(format!("unknown origin {origin}: Aliyun_KMS or EXTERNAL")))?,
            };
            out.key(&lib.create_key(h, &new)?)
        }
        Action::GetParametersForImport { key, wrapping_key_spec, wrapping_algorithm, public_key_out } => {
            let p = lib.get_parameters_for_import(h, key, wrapping_key_spec, wrapping_algorithm)?;
            if let Some(path) = public_key_out {
                let der = <base64ct::Base64 as base64ct::Encoding>::decode_vec(&p.public_key)
                    .map_err(|e| usage_error(e.to_string()))?;
                let pem = pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &der)
                    .map_err(|e| usage_error(e.to_string()))?;
                std::fs::write(path, pem).map_err(|e| usage_error(format!("{}: {e}", path.display())))?;
            }
            out.import_parameters(&p)
        }
        Action::ImportKeyMaterial { key, encrypted_key_material, import_token, key_material_expire_unix } => {
            let raw = std::fs::read(encrypted_key_material)
                .map_err(|e| usage_error(format!("{}: {e}", encrypted_key_material.display())))?;
            // Base64 text (as the KMS API carries it) or the raw bytes OpenSSL writes.
            let text: String = String::from_utf8_lossy(&raw).split_whitespace().collect();
            let blob = <base64ct::Base64 as base64ct::Encoding>::decode_vec(&text).unwrap_or(raw);
            out.key(&lib.import_key_material(h, key, &blob, import_token, *key_material_expire_unix)?)
        }
        Action::DescribeKey(k) => out.key(&lib.describe_key(h, &k.key)?),
        Action::ListKeys => out.keys(&lib.list_keys(h)?),
        Action::ListKeyVersions(k) => out.versions(&lib.list_key_versions(h, &k.key)?),
        Action::CreateKeyVersion(k) => out.versions(&[lib.create_key_version(h, &k.key)?]),
        Action::UpdateRotationPolicy { key, enable_automatic_rotation, rotation_interval } => {
            let on = enable_automatic_rotation == "true";
            let secs = interval(rotation_interval.as_deref())?;
            if on && secs == 0 {
                return Err(usage_error("--enable-automatic-rotation true needs --rotation-interval"));
            }
            out.key(&lib.update_rotation_policy(h, &key.key, on.then_some(secs))?)
        }
        Action::EnableKey(k) => out.key(&lib.enable_key(h, &k.key)?),
        Action::DisableKey(k) => out.key(&lib.disable_key(h, &k.key)?),
        Action::ScheduleKeyDeletion { key, pending_window_in_days } => {
            out.key(&lib.schedule_key_deletion(h, &key.key, Some(*pending_window_in_days))?)
        }
        Action::CancelKeyDeletion(k) => out.key(&lib.cancel_key_deletion(h, &k.key)?),
        Action::SetDeletionProtection {
            key,
            enable_deletion_protection,
            deletion_protection_description,
        } => {
            let on = enable_deletion_protection == "true";
            out.key(&lib.set_deletion_protection(h, &key.key, on, deletion_protection_description)?)
        }
        Action::CreateAlias { alias, key } => out.aliases(&[lib.create_alias(h, alias, key)?]),
        Action::UpdateAlias { alias, key } => out.aliases(&[lib.update_alias(h, alias, key)?]),
        Action::DeleteAlias { alias } => {
            lib.delete_alias(h, alias)?;
            out.done(&format!("deleted {alias}"))
        }
        Action::ListAliases { key } => out.aliases(&lib.list_aliases(h, key.as_deref())?),
        Action::Encrypt { key, plaintext, plaintext_file, context: c } => {
            let data = match (plaintext, plaintext_file) {
                (Some(p), _) => Zeroizing::new(p.clone().into_bytes()),
                (None, Some(f)) => Zeroizing::new(
                    std::fs::read(f).map_err(|e| usage_error(format!("{}: {e}", f.display())))?,
                ),
                (None, None) => return Err(usage_error("give --plaintext or --plaintext-file")),
            };
            out.sealed(&lib.kms_encrypt(h, &key.key, &data, context(c)?.as_deref())?)
        }
        Action::Decrypt { ciphertext_blob, context: c } => {
            out.opened(&lib.kms_decrypt(h, ciphertext_blob, context(c)?.as_deref())?)
        }
        Action::GenerateDataKey { key, number_of_bytes, context: c } => {
            out.sealed(&lib.generate_data_key(h, &key.key, *number_of_bytes, context(c)?.as_deref(), true)?)
        }
        Action::GenerateDataKeyWithoutPlaintext { key, number_of_bytes, context: c } => out
            .sealed(&lib.generate_data_key(h, &key.key, *number_of_bytes, context(c)?.as_deref(), false)?),
        Action::TagResource { key, tags: t } => out.key(&lib.tag_resource(h, &key.key, &tags(t)?)?),
        Action::UntagResource { key, tag_keys } => {
            let keys: Vec<String> = serde_json::from_str(tag_keys)
                .map_err(|_| usage_error("--tag-keys is a JSON array of tag keys"))?;
            out.key(&lib.untag_resource(h, &key.key, &keys)?)
        }
        Action::DescribeQuotas => out.quotas(&lib.describe_quotas(h)?),
        Action::Audit(a) => audit(cli, a),
    }
}

/// Prints results as text or JSON.
struct Output {
    json: bool,
}

impl Output {
    fn print_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value).map_err(|e| usage_error(e.to_string()))?;
        println!("{text}");
        Ok(())
    }

    fn key(&self, k: &admin::KeyMetadata) -> Result<(), Failure> {
        if self.json {
            return self.print_json(k);
        }
        let v = serde_json::to_value(k).map_err(|e| usage_error(e.to_string()))?;
        if let Some(map) = v.as_object() {
            for (name, value) in map {
                let shown = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                println!("{name:<32}{shown}");
            }
        }
        Ok(())
    }

    fn keys(&self, keys: &[admin::KeyMetadata]) -> Result<(), Failure> {
        if self.json {
            return self.print_json(keys);
        }
        println!("{:<38}{:<16}{:<18}{:<17}ALIASES", "KEY ID", "SPEC", "USAGE", "STATE");
        for k in keys {
            println!(
                "{:<38}{:<16}{:<18}{:<17}{}",
                k.key_id,
                k.key_spec,
                k.key_usage,
                k.key_state,
                k.aliases.join(",")
            );
        }
        Ok(())
    }

    fn versions(&self, versions: &[admin::KeyVersion]) -> Result<(), Failure> {
        if self.json {
            return self.print_json(versions);
        }
        println!("{:<38}{:<22}PRIMARY", "KEY VERSION ID", "CREATED");
        for v in versions {
            println!("{:<38}{:<22}{}", v.key_version_id, v.creation_date, if v.primary { "yes" } else { "" });
        }
        Ok(())
    }

    fn aliases(&self, aliases: &[admin::Alias]) -> Result<(), Failure> {
        if self.json {
            return self.print_json(aliases);
        }
        for a in aliases {
            println!("{:<40}{}", a.alias_name, a.key_id);
        }
        Ok(())
    }

    fn sealed(&self, s: &admin::Sealed) -> Result<(), Failure> {
        if self.json {
            return self.print_json(s);
        }
        println!("KeyId          {}", s.key_id);
        println!("KeyVersionId   {}", s.key_version_id);
        if let Some(p) = &s.plaintext {
            println!("Plaintext      {}", p.as_str());
        }
        println!("CiphertextBlob {}", s.ciphertext_blob);
        Ok(())
    }

    fn opened(&self, o: &admin::Opened) -> Result<(), Failure> {
        if self.json {
            return self.print_json(o);
        }
        println!("KeyId          {}", o.key_id);
        println!("KeyVersionId   {}", o.key_version_id);
        println!("Plaintext      {}", o.plaintext.as_str());
        Ok(())
    }

    fn quotas(&self, q: &admin::Quotas) -> Result<(), Failure> {
        if self.json {
            return self.print_json(q);
        }
        println!("{:<16}{:>8}{:>8}", "RESOURCE", "USED", "QUOTA");
        for r in &q.resources {
            println!("{:<16}{:>8}{:>8}", r.resource, r.used, r.quota);
        }
        println!();
        println!("{:<20}{:>12}  (requests per second, this process)", "GROUP", "RATE");
        for r in &q.request_rates {
            let rate = r.rate.map_or("unlimited".to_string(), |n| n.to_string());
            println!("{:<20}{:>12}", r.group, rate);
        }
        Ok(())
    }

    fn import_parameters(&self, p: &admin::ImportParameters) -> Result<(), Failure> {
        if self.json {
            return self.print_json(p);
        }
        println!("KeyId           {}", p.key_id);
        println!("ImportToken     {}", p.import_token);
        println!("TokenExpireTime {}", p.token_expire_time);
        println!("PublicKey       {}", p.public_key);
        Ok(())
    }

    fn done(&self, message: &str) -> Result<(), Failure> {
        if self.json {
            return self.print_json(&serde_json::json!({ "Result": message }));
        }
        println!("{message}");
        Ok(())
    }
}
