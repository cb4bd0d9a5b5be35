//! Crash safety: a process making, importing, rotating, changing and destroying keys is killed
//! (`SIGKILL`) at random moments, two hundred times; after each kill the token reopens, SQLite's
//! integrity check passes, every call that returned `CKR_OK` before the kill shows, and nothing
//! half-made is visible.
//!
//! The worker (this binary re-run as `crash_child`) notes each call in a journal: an intent line
//! before a call that changes an existing key, a done line once it returned `CKR_OK`. A call cut
//! short may or may not have happened; a done call must have.

mod common;

use common::{SO_PIN, USER_PIN};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use kms_pkcs11::vendor::*;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const KILLS: usize = 200;
const CHILD_MODULE: &str = "KMS_PKCS11_TEST_MODULE";
const CHILD_JOURNAL: &str = "CRASH_JOURNAL";

fn open(module: &Path) -> (Pkcs11, Session) {
    let p = Pkcs11::new(module).expect("dlopen");
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    let slot = p.get_slots_with_token().unwrap()[0];
    let s = p.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))).expect("login");
    (p, s)
}

fn by_label(s: &Session, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Label(label.as_bytes().to_vec()), Attribute::Class(ObjectClass::SECRET_KEY)])
        .unwrap()
}

fn description(s: &Session, o: ObjectHandle) -> String {
    let ty = AttributeType::VendorDefined(CKA_KMS_DESCRIPTION);
    match &s.get_attributes(o, &[ty]).unwrap()[..] {
        [Attribute::VendorDefined((_, v))] => String::from_utf8(v.clone()).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// A tiny deterministic generator: the worker's choices differ per process.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn aes_token_key(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ]
}

/// The worker: runs until killed.
#[test]
#[ignore = "runs only as the child of the test of this file"]
fn crash_child() {
    let Some(module) = std::env::var_os(CHILD_MODULE) else { return };
    let journal_path = PathBuf::from(std::env::var_os(CHILD_JOURNAL).unwrap());
    let mut journal = std::fs::OpenOptions::new().append(true).create(true).open(&journal_path).unwrap();
    let mut note = |line: String| journal.write_all(format!("{line}\n").as_bytes()).unwrap();
    let (_p, s) = open(Path::new(&module));
    let pid = std::process::id() as u64;
    let mut rng = Rng(pid.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let clock = Path::new(&std::env::var_os("KMS_PKCS11_HOME").unwrap()).join("now");
    // The keys earlier workers left, so that changes and deletions reach old keys too.
    let before = expected(&journal_path);
    let mut keys: Vec<String> =
        before.live.iter().filter(|k| !before.maybe_destroyed.contains(*k)).cloned().collect();
    for n in 0.. {
        // The token stays around forty keys, so that each check after a kill stays quick.
        let op = match keys.len() {
            0 => 0,
            1..40 => rng.below(5),
            _ => 3,
        };
        match op {
            0 => {
                let label = format!("k-{pid}-{n}");
                let mut t = aes_token_key(&label);
                t.push(Attribute::ValueLen(32.into()));
                s.generate_key(&Mechanism::AesKeyGen, &t).unwrap();
                note(format!("C {label}"));
                keys.push(label);
            }
            1 => {
                // Import: unwrap a key made in the session into the token.
                let label = format!("i-{pid}-{n}");
                let kek = s
                    .generate_key(
                        &Mechanism::AesKeyGen,
                        &[Attribute::ValueLen(32.into()), Attribute::Wrap(true), Attribute::Unwrap(true)],
                    )
                    .unwrap();
                let plain = s
                    .generate_key(
                        &Mechanism::AesKeyGen,
                        &[Attribute::ValueLen(32.into()), Attribute::Extractable(true)],
                    )
                    .unwrap();
                let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, kek, plain).unwrap();
                let mut t = aes_token_key(&label);
                t.extend([
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(cryptoki::object::KeyType::AES),
                ]);
                s.unwrap_key(&Mechanism::AesKeyWrap, kek, &wrapped, &t).unwrap();
                note(format!("C {label}"));
                keys.push(label);
            }
            2 => {
                let label = keys[rng.below(keys.len() as u64) as usize].clone();
                let value = format!("d-{n}");
                let key = by_label(&s, &label)[0];
                note(format!("S? {label} {value}"));
                let attr = Attribute::VendorDefined((
                    AttributeType::VendorDefined(CKA_KMS_DESCRIPTION),
                    value.clone().into_bytes(),
                ));
                s.update_attributes(key, &[attr]).unwrap();
                note(format!("S {label} {value}"));
            }
            3 => {
                let i = rng.below(keys.len() as u64) as usize;
                let label = keys.swap_remove(i);
                let key = by_label(&s, &label)[0];
                note(format!("D? {label}"));
                s.destroy_object(key).unwrap();
                note(format!("D {label}"));
            }
            _ => {
                // Rotation: an interval, a week and a day later, and the use that rotates.
                let label = keys[rng.below(keys.len() as u64) as usize].clone();
                let key = by_label(&s, &label)[0];
                let week = (7 * 86_400u64).to_ne_bytes().to_vec();
                let attr =
                    Attribute::VendorDefined((AttributeType::VendorDefined(CKA_KMS_ROTATION_INTERVAL), week));
                s.update_attributes(key, &[attr]).unwrap();
                let now: u64 = std::fs::read_to_string(&clock).unwrap().trim().parse().unwrap();
                let tmp = clock.with_extension(format!("tmp{pid}"));
                std::fs::write(&tmp, format!("{}\n", now + 8 * 86_400)).unwrap();
                std::fs::rename(&tmp, &clock).unwrap();
                s.encrypt(&Mechanism::AesEcb, key, &[0u8; 16]).unwrap();
                note(format!("R {label}"));
            }
        }
    }
}

/// What the journal says must (and may) be in the store.
#[derive(Default)]
struct Expected {
    live: HashSet<String>,
    maybe_destroyed: HashSet<String>,
    destroyed: HashSet<String>,
    /// The description a key must have, and one a cut-short change may have left instead.
    description: HashMap<String, (Option<String>, Option<String>)>,
}

fn expected(journal: &Path) -> Expected {
    let mut e = Expected::default();
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    // Only whole lines: a kill may cut the last one.
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.split(' ');
        let (op, label) = (parts.next().unwrap(), parts.next().unwrap_or("").to_string());
        let value = parts.next().map(str::to_string);
        match op {
            "C" => {
                e.live.insert(label);
            }
            "D?" => {
                e.maybe_destroyed.insert(label);
            }
            "D" => {
                e.live.remove(&label);
                e.maybe_destroyed.remove(&label);
                e.destroyed.insert(label);
            }
            "S?" => e.description.entry(label).or_default().1 = value,
            "S" => {
                let d = e.description.entry(label).or_default();
                d.0 = value;
                d.1 = None;
            }
            _ => {}
        }
    }
    e
}

