//! Several processes, several threads each, on one token at once for a bounded time: making,
//! finding, using, changing and destroying CMKs while their automatic rotations fall due (the
//! clock moves a week at a time), and a process logging in and out all along. No call may fail
//! (a busy store must never surface as an error), none may hang, every result is checked, and
//! afterwards the store holds exactly the keys the workers say they left.

mod common;

use common::{SO_PIN, USER_PIN};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use kms_pkcs11::vendor::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WORKERS: usize = 3;
const THREADS: usize = 4;
const RUN: Duration = Duration::from_secs(6);
const CHILD_MODULE: &str = "KMS_PKCS11_TEST_MODULE";
const CHILD_ROLE: &str = "CONCURRENCY_ROLE";

fn library(module: &Path) -> Pkcs11 {
    let p = Pkcs11::new(module).expect("dlopen");
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    p
}

fn user() -> AuthPin {
    AuthPin::new(USER_PIN.into())
}

fn by_label(s: &Session, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec()), Attribute::Class(ObjectClass::SECRET_KEY)])
        .unwrap()
}

fn gcm(iv: &mut [u8; 12]) -> Mechanism<'_> {
    Mechanism::AesGcm(GcmParams::new(iv, b"aad", 128.into()).unwrap())
}

/// One worker thread: its own session and its own keys (labels `w<process>-<thread>-<n>`).
fn work(p: &Pkcs11, id: &str, deadline: Instant) -> Result<Vec<String>, String> {
    let slot = p.get_slots_with_token().map_err(|e| e.to_string())?[0];
    let s = p.open_rw_session(slot).map_err(|e| format!("open session: {e}"))?;
    let mut keys: Vec<String> = Vec::new();
    let mut n = 0u64;
    let mut seed = id.bytes().fold(0x9e37_79b9_u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64)) | 1;
    let mut rand = move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let fail = |what: &str, e: cryptoki::error::Error| format!("{id}: {what}: {e}");
    while Instant::now() < deadline {
        n += 1;
        let op = if keys.len() < 3 { 0 } else { rand(5) };
        match op {
            0 => {
                let label = format!("{id}-{n}");
                let t = [
                    Attribute::Token(true),
                    Attribute::Label(label.clone().into_bytes()),
                    Attribute::ValueLen(32.into()),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                ];
                s.generate_key(&Mechanism::AesKeyGen, &t).map_err(|e| fail("generate", e))?;
                keys.push(label);
            }
            1 | 2 => {
                let label = &keys[rand(keys.len() as u64) as usize];
                let found = by_label(&s, label);
                if found.len() != 1 {
                    return Err(format!("{id}: find {label}: {} objects", found.len()));
                }
                let data = format!("{id} {n}").into_bytes();
                let mut iv = [n as u8; 12];
                let ct = s.encrypt(&gcm(&mut iv), found[0], &data).map_err(|e| fail("encrypt", e))?;
                let pt = s.decrypt(&gcm(&mut iv), found[0], &ct).map_err(|e| fail("decrypt", e))?;
                if pt != data {
                    return Err(format!("{id}: {label}: the round trip changed the data"));
                }
            }
            3 => {
                let label = keys.swap_remove(rand(keys.len() as u64) as usize);
                let key = by_label(&s, &label)[0];
                s.destroy_object(key).map_err(|e| fail("destroy", e))?;
            }
            _ => {
                let label = &keys[rand(keys.len() as u64) as usize];
                let key = by_label(&s, label)[0];
                let week = (7 * 86_400u64).to_ne_bytes().to_vec();
                let attr =
                    Attribute::VendorDefined((AttributeType::VendorDefined(CKA_KMS_ROTATION_INTERVAL), week));
                s.update_attributes(key, &[attr]).map_err(|e| fail("set rotation", e))?;
            }
        }
    }
    Ok(keys)
}

