/*
 * Templates: every attribute type the standard and the vendor header define (and unknown
 * ones), with values of odd lengths and contents, added to a valid template of each object
 * class for C_CreateObject, C_CopyObject, C_SetAttributeValue and C_FindObjectsInit; every
 * object made is read back with C_GetAttributeValue for every type, lengths first, then into
 * buffers of exactly those lengths.
 */
#include "common.h"

#ifndef CKA_UNIQUE_ID
#define CKA_UNIQUE_ID 0x4UL
#endif

static const CK_ATTRIBUTE_TYPE TYPES[] = {
    CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_UNIQUE_ID, CKA_APPLICATION, CKA_VALUE,
    CKA_OBJECT_ID, CKA_CERTIFICATE_TYPE, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_AC_ISSUER, CKA_OWNER,
    CKA_ATTR_TYPES, CKA_TRUSTED, CKA_CERTIFICATE_CATEGORY, CKA_JAVA_MIDP_SECURITY_DOMAIN, CKA_URL,
    CKA_HASH_OF_SUBJECT_PUBLIC_KEY, CKA_HASH_OF_ISSUER_PUBLIC_KEY, CKA_NAME_HASH_ALGORITHM,
    CKA_CHECK_VALUE, CKA_KEY_TYPE, CKA_SUBJECT, CKA_ID, CKA_SENSITIVE, CKA_ENCRYPT, CKA_DECRYPT,
    CKA_WRAP, CKA_UNWRAP, CKA_SIGN, CKA_SIGN_RECOVER, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_DERIVE,
    CKA_START_DATE, CKA_END_DATE, CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2,
    CKA_COEFFICIENT, CKA_PUBLIC_KEY_INFO, CKA_PRIME, CKA_SUBPRIME, CKA_BASE, CKA_VALUE_BITS,
    CKA_VALUE_LEN, CKA_EXTRACTABLE, CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE,
    CKA_KEY_GEN_MECHANISM, CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_EC_PARAMS,
    CKA_EC_POINT, CKA_ALWAYS_AUTHENTICATE, CKA_WRAP_WITH_TRUSTED, CKA_WRAP_TEMPLATE,
    CKA_UNWRAP_TEMPLATE, CKA_DERIVE_TEMPLATE, CKA_OTP_FORMAT, CKA_HW_FEATURE_TYPE,
    CKA_ALLOWED_MECHANISMS, CKA_KMS_KEY_ID, CKA_KMS_KEY_VERSION_ID, CKA_KMS_PRIMARY_VERSION_ID,
    CKA_KMS_KEY_SPEC, CKA_KMS_KEY_USAGE, CKA_KMS_KEY_STATE, CKA_KMS_ORIGIN,
    CKA_KMS_ROTATION_INTERVAL, CKA_KMS_NEXT_ROTATION, CKA_KMS_DELETION_DATE, CKA_KMS_TAGS,
    CKA_KMS_ALIASES, CKA_KMS_DESCRIPTION, CKA_KMS_CREATION_DATE, CKA_KMS_DELETION_PROTECTION,
    CKA_KMS_PROTECTION_LEVEL, CKA_KMS_IS_VERSION, CKA_KMS_LAST_ROTATION, CKA_KMS_MATERIAL_EXPIRY,
    CKA_KMS_IMPORT_KEY_ID, CKA_KMS_IMPORT_TOKEN, CKA_KMS_IMPORT_EXPIRY,
    CKA_KMS_WRAPPING_ALGORITHM, CKA_KMS_BASE + 0x7F, 0x7FFFFFF0UL, CKA_VENDOR_DEFINED,
};
#define N_TYPES (sizeof(TYPES) / sizeof(TYPES[0]))

/* Value shapes: a length and a filler byte (a CK_ULONG of all ones, or of ones in the low
   byte, at length 8). */
static const struct {
    CK_ULONG len;
    int fill;
} SHAPES[] = {{0, 0}, {1, 0}, {1, 1}, {1, 0xFF}, {3, 0x31}, {8, 0}, {8, 1}, {8, 0xFF}, {9, 0x30}, {64, 0x80}};
#define N_SHAPES (sizeof(SHAPES) / sizeof(SHAPES[0]))

