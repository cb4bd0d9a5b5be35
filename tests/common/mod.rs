//! Shared harness of the integration tests: every test binary loads the built
//! `libkms_pkcs11.so` once, through the C ABI, with a configuration of its own in a temporary
//! directory. Each test takes a token (slot) of its own by name, so tests of one binary run in
//! parallel without sharing state.

#![allow(dead_code)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const SO_PIN: &str = "so-pin-0000";
pub const USER_PIN: &str = "user-pin-0000";

/// Token names; a test uses its own. The configuration has one slot per name, in this order.
pub const TOKENS: &[&str] = &[
    "t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10", "t11", "t12", "t13", "t14",
    "t15", "t16", "t17", "t18", "t19", "t20", "t21", "t22", "t23", "t24", "t25", "t26", "t27", "t28", "t29",
    "t30", "t31",
];

pub struct Env {
    pub dir: tempfile::TempDir,
    pub pkcs11: Pkcs11,
    pub module: PathBuf,
    /// Whether a binary's own `[quota]`, `[rate_limit]` and `[kms]` sections ([`env_with`])
    /// replaced the harness's.
    pub own_sections: bool,
}

/// The built library: `target/<profile>/libkms_pkcs11.so`, next to the test binary's `deps`.
/// `cargo test` builds the library only as an rlib, so the first call builds the shared library
/// of the same profile; the tests never run against a stale one.
pub fn module_path() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = std::process::Command::new(cargo);
            build.args(["build", "--quiet", "--lib"]).current_dir(env!("CARGO_MANIFEST_DIR"));
            if release {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build");
            assert!(status.success(), "cargo build --lib failed");
            let path = profile_dir.join("libkms_pkcs11.so");
            assert!(path.exists(), "{} is missing after the build", path.display());
            path
        })
        .clone()
}

/// The harness's KMS sections: quotas raised and request rates unlimited. These tests are about
/// PKCS#11 behaviour, and some make thousands of keys; the KMS tests configure their own limits
/// with [`env_with`].
pub fn harness_sections(_dir: &Path) -> String {
    "[quota]\nkeys = 1000000\naliases = 1000000\nkey_versions = 1000000\n\n\
     [rate_limit]\ncreate = \"unlimited\"\ncrypto_symmetric = \"unlimited\"\n\
     crypto_asymmetric = \"unlimited\"\nread = \"unlimited\"\nwrite = \"unlimited\"\n\n"
        .to_string()
}

/// Writes the test configuration (cheap Argon2id, one token per name) into `dir`, with the
/// harness's KMS sections.
pub fn write_config(dir: &Path) -> PathBuf {
    write_config_with(dir, &harness_sections(dir))
}

/// Writes the test configuration into `dir` with `sections` (TOML: `[quota]`, `[rate_limit]`,
/// `[kms]`) in place of the harness's KMS sections.
pub fn write_config_with(dir: &Path, sections: &str) -> PathBuf {
    write_config_for(dir, sections, TOKENS)
}

/// A configuration with the one token `label`, for the binaries whose processes share one store
/// (crash, concurrency): the harness's sections, immediate destruction of keys, and a clock
/// file `now` in `dir` at a fixed time.
pub fn write_one_token_config(dir: &Path, label: &str) -> PathBuf {
    let clock = dir.join("now");
    write_clock(&clock, 1_800_000_000);
    let sections = format!(
        "{}[kms]\ndestroy = \"immediate\"\nclock_file = \"{}\"\n",
        harness_sections(dir),
        clock.display()
    );
    write_config_for(dir, &sections, &[label])
}

fn write_config_for(dir: &Path, sections: &str, tokens: &[&str]) -> PathBuf {
    let mut text = String::from("[pin]\nargon2_memory_kib = 64\nargon2_iterations = 1\nmax_attempts = 3\n\n");
    text.push_str(sections);
    text.push('\n');
    for name in tokens {
        text.push_str(&format!("[[token]]\nlabel = \"{name}\"\n\n"));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

static ENV: OnceLock<Env> = OnceLock::new();

/// The library of this test binary, initialized once: with the harness's KMS sections, unless
/// the binary called [`env_with`] first.
pub fn env() -> &'static Env {
    ENV.get_or_init(|| init(harness_sections, false))
}

/// The library of this test binary, initialized once with the KMS sections `sections` makes
/// (given the binary's temporary directory, where it may also put files the sections name)
/// instead of the harness's. A binary that uses it calls it before any other function of the
/// harness, in every test; a library already initialized with the harness's sections fails the
/// call rather than run the test under the wrong limits.
pub fn env_with(sections: fn(&Path) -> String) -> &'static Env {
    let env = ENV.get_or_init(|| init(sections, true));
    assert!(
        env.own_sections,
        "the library was initialized with the harness's configuration before env_with was called"
    );
    env
}

fn init(sections: fn(&Path) -> String, own_sections: bool) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config_with(dir.path(), &sections(dir.path()));
    // SAFETY: set once, before any thread of this binary loads the library.
    unsafe {
        std::env::set_var("KMS_PKCS11_CONFIG", &config);
        std::env::set_var("KMS_PKCS11_HOME", dir.path());
    }
    let module = module_path();
    let pkcs11 = Pkcs11::new(&module).expect("load module");
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    Env { dir, pkcs11, module, own_sections }
}

