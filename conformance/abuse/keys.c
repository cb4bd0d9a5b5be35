/*
 * The logged-in state valid calls stand on: an anchor session holding the login and the
 * session keys, and data made with those keys (a ciphertext, a signature, a wrapped key).
 */
#include "common.h"

struct state ST;
const CK_BYTE PLAIN[16] = "0123456789abcdef";
const CK_BYTE SIGNED_DATA[64] = "the data signed by the EC key, sixty-four bytes long, exactly.";

static int READY;
static CK_OBJECT_CLASS DATA = CKO_DATA, SECRET = CKO_SECRET_KEY;
static CK_KEY_TYPE AES = CKK_AES, GENERIC = CKK_GENERIC_SECRET;
static CK_BBOOL YES = CK_TRUE, NO = CK_FALSE;
static CK_ULONG LEN32 = 32, LEN16 = 16;
/* DER OBJECT IDENTIFIER prime256v1 */
static CK_BYTE P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static CK_BYTE LABEL[] = {'a', 'b', 'u', 's', 'e'};
static CK_BYTE VALUE[] = {'p', 'a', 'y', 'l', 'o', 'a', 'd'};
static CK_BYTE LABEL_OUT[64];
static CK_OBJECT_CLASS CLASS_OUT;
static CK_BYTE IV[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static CK_ECDH1_DERIVE_PARAMS ECDH;

#define A(type, v) {type, &v, sizeof(v)}
static const CK_ATTRIBUTE T_DATA_[] = {
    A(CKA_CLASS, DATA), A(CKA_TOKEN, NO), A(CKA_LABEL, LABEL), A(CKA_VALUE, VALUE)};
static const CK_ATTRIBUTE T_LABEL_[] = {A(CKA_LABEL, LABEL)};
static const CK_ATTRIBUTE T_GET_[] = {A(CKA_LABEL, LABEL_OUT), A(CKA_CLASS, CLASS_OUT)};
static const CK_ATTRIBUTE T_AES_[] = {
    A(CKA_CLASS, SECRET), A(CKA_KEY_TYPE, AES), A(CKA_VALUE_LEN, LEN32), A(CKA_TOKEN, NO),
    A(CKA_ENCRYPT, YES),  A(CKA_DECRYPT, YES),  A(CKA_WRAP, YES),        A(CKA_UNWRAP, YES)};
/* The key C_WrapKey wraps. */
static const CK_ATTRIBUTE T_AES2_[] = {
    A(CKA_CLASS, SECRET), A(CKA_KEY_TYPE, AES), A(CKA_VALUE_LEN, LEN16), A(CKA_TOKEN, NO),
    A(CKA_EXTRACTABLE, YES), A(CKA_ENCRYPT, YES), A(CKA_DECRYPT, NO)};
static const CK_ATTRIBUTE T_EC_PUB_[] = {
    A(CKA_EC_PARAMS, P256), A(CKA_TOKEN, NO), A(CKA_VERIFY, YES)};
static const CK_ATTRIBUTE T_EC_PRIV_[] = {A(CKA_TOKEN, NO), A(CKA_SIGN, YES), A(CKA_DERIVE, YES)};
static const CK_ATTRIBUTE T_UNWRAP_[] = {
    A(CKA_CLASS, SECRET), A(CKA_KEY_TYPE, AES), A(CKA_TOKEN, NO), A(CKA_ENCRYPT, YES)};
static const CK_ATTRIBUTE T_DERIVE_[] = {
    A(CKA_CLASS, SECRET), A(CKA_KEY_TYPE, GENERIC), A(CKA_VALUE_LEN, LEN32), A(CKA_TOKEN, NO)};
#undef A

#define ALL(t) *attrs = t, n = sizeof(t) / sizeof(t[0])
CK_ULONG tmpl_of(enum tmpl t, const CK_ATTRIBUTE **attrs) {
    CK_ULONG n = 0;
    *attrs = NULL;
    switch (t) {
    case T_NONE: break;
    case T_DATA: ALL(T_DATA_); break;
    case T_LABEL: ALL(T_LABEL_); break;
    case T_GET: ALL(T_GET_); break;
    case T_AES: ALL(T_AES_); break;
    case T_EC_PUB: ALL(T_EC_PUB_); break;
    case T_EC_PRIV: ALL(T_EC_PRIV_); break;
    case T_UNWRAP: ALL(T_UNWRAP_); break;
    case T_DERIVE: ALL(T_DERIVE_); break;
    }
    return n;
}
#undef ALL

CK_MECHANISM mech_of(enum mech m) {
    CK_MECHANISM v = {0, NULL, 0};
    switch (m) {
    case M_NONE: break;
    case M_CBC_PAD: v = (CK_MECHANISM){CKM_AES_CBC_PAD, IV, sizeof(IV)}; break;
    case M_SHA256: v.mechanism = CKM_SHA256; break;
    case M_ECDSA: v.mechanism = CKM_ECDSA_SHA256; break;
    case M_AES_GEN: v.mechanism = CKM_AES_KEY_GEN; break;
    case M_EC_GEN: v.mechanism = CKM_EC_KEY_PAIR_GEN; break;
    case M_KW: v.mechanism = CKM_AES_KEY_WRAP; break;
    case M_ECDH: v = (CK_MECHANISM){CKM_ECDH1_DERIVE, &ECDH, sizeof(ECDH)}; break;
    }
    return v;
}

CK_SESSION_HANDLE open_rw(void) {
    CK_SESSION_HANDLE s;
    MUST("C_OpenSession",
         P11->v2.C_OpenSession(ST.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
    return s;
}

void prepare(CK_SESSION_HANDLE s, enum prep p) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_MECHANISM cbc = mech_of(M_CBC_PAD), sha = mech_of(M_SHA256), ecdsa = mech_of(M_ECDSA);
    const CK_ATTRIBUTE *t;
    CK_ULONG n;
    switch (p) {
    case P_NONE: break;
    case P_ENCRYPT: MUST("C_EncryptInit", f->C_EncryptInit(s, &cbc, ST.aes)); break;
    case P_DECRYPT: MUST("C_DecryptInit", f->C_DecryptInit(s, &cbc, ST.aes)); break;
    case P_DIGEST: MUST("C_DigestInit", f->C_DigestInit(s, &sha)); break;
    case P_SIGN: MUST("C_SignInit", f->C_SignInit(s, &ecdsa, ST.ec_priv)); break;
    case P_VERIFY: MUST("C_VerifyInit", f->C_VerifyInit(s, &ecdsa, ST.ec_pub)); break;
    case P_FIND:
        n = tmpl_of(T_LABEL, &t);
        MUST("C_FindObjectsInit", f->C_FindObjectsInit(s, (CK_ATTRIBUTE *)t, n));
        break;
    case P_VERIFY_SIG:
        MUST("C_VerifySignatureInit",
             P11->C_VerifySignatureInit(s, &ecdsa, ST.ec_pub, ST.sig, ST.sig_len));
        break;
    case P_DIGEST_ENCRYPT: prepare(s, P_DIGEST), prepare(s, P_ENCRYPT); break;
    case P_DECRYPT_DIGEST: prepare(s, P_DECRYPT), prepare(s, P_DIGEST); break;
    case P_SIGN_ENCRYPT: prepare(s, P_SIGN), prepare(s, P_ENCRYPT); break;
    case P_DECRYPT_VERIFY: prepare(s, P_DECRYPT), prepare(s, P_VERIFY); break;
    case P_ENCRYPT_FED: {
        CK_BYTE out[64];
        CK_ULONG len = sizeof(out);
        prepare(s, P_ENCRYPT);
        MUST("C_EncryptUpdate", f->C_EncryptUpdate(s, (CK_BYTE *)PLAIN, sizeof(PLAIN), out, &len));
        break;
    }
    case P_DECRYPT_FED: {
        CK_BYTE out[64];
        CK_ULONG len = sizeof(out);
        prepare(s, P_DECRYPT);
        MUST("C_DecryptUpdate", f->C_DecryptUpdate(s, ST.cipher, ST.cipher_len, out, &len));
        break;
    }
    case P_DIGEST_FED:
        prepare(s, P_DIGEST);
        MUST("C_DigestUpdate", f->C_DigestUpdate(s, (CK_BYTE *)PLAIN, sizeof(PLAIN)));
        break;
    case P_SIGN_FED:
        prepare(s, P_SIGN);
        MUST("C_SignUpdate", f->C_SignUpdate(s, (CK_BYTE *)SIGNED_DATA, sizeof(SIGNED_DATA)));
        break;
    case P_VERIFY_FED:
        prepare(s, P_VERIFY);
        MUST("C_VerifyUpdate", f->C_VerifyUpdate(s, (CK_BYTE *)SIGNED_DATA, sizeof(SIGNED_DATA)));
        break;
    case P_VERIFY_SIG_FED:
        prepare(s, P_VERIFY_SIG);
        MUST("C_VerifySignatureUpdate",
             P11->C_VerifySignatureUpdate(s, (CK_BYTE *)SIGNED_DATA, sizeof(SIGNED_DATA)));
        break;
    }
}

static CK_OBJECT_HANDLE generate(int second) {
    CK_MECHANISM m = mech_of(M_AES_GEN);
    const CK_ATTRIBUTE *a = second ? T_AES2_ : T_AES_;
    CK_ULONG n = second ? sizeof(T_AES2_) / sizeof(T_AES2_[0]) : sizeof(T_AES_) / sizeof(T_AES_[0]);
    CK_OBJECT_HANDLE h;
    MUST("C_GenerateKey", P11->v2.C_GenerateKey(ST.anchor, &m, (CK_ATTRIBUTE *)a, n, &h));
    return h;
}

/* Opens the anchor session, logs in, makes the keys and the data made with them. */
static void setup(void) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_SLOT_ID slots[8];
    CK_ULONG n = 8;
    MUST("C_GetSlotList", f->C_GetSlotList(CK_TRUE, slots, &n));
    if (n == 0)
        fatal("C_GetSlotList", "no token", CKR_TOKEN_NOT_PRESENT);
    ST.slot = slots[0];
    ST.anchor = open_rw();
    MUST("C_Login", f->C_Login(ST.anchor, CKU_USER, (CK_BYTE *)USER_PIN, strlen(USER_PIN)));
    ST.aes = generate(0);
    ST.aes2 = generate(1);
    CK_MECHANISM m = mech_of(M_EC_GEN);
    MUST("C_GenerateKeyPair",
         f->C_GenerateKeyPair(ST.anchor, &m, (CK_ATTRIBUTE *)T_EC_PUB_, 3,
                              (CK_ATTRIBUTE *)T_EC_PRIV_, 3, &ST.ec_pub, &ST.ec_priv));

    prepare(ST.anchor, P_ENCRYPT);
    ST.cipher_len = sizeof(ST.cipher);
    MUST("C_Encrypt", f->C_Encrypt(ST.anchor, (CK_BYTE *)PLAIN, sizeof(PLAIN), ST.cipher,
                                   &ST.cipher_len));
    prepare(ST.anchor, P_SIGN);
    ST.sig_len = sizeof(ST.sig);
    MUST("C_Sign", f->C_Sign(ST.anchor, (CK_BYTE *)SIGNED_DATA, sizeof(SIGNED_DATA), ST.sig,
                             &ST.sig_len));
    m = mech_of(M_KW);
    ST.wrapped_len = sizeof(ST.wrapped);
    MUST("C_WrapKey", f->C_WrapKey(ST.anchor, &m, ST.aes, ST.aes2, ST.wrapped, &ST.wrapped_len));

    /* CKA_EC_POINT is a DER OCTET STRING; ECDH takes the point inside. */
    CK_BYTE der[80];
    CK_ATTRIBUTE point = {CKA_EC_POINT, der, sizeof(der)};
    MUST("C_GetAttributeValue", f->C_GetAttributeValue(ST.anchor, ST.ec_pub, &point, 1));
    if (point.ulValueLen != 67 || der[0] != 0x04 || der[1] != 65) {
        fail("C_GetAttributeValue", "CKA_EC_POINT", "not a DER OCTET STRING of a P-256 point");
        exit(1);
    }
    memcpy(ST.ec_point, der + 2, 65);
    ST.ec_point_len = 65;
    ECDH = (CK_ECDH1_DERIVE_PARAMS){CKD_NULL, 0, NULL, ST.ec_point_len, ST.ec_point};
    READY = 1;
}

void ensure_state(void) {
    if (READY) {
        CK_SESSION_INFO info;
        CK_RV rv = (CALLS++, P11->v2.C_GetSessionInfo(ST.anchor, &info));
        if (rv == CKR_OK && info.state == CKS_RW_USER_FUNCTIONS)
            return;
        /* Session keys of a logged-out or closed anchor are gone or unusable: start over. */
        CALLS++;
        P11->v2.C_CloseAllSessions(ST.slot);
        READY = 0;
    }
    setup();
}

/* After C_Finalize every handle is stale. */
void forget_state(void) {
    READY = 0;
}
