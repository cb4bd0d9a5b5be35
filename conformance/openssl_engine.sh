#!/usr/bin/env bash
# OpenSSL through the libp11 "pkcs11" engine on the module: self-signed certificates made with
# the token's keys, then TLS 1.2 and 1.3 servers whose handshake signatures the token makes.
# Usage: openssl_engine.sh /path/to/libkms_pkcs11.so
set -euo pipefail
# shellcheck source=conformance/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENGINE_SO=/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so
# The line sent through each TLS session; s_server -rev sends it back reversed.
LINE="through the token $$"
REVERSED=""
for ((i = ${#LINE} - 1; i >= 0; i--)); do REVERSED+=${LINE:i:1}; done
# Every network wait is bounded: 0.1 s steps.
WAIT_STEPS=150

check_tools() {
    [[ -f $ENGINE_SO ]] || die "$ENGINE_SO is missing: apt-get install libengine-pkcs11-openssl"
    need_tool timeout coreutils
}

# Two OpenSSL configurations: one that loads the engine with the module and the user PIN (for
# req and s_server), and an empty one for the client side, so that nothing outside the temp
# directory (the system openssl.cnf) changes what is checked.
write_openssl_configs() {
    cat >engine.cnf <<EOF
openssl_conf = openssl_init

[openssl_init]
engines = engine_section

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE_SO
MODULE_PATH = $MODULE
PIN = $USER_PIN
init = 0

[req]
distinguished_name = req_dn

[req_dn]
EOF
    : >plain.cnf
}

engine_openssl() {
    OPENSSL_CONF=$WORK/engine.cnf openssl "$@"
}

plain_openssl() {
    OPENSSL_CONF=$WORK/plain.cnf openssl "$@"
}

# Makes a key pair in the token and a self-signed certificate for it through the engine;
# checks the certificate verifies and carries the token's public key.
make_key_and_cert() {
    local name=$1 key_type=$2 id=$3 want=$4
    step "$name: key pair in the token, self-signed certificate through the engine"
    p11u --keypairgen --key-type "$key_type" --id "$id" --label "$name"
    run engine_openssl req -new -x509 -engine pkcs11 -keyform engine \
        -key "pkcs11:token=conformance;object=$name;type=private" \
        -subj "/CN=$name.conformance.test" -addext "subjectAltName=IP:127.0.0.1" -days 2 -out "$name.crt"
    run plain_openssl verify -CAfile "$name.crt" "$name.crt"
    grep -qF "$name.crt: OK" <<<"$RUN_OUT" || die "$name: openssl verify does not accept the certificate: $RUN_OUT"
    run plain_openssl x509 -in "$name.crt" -noout -text
    grep -qF "$want" <<<"$RUN_OUT" || die "$name: certificate text lacks '$want': $RUN_OUT"

    # The certificate's key is the token's public key object, byte for byte. (Read through
    # the engine: pkcs11-tool 0.23 cannot export P-384 public keys.)
    run engine_openssl pkey -engine pkcs11 -inform engine -pubin \
        -in "pkcs11:token=conformance;object=$name;type=public" -pubout -outform DER -out "$name-token-pub.der"
    run plain_openssl x509 -in "$name.crt" -noout -pubkey -out "$name-cert-pub.pem"
    run plain_openssl pkey -pubin -in "$name-cert-pub.pem" -outform DER -out "$name-cert-pub.der"
    same_file "$name-cert-pub.der" "$name-token-pub.der" "$name: certificate key vs token key"
}

# Starts s_server with the token's key on a port the kernel picks (-accept 127.0.0.1:0) and
# waits until it prints the "ACCEPT host:port" line, which comes after listen(): from then on a
# connection cannot race the server's start. Sets SERVER_PID, SERVER_PORT, SERVER_LOG.
start_server() {
    local name=$1 i
    SERVER_LOG=$WORK/server-$name-$RANDOM.log
    # Created here: the background shell opens its redirection only when it gets to run.
    : >"$SERVER_LOG"
    # A plain command, not a shell function, in the background: $! is then the process to
    # kill (timeout, which passes the signal on to s_server, and ends it in any case).
    timeout 120 env OPENSSL_CONF="$WORK/engine.cnf" openssl s_server -engine pkcs11 -keyform engine \
        -key "pkcs11:token=conformance;object=$name;type=private" -cert "$name.crt" \
        -accept 127.0.0.1:0 -naccept 1 -rev >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    conf_bg "$SERVER_PID"
    for ((i = 0; i < WAIT_STEPS; i++)); do
        SERVER_PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$SERVER_LOG")
        [[ -n $SERVER_PORT ]] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$SERVER_LOG" >&2
            die "$name: s_server exited before listening"
        fi
        sleep 0.1
    done
    cat "$SERVER_LOG" >&2
    die "$name: s_server did not listen within $((WAIT_STEPS / 10)) s"
}

# Waits (bounded) until a file contains a fixed string or a process has ended.
wait_for_text() {
    local file=$1 text=$2 pid=$3 i
    for ((i = 0; i < WAIT_STEPS; i++)); do
        grep -qF -- "$text" "$file" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -qF -- "$text" "$file"
}

# Runs s_client against the server, sends $LINE and waits for it to come back reversed before
# closing its input (which ends the session). Client output goes to CLIENT_LOG.
tls_session() {
    local name=$1
    shift
    local fifo=$WORK/client.in client_pid
    CLIENT_LOG=$WORK/client-$name-$RANDOM.log
    : >"$CLIENT_LOG"
    rm -f "$fifo"
    mkfifo "$fifo"
    timeout 30 env OPENSSL_CONF="$WORK/plain.cnf" openssl s_client -connect "127.0.0.1:$SERVER_PORT" \
        -CAfile "$name.crt" -verify_return_error "$@" <"$fifo" >"$CLIENT_LOG" 2>&1 &
    client_pid=$!
    conf_bg "$client_pid"
    exec 3>"$fifo"
    echo "$LINE" >&3
    if ! wait_for_text "$CLIENT_LOG" "$REVERSED" "$client_pid"; then
        exec 3>&-
        cat "$CLIENT_LOG" "$SERVER_LOG" >&2
        die "$name $*: the line did not come back through the TLS session"
    fi
    exec 3>&-
    if ! wait "$client_pid"; then
        cat "$CLIENT_LOG" "$SERVER_LOG" >&2
        die "$name $*: s_client failed"
    fi
}

# Asserts a line of the client's output.
client_says() {
    local want=$1 what=$2
    if ! grep -qF -- "$want" "$CLIENT_LOG"; then
        cat "$CLIENT_LOG" >&2
        die "$what: s_client output lacks '$want'"
    fi
}

# One handshake: server with the token's key, client with the given options; checks the
# protocol, the certificate verification, the server signature type and the data path.
handshake() {
    local name=$1 protocol=$2 sigtype=$3
    shift 3
    step "$name: TLS handshake, $protocol, server signature $sigtype ($*)"
    start_server "$name"
    tls_session "$name" "$@"
    local what="$name $protocol $*"
    client_says "Protocol  : $protocol" "$what"
    client_says "Verify return code: 0 (ok)" "$what"
    client_says "Peer signature type: $sigtype" "$what"
    # -naccept 1: the server ends by itself once the session is closed.
    if ! wait_for_exit "$SERVER_PID"; then
        cat "$SERVER_LOG" >&2
        die "$what: s_server did not end after its one connection"
    fi
    grep -qF "CONNECTION ESTABLISHED" "$SERVER_LOG" || die "$what: the server logged no connection"
}

# Waits (bounded) for a background process to end; fails if it ends with an error.
wait_for_exit() {
    local pid=$1 i
    for ((i = 0; i < WAIT_STEPS; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && return 1
    wait "$pid"
}

# Other engine operations on the token's keys: ECDH (C_DeriveKey) against a peer key made by
# openssl, and RSA-OAEP decryption, each compared with openssl's own result.
engine_ecdh() {
    local name=$1 curve=$2
    step "$name: ECDH through the engine"
    run plain_openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$curve" -out peer.pem
    run plain_openssl pkey -in peer.pem -pubout -out peer-pub.pem
    run engine_openssl pkeyutl -engine pkcs11 -keyform engine -derive \
        -inkey "pkcs11:token=conformance;object=$name;type=private" -peerkey peer-pub.pem -out shared-token.bin
    run plain_openssl pkeyutl -derive -inkey peer.pem -peerkey "$name-cert-pub.pem" -out shared-openssl.bin
    same_file shared-token.bin shared-openssl.bin "$name: ECDH token vs openssl"
}

engine_rsa_oaep() {
    local name=$1
    step "$name: RSA-OAEP decryption through the engine"
    head -c 40 /dev/urandom >secret.bin
    run plain_openssl pkeyutl -encrypt -pubin -inkey "$name-cert-pub.pem" -pkeyopt rsa_padding_mode:oaep \
        -in secret.bin -out secret.enc
    run engine_openssl pkeyutl -engine pkcs11 -keyform engine -decrypt \
        -inkey "pkcs11:token=conformance;object=$name;type=private" -pkeyopt rsa_padding_mode:oaep \
        -in secret.enc -out secret.dec
    same_file secret.dec secret.bin "$name: RSA-OAEP decryption through the engine"
}

conf_setup "${1:-}"
check_tools
write_openssl_configs

make_key_and_cert tls-rsa rsa:2048 31 "Public-Key: (2048 bit)"
make_key_and_cert tls-ec EC:prime256v1 32 "ASN1 OID: prime256v1"
make_key_and_cert tls-ec384 EC:secp384r1 33 "ASN1 OID: secp384r1"

# TLS 1.3 allows only RSA-PSS for RSA keys: the token signs with CKM_RSA_PKCS_PSS.
handshake tls-rsa TLSv1.3 RSA-PSS -tls1_3
handshake tls-rsa TLSv1.2 RSA-PSS -tls1_2
# A TLS 1.2 client that offers only PKCS#1 v1.5 signatures: the token signs with CKM_RSA_PKCS.
handshake tls-rsa TLSv1.2 RSA -tls1_2 -sigalgs RSA+SHA256
handshake tls-ec TLSv1.3 ECDSA -tls1_3
handshake tls-ec TLSv1.2 ECDSA -tls1_2
handshake tls-ec384 TLSv1.3 ECDSA -tls1_3
engine_ecdh tls-ec P-256
engine_ecdh tls-ec384 P-384
engine_rsa_oaep tls-rsa
echo "PASS: openssl_engine"
