//! Load, initialize, use, finalize, unload — a hundred times in one process, as p11-kit and test
//! harnesses do. After every `C_Finalize` and `dlclose` no thread, file descriptor or lock of
//! ours remains, and the memory in use does not grow from cycle to cycle. This binary holds
//! this one test, so the counts it takes are of its own process alone.

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

/// Bytes the process has allocated and not freed, in every malloc arena and mapping.
///
/// Not the resident set: glibc keeps freed memory for reuse, and how much of a large freed
/// block it keeps depends on what was allocated after it (the audit queue, 7 MiB at the
/// default bound, is kept whole or not from one run to the next). Bytes in use count a leak
/// of a single key schedule and nothing the allocator merely holds on to, provided its
/// per-thread caches are off (see [`NO_THREAD_CACHE`]).
fn heap_in_use() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

/// One host's life with the library: load, initialize, log in, make and use keys (a CMK, so
/// the store, the audit writer and the rate limiter all take part), finalize, unload.
fn cycle(module: &Path, i: usize) {
    let p = Pkcs11::new(module).expect("dlopen");
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    let slot = p.get_slots_with_token().unwrap()[0];
    let so = AuthPin::new(common::SO_PIN.into());
    let user = AuthPin::new(common::USER_PIN.into());
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

/// glibc's per-thread caches keep up to seven freed blocks of every small size, and its
/// statistics count them as in use: they fill over the first few dozen cycles. The test runs
/// in a child process started with them off.
const NO_THREAD_CACHE: &str = "glibc.malloc.tcache_count=0";
const TEST: &str = "a_hundred_load_use_unload_cycles_leave_nothing_behind";

#[test]
fn a_hundred_load_use_unload_cycles_leave_nothing_behind() {
    if std::env::var("GLIBC_TUNABLES").as_deref() != Ok(NO_THREAD_CACHE) {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture"])
            .env("GLIBC_TUNABLES", NO_THREAD_CACHE)
            .output()
            .expect("run this test in a child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "the child failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("test result: ok. 1 passed"), "the child ran no test:\n{stdout}");
        return;
    }
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
    let mut in_use_after_warmup = 0;
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
            in_use_after_warmup = heap_in_use();
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
    // Ninety cycles after the warm-up the process holds what it held then: a leak of a dozen
    // bytes per cycle would show.
    let grown = heap_in_use().saturating_sub(in_use_after_warmup);
    assert!(grown < 1024, "memory in use grew by {grown} bytes over {} cycles", CYCLES - 10);
}
