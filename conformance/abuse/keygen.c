/*
 * Key management with odd inputs: key generation with sizes and domain parameters out of
 * range, unwrapping of blobs of odd lengths into every key type with every unwrapping
 * mechanism and key, wrapping of every key with every wrapping mechanism and key (and the
 * result unwrapped again), and ECDH with malformed peer points, KDFs and key lengths.
 */
#include "common.h"

static const struct fn HOLDER = {"key management", 0, V320, "", .prep = P_NONE};
static const CK_FUNCTION_LIST *F;
static CK_SESSION_HANDLE S;
static char WHAT[160];

static CK_BBOOL YES = CK_TRUE, NO = CK_FALSE;
static CK_OBJECT_CLASS SECRET = CKO_SECRET_KEY, PRIVATE = CKO_PRIVATE_KEY;
static CK_KEY_TYPE TYPES[] = {CKK_AES, CKK_GENERIC_SECRET, CKK_SM4, CKK_EC, CKK_RSA, CKK_SM2};
static const CK_ULONG SIZES[] = {0, 1, 15, 16, 24, 31, 32, 33, 64, 4096, 1UL << 20, 1UL << 31,
                                 1UL << 40, ULONG_MAX};
#define N(a) (sizeof(a) / sizeof(a[0]))

static CK_RV seen(const char *fn, CK_RV rv) {
    CALLS++;
    if (rv == CKR_GENERAL_ERROR)
        fail(fn, WHAT, "got CKR_GENERAL_ERROR want any other code");
    return rv;
}

static void destroy_if(CK_RV rv, CK_OBJECT_HANDLE h) {
    if (rv == CKR_OK)
        seen("C_DestroyObject", F->C_DestroyObject(S, h));
}

static void generate_secret(void) {
    static const CK_MECHANISM_TYPE gens[] = {CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN, CKM_SM4_KEY_GEN};
    for (size_t g = 0; g < N(gens); g++)
        for (size_t i = 0; i < N(SIZES); i++) {
            CK_ULONG len = SIZES[i];
            CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &NO, 1}};
            CK_MECHANISM m = {gens[g], NULL, 0};
            CK_OBJECT_HANDLE h;
            snprintf(WHAT, sizeof(WHAT), "mechanism 0x%lx, CKA_VALUE_LEN %lu", gens[g], len);
            CK_RV rv = seen("C_GenerateKey", F->C_GenerateKey(S, &m, t, 2, &h));
            if (rv == CKR_OK && len > 4096)
                fail("C_GenerateKey", WHAT, "a key of %lu bytes was made", len);
            destroy_if(rv, h);
            /* A CK_ULONG attribute of four bytes. */
            t[0].ulValueLen = 4;
            rv = seen("C_GenerateKey", F->C_GenerateKey(S, &m, t, 2, &h));
            if (rv == CKR_OK)
                fail("C_GenerateKey", WHAT, "CKA_VALUE_LEN of 4 bytes accepted");
            destroy_if(rv, h);
        }
}

