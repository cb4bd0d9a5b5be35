/*
 * What a call with a bad argument leaves behind in its own, valid session. PKCS#11 3.0 5.2
 * and each function's text: a failure ends the operation the call continued, except a short
 * buffer, and a size query keeps it; otherwise a failed call leaves the token as it was, so a
 * failed init starts nothing and a failed C_CreateObject (or generation, copy, unwrap,
 * derivation) makes no object.
 */
#include "common.h"

/* Searches have no rule that failures end them; nor has C_DigestKey, whose refusal of a key
   leaves the digest running as the general rule (a failed call changes nothing) says. */
static int ends_on_failure(const struct fn *f) {
    return f->prep != P_NONE && f->prep != P_FIND && f->id != F_DigestKey;
}

static int starts_operation(const struct fn *f) {
    switch (f->id) {
    case F_EncryptInit: case F_DecryptInit: case F_DigestInit: case F_SignInit: case F_VerifyInit:
    case F_VerifySignatureInit: case F_FindObjectsInit:
        return 1;
    default:
        return 0;
    }
}

int makes_objects(const struct fn *f) {
    switch (f->id) {
    case F_CreateObject: case F_CopyObject: case F_GenerateKey: case F_GenerateKeyPair:
    case F_UnwrapKey: case F_DeriveKey:
        return 1;
    default:
        return 0;
    }
}

CK_ULONG count_objects(CK_SESSION_HANDLE s) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_OBJECT_HANDLE h[64];
    CK_ULONG n, total = 0;
    MUST("C_FindObjectsInit", f->C_FindObjectsInit(s, NULL, 0));
    do {
        MUST("C_FindObjects", f->C_FindObjects(s, h, 64, &n));
        total += n;
    } while (n > 0);
    MUST("C_FindObjectsFinal", f->C_FindObjectsFinal(s));
    return total;
}

/* The valid call again, in the session of the bad one; returns its code. */
static CK_RV valid_again(const struct under_test *ut, const struct call *bad) {
    struct call c;
    call_open_in(&c, bad->f, 1, bad->work);
    CK_RV rv = dispatch(ut, bad->f, c.a);
    call_close(&c, rv);
    return rv;
}

void after_bad_call(const struct under_test *ut, const struct call *bad, const char *what,
                    CK_RV rv, int query, CK_RV base, CK_ULONG objects) {
    const struct fn *f = bad->f;
    char label[200];
    if (makes_objects(f) && rv != CKR_OK) {
        CK_ULONG now = count_objects(bad->work);
        if (now != objects)
            fail(f->name, what, "failed with %s, yet the session sees %lu objects, %lu before",
                 rv_name(rv), now, objects);
    }
    if (starts_operation(f) && rv != CKR_OK) {
        snprintf(label, sizeof(label), "%s, then the valid call", what);
        expect(f->name, label, valid_again(ut, bad), base);
    }
    if (ends_on_failure(f)) {
        int kept = rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && query);
        if (kept || rv != CKR_OK) {
            snprintf(label, sizeof(label), "%s, then the valid call", what);
            expect(f->name, label, valid_again(ut, bad), kept ? base : CKR_OPERATION_NOT_INITIALIZED);
        }
    }
}
