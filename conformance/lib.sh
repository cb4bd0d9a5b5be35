# shellcheck shell=bash
# Helpers shared by the conformance scripts. Sourced, never run on its own.
#
# A script calls `conf_setup "$1"` first: it checks the module path, makes a private temp
# directory (removed on exit, with any background process registered through `conf_bg`),
# points the library at a fresh token store there with cheap Argon2id settings, and
# initializes the token and the user PIN through pkcs11-tool.

SO_PIN=12345678
USER_PIN=1234

# Prints a failure and stops the script; the EXIT trap cleans up.
die() {
    echo "FAIL: $*" >&2
    exit 1
}

step() {
    echo "== $*"
}

# A tool missing is a failure that names the Debian package to install, never a skip.
need_tool() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is missing: apt-get install $package"
}

# Background processes (servers) to kill on exit, by PID.
CONF_PIDS=()

conf_bg() {
    CONF_PIDS+=("$1")
}

conf_cleanup() {
    local pid
    for pid in "${CONF_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "${WORK:-}" && -d "$WORK" ]]; then
        rm -rf "$WORK"
    fi
}

conf_setup() {
    [[ $# -ge 1 && -n "$1" ]] || die "usage: $0 /path/to/libkms_pkcs11.so"
    [[ -f "$1" ]] || die "module $1 does not exist"
    MODULE=$(realpath "$1")
    need_tool pkcs11-tool opensc
    need_tool openssl openssl

    WORK=$(mktemp -d "${TMPDIR:-/tmp}/kms-conf.XXXXXX")
    trap conf_cleanup EXIT
    # Everything the tools might write under $HOME (OpenSSL's random seed file, p11-kit's
    # user configuration) stays inside the temp directory.
    export HOME=$WORK/home
    mkdir -p "$HOME" "$WORK/store"
    export KMS_PKCS11_HOME=$WORK/store
    export KMS_PKCS11_CONFIG=$WORK/kms.toml
    # Argon2id at its cheapest: each pkcs11-tool run logs in again, and the default cost
    # would dominate the run time of the scripts. Three wrong PINs lock a PIN.
    cat >"$KMS_PKCS11_CONFIG" <<'EOF'
[pin]
argon2_memory_kib = 64
argon2_iterations = 1
max_attempts = 3
EOF
    # For diagnosis: CONF_DEBUG_LOG=<file> makes the library append debug logs (every call
    # that fails, and why) to that file.
    if [[ -n "${CONF_DEBUG_LOG:-}" ]]; then
        printf '\n[log]\nlevel = "debug"\nfile = "%s"\n' "$CONF_DEBUG_LOG" >>"$KMS_PKCS11_CONFIG"
    fi
    cd "$WORK" || die "cannot enter $WORK"

    step "initialize the token and the user PIN"
    p11 --init-token --label conformance --so-pin "$SO_PIN"
    expect_out "Token successfully initialized" "--init-token"
    p11 --init-pin --login --so-pin "$SO_PIN" --pin "$USER_PIN"
    expect_out "User PIN successfully initialized" "--init-pin"
}

# Runs pkcs11-tool on the module; its combined output goes to $P11_OUT. A non-zero exit
# stops the script and shows that output.
p11() {
    local log=$WORK/p11.log
    if ! pkcs11-tool --module "$MODULE" "$@" >"$log" 2>&1; then
        cat "$log" >&2
        die "pkcs11-tool $* exited non-zero"
    fi
    P11_OUT=$(cat "$log")
}

# pkcs11-tool logged in as the user.
p11u() {
    p11 --login --pin "$USER_PIN" "$@"
}

# pkcs11-tool that is expected to fail; its output goes to $P11_OUT.
p11u_fails() {
    local log=$WORK/p11.log
    if pkcs11-tool --module "$MODULE" --login --pin "$USER_PIN" "$@" >"$log" 2>&1; then
        cat "$log" >&2
        die "pkcs11-tool $* succeeded but should have failed"
    fi
    P11_OUT=$(cat "$log")
}

# Asserts that the last pkcs11-tool output contains a fixed string.
expect_out() {
    local want=$1 what=$2
    if ! grep -qF -- "$want" <<<"$P11_OUT"; then
        echo "$P11_OUT" >&2
        die "$what: output lacks '$want'"
    fi
}

# Asserts that the last pkcs11-tool output has a line that is exactly this.
expect_line() {
    local want=$1 what=$2
    if ! grep -qxF -- "$want" <<<"$P11_OUT"; then
        echo "$P11_OUT" >&2
        die "$what: output lacks the line '$want'"
    fi
}

# Asserts that the last pkcs11-tool output does not contain a fixed string.
expect_no_out() {
    local unwanted=$1 what=$2
    if grep -qF -- "$unwanted" <<<"$P11_OUT"; then
        echo "$P11_OUT" >&2
        die "$what: output contains '$unwanted'"
    fi
}

# Runs any other command; on failure shows its output and stops.
run() {
    local log=$WORK/run.log
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        die "$* exited non-zero"
    fi
    # shellcheck disable=SC2034 # read by the scripts that source this file
    RUN_OUT=$(cat "$log")
}

# Asserts two files are byte for byte equal.
same_file() {
    local a=$1 b=$2 what=$3
    cmp -s "$a" "$b" || die "$what: $a and $b differ"
}

# Lower-case hex of a file, on one line (od: coreutils, always there).
hex_of() {
    od -An -v -tx1 "$1" | tr -d ' \n'
}

# Writes the bytes of a hex string to a file.
unhex() {
    local hex=$1 out=$2 escapes="" i
    for ((i = 0; i < ${#hex}; i += 2)); do escapes+="\\x${hex:i:2}"; done
    # shellcheck disable=SC2059 # the format is the \x escapes themselves
    printf "$escapes" >"$out"
}
