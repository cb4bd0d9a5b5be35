#!/usr/bin/env bash
# pkcs11-tool's own self tests against the module: --test, --test-ec, --test-fork.
# Usage: pkcs11_tool_builtin.sh /path/to/libkms_pkcs11.so
set -euo pipefail
# shellcheck source=conformance/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --test on an empty token covers C_GenerateRandom and the digests.
test_empty_token() {
    step "--test on an empty token"
    p11u --test
    expect_out "all 4 digest functions seem to work" "--test digests"
    expect_out "No errors" "--test (empty token)"
}

# With an RSA key pair present, --test also signs, verifies and decrypts with it.
# --allow-sw is needed because the library (rightly, being software) does not set CKF_HW,
# and without it pkcs11-tool skips the signature tests ("Signatures: not implemented").
test_with_rsa_key() {
    step "--test --allow-sw with an RSA-2048 key pair"
    p11u --keypairgen --key-type rsa:2048 --id 01 --label test-rsa
    p11u --test --allow-sw
    expect_out "all 4 signature functions seem to work" "--test signatures"
    expect_out "SHA256-RSA-PKCS: OK" "--test SHA256-RSA-PKCS"
    expect_out "RSA-PKCS-OAEP: " "--test OAEP decryption"
    expect_no_out "ERR" "--test with an RSA key"
    expect_out "No errors" "--test with an RSA key"
}

# --test-ec generates a key pair, changes its CKA_ID/CKA_LABEL/CKA_SUBJECT, signs, deletes.
test_ec_curve() {
    local curve=$1 id=$2
    step "--test-ec on $curve"
    p11u --session-rw --test-ec --id "$id" --key-type "EC:$curve"
    expect_out "*** Doing a signature ***" "--test-ec $curve"
    expect_out "==> OK" "--test-ec $curve"
}

# --moz-cert does what Mozilla did when enrolling: generates an RSA key pair, changes its IDs,
# signs (checking the CKR_BUFFER_TOO_SMALL protocol), signs a request, deletes the keys,
# finalizes and initializes the library again, and stores a certificate.
test_moz_cert() {
    step "--moz-cert"
    run openssl req -new -x509 -newkey rsa:2048 -nodes -keyout moz-key.pem -subj /CN=moz-cert -days 2 \
        -outform DER -out moz-cert.der
    p11u --session-rw --moz-cert moz-cert.der --key-type rsa:2048 --id 0a
    expect_no_out "ERR" "--moz-cert"
    expect_out "==> OK, successful! Should work with Mozilla" "--moz-cert"
}

# --test-fork calls C_Initialize in a forked child of a process that has the module
# initialized; the child must be able to initialize again (a warning goes to stderr if not).
test_fork() {
    step "--test-fork"
    p11u --test-fork
    expect_out "Calling C_Initialize in forked child process" "--test-fork"
    expect_no_out "C_Initialize in child" "--test-fork"
    expect_no_out "failed" "--test-fork"
}

# --test-threads is not run: pkcs11-tool's thread-test cleanup sleeps 30 seconds whenever a
# test thread is still running when the main thread finishes, which is the usual case, and
# that alone would cost more than this whole script is allowed to take.

conf_setup "${1:-}"
test_empty_token
test_with_rsa_key
test_ec_curve secp256r1 04
test_ec_curve secp384r1 05
test_moz_cert
test_fork
echo "PASS: pkcs11_tool_builtin"
