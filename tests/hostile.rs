//! Hostile configuration and files: a configuration with wrong types, an unwritable data
//! directory, a truncated, corrupted or foreign store, a disk that fills up. Each gives a clear
//! log line and a clear `CKR_*`, never a panic, and never damages a good store beside it.
//!
//! Each scenario runs the library in a child process of its own (this binary, re-run as
//! `hostile_child`), so that the parent can read the log on its standard error, limit its file
//! sizes, and start it on a fresh configuration every time.

mod common;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::Error;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHILD_MODULE: &str = "KMS_PKCS11_TEST_MODULE";
const CHILD_ACTIONS: &str = "HOSTILE_ACTIONS";

/// What one child run printed (`name=value` lines) and logged.
struct Run {
    results: Vec<(String, String)>,
    log: String,
}

impl Run {
    fn get(&self, name: &str) -> &str {
        self.opt(name).unwrap_or_else(|| panic!("no {name} in {:?}; log:\n{}", self.results, self.log))
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.results.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Nothing of ours panicked or aborted.
    fn no_panic(&self) {
        assert!(!self.log.contains("panicked") && !self.log.contains("internal error"), "{}", self.log);
    }
}

/// Runs the library in a child on `config` and `home`, doing `actions` (comma-separated:
/// `init` makes the first token usable, `create` makes token keys until one fails or 20 are
/// made, `count` counts token keys); `fsize` limits the size of any file the child writes.
fn run(config: &Path, home: &Path, actions: &str, fsize: Option<u64>) -> Run {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["hostile_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_MODULE, common::module_path())
        .env("KMS_PKCS11_CONFIG", config)
        .env("KMS_PKCS11_HOME", home)
        .env(CHILD_ACTIONS, actions);
    if let Some(limit) = fsize {
        // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit).
        unsafe {
            c.pre_exec(move || {
                // A write past the limit fails with EFBIG, as on a full disk, instead of killing.
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let lim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let out = c.output().expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the child failed ({:?}):\n{stdout}\n{log}", out.status);
    let results = stdout
        .lines()
        // libtest prints "test hostile_child ... " without a newline before the first one.
        .filter_map(|l| l.find("RESULT ").map(|at| &l[at + "RESULT ".len()..]))
        .filter_map(|l| l.split_once('='))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let run = Run { results, log };
    run.no_panic();
    run
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "[pin]\nargon2_memory_kib = 64\nargon2_iterations = 1\n\n{extra}\n\
         [[token]]\nlabel = \"victim\"\n\n[[token]]\nlabel = \"good\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn rv_name(e: Error) -> String {
    match e {
        Error::Pkcs11(rv, _) => format!("{rv:?}"),
        other => format!("{other:?}"),
    }
}

/// The child's side: one library life on the parent's configuration.
#[test]
#[ignore = "runs only as the child of the tests of this file"]
fn hostile_child() {
    let Some(module) = std::env::var_os(CHILD_MODULE) else { return };
    let actions = std::env::var(CHILD_ACTIONS).unwrap_or_default();
    let say = |name: &str, value: &str| println!("RESULT {name}={value}");
    let p = Pkcs11::new(PathBuf::from(module)).expect("dlopen");
    if let Err(e) = p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        say("initialize", &rv_name(e));
        return;
    }
    say("initialize", "OK");
    let so = AuthPin::new("so-pin-0000".into());
    let user = AuthPin::new("user-pin-0000".into());
    for (i, slot) in p.get_all_slots().unwrap().into_iter().enumerate() {
        let token = p.get_token_info(slot).map(|_| "OK".to_string()).unwrap_or_else(rv_name);
        say(&format!("token{i}"), &token);
        if token != "OK" {
            continue;
        }
        if actions.contains("init") {
            let r = p.init_token(slot, &so, &format!("t{i}")).and_then(|_| {
                let s = p.open_rw_session(slot)?;
                s.login(UserType::So, Some(&so))?;
                s.init_pin(&user)
            });
            say(&format!("init{i}"), &r.map(|_| "OK".to_string()).unwrap_or_else(rv_name));
        }
        let session = p.open_rw_session(slot).and_then(|s| s.login(UserType::User, Some(&user)).map(|_| s));
        let s = match session {
            Ok(s) => s,
            Err(e) => {
                say(&format!("login{i}"), &rv_name(e));
                continue;
            }
        };
        say(&format!("login{i}"), "OK");
        if actions.contains("create") {
            let template = [Attribute::Token(true), Attribute::ValueLen(32.into()), Attribute::Encrypt(true)];
            let mut made = 0;
            let mut last = "OK".to_string();
            for _ in 0..20 {
                match s.generate_key(&Mechanism::AesKeyGen, &template) {
                    Ok(_) => made += 1,
                    Err(e) => {
                        last = rv_name(e);
                        break;
                    }
                }
            }
            say(&format!("created{i}"), &made.to_string());
            say(&format!("create_end{i}"), &last);
        }
        if actions.contains("count") {
            let n = s.find_objects(&[Attribute::Token(true), Attribute::Encrypt(true)]).map(|v| v.len());
            say(&format!("count{i}"), &n.map(|n| n.to_string()).unwrap_or_else(rv_name));
        }
    }
    let fin = p.finalize().map(|_| "OK".to_string()).unwrap_or_else(rv_name);
    say("finalize", &fin);
}

#[test]
fn a_configuration_of_the_wrong_shape_fails_initialize_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, named) in [
        ("[pin]\nmin_len = \"four\"\n", "min_len"),
        ("[rate_limit]\ncreate = -3\n", "create"),
        ("[audit]\ndurability = \"sometimes\"\n", "durability"),
        ("[policy]\nplaintext_import = \"no\"\n", "plaintext_import"),
        ("[kms]\ndestroy_now = true\n", "destroy_now"),
        ("[[token]\nlabel = \n", "TOML parse error"),
    ] {
        let config = dir.path().join("config.toml");
        let text = format!("{extra}\n[[token]]\nlabel = \"victim\"\n");
        // The pin section may appear only once; a scenario that has its own keeps it.
        std::fs::write(&config, text).unwrap();
        let r = run(&config, dir.path(), "", None);
        assert_eq!(r.get("initialize"), "GeneralError", "{extra}");
        assert!(r.log.contains("configuration"), "{}", r.log);
        assert!(r.log.contains(named), "the log names {named}: {}", r.log);
    }
}

#[test]
fn an_unusable_data_directory_is_a_device_error_with_the_path_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that cannot be made (its parent is a file): unwritable even for root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let home = blocker.join("data");
    let config = write_config(dir.path(), "[audit]\nenabled = false\n");
    let r = run(&config, &home, "", None);
    assert_eq!(r.get("initialize"), "OK");
    assert_eq!(r.get("token0"), "DeviceError");
    assert!(r.log.contains(&home.display().to_string()), "the log names the path: {}", r.log);
    // An audit directory that cannot be made: the tokens close (no call may go unrecorded),
    // and the log says where.
    let audit = blocker.join("audit");
    let config = write_config(dir.path(), &format!("[audit]\ndir = \"{}\"\n", audit.display()));
    let r = run(&config, &dir.path().join("data"), "", None);
    assert_eq!(r.get("initialize"), "OK");
    assert_eq!(r.get("token0"), "DeviceError");
    assert!(r.log.contains(&audit.display().to_string()), "{}", r.log);
}

/// Damaged stores: the damaged token is refused with a clear code and a log line naming its
/// file; the good token beside it goes on working, and the foreign file is never written.
#[test]
fn truncated_corrupted_and_foreign_stores_are_refused_and_the_good_one_works() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("data");
    let config = write_config(dir.path(), "[audit]\nenabled = false\n");
    let r = run(&config, &home, "init,create", None);
    assert_eq!((r.get("init0"), r.get("init1")), ("OK", "OK"));
    assert_eq!((r.get("created0"), r.get("created1")), ("20", "20"));
    let victim = home.join("victim.sqlite3");
    let pristine = std::fs::read(&victim).unwrap();
    assert!(pristine.len() > 4 * 4096, "a store of several pages");

    type Damage = fn(&[u8]) -> Vec<u8>;
    let damages: [(&str, Damage); 4] = [
        ("truncated", |b| b[..b.len() / 3].to_vec()),
        ("header overwritten", |b| {
            let mut b = b.to_vec();
            b[..100].fill(0x5a);
            b
        }),
        ("pages overwritten", |b| {
            let mut b = b.to_vec();
            for x in &mut b[4096..] {
                *x = x.wrapping_mul(31).wrapping_add(7);
            }
            b
        }),
        ("empty", |_| Vec::new()),
    ];
    let mut good_keys = 20;
    for (what, damage) in damages {
        let _ = std::fs::remove_file(victim.with_extension("sqlite3-wal"));
        let _ = std::fs::remove_file(victim.with_extension("sqlite3-shm"));
        std::fs::write(&victim, damage(&pristine)).unwrap();
        let r = run(&config, &home, "create,count", None);
        assert_eq!(r.get("initialize"), "OK", "{what}: {}", r.log);
        // An empty file is a new, uninitialized store; every other damage is refused, at
        // opening or at the first call that reads what was damaged.
        let usable = r.opt("token0") == Some("OK")
            && r.opt("login0") == Some("OK")
            && r.opt("created0") == Some("20")
            && r.opt("count0") == Some("40");
        assert!(!usable, "{what}: {:?}", r.results);
        if what != "empty" {
            assert!(
                r.log.contains(&victim.display().to_string()),
                "{what}: the log names the file: {}",
                r.log
            );
        }
        good_keys += r.get("created1").parse::<usize>().unwrap();
        assert_eq!(r.get("count1"), good_keys.to_string(), "{what}: the good token");
    }

    // A SQLite database of someone else's is refused and left byte for byte as it was.
    let _ = std::fs::remove_file(victim.with_extension("sqlite3-wal"));
    let _ = std::fs::remove_file(victim.with_extension("sqlite3-shm"));
    std::fs::remove_file(&victim).unwrap();
    {
        let c = rusqlite::Connection::open(&victim).unwrap();
        c.execute_batch(
            "CREATE TABLE accounts (id INTEGER, owner TEXT); INSERT INTO accounts VALUES (1, 'x');",
        )
        .unwrap();
    }
    let before = std::fs::read(&victim).unwrap();
    let r = run(&config, &home, "create,count", None);
    assert_eq!(r.get("token0"), "TokenNotRecognized");
    assert!(r.log.contains(&victim.display().to_string()), "{}", r.log);
    assert_eq!(std::fs::read(&victim).unwrap(), before, "the foreign file is untouched");
    assert_eq!(r.get("login1"), "OK");
}

/// A disk that fills up (file sizes capped, as a full disk refuses writes): making keys fails
/// with a clear code, and once space is back the store opens, passes SQLite's integrity check
/// and holds exactly the keys whose creation returned `CKR_OK`.
#[test]
fn a_full_disk_fails_cleanly_and_loses_nothing_that_was_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("data");
    let config = write_config(dir.path(), "[audit]\nenabled = false\n");
    let r = run(&config, &home, "init", None);
    assert_eq!(r.get("init0"), "OK");
    let victim = home.join("victim.sqlite3");
    let size = std::fs::metadata(&victim).unwrap().len();
    // Room for a few keys, not for twenty.
    let r = run(&config, &home, "create", Some(size + 24 * 1024));
    let made: usize = r.get("created0").parse().unwrap();
    let end = r.get("create_end0");
    assert!(made < 20, "the limit was reached ({made} made)");
    assert!(["DeviceMemory", "DeviceError", "TokenResourceExceeded"].contains(&end), "{end}: {}", r.log);
    assert!(!r.log.is_empty(), "a log line says why");

    let r = run(&config, &home, "count", None);
    assert_eq!(r.get("count0"), made.to_string(), "every key confirmed is there, and nothing else");
    let c = rusqlite::Connection::open(&victim).unwrap();
    let check: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}