static void generate_pairs(void) {
    static const struct {
        const char *what;
        CK_BYTE der[16];
        CK_ULONG len;
    } params[] = {
        {"empty", {0}, 0},
        {"one byte", {0x06}, 1},
        {"truncated OID", {0x06, 0x08, 0x2a, 0x86, 0x48}, 5},
        {"OID length past the end", {0x06, 0x7f, 0x2a}, 3},
        {"long-form length of 2^32", {0x06, 0x84, 0xff, 0xff, 0xff, 0xff, 0x2a}, 7},
        {"unknown curve", {0x06, 0x03, 0x2a, 0x03, 0x04}, 5},
        {"secp256k1", {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}, 7},
        {"P-384", {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}, 7},
        {"explicit parameters", {0x30, 0x03, 0x02, 0x01, 0x01}, 5},
        {"printable string", {0x13, 0x0a, 'p', 'r', 'i', 'm', 'e', '2', '5', '6', 'v', '1'}, 12},
        {"NULL", {0x05, 0x00}, 2},
    };
    CK_MECHANISM ec = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, sm2 = {CKM_SM2_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &NO, 1}, {CKA_SIGN, &YES, 1}};
    for (size_t i = 0; i < N(params); i++) {
        struct call c = {.f = &HOLDER};
        CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, call_block(&c, params[i].der, params[i].len), params[i].len},
                              {CKA_TOKEN, &NO, 1}};
        CK_OBJECT_HANDLE hp, hs;
        snprintf(WHAT, sizeof(WHAT), "CKA_EC_PARAMS %s", params[i].what);
        CK_RV rv = seen("C_GenerateKeyPair", F->C_GenerateKeyPair(S, &ec, pub, 2, priv, 2, &hp, &hs));
        destroy_if(rv, hp), destroy_if(rv, hs);
        rv = seen("C_GenerateKeyPair", F->C_GenerateKeyPair(S, &sm2, pub, 2, priv, 2, &hp, &hs));
        destroy_if(rv, hp), destroy_if(rv, hs);
        call_close(&c, CKR_OK);
    }
    /* Sizes out of range only: a valid large size would only cost time. */
    static const CK_ULONG bits[] = {0, 1, 256, 511, 16385, 65536, 1UL << 20, 1UL << 40, ULONG_MAX};
    static const struct {
        CK_BYTE e[20];
        CK_ULONG len;
    } exps[] = {{{1, 0, 1}, 3}, {{0}, 0}, {{0}, 1}, {{1}, 1}, {{2}, 1}, {{0, 0, 0, 3}, 4},
                {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9}, {{1, 0, 0, 1}, 20}};
    CK_MECHANISM rsa = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    for (size_t b = 0; b < N(bits); b++)
        for (size_t e = 0; e < N(exps); e++) {
            CK_ULONG nbits = bits[b];
            struct call c = {.f = &HOLDER};
            CK_ATTRIBUTE pub[] = {{CKA_MODULUS_BITS, &nbits, sizeof(nbits)},
                                  {CKA_PUBLIC_EXPONENT, call_block(&c, exps[e].e, exps[e].len), exps[e].len},
                                  {CKA_TOKEN, &NO, 1}};
            CK_OBJECT_HANDLE hp, hs;
            snprintf(WHAT, sizeof(WHAT), "CKA_MODULUS_BITS %lu, exponent %zu", nbits, e);
            CK_RV rv = seen("C_GenerateKeyPair", F->C_GenerateKeyPair(S, &rsa, pub, 3, priv, 2, &hp, &hs));
            if (rv == CKR_OK && (nbits < 1024 || nbits > 16384))
                fail("C_GenerateKeyPair", WHAT, "a key pair of this size was made");
            destroy_if(rv, hp), destroy_if(rv, hs);
            call_close(&c, CKR_OK);
        }
}

/* Templates of every key type to unwrap into. */
static CK_ULONG unwrap_template(size_t i, CK_ATTRIBUTE *t, CK_ULONG *len) {
    CK_OBJECT_CLASS *cls =
        TYPES[i] == CKK_EC || TYPES[i] == CKK_RSA || TYPES[i] == CKK_SM2 ? &PRIVATE : &SECRET;
    t[0] = (CK_ATTRIBUTE){CKA_CLASS, cls, sizeof(*cls)};
    t[1] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &TYPES[i], sizeof(TYPES[i])};
    t[2] = (CK_ATTRIBUTE){CKA_TOKEN, &NO, 1};
    t[3] = (CK_ATTRIBUTE){CKA_VALUE_LEN, len, sizeof(*len)};
    return TYPES[i] == CKK_GENERIC_SECRET ? 4 : 3;
}