/// A worker process (`CONCURRENCY_ROLE` = `work`: threads with their own sessions; `login`:
/// logging in and out in a loop). Prints `LIVE <label>` for each key it leaves, or
/// `ERROR <why>` and exits non-zero.
#[test]
#[ignore = "runs only as the child of the test of this file"]
fn concurrency_child() {
    let Some(module) = std::env::var_os(CHILD_MODULE) else { return };
    let role = std::env::var(CHILD_ROLE).unwrap();
    let p = library(Path::new(&module));
    let deadline = Instant::now() + RUN;
    let pid = std::process::id();
    if role == "login" {
        let slot = p.get_slots_with_token().unwrap()[0];
        let s = p.open_rw_session(slot).unwrap();
        let mut rounds = 0;
        while Instant::now() < deadline {
            s.login(UserType::User, Some(&user())).unwrap_or_else(|e| panic!("ERROR login: {e}"));
            let _ = s.find_objects(&[Attribute::Token(true)]).unwrap_or_else(|e| panic!("ERROR find: {e}"));
            s.logout().unwrap_or_else(|e| panic!("ERROR logout: {e}"));
            rounds += 1;
        }
        println!("ROUNDS {rounds}");
        return;
    }
    // The login is the application's: one for all the threads.
    let slot = p.get_slots_with_token().unwrap()[0];
    let keeper = p.open_rw_session(slot).unwrap();
    keeper.login(UserType::User, Some(&user())).unwrap();
    let results: Vec<Result<Vec<String>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let p = &p;
                scope.spawn(move || work(p, &format!("w{pid}-{t}"), deadline))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into()))).collect()
    });
    for r in results {
        match r {
            Ok(keys) => keys.iter().for_each(|k| println!("LIVE {k}")),
            Err(e) => {
                println!("ERROR {e}");
                std::process::exit(1);
            }
        }
    }
}

fn spawn(module: &Path, role: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["concurrency_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_MODULE, module)
        .env(CHILD_ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn processes_and_threads_share_one_token_without_errors_or_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_one_token_config(dir.path(), "busy");
    // SAFETY: set before any thread of this single-test binary loads the library.
    unsafe {
        std::env::set_var("KMS_PKCS11_CONFIG", &config);
        std::env::set_var("KMS_PKCS11_HOME", dir.path());
    }
    let module = common::module_path();
    {
        let p = library(&module);
        let slot = p.get_slots_with_token().unwrap()[0];
        p.init_token(slot, &AuthPin::new(SO_PIN.into()), "busy").unwrap();
        let s = p.open_rw_session(slot).unwrap();
        s.login(UserType::So, Some(&AuthPin::new(SO_PIN.into()))).unwrap();
        s.init_pin(&user()).unwrap();
        drop(s);
        p.finalize().unwrap();
    }
    let mut children: Vec<Child> = (0..WORKERS).map(|_| spawn(&module, "work")).collect();
    children.push(spawn(&module, "login"));
    // Rotations fall due while the workers run: a week passes every half second.
    let clock = dir.path().join("now");
    let started = Instant::now();
    while started.elapsed() < RUN {
        std::thread::sleep(Duration::from_millis(500));
        let now: u64 = std::fs::read_to_string(&clock).unwrap().trim().parse().unwrap();
        let tmp = clock.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", now + 8 * 86_400)).unwrap();
        std::fs::rename(&tmp, &clock).unwrap();
    }
    // No hang: every process is done well within a generous grace period.
    let grace = Instant::now() + Duration::from_secs(60);
    let mut live = BTreeSet::new();
    for mut c in children {
        while c.try_wait().unwrap().is_none() {
            if Instant::now() > grace {
                let _ = c.kill();
                panic!("a worker hung");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && !stdout.contains("ERROR"),
            "a worker failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        live.extend(stdout.lines().filter_map(|l| l.find("LIVE ").map(|at| l[at + 5..].to_string())));
    }
    assert!(live.len() >= WORKERS * THREADS * 3, "the workers got work done: {} keys", live.len());

    // Afterwards the token holds exactly the keys the workers left, each with all its versions.
    let p = library(&module);
    let slot = p.get_slots_with_token().unwrap()[0];
    let s = p.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&user())).unwrap();
    let all = s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Token(true)]).unwrap();
    let mut labels = BTreeSet::new();
    for o in all {
        if let [Attribute::Label(l)] = &s.get_attributes(o, &[AttributeType::Label]).unwrap()[..] {
            labels.insert(String::from_utf8(l.clone()).unwrap());
        }
    }
    assert_eq!(labels, live);
    drop(s);
    p.finalize().unwrap();
    let c = rusqlite::Connection::open(dir.path().join("busy.sqlite3")).unwrap();
    let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let rotated: i64 =
        c.query_row("SELECT count(*) FROM kms_keys WHERE last_rotation > 0", [], |r| r.get(0)).unwrap();
    assert!(rotated > 0, "rotations happened during the run");
}
