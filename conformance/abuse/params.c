/*
 * Mechanism parameters: the valid one of each mechanism that takes one, and bad ones of every
 * structure the library reads (NULL inner pointers with lengths, zero and huge lengths,
 * values out of range), each in heap blocks of its exact size.
 */
#include "common.h"

/* CK_RSA_AES_KEY_WRAP_PARAMS (PKCS#11 3.0), which p11-kit's header lacks. */
struct rsa_aes {
    CK_ULONG bits;
    CK_RSA_PKCS_OAEP_PARAMS *oaep;
};

/* CK_GCM_PARAMS as the 2.40 headers printed it, without ulIvBits. */
struct gcm240 {
    CK_BYTE *iv;
    CK_ULONG iv_len;
    CK_BYTE *aad;
    CK_ULONG aad_len;
    CK_ULONG tag_bits;
};

#define COPY(v) call_block(c, &(v), sizeof(v))
#define HUGE_LEN (1UL << 40)
#define BOGUS 0x7FFF0001UL

static CK_MECHANISM_TYPE pss_hash(CK_MECHANISM_TYPE t) {
    switch (t) {
    case CKM_SHA1_RSA_PKCS_PSS: return CKM_SHA_1;
    case CKM_SHA224_RSA_PKCS_PSS: return CKM_SHA224;
    case CKM_SHA384_RSA_PKCS_PSS: return CKM_SHA384;
    case CKM_SHA512_RSA_PKCS_PSS: return CKM_SHA512;
    default: return CKM_SHA256;
    }
}

static CK_RSA_PKCS_OAEP_PARAMS oaep_sha256(void) {
    return (CK_RSA_PKCS_OAEP_PARAMS){CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
}

/* The structure a mechanism's parameter is; a parameter of another structure would be a caller
   handing over integers as pointers, which no library can detect. */
enum kind { ANY, GCM, CTR, OAEP, RSA_AES, PSS, ECDH, MAC, DATA_KEY };

static enum kind kind_of(CK_MECHANISM_TYPE t) {
    switch (t) {
    case CKM_AES_GCM: case CKM_SM4_GCM: return GCM;
    case CKM_AES_CTR: case CKM_SM4_CTR: return CTR;
    case CKM_RSA_PKCS_OAEP: return OAEP;
    case CKM_RSA_AES_KEY_WRAP: return RSA_AES;
    case CKM_RSA_PKCS_PSS: case CKM_SHA1_RSA_PKCS_PSS: case CKM_SHA224_RSA_PKCS_PSS:
    case CKM_SHA256_RSA_PKCS_PSS: case CKM_SHA384_RSA_PKCS_PSS: case CKM_SHA512_RSA_PKCS_PSS:
        return PSS;
    case CKM_ECDH1_DERIVE: return ECDH;
    case CKM_SHA_1_HMAC_GENERAL: case CKM_SHA224_HMAC_GENERAL: case CKM_SHA256_HMAC_GENERAL:
    case CKM_SHA384_HMAC_GENERAL: case CKM_SHA512_HMAC_GENERAL: case CKM_AES_CMAC_GENERAL:
        return MAC;
    case CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT: return DATA_KEY;
    default: return ANY;
    }
}

CK_MECHANISM valid_mech(struct call *c, CK_MECHANISM_TYPE t) {
    CK_MECHANISM m = {t, NULL, 0};
    switch (t) {
    case CKM_AES_CBC: case CKM_AES_CBC_PAD: case CKM_SM4_CBC: case CKM_SM4_CBC_PAD:
        m.pParameter = call_block(c, PLAIN, 16), m.ulParameterLen = 16;
        break;
    case CKM_AES_CTR: case CKM_SM4_CTR: {
        CK_AES_CTR_PARAMS p = {128, {0}};
        m.pParameter = COPY(p), m.ulParameterLen = sizeof(p);
        break;
    }
    case CKM_AES_GCM: case CKM_SM4_GCM: {
        CK_GCM_PARAMS p = {call_block(c, PLAIN, 12), 12, 96, call_block(c, "head", 4), 4, 128};
        m.pParameter = COPY(p), m.ulParameterLen = sizeof(p);
        break;
    }
    case CKM_SHA_1_HMAC_GENERAL: case CKM_SHA224_HMAC_GENERAL: case CKM_SHA256_HMAC_GENERAL:
    case CKM_SHA384_HMAC_GENERAL: case CKM_SHA512_HMAC_GENERAL: case CKM_AES_CMAC_GENERAL: {
        CK_ULONG n = 16;
        m.pParameter = COPY(n), m.ulParameterLen = sizeof(n);
        break;
    }
    case CKM_RSA_PKCS_PSS: case CKM_SHA1_RSA_PKCS_PSS: case CKM_SHA224_RSA_PKCS_PSS:
    case CKM_SHA256_RSA_PKCS_PSS: case CKM_SHA384_RSA_PKCS_PSS: case CKM_SHA512_RSA_PKCS_PSS: {
        static const CK_ULONG mgf[] = {CKG_MGF1_SHA1, CKG_MGF1_SHA224, CKG_MGF1_SHA256,
                                       CKG_MGF1_SHA384, CKG_MGF1_SHA512};
        static const CK_ULONG len[] = {20, 28, 32, 48, 64};
        CK_MECHANISM_TYPE h = pss_hash(t);
        int i = h == CKM_SHA_1 ? 0 : h == CKM_SHA224 ? 1 : h == CKM_SHA256 ? 2 : h == CKM_SHA384 ? 3 : 4;
        CK_RSA_PKCS_PSS_PARAMS p = {h, mgf[i], len[i]};
        m.pParameter = COPY(p), m.ulParameterLen = sizeof(p);
        break;
    }
    case CKM_RSA_PKCS_OAEP: {
        CK_RSA_PKCS_OAEP_PARAMS p = oaep_sha256();
        m.pParameter = COPY(p), m.ulParameterLen = sizeof(p);
        break;
    }
    case CKM_RSA_AES_KEY_WRAP: {
        CK_RSA_PKCS_OAEP_PARAMS o = oaep_sha256();
        struct rsa_aes p = {256, COPY(o)};
        m.pParameter = COPY(p), m.ulParameterLen = sizeof(p);
        break;
    }
    case CKM_ECDH1_DERIVE: {
        CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, ST.ec_point_len,
                                    call_block(c, ST.ec_point, ST.ec_point_len)};
        m.pParameter = COPY(p), m.ulParameterLen = sizeof(p);
        break;
    }
    case CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT: {
        CK_KMS_DATA_KEY_PARAMS p = {32, NULL, 0};
        m.pParameter = COPY(p), m.ulParameterLen = sizeof(p);
        break;
    }
    }
    return m;
}

