/*
 * Every mechanism the token lists, for each operation its info names: started with every
 * key of every type and its valid parameter, then run on data of odd lengths (0, 1, 15, 17,
 * ... bytes; garbage signatures and ciphertexts), single-part and in parts, with size queries;
 * then started with every bad parameter structure. Any result will do but an internal error
 * (CKR_GENERAL_ERROR, a caught panic) or a crash; valgrind watches every access.
 */
#include "common.h"

enum op { OP_ENCRYPT, OP_DECRYPT, OP_SIGN, OP_VERIFY, OP_DIGEST, N_OPS };
static const CK_FLAGS OP_FLAG[N_OPS] = {CKF_ENCRYPT, CKF_DECRYPT, CKF_SIGN, CKF_VERIFY, CKF_DIGEST};
static const char *const OP_NAME[N_OPS] = {"encrypt", "decrypt", "sign", "verify", "digest"};
static const CK_ULONG LENS[] = {0, 1, 15, 16, 17, 32, 64, 100, 256, 257, 1000};
#define N_LENS (sizeof(LENS) / sizeof(LENS[0]))
#define ALL_OPS (CKF_ENCRYPT | CKF_DECRYPT | CKF_DIGEST | CKF_SIGN | CKF_VERIFY | CKF_FIND_OBJECTS)

static const struct fn HOLDER = {"mechanisms", 0, V320, "", .prep = P_NONE};
static const CK_FUNCTION_LIST *F;
static CK_SESSION_HANDLE S;
static char WHAT[160];

/* Anything but an internal error. */
static CK_RV seen(const char *fn, CK_RV rv) {
    CALLS++;
    if (rv == CKR_GENERAL_ERROR)
        fail(fn, WHAT, "got CKR_GENERAL_ERROR want any other code");
    return rv;
}

static CK_RV start(enum op o, CK_MECHANISM *m, CK_OBJECT_HANDLE k) {
    switch (o) {
    case OP_ENCRYPT: return seen("C_EncryptInit", F->C_EncryptInit(S, m, k));
    case OP_DECRYPT: return seen("C_DecryptInit", F->C_DecryptInit(S, m, k));
    case OP_SIGN: return seen("C_SignInit", F->C_SignInit(S, m, k));
    case OP_VERIFY: return seen("C_VerifyInit", F->C_VerifyInit(S, m, k));
    default: return seen("C_DigestInit", F->C_DigestInit(S, m));
    }
}

static void cancel(void) {
    CALLS++;
    P11->C_SessionCancel(S, ALL_OPS);
}

/* A single-part call: size query (its length left undefined before: the query must not read
   it), then a buffer of exactly the length it gave. */
static void single(struct call *c, enum op o, const CK_BYTE *in, CK_ULONG n) {
    CK_ULONG *q = call_undefined(c, sizeof(CK_ULONG)), need, len;
    CK_RV rv;
    switch (o) {
    case OP_VERIFY:
        seen("C_Verify", F->C_Verify(S, (CK_BYTE *)in, n, (CK_BYTE *)in, n));
        return;
    case OP_ENCRYPT: rv = seen("C_Encrypt", F->C_Encrypt(S, (CK_BYTE *)in, n, NULL, q)); break;
    case OP_DECRYPT: rv = seen("C_Decrypt", F->C_Decrypt(S, (CK_BYTE *)in, n, NULL, q)); break;
    case OP_SIGN: rv = seen("C_Sign", F->C_Sign(S, (CK_BYTE *)in, n, NULL, q)); break;
    default: rv = seen("C_Digest", F->C_Digest(S, (CK_BYTE *)in, n, NULL, q)); break;
    }
    if (rv != CKR_OK || *q > 1 << 20)
        return;
    need = *q;
    CK_BYTE *out = call_block(c, NULL, need);
    len = need;
    switch (o) {
    case OP_ENCRYPT: rv = seen("C_Encrypt", F->C_Encrypt(S, (CK_BYTE *)in, n, out, &len)); break;
    case OP_DECRYPT: rv = seen("C_Decrypt", F->C_Decrypt(S, (CK_BYTE *)in, n, out, &len)); break;
    case OP_SIGN: rv = seen("C_Sign", F->C_Sign(S, (CK_BYTE *)in, n, out, &len)); break;
    default: rv = seen("C_Digest", F->C_Digest(S, (CK_BYTE *)in, n, out, &len)); break;
    }
    if (rv == CKR_OK && len > need)
        fail(OP_NAME[o], WHAT, "wrote %lu bytes, the size query said %lu", len, need);
}

/* One part: size query, then a buffer of exactly that length. */
static void part(struct call *c, enum op o, const CK_BYTE *in, CK_ULONG n) {
    CK_ULONG *q = call_undefined(c, sizeof(CK_ULONG)), need;
    CK_RV rv;
    switch (o) {
    case OP_ENCRYPT: rv = seen("C_EncryptUpdate", F->C_EncryptUpdate(S, (CK_BYTE *)in, n, NULL, q)); break;
    case OP_DECRYPT: rv = seen("C_DecryptUpdate", F->C_DecryptUpdate(S, (CK_BYTE *)in, n, NULL, q)); break;
    case OP_SIGN: seen("C_SignUpdate", F->C_SignUpdate(S, (CK_BYTE *)in, n)); return;
    case OP_VERIFY: seen("C_VerifyUpdate", F->C_VerifyUpdate(S, (CK_BYTE *)in, n)); return;
    default: seen("C_DigestUpdate", F->C_DigestUpdate(S, (CK_BYTE *)in, n)); return;
    }
    if (rv != CKR_OK || *q > 1 << 20)
        return;
    need = *q;
    CK_BYTE *out = call_block(c, NULL, need);
    CK_ULONG len = need;
    if (o == OP_ENCRYPT)
        seen("C_EncryptUpdate", F->C_EncryptUpdate(S, (CK_BYTE *)in, n, out, &len));
    else
        seen("C_DecryptUpdate", F->C_DecryptUpdate(S, (CK_BYTE *)in, n, out, &len));
}