static CK_OBJECT_CLASS DATA = CKO_DATA, CERT = CKO_CERTIFICATE, SECRET = CKO_SECRET_KEY,
                       PUBLIC = CKO_PUBLIC_KEY, PRIVATE = CKO_PRIVATE_KEY;
static CK_CERTIFICATE_TYPE X509 = CKC_X_509;
static CK_KEY_TYPE AES = CKK_AES, GENERIC = CKK_GENERIC_SECRET, EC = CKK_EC, RSA = CKK_RSA;
static CK_BBOOL NO = CK_FALSE;
static CK_BYTE KEY16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static CK_BYTE KEY32[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
static CK_BYTE P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static CK_BYTE GARBAGE_DER[] = {0x30, 0x03, 0x02, 0x01, 0x05};
static CK_BYTE MODULUS[256] = {0xC3, 0x11, [255] = 0x07};
static CK_BYTE F4[] = {1, 0, 1};
static CK_BYTE EC_POINT_DER[67];

#define A(type, v) {type, &v, sizeof(v)}
static CK_ATTRIBUTE B_DATA[] = {A(CKA_CLASS, DATA), A(CKA_TOKEN, NO)};
static CK_ATTRIBUTE B_CERT[] = {A(CKA_CLASS, CERT), A(CKA_CERTIFICATE_TYPE, X509), A(CKA_TOKEN, NO),
                                A(CKA_SUBJECT, GARBAGE_DER), A(CKA_VALUE, GARBAGE_DER)};
static CK_ATTRIBUTE B_AES[] = {A(CKA_CLASS, SECRET), A(CKA_KEY_TYPE, AES), A(CKA_TOKEN, NO),
                               A(CKA_VALUE, KEY16)};
static CK_ATTRIBUTE B_GENERIC[] = {A(CKA_CLASS, SECRET), A(CKA_KEY_TYPE, GENERIC), A(CKA_TOKEN, NO),
                                   A(CKA_VALUE, KEY32)};
static CK_ATTRIBUTE B_EC_PUB[] = {A(CKA_CLASS, PUBLIC), A(CKA_KEY_TYPE, EC), A(CKA_TOKEN, NO),
                                  A(CKA_EC_PARAMS, P256), A(CKA_EC_POINT, EC_POINT_DER)};
static CK_ATTRIBUTE B_EC_PRIV[] = {A(CKA_CLASS, PRIVATE), A(CKA_KEY_TYPE, EC), A(CKA_TOKEN, NO),
                                   A(CKA_EC_PARAMS, P256), A(CKA_VALUE, KEY32)};
static CK_ATTRIBUTE B_RSA_PUB[] = {A(CKA_CLASS, PUBLIC), A(CKA_KEY_TYPE, RSA), A(CKA_TOKEN, NO),
                                   A(CKA_MODULUS, MODULUS), A(CKA_PUBLIC_EXPONENT, F4)};
#undef A
static const struct {
    const char *name;
    CK_ATTRIBUTE *t;
    CK_ULONG n;
} BASES[] = {
#define B(t) {#t, t, sizeof(t) / sizeof(t[0])}
    B(B_DATA), B(B_CERT), B(B_AES), B(B_GENERIC), B(B_EC_PUB), B(B_EC_PRIV), B(B_RSA_PUB),
#undef B
};
#define N_BASES (sizeof(BASES) / sizeof(BASES[0]))

static const struct fn HOLDER = {"templates", 0, V320, "", .prep = P_NONE};
static const CK_FUNCTION_LIST *F;
static char WHAT[160];

static CK_RV seen(const char *fn, CK_RV rv) {
    CALLS++;
    if (rv == CKR_GENERAL_ERROR)
        fail(fn, WHAT, "got CKR_GENERAL_ERROR want any other code");
    return rv;
}

/* Base `b` with attribute `type` set to shape `v`, in heap blocks of their exact sizes. */
static CK_ATTRIBUTE *variant(struct call *c, size_t b, CK_ATTRIBUTE_TYPE type, size_t v, CK_ULONG *n) {
    CK_ATTRIBUTE *t = call_block(c, NULL, (BASES[b].n + 1) * sizeof(CK_ATTRIBUTE));
    *n = 0;
    for (CK_ULONG i = 0; i < BASES[b].n; i++)
        if (BASES[b].t[i].type != type) {
            t[*n] = BASES[b].t[i];
            t[*n].pValue = call_block(c, t[*n].pValue, t[*n].ulValueLen);
            (*n)++;
        }
    CK_BYTE *value = call_block(c, NULL, SHAPES[v].len);
    memset(value, SHAPES[v].fill, SHAPES[v].len);
    t[(*n)++] = (CK_ATTRIBUTE){type, value, SHAPES[v].len};
    return t;
}

/* Reads every attribute type of an object: lengths, then values into exact buffers. */
static void read_back(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h) {
    struct call c = {.f = &HOLDER};
    /* The lengths a length query sets are left undefined: it must not read them. */
    CK_ATTRIBUTE *t = call_undefined(&c, N_TYPES * sizeof(CK_ATTRIBUTE));
    for (size_t i = 0; i < N_TYPES; i++)
        t[i].type = TYPES[i], t[i].pValue = NULL;
    seen("C_GetAttributeValue", F->C_GetAttributeValue(s, h, t, N_TYPES));
    for (size_t i = 0; i < N_TYPES; i++)
        if (t[i].ulValueLen != CK_UNAVAILABLE_INFORMATION && t[i].ulValueLen < 1 << 20)
            t[i].pValue = call_block(&c, NULL, t[i].ulValueLen);
        else
            t[i].ulValueLen = 0;
    seen("C_GetAttributeValue", F->C_GetAttributeValue(s, h, t, N_TYPES));
    call_close(&c, CKR_OK);
}

void templates(void) {
    F = &P11->v2;
    ensure_state();
    EC_POINT_DER[0] = 0x04, EC_POINT_DER[1] = 65;
    memcpy(EC_POINT_DER + 2, ST.ec_point, 65);
    CK_SESSION_HANDLE s = open_rw();
    CK_OBJECT_HANDLE base[N_BASES];
    for (size_t b = 0; b < N_BASES; b++) {
        snprintf(WHAT, sizeof(WHAT), "valid template %s", BASES[b].name);
        MUST("C_CreateObject", F->C_CreateObject(s, BASES[b].t, BASES[b].n, &base[b]));
        read_back(s, base[b]);
    }
    for (size_t b = 0; b < N_BASES; b++)
        for (size_t a = 0; a < N_TYPES; a++)
            for (size_t v = 0; v < N_SHAPES; v++) {
                struct call c = {.f = &HOLDER};
                CK_ULONG n;
                CK_ATTRIBUTE *t = variant(&c, b, TYPES[a], v, &n);
                CK_OBJECT_HANDLE h;
                snprintf(WHAT, sizeof(WHAT), "%s with attribute 0x%lx of %lu bytes of 0x%02x",
                         BASES[b].name, TYPES[a], SHAPES[v].len, SHAPES[v].fill);
                if (seen("C_CreateObject", F->C_CreateObject(s, t, n, &h)) == CKR_OK) {
                    read_back(s, h);
                    seen("C_DestroyObject", F->C_DestroyObject(s, h));
                }
                CK_ATTRIBUTE *one = &t[n - 1];
                if (seen("C_CopyObject", F->C_CopyObject(s, base[b], one, 1, &h)) == CKR_OK) {
                    read_back(s, h);
                    seen("C_DestroyObject", F->C_DestroyObject(s, h));
                }
                CK_OBJECT_HANDLE scratch;
                MUST("C_CopyObject", F->C_CopyObject(s, base[b], NULL, 0, &scratch));
                if (seen("C_SetAttributeValue", F->C_SetAttributeValue(s, scratch, one, 1)) == CKR_OK)
                    read_back(s, scratch);
                seen("C_DestroyObject", F->C_DestroyObject(s, scratch));
                if (b == 0 && seen("C_FindObjectsInit", F->C_FindObjectsInit(s, one, 1)) == CKR_OK) {
                    CK_OBJECT_HANDLE found[4];
                    CK_ULONG count;
                    seen("C_FindObjects", F->C_FindObjects(s, found, 4, &count));
                    seen("C_FindObjectsFinal", F->C_FindObjectsFinal(s));
                }
                call_close(&c, CKR_OK);
            }
    MUST("C_CloseSession", F->C_CloseSession(s));
}