#define ADD(label, ptr, len)                                                                    \
    do {                                                                                        \
        if (n < cap)                                                                            \
            out[n++] = (struct param){label, ptr, len};                                         \
    } while (0)
#define ADD_STRUCT(label, v) ADD(label, COPY(v), sizeof(v))
/* Bad instances of one structure, for the mechanisms that take it. */
#define ADD_ALL(k, label, array)                                                                \
    do {                                                                                        \
        if (kind == k)                                                                          \
            for (size_t i_ = 0; i_ < sizeof(array) / sizeof(array[0]); i_++)                   \
                ADD_STRUCT(label, array[i_]);                                                   \
    } while (0)

size_t bad_params(struct call *c, CK_MECHANISM_TYPE t, struct param *out, size_t cap) {
    size_t n = 0;
    enum kind kind = kind_of(t);
    static const size_t sizes[] = {1, 4, 8, 12, 16, 24, 32, 40, 48, 64};
    ADD("NULL, length 16", NULL, 16);
    ADD("NULL, length ULONG_MAX", NULL, ULONG_MAX);
    ADD("16 bytes, length 2^40", call_block(c, NULL, 16), HUGE_LEN);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        static char labels[10][24];
        snprintf(labels[i], sizeof(labels[i]), "%zu zero bytes", sizes[i]);
        CK_BYTE *z = call_block(c, NULL, sizes[i]);
        memset(z, 0, sizes[i]);
        ADD(labels[i], z, sizes[i]);
    }
    CK_BYTE *iv = call_block(c, PLAIN, 12), *aad = call_block(c, "head", 4);
    CK_GCM_PARAMS g[] = {
        {NULL, 12, 96, aad, 4, 128}, {iv, HUGE_LEN, 96, aad, 4, 128}, {iv, 0, 0, aad, 4, 128},
        {iv, 12, 96, NULL, 4, 128},  {iv, 12, 96, aad, ULONG_MAX, 128}, {iv, 12, 96, aad, 4, 0},
        {iv, 12, 96, aad, 4, 1},     {iv, 12, 96, aad, 4, 136},       {iv, 12, 96, aad, 4, ULONG_MAX},
        {iv, 12, ULONG_MAX, aad, 4, 128},
    };
    ADD_ALL(GCM, "CK_GCM_PARAMS, one field bad", g);
    struct gcm240 g2[] = {{NULL, 12, aad, 4, 128}, {iv, 12, aad, 4, 0}, {iv, HUGE_LEN, aad, 4, 96}};
    ADD_ALL(GCM, "2.40 CK_GCM_PARAMS, one field bad", g2);
    CK_AES_CTR_PARAMS ctr[] = {{0, {0}}, {129, {0}}, {ULONG_MAX, {0}}, {1, {0xff}}};
    ADD_ALL(CTR, "CK_AES_CTR_PARAMS, counter bits out of range", ctr);
    CK_BYTE *label = call_block(c, "label", 5);
    CK_RSA_PKCS_OAEP_PARAMS o[] = {
        {BOGUS, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0},
        {CKM_SHA256, BOGUS, CKZ_DATA_SPECIFIED, NULL, 0},
        {CKM_SHA256, CKG_MGF1_SHA256, BOGUS, NULL, 0},
        {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 5},
        {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, label, HUGE_LEN},
        {CKM_SHA256, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, label, 5},
        {CKM_MD5, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0},
    };
    ADD_ALL(OAEP, "CK_RSA_PKCS_OAEP_PARAMS, one field bad", o);
    struct rsa_aes ra[] = {{0, COPY(o[0])}, {256, NULL}, {ULONG_MAX, NULL}, {128, COPY(o[3])}};
    ADD_ALL(RSA_AES, "CK_RSA_AES_KEY_WRAP_PARAMS, one field bad", ra);
    CK_RSA_PKCS_PSS_PARAMS pss[] = {
        {BOGUS, CKG_MGF1_SHA256, 32}, {CKM_SHA256, BOGUS, 32}, {CKM_SHA256, CKG_MGF1_SHA256, ULONG_MAX},
        {CKM_SHA256, CKG_MGF1_SHA256, 1UL << 31}, {CKM_SHA256, CKG_MGF1_SHA256, 1000},
        {CKM_SHA_1, CKG_MGF1_SHA512, 0},
    };
    ADD_ALL(PSS, "CK_RSA_PKCS_PSS_PARAMS, one field bad", pss);
    CK_BYTE *point = call_block(c, ST.ec_point, ST.ec_point_len);
    CK_ECDH1_DERIVE_PARAMS e[] = {
        {BOGUS, 0, NULL, 65, point}, {CKD_NULL, 5, NULL, 65, point}, {CKD_SHA256_KDF, HUGE_LEN, label, 65, point},
        {CKD_NULL, 0, NULL, 0, point}, {CKD_NULL, 0, NULL, 1, point}, {CKD_NULL, 0, NULL, HUGE_LEN, point},
        {CKD_NULL, 0, NULL, 64, point}, {CKD_SHA512_KDF, 5, label, 65, point},
    };
    ADD_ALL(ECDH, "CK_ECDH1_DERIVE_PARAMS, one field bad", e);
    CK_ULONG mac[] = {0, 1, 65, ULONG_MAX};
    ADD_ALL(MAC, "MAC length out of range", mac);
    CK_KMS_DATA_KEY_PARAMS dk[] = {{1025, NULL, 0}, {ULONG_MAX, NULL, 0}, {32, NULL, 5}, {32, label, HUGE_LEN},
                                   {32, label, 5}};
    ADD_ALL(DATA_KEY, "CK_KMS_DATA_KEY_PARAMS, one field bad", dk);
    return n;
}
