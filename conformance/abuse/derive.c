/*
 * ECDH (CKM_ECDH1_DERIVE) with malformed peer points, every KDF, shared data or none, and
 * derived keys of odd lengths; and every key as the base key.
 */
#include "common.h"

#define N(a) (sizeof(a) / sizeof(a[0]))
#define BOGUS_KDF 0x7FFF0001UL

static const struct fn HOLDER = {"C_DeriveKey", 0, V320, "", .prep = P_NONE};
static char WHAT[160];

/* Peer point variants made from a valid uncompressed P-256 point. */
static CK_ULONG peer(int v, CK_BYTE *out) {
    const CK_BYTE *p = ST.ec_point;
    switch (v) {
    case 0: memcpy(out, p, 65); return 65;
    case 1: out[0] = 0x04, out[1] = 65, memcpy(out + 2, p, 65); return 67;
    case 2: out[0] = 0x02 | (p[64] & 1), memcpy(out + 1, p + 1, 32); return 33;
    case 3: memcpy(out, p + 1, 64); return 64;
    case 4: memcpy(out, p, 65), out[64] ^= 1; return 65;
    case 5: out[0] = 0; return 1;
    case 6: return 0;
    case 7: memset(out, 0, 65), out[0] = 4; return 65;
    case 8: out[0] = 0x04, out[1] = 0x81, out[2] = 65, memcpy(out + 3, p, 65); return 68;
    case 9: out[0] = 0x04, out[1] = 0x7f, memcpy(out + 2, p, 65); return 67;
    default: memset(out, 0xA5, 97), out[0] = 4; return 97;
    }
}
#define N_PEERS 11

void derive(CK_SESSION_HANDLE s, const CK_OBJECT_HANDLE *keys, size_t n_keys) {
    static const CK_ULONG kdfs[] = {CKD_NULL, CKD_SHA1_KDF, CKD_SHA256_KDF, CKD_SHA512_KDF, BOGUS_KDF};
    static CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    static CK_KEY_TYPE aes = CKK_AES, generic = CKK_GENERIC_SECRET;
    static CK_BBOOL no = CK_FALSE;
    static const struct {
        CK_KEY_TYPE *type;
        CK_ULONG len; /* 0: no CKA_VALUE_LEN */
    } targets[] = {{&aes, 0}, {&aes, 16}, {&aes, 32}, {&aes, 33}, {&generic, 0}, {&generic, 1},
                   {&generic, 64}, {&generic, 1000}, {&generic, 1UL << 31}, {&generic, ULONG_MAX}};
    const CK_FUNCTION_LIST *f = &P11->v2;
    const size_t bases[] = {KEY_EC_PRIV, KEY_SM2_PRIV};
    for (int v = 0; v < N_PEERS; v++)
        for (size_t k = 0; k < N(kdfs); k++)
            for (int shared = 0; shared < 2; shared++)
                for (size_t t = 0; t < N(targets); t++)
                    for (size_t b = 0; b < (v == 0 ? n_keys : N(bases)); b++) {
                        struct call c = {.f = &HOLDER};
                        CK_BYTE point[128];
                        CK_ULONG plen = peer(v, point);
                        CK_ECDH1_DERIVE_PARAMS p = {kdfs[k], shared ? 6 : 0,
                                                    shared ? call_block(&c, "shared", 6) : NULL, plen,
                                                    call_block(&c, point, plen)};
                        CK_MECHANISM m = {CKM_ECDH1_DERIVE, call_block(&c, &p, sizeof(p)), sizeof(p)};
                        CK_ULONG len = targets[t].len;
                        CK_ATTRIBUTE tpl[] = {{CKA_CLASS, &secret, sizeof(secret)},
                                              {CKA_KEY_TYPE, targets[t].type, sizeof(CK_KEY_TYPE)},
                                              {CKA_TOKEN, &no, 1},
                                              {CKA_VALUE_LEN, &len, sizeof(len)}};
                        CK_OBJECT_HANDLE base = v == 0 ? keys[b] : keys[bases[b]], h;
                        snprintf(WHAT, sizeof(WHAT), "peer %d, KDF 0x%lx, shared %d, target %zu, base %zu",
                                 v, kdfs[k], shared, t, b);
                        CK_RV rv = (CALLS++, f->C_DeriveKey(s, &m, base, tpl, len ? 4 : 3, &h));
                        if (rv == CKR_GENERAL_ERROR)
                            fail("C_DeriveKey", WHAT, "got CKR_GENERAL_ERROR want any other code");
                        if (rv == CKR_OK && len > 4096)
                            fail("C_DeriveKey", WHAT, "a key of %lu bytes was made", len);
                        if (rv == CKR_OK)
                            f->C_DestroyObject(s, h);
                        call_close(&c, CKR_OK);
                    }
}
