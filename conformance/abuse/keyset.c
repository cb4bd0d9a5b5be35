/*
 * One key of every type the token serves, each allowed every use its type can have, for the
 * mechanism matrix: AES-128 and -256, a generic secret, SM4, EC P-256, RSA-2048 and SM2 key
 * pairs, and a token (KMS-managed) AES key for the KMS mechanisms.
 */
#include "common.h"

static CK_BBOOL YES = CK_TRUE, NO = CK_FALSE;
static CK_OBJECT_CLASS SECRET = CKO_SECRET_KEY;
static CK_KEY_TYPE AES = CKK_AES, GENERIC = CKK_GENERIC_SECRET;
static CK_ULONG LEN16 = 16, LEN32 = 32, BITS2048 = 2048;
static CK_BYTE F4[] = {1, 0, 1};
static CK_BYTE P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
/* 1.2.156.10197.1.301 */
static CK_BYTE SM2_CURVE[] = {0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d};

#define A(type, v) {type, &v, sizeof(v)}
#define N(t) (sizeof(t) / sizeof(t[0]))

static CK_OBJECT_HANDLE secret(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE gen, CK_ATTRIBUTE *t,
                               CK_ULONG n) {
    CK_MECHANISM m = {gen, NULL, 0};
    CK_OBJECT_HANDLE h;
    MUST("C_GenerateKey", P11->v2.C_GenerateKey(s, &m, t, n, &h));
    return h;
}

static void pair(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE gen, CK_ATTRIBUTE *pub, CK_ULONG np,
                 CK_ATTRIBUTE *priv, CK_ULONG ns, CK_OBJECT_HANDLE *out) {
    CK_MECHANISM m = {gen, NULL, 0};
    MUST("C_GenerateKeyPair", P11->v2.C_GenerateKeyPair(s, &m, pub, np, priv, ns, &out[1], &out[0]));
}

size_t make_keys(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *keys) {
    size_t n = 0;
    CK_ATTRIBUTE aes256[] = {A(CKA_CLASS, SECRET), A(CKA_KEY_TYPE, AES), A(CKA_VALUE_LEN, LEN32),
                             A(CKA_TOKEN, NO), A(CKA_ENCRYPT, YES), A(CKA_DECRYPT, YES),
                             A(CKA_SIGN, YES), A(CKA_VERIFY, YES), A(CKA_WRAP, YES),
                             A(CKA_UNWRAP, YES), A(CKA_EXTRACTABLE, YES)};
    keys[n++] = secret(s, CKM_AES_KEY_GEN, aes256, N(aes256));
    aes256[2] = (CK_ATTRIBUTE)A(CKA_VALUE_LEN, LEN16);
    keys[n++] = secret(s, CKM_AES_KEY_GEN, aes256, N(aes256));
    CK_ATTRIBUTE generic[] = {A(CKA_CLASS, SECRET), A(CKA_KEY_TYPE, GENERIC), A(CKA_VALUE_LEN, LEN32),
                              A(CKA_TOKEN, NO), A(CKA_SIGN, YES), A(CKA_VERIFY, YES),
                              A(CKA_EXTRACTABLE, YES)};
    keys[n++] = secret(s, CKM_GENERIC_SECRET_KEY_GEN, generic, N(generic));
    CK_ATTRIBUTE sm4[] = {A(CKA_TOKEN, NO), A(CKA_ENCRYPT, YES), A(CKA_DECRYPT, YES),
                          A(CKA_WRAP, YES), A(CKA_UNWRAP, YES), A(CKA_EXTRACTABLE, YES)};
    keys[n++] = secret(s, CKM_SM4_KEY_GEN, sm4, N(sm4));

    CK_ATTRIBUTE ec_pub[] = {A(CKA_EC_PARAMS, P256), A(CKA_TOKEN, NO), A(CKA_VERIFY, YES)};
    CK_ATTRIBUTE ec_priv[] = {A(CKA_TOKEN, NO), A(CKA_SIGN, YES), A(CKA_DERIVE, YES),
                              A(CKA_EXTRACTABLE, YES)};
    pair(s, CKM_EC_KEY_PAIR_GEN, ec_pub, N(ec_pub), ec_priv, N(ec_priv), &keys[n]);
    n += 2;
    CK_ATTRIBUTE rsa_pub[] = {A(CKA_MODULUS_BITS, BITS2048), A(CKA_PUBLIC_EXPONENT, F4),
                              A(CKA_TOKEN, NO), A(CKA_ENCRYPT, YES), A(CKA_VERIFY, YES),
                              A(CKA_WRAP, YES)};
    CK_ATTRIBUTE rsa_priv[] = {A(CKA_TOKEN, NO), A(CKA_DECRYPT, YES), A(CKA_SIGN, YES),
                               A(CKA_UNWRAP, YES), A(CKA_EXTRACTABLE, YES)};
    pair(s, CKM_RSA_PKCS_KEY_PAIR_GEN, rsa_pub, N(rsa_pub), rsa_priv, N(rsa_priv), &keys[n]);
    n += 2;
    CK_ATTRIBUTE sm2_pub[] = {A(CKA_EC_PARAMS, SM2_CURVE), A(CKA_TOKEN, NO), A(CKA_VERIFY, YES),
                              A(CKA_ENCRYPT, YES)};
    CK_ATTRIBUTE sm2_priv[] = {A(CKA_TOKEN, NO), A(CKA_SIGN, YES), A(CKA_DECRYPT, YES)};
    pair(s, CKM_SM2_KEY_PAIR_GEN, sm2_pub, N(sm2_pub), sm2_priv, N(sm2_priv), &keys[n]);
    n += 2;
    /* A token key is a KMS-managed key, the only kind the KMS mechanisms take. */
    CK_ATTRIBUTE managed[] = {A(CKA_CLASS, SECRET), A(CKA_KEY_TYPE, AES), A(CKA_VALUE_LEN, LEN32),
                              A(CKA_TOKEN, YES), A(CKA_ENCRYPT, YES), A(CKA_DECRYPT, YES),
                              A(CKA_WRAP, YES), A(CKA_UNWRAP, YES)};
    keys[n++] = secret(s, CKM_AES_KEY_GEN, managed, N(managed));
    return n;
}

CK_MECHANISM_TYPE *mechanism_list(CK_ULONG *n) {
    *n = 0;
    MUST("C_GetMechanismList", P11->v2.C_GetMechanismList(ST.slot, NULL, n));
    CK_MECHANISM_TYPE *types = malloc(*n * sizeof(*types));
    MUST("C_GetMechanismList", P11->v2.C_GetMechanismList(ST.slot, types, n));
    return types;
}
