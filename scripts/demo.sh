#!/usr/bin/env bash
# A short tour of the library through OpenSC's pkcs11-tool, in a throw-away token directory:
# initialize a token, make keys, sign and verify, encrypt and decrypt, list what is there; then
# the same keys as KMS keys through kmsctl: metadata, an alias, envelope encryption, a new version.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
module="$root/target/release/libkms_pkcs11.so"
kmsctl="$root/target/release/kmsctl"
[ -f "$module" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v pkcs11-tool >/dev/null || { echo "pkcs11-tool missing: sudo apt-get install opensc" >&2; exit 1; }

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export KMS_PKCS11_HOME="$home"
p11() { pkcs11-tool --module "$module" "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "Initialize the token and the user PIN"
p11 --init-token --label demo --so-pin 87654321
p11 --init-pin --login --so-pin 87654321 --pin 123456
p11 --list-token-slots

step "Generate an EC P-256 key pair and an AES-256 key"
p11 --login --pin 123456 --keypairgen --key-type EC:prime256v1 --id 01 --label signing-key
p11 --login --pin 123456 --keygen --key-type AES:32 --id 02 --label data-key

step "Sign with ECDSA-SHA256 in the token, verify with OpenSSL"
echo "a message to sign" > "$home/msg"
p11 --login --pin 123456 --sign --mechanism ECDSA-SHA256 --id 01 --signature-format openssl \
    -i "$home/msg" -o "$home/sig"
p11 --read-object --type pubkey --id 01 -o "$home/pub.der"
openssl dgst -sha256 -verify <(openssl pkey -pubin -inform DER -in "$home/pub.der") \
    -signature "$home/sig" "$home/msg"

step "Encrypt and decrypt with AES-CBC-PAD"
iv=000102030405060708090a0b0c0d0e0f
p11 --login --pin 123456 --encrypt --mechanism AES-CBC-PAD --id 02 --iv $iv -i "$home/msg" -o "$home/ct"
p11 --login --pin 123456 --decrypt --mechanism AES-CBC-PAD --id 02 --iv $iv -i "$home/ct"

step "The token's objects"
p11 --login --pin 123456 --list-objects

step "Every token key is a KMS key: kmsctl sees the AES key made above"
export KMSCTL_PIN=123456
key_id=$("$kmsctl" list-keys | awk '$2 == "Aliyun_AES_256" { print $1; exit }')
"$kmsctl" describe-key "$key_id"

step "An alias, envelope encryption with an encryption context, a new version"
"$kmsctl" create-alias alias/demo "$key_id"
blob=$("$kmsctl" encrypt alias/demo --plaintext "hello, KMS" --context '{"app":"demo"}' |
    awk '$1 == "CiphertextBlob" { print $2 }')
echo "CiphertextBlob $blob"
"$kmsctl" create-key-version alias/demo
"$kmsctl" list-key-versions alias/demo
"$kmsctl" decrypt --ciphertext-blob "$blob" --context '{"app":"demo"}'
"$kmsctl" describe-quotas

step "The audit trail: every call above, chained and verifiable"
"$kmsctl" audit list --event-name Encrypt
"$kmsctl" audit verify