static void unwrap_garbage(const CK_MECHANISM_TYPE *types, const CK_FLAGS *flags, CK_ULONG n,
                           const CK_OBJECT_HANDLE *keys, size_t n_keys) {
    static const CK_ULONG lens[] = {0, 1, 7, 8, 16, 24, 40, 256, 257, 1000};
    for (CK_ULONG t = 0; t < n; t++) {
        if (!(flags[t] & CKF_UNWRAP))
            continue;
        for (size_t k = 0; k < n_keys; k++)
            for (size_t l = 0; l < N(lens); l++)
                for (size_t y = 0; y < N(TYPES); y++) {
                    struct call c = {.f = &HOLDER};
                    CK_MECHANISM m = valid_mech(&c, types[t]);
                    CK_BYTE *blob = call_block(&c, NULL, lens[l]);
                    CK_ATTRIBUTE tpl[4];
                    CK_ULONG vlen = 32;
                    CK_ULONG tn = unwrap_template(y, tpl, &vlen);
                    CK_OBJECT_HANDLE h;
                    snprintf(WHAT, sizeof(WHAT), "mechanism 0x%lx, key %zu, %lu garbage bytes, type 0x%lx",
                             types[t], k, lens[l], TYPES[y]);
                    CK_RV rv = seen("C_UnwrapKey", F->C_UnwrapKey(S, &m, keys[k], blob, lens[l], tpl, tn, &h));
                    destroy_if(rv, h);
                    call_close(&c, CKR_OK);
                }
    }
}

/* Every key wrapped by every wrapping mechanism and key, then unwrapped again. */
static void wrap_everything(const CK_MECHANISM_TYPE *types, const CK_FLAGS *flags, CK_ULONG n,
                            const CK_OBJECT_HANDLE *keys, size_t n_keys) {
    for (CK_ULONG t = 0; t < n; t++) {
        if (!(flags[t] & CKF_WRAP))
            continue;
        for (size_t w = 0; w < n_keys; w++)
            for (size_t k = 0; k < n_keys; k++) {
                struct call c = {.f = &HOLDER};
                CK_MECHANISM m = valid_mech(&c, types[t]);
                CK_ULONG need = 0;
                snprintf(WHAT, sizeof(WHAT), "mechanism 0x%lx, wrapping key %zu, key %zu", types[t], w, k);
                if (seen("C_WrapKey", F->C_WrapKey(S, &m, keys[w], keys[k], NULL, &need)) == CKR_OK &&
                    need < 1 << 20) {
                    CK_BYTE *out = call_block(&c, NULL, need);
                    CK_ULONG len = need;
                    if (seen("C_WrapKey", F->C_WrapKey(S, &m, keys[w], keys[k], out, &len)) == CKR_OK) {
                        for (size_t u = 0; u < n_keys; u++)
                            for (size_t y = 0; y < N(TYPES); y++) {
                                CK_ATTRIBUTE tpl[4];
                                CK_ULONG vlen = 32;
                                CK_ULONG tn = unwrap_template(y, tpl, &vlen);
                                CK_OBJECT_HANDLE h;
                                CK_RV rv = seen("C_UnwrapKey", F->C_UnwrapKey(S, &m, keys[u], out, len, tpl, tn, &h));
                                destroy_if(rv, h);
                            }
                    }
                }
                call_close(&c, CKR_OK);
            }
    }
}

void key_management(void) {
    F = &P11->v2;
    ensure_state();
    S = open_rw();
    CK_OBJECT_HANDLE keys[MAX_KEYS];
    size_t n_keys = make_keys(S, keys);
    CK_ULONG n;
    CK_MECHANISM_TYPE *types = mechanism_list(&n);
    CK_FLAGS *flags = malloc(n * sizeof(*flags));
    for (CK_ULONG t = 0; t < n; t++) {
        CK_MECHANISM_INFO info;
        MUST("C_GetMechanismInfo", F->C_GetMechanismInfo(ST.slot, types[t], &info));
        flags[t] = info.flags;
    }
    generate_secret();
    generate_pairs();
    unwrap_garbage(types, flags, n, keys, n_keys);
    wrap_everything(types, flags, n, keys, n_keys);
    derive(S, keys, n_keys);
    free(types);
    free(flags);
    MUST("C_DestroyObject", F->C_DestroyObject(S, keys[n_keys - 1]));
    MUST("C_CloseSession", F->C_CloseSession(S));
}
