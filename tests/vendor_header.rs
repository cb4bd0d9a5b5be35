//! `include/kms_pkcs11.h` compiles on its own after the standard `pkcs11.h`, and the values a C
//! program sees are the ones the library uses (`kms_pkcs11::vendor`).

use std::path::Path;
use std::process::Command;

/// The standard header, from p11-kit (Debian package libp11-kit-dev).
const PKCS11_INCLUDE: &str = "/usr/include/p11-kit-1";

#[test]
fn c_program_sees_the_same_values_as_the_library() {
    assert!(
        Path::new(PKCS11_INCLUDE).join("p11-kit/pkcs11.h").exists(),
        "{PKCS11_INCLUDE}/p11-kit/pkcs11.h is missing: sudo apt-get install libp11-kit-dev"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut program = String::from(
        "#include <stdio.h>\n#include <p11-kit/pkcs11.h>\n#include \"kms_pkcs11.h\"\nint main(void) {\n",
    );
    for (name, _) in kms_pkcs11::vendor::ALL {
        program.push_str(&format!("    printf(\"%s %lu\\n\", \"{name}\", (unsigned long)({name}));\n"));
    }
    // The values must also be usable where C expects the PKCS#11 types.
    program.push_str("    CK_KEY_TYPE kt = CKK_SM2; CK_MECHANISM_TYPE m = CKM_SM4_GCM; (void)kt; (void)m;\n");
    program.push_str("    return 0;\n}\n");
    let src = dir.path().join("vendor.c");
    std::fs::write(&src, program).unwrap();
    let exe = dir.path().join("vendor");
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let out = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(format!("-I{PKCS11_INCLUDE}"))
        .arg(format!("-I{}", include.display()))
        .arg(&src)
        .output()
        .expect("cc (Debian package build-essential)");
    assert!(out.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let text = String::from_utf8(run.stdout).unwrap();
    let seen: Vec<(String, u64)> = text
        .lines()
        .map(|l| {
            let (n, v) = l.split_once(' ').unwrap();
            (n.to_string(), v.parse().unwrap())
        })
        .collect();
    let expected: Vec<(String, u64)> =
        kms_pkcs11::vendor::ALL.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    assert_eq!(seen, expected);
}
