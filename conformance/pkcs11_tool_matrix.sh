#!/usr/bin/env bash
# A matrix of pkcs11-tool operations on the module, each result checked independently with
# openssl wherever openssl can do the same computation.
# Usage: pkcs11_tool_matrix.sh /path/to/libkms_pkcs11.so
#
# What this pkcs11-tool (OpenSC 0.23) cannot drive, and so is not checked here:
#  - AES-CTR and AES-GCM: its --encrypt/--decrypt accept only AES-ECB, AES-CBC, AES-CBC-PAD
#    (and RSA for --decrypt); anything else is "Mechanism ... illegal or not supported".
#  - AES-CMAC: its --sign looks for a private key for any mechanism it has no flags for, so a
#    secret key can never be found ("Private key not found").
#  - RSA-PKCS-OAEP wrapping: its --wrap/--unwrap pass no CK_RSA_PKCS_OAEP_PARAMS; the check
#    below asserts that the library refuses that with CKR_MECHANISM_PARAM_INVALID.
#  - AES-KEY-WRAP-PAD (CKM_AES_KEY_WRAP_PAD, 0x210A): the library offers the standard
#    CKM_AES_KEY_WRAP_KWP (0x210B) instead, which is used by number below.
set -euo pipefail
# shellcheck source=conformance/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Key IDs (hex CKA_ID) of the keys made by gen_keys.
declare -A AES_ID=([16]=a1 [24]=a2 [32]=a3)
declare -A RSA_ID=([2048]=b1 [3072]=b2 [4096]=b3)
declare -A EC_ID=([prime256v1]=c1 [secp384r1]=c2 [secp256k1]=c3)
declare -A EC_HASH=([prime256v1]=sha256 [secp384r1]=sha384 [secp256k1]=sha256)
GENERIC_ID=d1
KEK_ID=e1

# ---------------------------------------------------------------------------------------
# Key generation

gen_keys() {
    local bytes bits curve
    for bytes in 16 24 32; do
        step "generate AES-$((bytes * 8))"
        # Extractable and not sensitive, so that openssl can check results with the value.
        p11u --keygen --key-type "AES:$bytes" --id "${AES_ID[$bytes]}" --label "aes$bytes" --extractable
        expect_out "Secret Key Object; AES length $bytes" "AES:$bytes generation"
    done

    step "generate a 32-byte generic secret"
    p11u --keygen --key-type GENERIC:32 --id "$GENERIC_ID" --label generic --usage-sign --extractable
    expect_out "Secret Key Object; Generic secret length 32" "GENERIC:32 generation"

    step "generate an AES-256 key-encryption key"
    p11u --keygen --key-type AES:32 --id "$KEK_ID" --label kek --usage-wrap --extractable
    expect_out "Secret Key Object; AES length 32" "KEK generation"

    for bits in 2048 3072 4096; do
        step "generate RSA-$bits"
        p11u --keypairgen --key-type "rsa:$bits" --id "${RSA_ID[$bits]}" --label "rsa$bits"
        expect_out "Public Key Object; RSA $bits bits" "rsa:$bits generation"
        # Made in the token: CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE.
        expect_line "  Access:     sensitive, always sensitive, never extractable, local" "rsa:$bits private key"
        export_pubkey "${RSA_ID[$bits]}"
        openssl_pubkey_is "${RSA_ID[$bits]}" "Public-Key: ($bits bit)"
    done

    for curve in prime256v1 secp384r1 secp256k1; do
        step "generate EC $curve"
        p11u --keypairgen --key-type "EC:$curve" --id "${EC_ID[$curve]}" --label "$curve"
        expect_out "Private Key Object; EC" "EC:$curve generation"
        if [[ $curve == secp384r1 ]]; then
            export_ec_pubkey_from_keygen_output "${EC_ID[$curve]}"
        else
            export_pubkey "${EC_ID[$curve]}"
        fi
        openssl_pubkey_is "${EC_ID[$curve]}" "ASN1 OID: $curve"
    done
}

# Exports the public key of an ID as DER SPKI and converts it to pub-<id>.pem.
export_pubkey() {
    local id=$1
    p11u --read-object --type pubkey --id "$id" -o "pub-$id.der"
    run openssl pkey -pubin -inform DER -in "pub-$id.der" -out "pub-$id.pem"
}