pub fn pkcs11() -> &'static Pkcs11 {
    &env().pkcs11
}

/// The slot of a token name.
pub fn slot(name: &str) -> Slot {
    let idx = TOKENS.iter().position(|n| *n == name).expect("token name in TOKENS");
    pkcs11().get_all_slots().expect("slots")[idx]
}

/// Initializes the named token (SO PIN, user PIN) and returns its slot.
pub fn fresh_token(name: &str) -> Slot {
    let slot = slot(name);
    let p = pkcs11();
    p.init_token(slot, &AuthPin::new(SO_PIN.into()), name).expect("C_InitToken");
    let s = p.open_rw_session(slot).expect("open session");
    s.login(UserType::So, Some(&AuthPin::new(SO_PIN.into()))).expect("SO login");
    s.init_pin(&AuthPin::new(USER_PIN.into())).expect("C_InitPIN");
    s.logout().expect("logout");
    drop(s);
    slot
}

/// A read-write session on the named token, freshly initialized, logged in as the user.
pub fn user_session(name: &str) -> Session {
    let slot = fresh_token(name);
    let s = pkcs11().open_rw_session(slot).expect("open session");
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).expect("user login");
    s
}

/// The raw function list, for calls the `cryptoki` crate cannot make (null pointers, short
/// buffers, odd lengths).
pub fn raw() -> &'static cryptoki_sys::CK_FUNCTION_LIST {
    static LIST: OnceLock<usize> = OnceLock::new();
    let addr = *LIST.get_or_init(|| {
        env();
        // SAFETY: the library is loaded for the life of the process (held by `env()`), and
        // C_GetFunctionList is one of its exported symbols.
        unsafe {
            let lib = libloading::Library::new(module_path()).expect("dlopen");
            let f: libloading::Symbol<unsafe extern "C" fn(*mut *mut cryptoki_sys::CK_FUNCTION_LIST) -> u64> =
                lib.get(b"C_GetFunctionList").expect("symbol");
            let mut list = std::ptr::null_mut();
            assert_eq!(f(&mut list), 0);
            std::mem::forget(lib);
            list as usize
        }
    });
    // SAFETY: the list is a static of the loaded library, which stays loaded.
    unsafe { &*(addr as *const cryptoki_sys::CK_FUNCTION_LIST) }
}

/// `C_CloseAllSessions`, which the `cryptoki` crate does not offer.
pub fn close_all_sessions(slot: Slot) -> cryptoki_sys::CK_RV {
    // SAFETY: no pointers.
    unsafe { raw().C_CloseAllSessions.unwrap()(slot.id()) }
}

/// The raw handle of a session, for raw calls.
pub fn raw_handle(s: &Session) -> cryptoki_sys::CK_SESSION_HANDLE {
    s.handle()
}

pub fn pin(p: &str) -> AuthPin {
    AuthPin::new(p.into())
}

/// The PKCS#11 error of a failed call.
#[track_caller]
pub fn err<T: std::fmt::Debug>(r: cryptoki::error::Result<T>) -> RvError {
    match r {
        Err(Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

pub fn rw(slot: Slot) -> Session {
    pkcs11().open_rw_session(slot).expect("open read-write session")
}

pub fn ro(slot: Slot) -> Session {
    pkcs11().open_ro_session(slot).expect("open read-only session")
}

// --- kmsctl -----------------------------------------------------------------------------------

/// Runs `kmsctl` as the user with `args`, under this binary's configuration (which `_env`, the
/// initialized harness, has put in the environment).
pub fn kmsctl(_env: &Env, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kmsctl"))
        .args(args)
        .env("KMSCTL_PIN", USER_PIN)
        .output()
        .expect("run kmsctl")
}

/// A successful `kmsctl` run's `--json` output.
#[track_caller]
pub fn kmsctl_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = kmsctl(env, &all);
    assert!(out.status.success(), "kmsctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("kmsctl {args:?}: not JSON ({e})"))
}

// --- The KMS clock ----------------------------------------------------------------------------

/// KMS sections for the binaries that test the KMS rules: the KMS's default quotas, no rate
/// limits (the throttling tests run a process of their own), and a clock file `now` in `dir`,
/// set to the present, that tests move to make rotations and expiries fall due.
pub fn kms_sections(dir: &Path) -> String {
    let clock = dir.join("now");
    write_clock(&clock, system_now());
    format!(
        "[quota]\nkeys = 200\naliases = 300\nkey_versions = 10000\n\n\
         [rate_limit]\ncreate = \"unlimited\"\ncrypto_symmetric = \"unlimited\"\n\
         crypto_asymmetric = \"unlimited\"\nread = \"unlimited\"\nwrite = \"unlimited\"\n\n\
         [kms]\nclock_file = \"{}\"\n",
        clock.display()
    )
}

/// The clock file of [`kms_sections`].
pub fn clock_file(env: &Env) -> PathBuf {
    env.dir.path().join("now")
}

pub fn system_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs()
}

/// Replaces the clock file in one step, so that the library never reads half a write.
pub fn write_clock(path: &Path, now: u64) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, format!("{now}\n")).expect("write the clock file");
    std::fs::rename(&tmp, path).expect("replace the clock file");
}

/// The library's "now": what the clock file says.
pub fn read_clock(path: &Path) -> u64 {
    std::fs::read_to_string(path).expect("read the clock file").trim().parse().expect("a number")
}
