#!/usr/bin/env bash
# NSS on the module: certutil makes key pairs in the token and self-signs certificates with
# them, cmsutil signs with the token's keys, pk12util imports a PKCS#12 file into the token.
# openssl checks every signature. Usage: nss.sh /path/to/libkms_pkcs11.so
set -euo pipefail
# shellcheck source=conformance/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOKEN=conformance

# An NSS database of its own in the temp directory, with the module added to it.
nss_setup() {
    step "NSS database with the module"
    NSSDB=sql:$WORK/nssdb
    mkdir -p "$WORK/nssdb"
    echo "$USER_PIN" >nss-pin.txt
    head -c 64 /dev/urandom >nss-noise.bin
    run certutil -N -d "$NSSDB" --empty-password
    # -force: modutil would otherwise ask for confirmation on the terminal.
    run modutil -add kms -libfile "$MODULE" -dbdir "$NSSDB" -force
    run modutil -list kms -dbdir "$NSSDB"
    grep -qF "Token Name: $TOKEN" <<<"$RUN_OUT" || die "modutil -list does not show the token: $RUN_OUT"
}

# certutil generates a key pair in the token and self-signs a certificate with it; openssl
# accepts that certificate's signature. NSS signs CMS only with keys whose certificate allows
# it: RSA needs keyEncipherment too.
self_signed() {
    local nick=$1 usage=$2
    shift 2
    step "certutil -S: $nick ($*) in the token"
    run certutil -S -d "$NSSDB" -h "$TOKEN" -f nss-pin.txt -z nss-noise.bin -n "$nick" -s "CN=$nick" -x \
        -t "CT,C,C" -v 2 --keyUsage "$usage" \
        --extKeyUsage emailProtection,serverAuth "$@"
    run certutil -L -d "$NSSDB" -h "$TOKEN" -f nss-pin.txt -n "$TOKEN:$nick" -a
    echo "$RUN_OUT" >"$nick.pem"
    run openssl verify -CAfile "$nick.pem" "$nick.pem"
    grep -qF "$nick.pem: OK" <<<"$RUN_OUT" || die "$nick: openssl does not accept NSS's self-signed certificate"
}

# cmsutil signs with the token's key of a certificate; openssl verifies the CMS signature.
cms_sign() {
    local nick=$1 ca=$2
    step "cmsutil -S with $nick"
    echo "signed through NSS by $nick" >cms-data.txt
    run cmsutil -S -N "$nick" -d "$NSSDB" -f nss-pin.txt -i cms-data.txt -o cms.p7
    run openssl cms -verify -inform DER -in cms.p7 -CAfile "$ca" -purpose any -out cms-verified.txt
    same_file cms-verified.txt cms-data.txt "$nick: content of the CMS signature"
}

# A key and certificate made by openssl, imported through pk12util into the token. The key is
# then used through pkcs11-tool: NSS stores it under CKA_ID = SHA-1 of the RSA modulus, and
# PKCS#1 v1.5 being deterministic, the token must produce openssl's own signature. cmsutil
# signs with it too. (The certificate has no keyUsage/extendedKeyUsage: with them NSS asks for
# more than openssl req puts in before it will sign S/MIME.)
pkcs12_import() {
    local id
    step "pk12util -i into the token"
    run openssl req -new -x509 -newkey rsa:2048 -nodes -keyout p12-key.pem -subj /CN=p12-rsa -days 2 \
        -out p12-cert.pem
    run openssl pkcs12 -export -inkey p12-key.pem -in p12-cert.pem -name p12-rsa -passout pass:p12pass \
        -out import.p12
    echo p12pass >p12-pass.txt
    run pk12util -i import.p12 -d "$NSSDB" -h "$TOKEN" -k nss-pin.txt -w p12-pass.txt
    p11u --list-objects --type privkey
    expect_out "label:      p12-rsa" "private key imported by pk12util"
    p11u --list-objects --type cert
    expect_out "label:      p12-rsa" "certificate imported by pk12util"

    step "sign with the key pk12util imported"
    run openssl rsa -in p12-key.pem -noout -modulus
    unhex "${RUN_OUT#Modulus=}" p12-modulus.bin
    id=$(openssl dgst -sha1 -r p12-modulus.bin | cut -d' ' -f1)
    echo "signed with a key imported by NSS" >p12-data.txt
    p11u --sign --id "$id" -m SHA256-RSA-PKCS -i p12-data.txt -o p12-sig.bin
    run openssl dgst -sha256 -sign p12-key.pem -out p12-sig-openssl.bin p12-data.txt
    same_file p12-sig.bin p12-sig-openssl.bin "imported key: token vs openssl signature"

    run certutil -M -d "$NSSDB" -n "$TOKEN:p12-rsa" -t "CT,C,C" -f nss-pin.txt
    cms_sign "$TOKEN:p12-rsa" p12-cert.pem
}

# certutil -F deletes the key of a certificate from the token.
delete_key() {
    local nick=$1
    step "certutil -F: delete the key of $nick"
    run certutil -F -d "$NSSDB" -h "$TOKEN" -f nss-pin.txt -n "$TOKEN:$nick"
    run certutil -K -d "$NSSDB" -h "$TOKEN" -f nss-pin.txt
    if grep -qF "$nick" <<<"$RUN_OUT"; then
        die "certutil -K still lists the key of $nick: $RUN_OUT"
    fi
}

conf_setup "${1:-}"
need_tool certutil libnss3-tools
need_tool modutil libnss3-tools
need_tool cmsutil libnss3-tools
need_tool pk12util libnss3-tools
nss_setup
SIGN_USAGE=digitalSignature,nonRepudiation,certSigning
self_signed nss-rsa "$SIGN_USAGE,keyEncipherment" -k rsa -g 2048
self_signed nss-p256 "$SIGN_USAGE" -k ec -q nistp256
self_signed nss-p384 "$SIGN_USAGE" -k ec -q nistp384
cms_sign "$TOKEN:nss-rsa" nss-rsa.pem
cms_sign "$TOKEN:nss-p256" nss-p256.pem
cms_sign "$TOKEN:nss-p384" nss-p384.pem
pkcs12_import
delete_key nss-p384
echo "PASS: nss"
