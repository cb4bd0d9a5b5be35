//! Load, initialize, use, finalize, unload — a hundred times in one process, as p11-kit and test
//! harnesses do. After every `C_Finalize` and `dlclose` no thread, file descriptor or lock of
//! ours remains, and the process does not grow from cycle to cycle. This binary holds this one
//! test, so the counts it takes are of its own process alone.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::path::Path;

mod common;

const CYCLES: usize = 100;

/// Names of this process's threads.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect()
}

/// This process's open file descriptors, by what they point at.
fn open_files() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|f| std::fs::read_link(f.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        // The directory listing itself is one of them.
        .filter(|p| !p.starts_with("/proc/"))
        .collect();
    out.sort();
    out
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// One host's life with the library: load, initialize, log in, make and use keys (a CMK, so
/// the store, the audit writer and the rate limiter all take part), finalize, unload.
fn cycle(module: &Path, i: usize) {
    let p = Pkcs11::new(module).expect("dlopen");
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    let slot = p.get_slots_with_token().unwrap()[0];
    let so = AuthPin::new("so-pin-0000".into());
    let user = AuthPin::new("user-pin-0000".into());
    if i == 0 {
        p.init_token(slot, &so, "reload").unwrap();
        let s = p.open_rw_session(slot).unwrap();
        s.login(UserType::So, Some(&so)).unwrap();
        s.init_pin(&user).unwrap();
    }
    let s = p.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&user)).unwrap();
    let key = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::ValueLen(32.into()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        )
        .unwrap();
    let ct = s.encrypt(&Mechanism::AesEcb, key, &[7u8; 16]).unwrap();
    assert_eq!(s.decrypt(&Mechanism::AesEcb, key, &ct).unwrap(), [7u8; 16]);
    let found = s.find_objects(&[Attribute::Token(true)]).unwrap();
    assert!(!found.is_empty());
    s.destroy_object(key).unwrap();
    drop(s);
    p.finalize().expect("C_Finalize");
}

#[test]
fn a_hundred_load_use_unload_cycles_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[pin]\nargon2_memory_kib = 64\nargon2_iterations = 1\n\n[kms]\ndestroy = \"immediate\"\n\n\
         [[token]]\nlabel = \"reload\"\n",
    )
    .unwrap();
    // SAFETY: set before any thread of this single-test binary loads the library.
    unsafe {
        std::env::set_var("KMS_PKCS11_CONFIG", &config);
        std::env::set_var("KMS_PKCS11_HOME", dir.path());
    }
    let module = common::module_path();
    let threads_before = threads();
    let files_before = open_files();
    let mut rss_after_warmup = 0;
    for i in 0..CYCLES {
        cycle(&module, i);
        let now = threads();
        assert_eq!(
            now.len(),
            threads_before.len(),
            "cycle {i}: threads left: {now:?} (before: {threads_before:?})"
        );
        assert!(!now.iter().any(|t| t.starts_with("kms-pkcs11")), "cycle {i}: {now:?}");
        let files = open_files();
        assert_eq!(files, files_before, "cycle {i}: file descriptors left open");
        if i == 9 {
            rss_after_warmup = rss_kib();
        }
    }
    // No lock of ours is held (the store's SQLite locks die with its descriptors, checked
    // above): another opener takes the audit chain lock at once.
    let lock = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".audit.log.lock"))
        .expect("the audit lock file");
    let f = std::fs::File::open(&lock).unwrap();
    f.try_lock().expect("the audit chain lock is free");
    // Ninety cycles after the warm-up the process is no bigger than a few pages of allocator
    // slack: a leak of even one key schedule or session per cycle would show.
    let grown = rss_kib().saturating_sub(rss_after_warmup);
    assert!(grown < 2048, "RSS grew by {grown} KiB over {} cycles", CYCLES - 10);
}