static void final(struct call *c, enum op o, const CK_BYTE *in, CK_ULONG n) {
    CK_ULONG *q = call_undefined(c, sizeof(CK_ULONG)), need, len;
    CK_RV rv;
    switch (o) {
    case OP_VERIFY: seen("C_VerifyFinal", F->C_VerifyFinal(S, (CK_BYTE *)in, n)); return;
    case OP_ENCRYPT: rv = seen("C_EncryptFinal", F->C_EncryptFinal(S, NULL, q)); break;
    case OP_DECRYPT: rv = seen("C_DecryptFinal", F->C_DecryptFinal(S, NULL, q)); break;
    case OP_SIGN: rv = seen("C_SignFinal", F->C_SignFinal(S, NULL, q)); break;
    default: rv = seen("C_DigestFinal", F->C_DigestFinal(S, NULL, q)); break;
    }
    if (rv != CKR_OK || *q > 1 << 20)
        return;
    need = *q;
    CK_BYTE *out = call_block(c, NULL, need);
    len = need;
    switch (o) {
    case OP_ENCRYPT: seen("C_EncryptFinal", F->C_EncryptFinal(S, out, &len)); break;
    case OP_DECRYPT: seen("C_DecryptFinal", F->C_DecryptFinal(S, out, &len)); break;
    case OP_SIGN: seen("C_SignFinal", F->C_SignFinal(S, out, &len)); break;
    default: seen("C_DigestFinal", F->C_DigestFinal(S, out, &len)); break;
    }
}

/* The operation on data of every odd length, single-part and in two parts. */
static void on_data(enum op o, CK_MECHANISM *m, CK_OBJECT_HANDLE k, size_t n_lens) {
    for (size_t i = 0; i < n_lens; i++) {
        struct call c = {.f = &HOLDER};
        CK_BYTE *in = call_block(&c, NULL, LENS[i]);
        for (CK_ULONG j = 0; j < LENS[i]; j++)
            in[j] = (CK_BYTE)(j * 7 + i);
        if (start(o, m, k) == CKR_OK) {
            single(&c, o, in, LENS[i]);
            cancel();
        }
        if (start(o, m, k) == CKR_OK) {
            part(&c, o, in, LENS[i]);
            part(&c, o, in, LENS[i]);
            final(&c, o, in, LENS[i]);
            cancel();
        }
        call_close(&c, CKR_OK);
    }
}

void mechanisms(void) {
    F = &P11->v2;
    ensure_state();
    S = open_rw();
    CK_OBJECT_HANDLE keys[MAX_KEYS];
    size_t n_keys = make_keys(S, keys);
    CK_ULONG n;
    CK_MECHANISM_TYPE *types = mechanism_list(&n);
    for (CK_ULONG t = 0; t < n; t++) {
        CK_MECHANISM_INFO info;
        MUST("C_GetMechanismInfo", F->C_GetMechanismInfo(ST.slot, types[t], &info));
        for (int o = 0; o < N_OPS; o++) {
            if (!(info.flags & OP_FLAG[o]))
                continue;
            struct call c = {.f = &HOLDER};
            CK_MECHANISM m = valid_mech(&c, types[t]);
            CK_OBJECT_HANDLE good = keys[0];
            int found = 0;
            for (size_t k = 0; k < (o == OP_DIGEST ? 1 : n_keys); k++) {
                snprintf(WHAT, sizeof(WHAT), "mechanism 0x%lx, %s, key %zu", types[t], OP_NAME[o], k);
                if (start(o, &m, keys[k]) != CKR_OK)
                    continue;
                cancel();
                good = found++ ? good : keys[k];
                on_data(o, &m, keys[k], N_LENS);
            }
            if (getenv("ABUSE_VERBOSE"))
                printf("mechanism 0x%lx %s: %d keys\n", types[t], OP_NAME[o], found);
            if (!found)
                fail("mechanisms", "set-up", "mechanism 0x%lx: no key can %s with it", types[t],
                     OP_NAME[o]);
            struct param bad[64];
            size_t n_bad = bad_params(&c, types[t], bad, 64);
            for (size_t b = 0; b < n_bad; b++) {
                CK_MECHANISM bm = {types[t], bad[b].p, bad[b].len};
                snprintf(WHAT, sizeof(WHAT), "mechanism 0x%lx, %s, parameter %s", types[t],
                         OP_NAME[o], bad[b].what);
                if (start(o, &bm, good) == CKR_OK) {
                    cancel();
                    on_data(o, &bm, good, 3);
                }
            }
            call_close(&c, CKR_OK);
        }
    }
    free(types);
    /* The token key outlives the session; the others go with it. */
    MUST("C_DestroyObject", F->C_DestroyObject(S, keys[n_keys - 1]));
    MUST("C_CloseSession", F->C_CloseSession(S));
}