# The DER length byte of a hex string (all structures here are shorter than 128 bytes).
der_len() {
    local hex=$1
    ((${#hex} / 2 < 128)) || die "der_len: ${#hex} hex digits is too long for a short-form length"
    printf '%02x' $((${#hex} / 2))
}

# pkcs11-tool 0.23's --read-object of a P-384 public key fails inside pkcs11-tool ("cannot
# create EVP_PKEY", with SoftHSM too), so the SPKI is assembled here from the CKA_EC_POINT and
# CKA_EC_PARAMS that pkcs11-tool printed when it generated the key pair (in $P11_OUT).
export_ec_pubkey_from_keygen_output() {
    local id=$1 point params alg bits spki
    point=$(sed -n 's/^  EC_POINT: *//p' <<<"$P11_OUT")
    params=$(sed -n 's/^  EC_PARAMS: *//p' <<<"$P11_OUT")
    [[ $point == 04* && -n $params ]] || die "public key $id: no EC_POINT/EC_PARAMS in: $P11_OUT"
    point=${point:4} # drop the OCTET STRING header (04 <short length>) around the point
    alg="06072a8648ce3d0201$params"
    alg="30$(der_len "$alg")$alg"
    bits="00$point"
    bits="03$(der_len "$bits")$bits"
    spki="$alg$bits"
    spki="30$(der_len "$spki")$spki"
    unhex "$spki" "pub-$id.der"
    run openssl pkey -pubin -inform DER -in "pub-$id.der" -out "pub-$id.pem"
}

# Asserts what openssl says about an exported public key.
openssl_pubkey_is() {
    local id=$1 want=$2
    run openssl pkey -pubin -in "pub-$id.pem" -noout -text
    grep -qF "$want" <<<"$RUN_OUT" || die "public key $id: openssl shows no '$want': $RUN_OUT"
}

# The CKA_VALUE of an extractable, non-sensitive secret key, as a file and as hex.
secret_value() {
    local id=$1
    p11u --read-object --type secrkey --id "$id" -o "secret-$id.bin"
    hex_of "secret-$id.bin"
}

# ---------------------------------------------------------------------------------------
# Signatures

# Signs data.bin (or the given input) in the token; the signature goes to $out.
token_sign() {
    local id=$1 mech=$2 in=$3 out=$4
    shift 4
    p11u --sign --id "$id" -m "$mech" -i "$in" -o "$out" "$@"
    [[ -s "$out" ]] || die "$mech signature with key $id is empty"
}

# Copies a file with the lowest bit of its first byte flipped.
corrupt() {
    local in=$1 out=$2 first
    first=$(od -An -N1 -tx1 "$in" | tr -d ' ')
    cp "$in" "$out"
    # shellcheck disable=SC2059 # the format is the escaped byte itself
    printf "$(printf '\\x%02x' $((0x$first ^ 1)))" | dd of="$out" bs=1 count=1 conv=notrunc status=none
}

# Verifies in the token, then asserts that a corrupted input is refused.
token_verify() {
    local id=$1 mech=$2 in=$3 sig=$4
    shift 4
    p11u --verify --id "$id" -m "$mech" -i "$in" --signature-file "$sig" "$@"
    expect_out "Signature is valid" "token verify $mech key $id"
    # One bit of the input flipped: the same signature must now be refused.
    corrupt "$in" bad.bin
    p11u --verify --id "$id" -m "$mech" -i bad.bin --signature-file "$sig" "$@"
    expect_out "Invalid signature" "token verify $mech key $id on corrupted data"
}

# Asserts that openssl accepts a signature with the exported public key; "$@" is the openssl
# command line after the key options.
openssl_verifies() {
    local what=$1
    shift
    run "$@"
    grep -qE "Verified OK|Signature Verified Successfully" <<<"$RUN_OUT" ||
        die "$what: openssl does not verify: $RUN_OUT"
}

sign_rsa() {
    local bits=$1 id=${RSA_ID[$1]}
    local pub=pub-$id.pem

    step "RSA-$bits RSA-PKCS (DigestInfo of SHA-256 signed raw)"
    # Raw PKCS#1 v1.5 signs a caller-made DigestInfo; openssl must then accept the signature
    # as a plain SHA-256 PKCS#1 v1.5 signature of data.bin.
    { printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20'
        openssl dgst -sha256 -binary data.bin; } >digestinfo.bin
    token_sign "$id" RSA-PKCS digestinfo.bin sig.bin
    token_verify "$id" RSA-PKCS digestinfo.bin sig.bin
    openssl_verifies "RSA-PKCS $bits" openssl dgst -sha256 -verify "$pub" -signature sig.bin data.bin

    step "RSA-$bits SHA256-RSA-PKCS"
    token_sign "$id" SHA256-RSA-PKCS data.bin sig.bin
    token_verify "$id" SHA256-RSA-PKCS data.bin sig.bin
    openssl_verifies "SHA256-RSA-PKCS $bits" openssl dgst -sha256 -verify "$pub" -signature sig.bin data.bin

    step "RSA-$bits SHA384-RSA-PKCS-PSS"
    # pkcs11-tool uses MGF1 with the same hash and a salt as long as the hash.
    token_sign "$id" SHA384-RSA-PKCS-PSS data.bin sig.bin
    token_verify "$id" SHA384-RSA-PKCS-PSS data.bin sig.bin
    openssl_verifies "SHA384-RSA-PKCS-PSS $bits" openssl dgst -sha384 -verify "$pub" \
        -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 -sigopt rsa_mgf1_md:sha384 \
        -signature sig.bin data.bin

    step "RSA-$bits RSA-PKCS-PSS over a SHA-256 hash"
    openssl dgst -sha256 -binary data.bin >hash256.bin
    token_sign "$id" RSA-PKCS-PSS hash256.bin sig.bin --hash-algorithm SHA256
    token_verify "$id" RSA-PKCS-PSS hash256.bin sig.bin --hash-algorithm SHA256
    openssl_verifies "RSA-PKCS-PSS $bits" openssl dgst -sha256 -verify "$pub" \
        -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 \
        -signature sig.bin data.bin
}

sign_ec() {
    local curve=$1 id=${EC_ID[$1]} md=${EC_HASH[$1]}
    local pub=pub-$id.pem
    local field_bytes=32
    [[ $curve == secp384r1 ]] && field_bytes=48

    step "EC $curve ECDSA over a ${md} hash"
    openssl dgst "-$md" -binary data.bin >hash.bin
    # Default format: r||s, twice the field size.
    token_sign "$id" ECDSA hash.bin sig-rs.bin
    [[ $(stat -c %s sig-rs.bin) -eq $((2 * field_bytes)) ]] ||
        die "ECDSA on $curve: r||s signature is $(stat -c %s sig-rs.bin) bytes, want $((2 * field_bytes))"
    token_verify "$id" ECDSA hash.bin sig-rs.bin
    # DER format for openssl.
    token_sign "$id" ECDSA hash.bin sig.der --signature-format openssl
    token_verify "$id" ECDSA hash.bin sig.der --signature-format openssl
    openssl_verifies "ECDSA $curve" openssl pkeyutl -verify -pubin -inkey "$pub" -in hash.bin -sigfile sig.der

    step "EC $curve ECDSA-SHA256"
    token_sign "$id" ECDSA-SHA256 data.bin sig.der --signature-format openssl
    token_verify "$id" ECDSA-SHA256 data.bin sig.der --signature-format openssl
    openssl_verifies "ECDSA-SHA256 $curve" openssl dgst -sha256 -verify "$pub" -signature sig.der data.bin
}

# HMAC is deterministic: the token's MAC must equal openssl's with the same key.
sign_hmac() {
    local key
    step "SHA256-HMAC with a generic secret"
    key=$(secret_value "$GENERIC_ID")
    token_sign "$GENERIC_ID" SHA256-HMAC data.bin mac.bin
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary data.bin >mac-openssl.bin
    same_file mac.bin mac-openssl.bin "SHA256-HMAC token vs openssl"
    token_verify "$GENERIC_ID" SHA256-HMAC data.bin mac.bin
}

# The other hashed mechanisms once each, on RSA-2048 and P-384.
sign_more_hashes() {
    local md id=${RSA_ID[2048]} pub=pub-${RSA_ID[2048]}.pem
    for md in SHA1 SHA224 SHA384 SHA512; do
        step "RSA-2048 $md-RSA-PKCS and $md-RSA-PKCS-PSS"
        token_sign "$id" "$md-RSA-PKCS" data.bin sig.bin
        openssl_verifies "$md-RSA-PKCS" openssl dgst "-${md,,}" -verify "$pub" -signature sig.bin data.bin
        token_sign "$id" "$md-RSA-PKCS-PSS" data.bin sig.bin
        token_verify "$id" "$md-RSA-PKCS-PSS" data.bin sig.bin
        openssl_verifies "$md-RSA-PKCS-PSS" openssl dgst "-${md,,}" -verify "$pub" \
            -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -signature sig.bin data.bin
    done

    step "RSA-2048 SHA256-RSA-PKCS-PSS with the largest salt"
    token_sign "$id" SHA256-RSA-PKCS-PSS data.bin sig.bin --salt-len -2
    openssl_verifies "PSS maximum salt" openssl dgst -sha256 -verify "$pub" \
        -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:222 -signature sig.bin data.bin

    id=${EC_ID[secp384r1]} pub=pub-${EC_ID[secp384r1]}.pem
    for md in SHA1 SHA224 SHA384 SHA512; do
        step "EC secp384r1 ECDSA-$md"
        token_sign "$id" "ECDSA-$md" data.bin sig.der --signature-format openssl
        token_verify "$id" "ECDSA-$md" data.bin sig.der --signature-format openssl
        openssl_verifies "ECDSA-$md" openssl dgst "-${md,,}" -verify "$pub" -signature sig.der data.bin
    done

    local key
    key=$(secret_value "$GENERIC_ID")
    for md in SHA-1 SHA224 SHA384 SHA512; do
        step "$md-HMAC"
        local ossl_md=${md/-/}
        token_sign "$GENERIC_ID" "$md-HMAC" data.bin mac.bin
        openssl dgst "-${ossl_md,,}" -mac HMAC -macopt "hexkey:$key" -binary data.bin >mac-openssl.bin
        same_file mac.bin mac-openssl.bin "$md-HMAC token vs openssl"
    done
}

# Inputs over 1024 bytes make pkcs11-tool sign and verify with C_SignUpdate/C_VerifyUpdate.
sign_multipart() {
    local key
    head -c 5000 /dev/urandom >big.bin
    step "multi-part SHA256-RSA-PKCS on 5000 bytes"
    token_sign "${RSA_ID[3072]}" SHA256-RSA-PKCS big.bin sig.bin
    token_verify "${RSA_ID[3072]}" SHA256-RSA-PKCS big.bin sig.bin
    openssl_verifies "multi-part SHA256-RSA-PKCS" openssl dgst -sha256 -verify "pub-${RSA_ID[3072]}.pem" \
        -signature sig.bin big.bin
    step "multi-part ECDSA-SHA384 on 5000 bytes"
    token_sign "${EC_ID[secp384r1]}" ECDSA-SHA384 big.bin sig.der --signature-format openssl
    token_verify "${EC_ID[secp384r1]}" ECDSA-SHA384 big.bin sig.der --signature-format openssl
    openssl_verifies "multi-part ECDSA-SHA384" openssl dgst -sha384 -verify "pub-${EC_ID[secp384r1]}.pem" \
        -signature sig.der big.bin
    step "multi-part SHA512-HMAC on 5000 bytes"
    key=$(secret_value "$GENERIC_ID")
    token_sign "$GENERIC_ID" SHA512-HMAC big.bin mac.bin
    openssl dgst -sha512 -mac HMAC -macopt "hexkey:$key" -binary big.bin >mac-openssl.bin
    same_file mac.bin mac-openssl.bin "multi-part SHA512-HMAC token vs openssl"
    token_verify "$GENERIC_ID" SHA512-HMAC big.bin mac.bin
}

sign_matrix() {
    local bits curve
    head -c 1000 /dev/urandom >data.bin
    for bits in 2048 3072 4096; do sign_rsa "$bits"; done
    for curve in prime256v1 secp384r1 secp256k1; do sign_ec "$curve"; done
    sign_hmac
    sign_more_hashes
    sign_multipart
}

# ---------------------------------------------------------------------------------------
# Digests, random data, ECDH

digests() {
    local md ossl_md
    head -c 3000 /dev/urandom >digest-in.bin
    for md in SHA-1 SHA224 SHA256 SHA384 SHA512; do
        step "digest $md"
        ossl_md=${md/-/}
        # 3000 bytes: pkcs11-tool digests in 64-byte C_DigestUpdate steps.
        p11 --hash -m "$md" -i digest-in.bin -o digest.bin
        openssl dgst "-${ossl_md,,}" -binary digest-in.bin >digest-openssl.bin
        same_file digest.bin digest-openssl.bin "$md digest token vs openssl"
    done
}

random_bytes() {
    step "C_GenerateRandom"
    p11 --generate-random 97 -o random1.bin
    p11 --generate-random 97 -o random2.bin
    [[ $(stat -c %s random1.bin) -eq 97 ]] || die "--generate-random 97 gave $(stat -c %s random1.bin) bytes"
    ! cmp -s random1.bin random2.bin || die "two C_GenerateRandom calls returned the same bytes"
}

# ECDH with a peer key made by openssl: the token's shared secret must be openssl's.
ecdh() {
    local curve=$1 id=${EC_ID[$1]}
    step "ECDH1-DERIVE on $curve"
    run openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$curve" -out peer.pem
    run openssl pkey -in peer.pem -pubout -outform DER -out peer-pub.der
    p11u --derive -m ECDH1-DERIVE --id "$id" -i peer-pub.der -o shared.bin
    run openssl pkeyutl -derive -inkey peer.pem -peerkey "pub-$id.pem" -out shared-openssl.bin
    same_file shared.bin shared-openssl.bin "ECDH on $curve token vs openssl"
}

# ---------------------------------------------------------------------------------------
# Encryption

# AES in the token against openssl enc: same ciphertext, and the token decrypts it back.
aes_case() {
    local bytes=$1 mech=$2 ossl_mode=$3 len=$4
    local id=${AES_ID[$bytes]} key iv=000102030405060708090a0b0c0d0e0f
    local iv_args=(--iv "$iv") ossl_iv=(-iv "$iv") pad_args=(-nopad)
    key=$(secret_value "$id")
    [[ $mech == AES-ECB ]] && { iv_args=(); ossl_iv=(); }
    [[ $mech == AES-CBC-PAD ]] && pad_args=()

    step "AES-$((bytes * 8)) $mech on $len bytes"
    head -c "$len" /dev/urandom >plain.bin
    p11u --encrypt --id "$id" -m "$mech" "${iv_args[@]}" -i plain.bin -o cipher.bin
    run openssl enc "-aes-$((bytes * 8))-$ossl_mode" -K "$key" "${ossl_iv[@]}" "${pad_args[@]}" \
        -in plain.bin -out cipher-openssl.bin
    same_file cipher.bin cipher-openssl.bin "$mech AES-$((bytes * 8)) token vs openssl ciphertext"
    p11u --decrypt --id "$id" -m "$mech" "${iv_args[@]}" -i cipher.bin -o decrypted.bin
    same_file decrypted.bin plain.bin "$mech AES-$((bytes * 8)) decryption"
}

encrypt_aes() {
    local bytes
    for bytes in 16 24 32; do
        aes_case "$bytes" AES-ECB ecb 64
        aes_case "$bytes" AES-CBC cbc 64
        aes_case "$bytes" AES-CBC-PAD cbc 61
    done
    # Inputs of 1024 bytes or more make pkcs11-tool use the multi-part calls
    # (C_EncryptUpdate/C_EncryptFinal and their decrypt twins).
    aes_case 32 AES-CBC cbc 4096
    aes_case 32 AES-CBC-PAD cbc 3001
    aes_case 16 AES-ECB ecb 2048
}

# openssl encrypts to the exported public key, the token decrypts.
rsa_decrypt_case() {
    local bits=$1 what=$2
    shift 2
    local id=${RSA_ID[$bits]}
    step "RSA-$bits decrypt $what"
    head -c 48 /dev/urandom >plain.bin
    local ossl_opts=() p11_opts=()
    case $what in
        PKCS) ossl_opts=(-pkeyopt rsa_padding_mode:pkcs1) p11_opts=(-m RSA-PKCS) ;;
        OAEP-*)
            local md=${what#OAEP-} p11_md
            case $md in sha1) p11_md=SHA-1 ;; *) p11_md=${md^^} ;; esac
            ossl_opts=(-pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$md" -pkeyopt "rsa_mgf1_md:$md")
            p11_opts=(-m RSA-PKCS-OAEP --hash-algorithm "$p11_md")
            ;;
        JAVA)
            # Java's OAEPWithSHA-256AndMGF1Padding: SHA-256 for the label, MGF1 with SHA-1.
            ossl_opts=(-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha1)
            p11_opts=(-m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA1)
            ;;
    esac
    run openssl pkeyutl -encrypt -pubin -inkey "pub-$id.pem" "${ossl_opts[@]}" -in plain.bin -out cipher.bin
    p11u --decrypt --id "$id" "${p11_opts[@]}" -i cipher.bin -o decrypted.bin
    same_file decrypted.bin plain.bin "RSA-$bits $what decryption"
}

encrypt_rsa() {
    local bits md
    for bits in 2048 3072 4096; do
        rsa_decrypt_case "$bits" PKCS
        rsa_decrypt_case "$bits" OAEP-sha256
    done
    for md in sha1 sha384 sha512; do
        rsa_decrypt_case 2048 "OAEP-$md"
    done
    rsa_decrypt_case 2048 JAVA
}

# ---------------------------------------------------------------------------------------
# Wrapping

# Wraps the secret key $target with $wrapper; the wrapped blob goes to wrapped.bin.
wrap() {
    local wrapper=$1 target=$2 mech=$3
    shift 3
    p11u --wrap --id "$wrapper" --application-id "$target" -m "$mech" -o wrapped.bin "$@"
    expect_out "Key wrapped" "wrap $target with $wrapper ($mech)"
}

# Unwraps wrapped.bin into a new key $new_id and asserts it has the value of $orig.
unwrap_and_compare() {
    local unwrapper=$1 new_id=$2 key_type=$3 mech=$4 orig_hex=$5
    shift 5
    p11u --unwrap --id "$unwrapper" -m "$mech" -i wrapped.bin --key-type "$key_type" \
        --application-id "$new_id" --application-label "unwrapped-$new_id" --extractable "$@"
    expect_out "Key unwrapped" "unwrap with $unwrapper ($mech)"
    # Unwrapped keys are not local; this one was asked to be extractable and not sensitive.
    expect_line "  Access:     extractable" "key unwrapped with $mech"
    [[ $(secret_value "$new_id") == "$orig_hex" ]] || die "$mech: unwrapped key $new_id differs from the original"
}

# The unwrapped AES key must decrypt what the original encrypts.
same_aes_behaviour() {
    local orig=$1 copy=$2
    head -c 64 /dev/urandom >plain.bin
    p11u --encrypt --id "$orig" -m AES-ECB -i plain.bin -o cipher.bin
    p11u --decrypt --id "$copy" -m AES-ECB -i cipher.bin -o decrypted.bin
    same_file decrypted.bin plain.bin "unwrapped key $copy decrypting what $orig encrypted"
}

wrap_matrix() {
    local kek orig

    kek=$(secret_value "$KEK_ID")

    step "wrap AES-128 with AES-KEY-WRAP (RFC 3394)"
    orig=$(secret_value "${AES_ID[16]}")
    wrap "$KEK_ID" "${AES_ID[16]}" AES-KEY-WRAP
    run openssl enc -d -id-aes256-wrap -K "$kek" -iv A6A6A6A6A6A6A6A6 -in wrapped.bin -out unwrapped-openssl.bin
    [[ $(hex_of unwrapped-openssl.bin) == "$orig" ]] || die "AES-KEY-WRAP: openssl unwraps another key"
    unwrap_and_compare "$KEK_ID" f1 AES:16 AES-KEY-WRAP "$orig"
    same_aes_behaviour "${AES_ID[16]}" f1

    step "wrap a 32-byte generic secret with AES-KEY-WRAP-KWP (RFC 5649, mechanism 0x210B)"
    orig=$(secret_value "$GENERIC_ID")
    wrap "$KEK_ID" "$GENERIC_ID" 0x210B
    run openssl enc -d -id-aes256-wrap-pad -K "$kek" -iv A65959A6 -in wrapped.bin -out unwrapped-openssl.bin
    [[ $(hex_of unwrapped-openssl.bin) == "$orig" ]] || die "KWP: openssl unwraps another key"
    unwrap_and_compare "$KEK_ID" f2 GENERIC:32 0x210B "$orig"

    step "wrap an AES-192 key with KWP: 24 bytes need padding"
    orig=$(secret_value "${AES_ID[24]}")
    wrap "$KEK_ID" "${AES_ID[24]}" 0x210B
    [[ $(stat -c %s wrapped.bin) -eq 32 ]] || die "KWP of 24 bytes gave $(stat -c %s wrapped.bin) bytes, want 32"
    run openssl enc -d -id-aes256-wrap-pad -K "$kek" -iv A65959A6 -in wrapped.bin -out unwrapped-openssl.bin
    [[ $(hex_of unwrapped-openssl.bin) == "$orig" ]] || die "KWP (24 bytes): openssl unwraps another key"
    unwrap_and_compare "$KEK_ID" f3 AES:24 0x210B "$orig"
    same_aes_behaviour "${AES_ID[24]}" f3

    step "wrap AES-256 with AES-CBC-PAD"
    orig=$(secret_value "${AES_ID[32]}")
    wrap "$KEK_ID" "${AES_ID[32]}" AES-CBC-PAD --iv 0f0e0d0c0b0a09080706050403020100
    run openssl enc -d -aes-256-cbc -K "$kek" -iv 0f0e0d0c0b0a09080706050403020100 -in wrapped.bin \
        -out unwrapped-openssl.bin
    [[ $(hex_of unwrapped-openssl.bin) == "$orig" ]] || die "AES-CBC-PAD wrap: openssl decrypts another key"
    unwrap_and_compare "$KEK_ID" f4 AES:32 AES-CBC-PAD "$orig" --iv 0f0e0d0c0b0a09080706050403020100
    same_aes_behaviour "${AES_ID[32]}" f4

    step "wrap AES-128 with RSA-PKCS (public key wraps, private key unwraps)"
    orig=$(secret_value "${AES_ID[16]}")
    wrap "${RSA_ID[2048]}" "${AES_ID[16]}" RSA-PKCS
    [[ $(stat -c %s wrapped.bin) -eq 256 ]] || die "RSA-2048 wrap gave $(stat -c %s wrapped.bin) bytes"
    unwrap_and_compare "${RSA_ID[2048]}" f5 AES:16 RSA-PKCS "$orig"
    same_aes_behaviour "${AES_ID[16]}" f5

    step "RSA-PKCS-OAEP wrap without parameters is refused"
    # This pkcs11-tool passes no OAEP parameters; PKCS#11 requires them.
    p11u_fails --wrap --id "${RSA_ID[2048]}" --application-id "${AES_ID[16]}" -m RSA-PKCS-OAEP -o wrapped.bin
    expect_out "CKR_MECHANISM_PARAM_INVALID" "RSA-PKCS-OAEP wrap without parameters"
}

# ---------------------------------------------------------------------------------------
# Objects made outside the token

import_rsa() {
    step "import an RSA-2048 key pair made by openssl"
    run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out imp-rsa.pem
    run openssl pkey -in imp-rsa.pem -pubout -out imp-rsa-pub.pem
    p11u --write-object imp-rsa.pem --type privkey --id 71 --label imp-rsa --usage-sign
    expect_out "Private Key Object; RSA" "RSA private key import"
    # Imported: sensitive from now on, but neither local nor always sensitive.
    expect_line "  Access:     sensitive" "imported RSA private key"
    p11u --write-object imp-rsa-pub.pem --type pubkey --id 71 --label imp-rsa --usage-sign
    expect_out "Public Key Object; RSA 2048 bits" "RSA public key import"

    # PKCS#1 v1.5 is deterministic: the token must produce openssl's own signature.
    token_sign 71 SHA256-RSA-PKCS data.bin sig.bin
    run openssl dgst -sha256 -sign imp-rsa.pem -out sig-openssl.bin data.bin
    same_file sig.bin sig-openssl.bin "imported RSA key: token vs openssl SHA256-RSA-PKCS signature"
    openssl_verifies "imported RSA SHA256-RSA-PKCS" openssl dgst -sha256 -verify imp-rsa-pub.pem \
        -signature sig.bin data.bin

    token_sign 71 SHA256-RSA-PKCS-PSS data.bin sig.bin
    openssl_verifies "imported RSA SHA256-RSA-PKCS-PSS" openssl dgst -sha256 -verify imp-rsa-pub.pem \
        -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -signature sig.bin data.bin

    # The imported public key verifies openssl's PSS signature.
    run openssl dgst -sha256 -sign imp-rsa.pem -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
        -out sig-openssl.bin data.bin
    token_verify 71 SHA256-RSA-PKCS-PSS data.bin sig-openssl.bin
}

import_ec() {
    local curve=$1 id=$2
    step "import an EC $curve key pair made by openssl"
    run openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$curve" -out "imp-$curve.pem"
    run openssl pkey -in "imp-$curve.pem" -pubout -out "imp-$curve-pub.pem"
    p11u --write-object "imp-$curve.pem" --type privkey --id "$id" --label "imp-$curve" --usage-sign
    expect_out "Private Key Object; EC" "EC $curve private key import"
    p11u --write-object "imp-$curve-pub.pem" --type pubkey --id "$id" --label "imp-$curve" --usage-sign
    expect_out "Public Key Object; EC" "EC $curve public key import"

    token_sign "$id" ECDSA-SHA256 data.bin sig.der --signature-format openssl
    openssl_verifies "imported EC $curve" openssl dgst -sha256 -verify "imp-$curve-pub.pem" \
        -signature sig.der data.bin
    run openssl dgst -sha256 -sign "imp-$curve.pem" -out sig-openssl.der data.bin
    token_verify "$id" ECDSA-SHA256 data.bin sig-openssl.der --signature-format openssl
}

import_certificate() {
    step "import a certificate and read it back"
    run openssl req -new -x509 -key imp-rsa.pem -subj /CN=conformance-import -days 2 -out imp-cert.pem
    run openssl x509 -in imp-cert.pem -outform DER -out imp-cert.der
    p11u --write-object imp-cert.pem --type cert --id 71 --label imp-cert
    expect_out "Certificate Object; type = X.509 cert" "certificate import"
    p11u --read-object --type cert --id 71 -o cert-read.der
    same_file cert-read.der imp-cert.der "certificate read back"
    p11u --list-objects --type cert
    expect_out "subject:    DN: CN=conformance-import" "certificate subject"
}

import_data() {
    step "import a data object and read it back"
    head -c 300 /dev/urandom >imp-data.bin
    p11u --write-object imp-data.bin --type data --label imp-data --application-label conformance
    expect_out "Data object" "data object import"
    p11u --read-object --type data --label imp-data -o data-read.bin
    same_file data-read.bin imp-data.bin "data object read back"
}

import_secret() {
    step "import an AES-256 key and use it"
    head -c 32 /dev/urandom >imp-aes.bin
    p11u --write-object imp-aes.bin --type secrkey --key-type AES:32 --id 73 --label imp-aes --usage-decrypt
    expect_out "Secret Key Object; AES length 32" "AES key import"
    head -c 80 /dev/urandom >plain.bin
    p11u --encrypt --id 73 -m AES-CBC-PAD --iv 00112233445566778899aabbccddeeff -i plain.bin -o cipher.bin
    run openssl enc -d -aes-256-cbc -K "$(hex_of imp-aes.bin)" -iv 00112233445566778899aabbccddeeff \
        -in cipher.bin -out decrypted.bin
    same_file decrypted.bin plain.bin "imported AES key: openssl decrypts the token's ciphertext"

    step "import a generic secret and use it for HMAC"
    head -c 40 /dev/urandom >imp-hmac.bin
    p11u --write-object imp-hmac.bin --type secrkey --id 74 --label imp-hmac --usage-sign
    expect_out "Secret Key Object; Generic secret length 40" "generic secret import"
    token_sign 74 SHA256-HMAC data.bin mac.bin
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(hex_of imp-hmac.bin)" -binary data.bin >mac-openssl.bin
    same_file mac.bin mac-openssl.bin "imported generic secret: token vs openssl HMAC"
}

# ---------------------------------------------------------------------------------------
# Deletion

# Deletes one object and asserts that it can no longer be found: pkcs11-tool cannot read it,
# and the listing of its class (which pkcs11-tool does not filter further) lacks $marker.
delete_and_check() {
    local type=$1 marker=$2
    shift 2
    step "delete the $type object $*"
    p11u --delete-object --type "$type" "$@"
    p11u_fails --read-object --type "$type" "$@" -o gone.bin
    expect_out "object not found" "read of deleted $type $*"
    p11u --list-objects --type "$type"
    expect_no_out "$marker" "listing of $type objects after deleting $*"
}

delete_objects() {
    delete_and_check privkey "label:      imp-rsa" --id 71
    delete_and_check pubkey "label:      imp-rsa" --id 71
    delete_and_check cert "label:      imp-cert" --id 71
    delete_and_check data "'imp-data'" --label imp-data
    delete_and_check secrkey "label:      imp-aes" --id 73
    # Nothing with ID 71 is left, while the other imported objects still are.
    p11u --list-objects
    expect_no_out "ID:         71" "listing after deletion"
    expect_out "ID:         74" "listing after deletion"
    expect_no_out "imp-data" "listing after deletion"
}

# ---------------------------------------------------------------------------------------
# CKA_ALLOWED_MECHANISMS

# A key restricted to some mechanisms works with them and is refused for the others.
allowed_mechanisms() {
    head -c 32 /dev/urandom >plain.bin
    step "AES key restricted to AES-CBC"
    p11u --keygen --key-type AES:16 --id 81 --label only-cbc --allowed-mechanisms AES-CBC
    p11u --encrypt --id 81 -m AES-CBC --iv 000102030405060708090a0b0c0d0e0f -i plain.bin -o cipher.bin
    p11u_fails --encrypt --id 81 -m AES-ECB -i plain.bin -o cipher.bin
    expect_out "CKR_MECHANISM_INVALID" "AES-ECB with a key allowed only AES-CBC"

    step "RSA key restricted to SHA256-RSA-PKCS-PSS"
    p11u --keypairgen --key-type rsa:2048 --id 82 --label only-pss --allowed-mechanisms SHA256-RSA-PKCS-PSS
    expect_out "Allowed mechanisms: SHA256-RSA-PKCS-PSS" "RSA key pair with allowed mechanisms"
    token_sign 82 SHA256-RSA-PKCS-PSS plain.bin sig.bin
    p11u_fails --sign --id 82 -m SHA256-RSA-PKCS -i plain.bin -o sig.bin
    expect_out "CKR_MECHANISM_INVALID" "SHA256-RSA-PKCS with a key allowed only PSS"
}

# ---------------------------------------------------------------------------------------
# CKA_ALWAYS_AUTHENTICATE

# A key that needs a context-specific login for each use: pkcs11-tool logs in again
# (CKU_CONTEXT_SPECIFIC) after C_SignInit, and the signature must come out right.
always_authenticate() {
    step "sign with a CKA_ALWAYS_AUTHENTICATE key"
    p11u --keypairgen --key-type EC:prime256v1 --id 83 --label always-auth --always-auth
    expect_out "always authenticate" "key pair with --always-auth"
    export_pubkey 83
    token_sign 83 ECDSA-SHA256 data.bin sig.der --signature-format openssl
    openssl_verifies "always-authenticate key" openssl dgst -sha256 -verify pub-83.pem -signature sig.der data.bin
}

# ---------------------------------------------------------------------------------------
# PIN life cycle (the configuration locks a PIN after 3 wrong tries)

# Asserts the token flags that pkcs11-tool -L shows.
token_flags_say() {
    local want=$1 what=$2
    p11 -L
    expect_out "$want" "$what: token flags"
}

pin_lifecycle() {
    local id=${AES_ID[16]}
    head -c 48 /dev/urandom >pin-plain.bin
    p11u --encrypt --id "$id" -m AES-ECB -i pin-plain.bin -o pin-cipher.bin

    step "C_SetPIN: the new user PIN works, the old one no longer does"
    p11u --change-pin --new-pin 5678
    p11u_fails -O
    expect_out "CKR_PIN_INCORRECT" "login with the old PIN"
    p11 --login --pin 5678 --decrypt --id "$id" -m AES-ECB -i pin-cipher.bin -o pin-decrypted.bin
    same_file pin-decrypted.bin pin-plain.bin "decryption after C_SetPIN"

    step "wrong user PINs: count low, final try, locked"
    # The PIN is 5678 now: p11u's $USER_PIN is a wrong one.
    p11u_fails -O
    token_flags_say "user PIN count low" "one wrong PIN"
    p11u_fails -O
    token_flags_say "final user PIN try" "two wrong PINs"
    p11u_fails -O
    token_flags_say "user PIN locked" "three wrong PINs"
    pkcs11-tool --module "$MODULE" --login --pin 5678 -O >pin-locked.log 2>&1 &&
        die "the right PIN still logs in after the PIN locked"
    grep -qF CKR_PIN_LOCKED pin-locked.log || die "login with a locked PIN: $(cat pin-locked.log)"

    step "C_InitPIN by the SO unlocks; the keys survive"
    p11 --init-pin --login --so-pin "$SO_PIN" --pin "$USER_PIN"
    p11 -L
    expect_no_out "user PIN locked" "token flags after C_InitPIN"
    expect_no_out "user PIN count low" "token flags after C_InitPIN"
    p11u --decrypt --id "$id" -m AES-ECB -i pin-cipher.bin -o pin-decrypted.bin
    same_file pin-decrypted.bin pin-plain.bin "decryption after the SO reset the PIN"
}

# ---------------------------------------------------------------------------------------
# Mechanism list

list_mechanisms() {
    local mech
    step "--list-mechanisms"
    p11 --list-mechanisms
    for mech in AES-KEY-GEN AES-ECB AES-CBC AES-CBC-PAD AES-CTR AES-GCM AES-KEY-WRAP \
        "mechtype-0x210B" AES-CMAC RSA-PKCS-KEY-PAIR-GEN RSA-PKCS SHA256-RSA-PKCS \
        SHA384-RSA-PKCS SHA512-RSA-PKCS RSA-PKCS-PSS SHA256-RSA-PKCS-PSS SHA384-RSA-PKCS-PSS \
        RSA-PKCS-OAEP ECDSA-KEY-PAIR-GEN ECDSA ECDSA-SHA256 ECDSA-SHA384 ECDH1-DERIVE \
        SHA-1 SHA256 SHA384 SHA512 GENERIC-SECRET-KEY-GEN SHA256-HMAC SHA384-HMAC SHA512-HMAC; do
        grep -qE "^  $mech, " <<<"$P11_OUT" || {
            echo "$P11_OUT" >&2
            die "--list-mechanisms lacks $mech"
        }
    done
}

conf_setup "${1:-}"
list_mechanisms
gen_keys
sign_matrix
digests
random_bytes
ecdh prime256v1
ecdh secp384r1
encrypt_aes
encrypt_rsa
wrap_matrix
import_rsa
import_ec prime256v1 72
import_ec secp384r1 75
import_ec secp256k1 76
import_certificate
import_data
import_secret
delete_objects
allowed_mechanisms
always_authenticate
pin_lifecycle
echo "PASS: pkcs11_tool_matrix"
