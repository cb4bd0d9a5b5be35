//! Runs the conformance scripts of `conformance/` (pkcs11-tool, OpenSSL with the libp11
//! engine, …) against the built library, one test per script. Each script makes and removes
//! its own token directory, so the tests run in parallel. A missing tool fails the test with
//! the Debian package to install: these checks are never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Tools every script needs, with the Debian package that provides each.
const TOOLS: &[(&str, &str)] = &[("bash", "bash"), ("pkcs11-tool", "opensc"), ("openssl", "openssl")];

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// Panics, naming the package to install, when a tool or file is missing.
fn require(tools: &[(&str, &str)], files: &[(&str, &str)]) {
    for (tool, package) in TOOLS.iter().chain(tools) {
        assert!(on_path(tool), "`{tool}` is not installed: apt-get install {package}");
    }
    for (file, package) in files {
        assert!(Path::new(file).exists(), "{file} is missing: apt-get install {package}");
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance").join(name)
}

/// Runs one script with the module; fails with its whole output unless it exits 0.
fn run_script(name: &str) {
    // Builds the library of this profile first, so the scripts never run a stale one.
    let module = common::module_path();
    let path = script(name);
    let start = std::time::Instant::now();
    let output = Command::new("bash")
        .arg(&path)
        .arg(&module)
        // The scripts write their own configuration; none from the caller may leak in.
        .env_remove("KMS_PKCS11_CONFIG")
        .env_remove("KMS_PKCS11_HOME")
        .env_remove("KMS_PKCS11_LOG")
        .env_remove("OPENSSL_CONF")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed ({}) after {:.1?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status,
        start.elapsed()
    );
    println!("{name} passed in {:.1?}", start.elapsed());
}

#[test]
fn pkcs11_tool_builtin_tests_pass() {
    require(&[], &[]);
    run_script("pkcs11_tool_builtin.sh");
}

#[test]
fn pkcs11_tool_matrix_passes() {
    require(&[], &[]);
    run_script("pkcs11_tool_matrix.sh");
}

#[test]
fn openssl_engine_certificates_and_tls_work() {
    require(
        &[("timeout", "coreutils")],
        &[("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so", "libengine-pkcs11-openssl")],
    );
    run_script("openssl_engine.sh");
}

#[test]
fn gnutls_p11tool_and_certtool_work() {
    require(&[("p11tool", "gnutls-bin"), ("certtool", "gnutls-bin")], &[]);
    run_script("p11tool.sh");
}

#[test]
fn nss_certutil_cmsutil_and_pk12util_work() {
    require(
        &[
            ("certutil", "libnss3-tools"),
            ("modutil", "libnss3-tools"),
            ("cmsutil", "libnss3-tools"),
            ("pk12util", "libnss3-tools"),
        ],
        &[],
    );
    run_script("nss.sh");
}

#[test]
fn abuse_of_every_entry_point_is_clean_under_valgrind_and_the_soak_does_not_grow() {
    require(
        &[("cc", "build-essential"), ("valgrind", "valgrind")],
        &[("/usr/include/p11-kit-1/p11-kit/pkcs11.h", "libp11-kit-dev")],
    );
    run_script("abuse.sh");
}
