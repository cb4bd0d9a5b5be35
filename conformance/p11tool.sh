#!/usr/bin/env bash
# GnuTLS's view of the module: p11tool and certtool with --provider (only this module is
# loaded, no p11-kit system configuration), key generation, signing self-tests, certificates.
# Usage: p11tool.sh /path/to/libkms_pkcs11.so
set -euo pipefail
# shellcheck source=conformance/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOKEN="pkcs11:token=conformance"

gnutls_p11() {
    run p11tool --provider "$MODULE" "$@"
}

gnutls_p11_login() {
    # GnuTLS takes the PIN from the environment instead of asking on the terminal.
    GNUTLS_PIN=$USER_PIN gnutls_p11 --login "$@"
}

output_has() {
    local want=$1 what=$2
    grep -qF -- "$want" <<<"$RUN_OUT" || die "$what: output lacks '$want': $RUN_OUT"
}

list_tokens() {
    step "p11tool --list-tokens"
    gnutls_p11 --list-tokens
    output_has "Label: conformance" "--list-tokens"
    output_has "Manufacturer: kms-pkcs11" "--list-tokens"
    output_has "Requires login" "--list-tokens"

    step "p11tool --list-mechanisms"
    gnutls_p11 --list-mechanisms "$TOKEN"
    output_has "CKM_RSA_PKCS_PSS" "--list-mechanisms"
    output_has "CKM_ECDSA" "--list-mechanisms"
}

# Generates a key pair through GnuTLS (its own templates), then runs GnuTLS's signing self-test,
# which signs in the token and verifies against both the private key's parameters and the
# token's public key.
generate_and_test_sign() {
    local label=$1 id=$2
    shift 2
    step "p11tool --generate-privkey $* ($label)"
    gnutls_p11_login --generate-privkey "$@" --label "$label" --id "$id" --outfile "$label-gen.pem" "$TOKEN"
    step "p11tool --test-sign $label"
    gnutls_p11_login --test-sign "$TOKEN;object=$label;type=private"
    output_has "Verifying against public key in the token... ok" "--test-sign $label"
    # The public key GnuTLS got at generation is the one stored in the token. (Read with
    # p11tool: pkcs11-tool 0.23 cannot export P-384 public keys.)
    gnutls_p11_login --export-pubkey "$TOKEN;object=$label;type=public" --outfile "$label-token.pem"
    run openssl pkey -pubin -in "$label-gen.pem" -outform DER -out "$label-gen.der"
    run openssl pkey -pubin -in "$label-token.pem" -outform DER -out "$label-token.der"
    same_file "$label-gen.der" "$label-token.der" "$label: generated vs stored public key"
}

test_sign_rsa_pss() {
    step "p11tool --test-sign --sign-params RSA-PSS"
    gnutls_p11_login --test-sign --sign-params RSA-PSS "$TOKEN;object=gt-rsa;type=private"
    output_has "Signing using RSA-PSS" "--test-sign RSA-PSS"
    output_has "Verifying against public key in the token... ok" "--test-sign RSA-PSS"
}

# certtool signs a self-signed certificate with the token's key, and verifies it.
self_signed_certificate() {
    local label=$1
    step "certtool --generate-self-signed with $label"
    cat >cert.tmpl <<EOF
cn = $label.conformance.test
ca
cert_signing_key
expiration_days = 2
EOF
    GNUTLS_PIN=$USER_PIN run certtool --provider "$MODULE" --generate-self-signed \
        --load-privkey "$TOKEN;object=$label;type=private" --template cert.tmpl --outfile "$label.crt"
    run certtool --verify --load-ca-certificate "$label.crt" --infile "$label.crt"
    output_has "Chain verification output: Verified." "certtool --verify $label"
    run openssl verify -CAfile "$label.crt" "$label.crt"
    output_has "$label.crt: OK" "openssl verify $label"
}

# Stores the certificate with p11tool and reads it back with p11tool and with pkcs11-tool.
store_certificate() {
    local label=$1 id=$2
    step "p11tool --write the $label certificate"
    gnutls_p11_login --write --load-certificate "$label.crt" --label "$label-cert" --id "$id" "$TOKEN"
    gnutls_p11 --list-all-certs "$TOKEN"
    output_has "Label: $label-cert" "--list-all-certs"
    gnutls_p11 --export "$TOKEN;object=$label-cert;type=cert" --outfile "$label-export.pem"
    run openssl x509 -in "$label.crt" -outform DER -out "$label.der"
    run openssl x509 -in "$label-export.pem" -outform DER -out "$label-export.der"
    same_file "$label-export.der" "$label.der" "$label certificate exported by p11tool"
    p11u --read-object --type cert --id "$id" -o "$label-read.der"
    same_file "$label-read.der" "$label.der" "$label certificate read by pkcs11-tool"
}

delete_objects() {
    step "p11tool --delete"
    gnutls_p11_login --batch --delete "$TOKEN;object=gt-ec-cert;type=cert"
    gnutls_p11_login --batch --delete "$TOKEN;object=gt-ec"
    gnutls_p11_login --list-all "$TOKEN"
    if grep -qF "object=gt-ec;" <<<"$RUN_OUT"; then
        die "objects labelled gt-ec are still listed after --delete: $RUN_OUT"
    fi
    output_has "object=gt-rsa;" "listing after deletion"
    output_has "object=gt-ec384;" "listing after deletion"
}

conf_setup "${1:-}"
need_tool p11tool gnutls-bin
need_tool certtool gnutls-bin
list_tokens
generate_and_test_sign gt-ec 41 ECDSA --curve secp256r1
generate_and_test_sign gt-ec384 43 ECDSA --curve secp384r1
generate_and_test_sign gt-rsa 42 RSA --bits 2048
test_sign_rsa_pss
self_signed_certificate gt-ec
self_signed_certificate gt-rsa
store_certificate gt-ec 41
delete_objects
echo "PASS: p11tool"
