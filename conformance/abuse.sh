#!/usr/bin/env bash
# Memory safety across the C boundary. conformance/abuse/ is a C program that dlopens the
# module and calls every entry point of every function list (2.40, 3.0, 3.2 and the vendor's)
# before C_Initialize, with NULL for each pointer, zero and huge lengths, invalid handles,
# mechanisms and parameters, in wrong orders and after C_Finalize, and in a correct flow that
# checks the size-query convention; then every mechanism with every key on odd data, templates
# of every attribute type, key management with odd inputs, overlapping buffers, a fork and
# racing threads. It runs under valgrind, which must report no error, and the library must
# never abort it. Then a soak of a million mixed operations must not grow the resident set by
# more than 8 MiB.
# Usage: abuse.sh /path/to/libkms_pkcs11.so  (ABUSE_SOAK_OPS=<n> changes the soak's length)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=conformance/lib.sh
source "$HERE/lib.sh"

need_tool cc build-essential
need_tool valgrind valgrind
P11_HEADER=/usr/include/p11-kit-1/p11-kit/pkcs11.h
[[ -f $P11_HEADER ]] || die "$P11_HEADER is missing: apt-get install libp11-kit-dev"
SOAK_OPS=${ABUSE_SOAK_OPS:-1000000}

conf_setup "$1"

step "compile conformance/abuse"
run cc -Wall -Wextra -Werror -O1 -g -I"$(dirname "$(dirname "$P11_HEADER")")" -I"$HERE/../include" \
    -I"$HERE/abuse" "$HERE"/abuse/*.c -o "$WORK/abuse" -ldl -pthread

step "every function of every list, bad arguments, wrong orders, a correct flow: under valgrind"
start=$SECONDS
suppressions=()
if [[ -f $HERE/valgrind.supp ]]; then
    suppressions=(--suppressions="$HERE/valgrind.supp")
fi
valgrind --error-exitcode=1 --leak-check=no "${suppressions[@]}" "$WORK/abuse" "$MODULE" ||
    die "the abuse run failed (its FAIL lines, or valgrind's report, are above)"
echo "valgrind run: $((SECONDS - start)) s"

# The audit queue is a bounded buffer of [audit] batch_records / 2 records (32768 by
# default, about 7 MiB, made with the first record): on a busy machine the writer lags and the
# queue fills, which is not growth. A small bound keeps it out of the measurement, with the trail still on.
printf '\n[audit]\nbatch_records = 512\n' >>"$KMS_PKCS11_CONFIG"
step "soak: $SOAK_OPS mixed operations"
"$WORK/abuse" "$MODULE" --soak "$SOAK_OPS" || die "the soak failed"