fn check(module: &Path, store: &Path, journal: &Path, kill: usize) {
    let c = rusqlite::Connection::open(store).unwrap();
    let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok", "kill {kill}");
    // Nothing half-made: every managed key has its key object and its primary version (record
    // and object), and every object of a key has the key.
    let orphans: i64 = c
        .query_row(
            "SELECT count(*) FROM objects o WHERE o.key_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM kms_keys k WHERE k.key_id = o.key_id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0, "kill {kill}: objects of no key");
    let incomplete: i64 = c
        .query_row(
            "SELECT count(*) FROM kms_keys k WHERE \
             NOT EXISTS (SELECT 1 FROM objects o WHERE o.key_id = k.key_id AND o.is_version = 0) \
             OR NOT EXISTS (SELECT 1 FROM kms_versions v WHERE v.version_id = k.primary_version) \
             OR (SELECT count(*) FROM objects o WHERE o.key_id = k.key_id AND o.is_version = 1) \
                <> (SELECT count(*) FROM kms_versions v WHERE v.key_id = k.key_id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(incomplete, 0, "kill {kill}: keys missing their objects or versions");
    drop(c);

    let e = expected(journal);
    let (p, s) = open(module);
    for label in &e.live {
        let found = by_label(&s, label);
        if e.maybe_destroyed.contains(label) {
            assert!(found.len() <= 1, "kill {kill}: {label}");
            continue;
        }
        assert_eq!(found.len(), 1, "kill {kill}: {label} returned CKR_OK and must be there");
        let key = found[0];
        // Its material is whole: a round trip works.
        let ct = s.encrypt(&Mechanism::AesEcb, key, &[9u8; 16]).unwrap();
        assert_eq!(s.decrypt(&Mechanism::AesEcb, key, &ct).unwrap(), [9u8; 16], "kill {kill}: {label}");
        if let Some((done, pending)) = e.description.get(label) {
            let now = description(&s, key);
            // The last change that returned, or (none: the key's first, empty description),
            // or the one a kill cut short.
            let allowed = [done.clone().unwrap_or_default(), pending.clone().unwrap_or_default()];
            let allowed = if pending.is_some() { &allowed[..] } else { &allowed[..1] };
            assert!(allowed.contains(&now), "kill {kill}: {label} has {now:?}, not one of {allowed:?}");
        }
    }
    for label in &e.destroyed {
        assert!(by_label(&s, label).is_empty(), "kill {kill}: {label} was destroyed");
    }
    drop(s);
    p.finalize().unwrap();
}

#[test]
fn two_hundred_kills_leave_a_consistent_store_with_every_confirmed_call() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_one_token_config(dir.path(), "crash");
    // SAFETY: set before any thread of this single-test binary loads the library.
    unsafe {
        std::env::set_var("KMS_PKCS11_CONFIG", &config);
        std::env::set_var("KMS_PKCS11_HOME", dir.path());
    }
    let module = common::module_path();
    {
        let p = Pkcs11::new(&module).unwrap();
        p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
        let slot = p.get_slots_with_token().unwrap()[0];
        p.init_token(slot, &AuthPin::new(SO_PIN.into()), "crash").unwrap();
        let s = p.open_rw_session(slot).unwrap();
        s.login(UserType::So, Some(&AuthPin::new(SO_PIN.into()))).unwrap();
        s.init_pin(&AuthPin::new(USER_PIN.into())).unwrap();
        drop(s);
        p.finalize().unwrap();
    }
    let journal = dir.path().join("journal");
    let store = dir.path().join("crash.sqlite3");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for kill in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_MODULE, &module)
            .env(CHILD_JOURNAL, &journal)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From before the library is up to deep into the work.
        std::thread::sleep(Duration::from_millis(5 + rng.below(120)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(status.code().is_none(), "kill {kill}: the worker stopped by itself ({status:?})");
        check(&module, &store, &journal, kill);
    }
    let e = expected(&journal);
    assert!(e.live.len() + e.destroyed.len() > KILLS, "the workers got work done: {} keys", e.live.len());
}
