/*
 * The object part of the correct flow: search, attributes with the size-query convention of
 * C_GetAttributeValue, copy, wrap and unwrap, derive, destroy, and the lists the library
 * hands out (slots, mechanisms, interfaces, the vendor's last error).
 */
#include "common.h"

static const CK_FUNCTION_LIST *F;

static void find(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj) {
    const CK_ATTRIBUTE *t;
    CK_ULONG n = tmpl_of(T_LABEL, &t), found = 99;
    CK_OBJECT_HANDLE h[16];
    CHECK("C_FindObjectsInit", "by label", F->C_FindObjectsInit(s, (CK_ATTRIBUTE *)t, n), CKR_OK);
    CHECK("C_FindObjects", "no room", F->C_FindObjects(s, h, 0, &found), CKR_OK);
    if (found != 0)
        fail("C_FindObjects", "no room", "found %lu", found);
    CHECK("C_FindObjects", "by label", F->C_FindObjects(s, h, 16, &found), CKR_OK);
    int seen = 0;
    for (CK_ULONG i = 0; i < found; i++)
        seen |= h[i] == obj;
    if (!seen)
        fail("C_FindObjects", "by label", "the object is not among %lu found", found);
    CHECK("C_FindObjects", "when all were found", F->C_FindObjects(s, h, 16, &found), CKR_OK);
    if (found != 0)
        fail("C_FindObjects", "when all were found", "found %lu more", found);
    CHECK("C_FindObjectsFinal", "by label", F->C_FindObjectsFinal(s), CKR_OK);
}

static void attributes(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj) {
    CK_BYTE label[16];
    CK_ATTRIBUTE a = {CKA_LABEL, NULL, 0};
    CHECK("C_GetAttributeValue", "size query", F->C_GetAttributeValue(s, obj, &a, 1), CKR_OK);
    if (a.ulValueLen != 5)
        fail("C_GetAttributeValue", "size query", "length %lu, want 5", a.ulValueLen);
    a = (CK_ATTRIBUTE){CKA_LABEL, label, 2};
    CHECK("C_GetAttributeValue", "short buffer", F->C_GetAttributeValue(s, obj, &a, 1),
          CKR_BUFFER_TOO_SMALL);
    if (a.ulValueLen != CK_UNAVAILABLE_INFORMATION)
        fail("C_GetAttributeValue", "short buffer", "length %lu, want CK_UNAVAILABLE_INFORMATION",
             a.ulValueLen);
    CK_ATTRIBUTE two[] = {{CKA_LABEL, label, sizeof(label)}, {0x7FFFFFF0UL, label, 4}};
    CHECK("C_GetAttributeValue", "label and an unknown type", F->C_GetAttributeValue(s, obj, two, 2),
          CKR_ATTRIBUTE_TYPE_INVALID);
    if (two[0].ulValueLen != 5 || memcmp(label, "abuse", 5) != 0 ||
        two[1].ulValueLen != CK_UNAVAILABLE_INFORMATION)
        fail("C_GetAttributeValue", "label and an unknown type", "label not given, or the unknown "
             "type's length not CK_UNAVAILABLE_INFORMATION");
    CK_BYTE value[128];
    a = (CK_ATTRIBUTE){CKA_VALUE, value, sizeof(value)};
    CHECK("C_GetAttributeValue", "CKA_VALUE of a sensitive key",
          F->C_GetAttributeValue(s, ST.ec_priv, &a, 1), CKR_ATTRIBUTE_SENSITIVE);

    CK_ULONG size;
    CHECK("C_GetObjectSize", "data object", F->C_GetObjectSize(s, obj, &size), CKR_OK);
    CK_BYTE other[] = {'o', 't', 'h', 'e', 'r'};
    a = (CK_ATTRIBUTE){CKA_LABEL, other, sizeof(other)};
    CHECK("C_SetAttributeValue", "label", F->C_SetAttributeValue(s, obj, &a, 1), CKR_OK);
    CK_OBJECT_HANDLE copy;
    CHECK("C_CopyObject", "relabelled", F->C_CopyObject(s, obj, NULL, 0, &copy), CKR_OK);
    a = (CK_ATTRIBUTE){CKA_LABEL, label, sizeof(label)};
    CHECK("C_GetAttributeValue", "label of the copy", F->C_GetAttributeValue(s, copy, &a, 1), CKR_OK);
    if (a.ulValueLen != 5 || memcmp(label, "other", 5) != 0)
        fail("C_GetAttributeValue", "label of the copy", "not the label set");
    CHECK("C_DestroyObject", "copy", F->C_DestroyObject(s, copy), CKR_OK);
}

static CK_RV wrap_step(void *ctx, CK_BYTE *out, CK_ULONG *len) {
    CK_MECHANISM m = mech_of(M_KW);
    return F->C_WrapKey(((struct io *)ctx)->s, &m, ST.aes, ST.aes2, out, len);
}

/* What a key encrypts PLAIN to under AES-CBC-PAD. */
static void cbc_of(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_BYTE out[32]) {
    CK_MECHANISM m = mech_of(M_CBC_PAD);
    CK_ULONG len = 32;
    MUST("C_EncryptInit", F->C_EncryptInit(s, &m, key));
    MUST("C_Encrypt", F->C_Encrypt(s, (CK_BYTE *)PLAIN, sizeof(PLAIN), out, &len));
}

static void wrap_unwrap_derive(CK_SESSION_HANDLE s) {
    CK_BYTE wrapped[64];
    struct io io = {s, NULL, 0};
    CK_ULONG n = sized("C_WrapKey", wrap_step, &io, wrapped, sizeof(wrapped));
    if (n != 24)
        fail("C_WrapKey", "AES key wrap of 16 bytes", "%lu bytes, want 24", n);
    CK_MECHANISM m = mech_of(M_KW);
    const CK_ATTRIBUTE *t;
    CK_ULONG tn = tmpl_of(T_UNWRAP, &t);
    CK_OBJECT_HANDLE key;
    CHECK("C_UnwrapKey", "own wrapping", F->C_UnwrapKey(s, &m, ST.aes, wrapped, n, (CK_ATTRIBUTE *)t, tn, &key),
          CKR_OK);
    CK_BYTE a[32], b[32];
    cbc_of(s, ST.aes2, a);
    cbc_of(s, key, b);
    if (memcmp(a, b, 32) != 0)
        fail("C_UnwrapKey", "own wrapping", "the unwrapped key encrypts differently");
    wrapped[3] ^= 1;
    CK_OBJECT_HANDLE bad;
    CK_RV invalid[] = {CKR_WRAPPED_KEY_INVALID, CKR_ENCRYPTED_DATA_INVALID};
    expect_any("C_UnwrapKey", "tampered",
               (CALLS++, F->C_UnwrapKey(s, &m, ST.aes, wrapped, n, (CK_ATTRIBUTE *)t, tn, &bad)), invalid, 2);
    CHECK("C_DestroyObject", "unwrapped key", F->C_DestroyObject(s, key), CKR_OK);
    CK_MECHANISM cbc = mech_of(M_CBC_PAD);
    CHECK("C_EncryptInit", "destroyed key", F->C_EncryptInit(s, &cbc, key), CKR_KEY_HANDLE_INVALID);

    m = mech_of(M_ECDH);
    tn = tmpl_of(T_DERIVE, &t);
    CHECK("C_DeriveKey", "ECDH with the own public key",
          F->C_DeriveKey(s, &m, ST.ec_priv, (CK_ATTRIBUTE *)t, tn, &key), CKR_OK);
    CK_ULONG vlen = 0;
    CK_ATTRIBUTE len_attr = {CKA_VALUE_LEN, &vlen, sizeof(vlen)};
    CHECK("C_GetAttributeValue", "derived key length", F->C_GetAttributeValue(s, key, &len_attr, 1),
          CKR_OK);
    if (vlen != 32)
        fail("C_GetAttributeValue", "derived key length", "%lu, want 32", vlen);
}

static CK_RV mechanisms_step(void *ctx, CK_BYTE *out, CK_ULONG *len) {
    (void)ctx;
    /* The step speaks bytes; the list counts mechanisms. */
    CK_ULONG count = *len / sizeof(CK_MECHANISM_TYPE);
    CK_RV rv = F->C_GetMechanismList(ST.slot, (CK_MECHANISM_TYPE *)out, &count);
    *len = count * sizeof(CK_MECHANISM_TYPE);
    return rv;
}

static CK_RV interfaces_step(void *ctx, CK_BYTE *out, CK_ULONG *len) {
    (void)ctx;
    CK_ULONG count = *len / sizeof(struct iface);
    CK_RV rv = P11->C_GetInterfaceList((struct iface *)out, &count);
    *len = count * sizeof(struct iface);
    return rv;
}

static CK_RV last_error_step(void *ctx, CK_BYTE *out, CK_ULONG *len) {
    (void)ctx;
    return KMS->C_KMS_GetLastError(out, len);
}

static void lists(CK_SESSION_HANDLE s) {
    CK_MECHANISM_TYPE mechs[512];
    struct io io = {s, NULL, 0};
    CK_ULONG n = sized("C_GetMechanismList", mechanisms_step, &io, (CK_BYTE *)mechs, sizeof(mechs));
    int gcm = 0;
    for (CK_ULONG i = 0; i < n / sizeof(CK_MECHANISM_TYPE); i++)
        gcm |= mechs[i] == CKM_AES_GCM;
    if (!gcm)
        fail("C_GetMechanismList", "full", "CKM_AES_GCM is missing");
    CK_MECHANISM_INFO mi;
    CHECK("C_GetMechanismInfo", "CKM_AES_GCM", F->C_GetMechanismInfo(ST.slot, CKM_AES_GCM, &mi), CKR_OK);

    struct iface ifs[8];
    n = sized("C_GetInterfaceList", interfaces_step, &io, (CK_BYTE *)ifs, sizeof(ifs));
    if (n / sizeof(struct iface) != 4)
        fail("C_GetInterfaceList", "full", "%zu interfaces, want 4", n / sizeof(struct iface));

    CK_INFO info;
    CHECK("C_GetInfo", "3.2 list", F->C_GetInfo(&info), CKR_OK);
    if (info.cryptokiVersion.major != 3 || info.cryptokiVersion.minor != 2)
        fail("C_GetInfo", "3.2 list", "reports %d.%d", info.cryptokiVersion.major,
             info.cryptokiVersion.minor);
    CK_SESSION_INFO si;
    CHECK("C_GetSessionInfo", "logged-in session", F->C_GetSessionInfo(s, &si), CKR_OK);
    if (si.state != CKS_RW_USER_FUNCTIONS || si.slotID != ST.slot)
        fail("C_GetSessionInfo", "logged-in session", "state %lu slot %lu", si.state, si.slotID);

    CK_BYTE code[128];
    sized("C_KMS_GetLastError", last_error_step, &io, code, sizeof(code));
}

void flow_objects(CK_SESSION_HANDLE s) {
    F = &P11->v2;
    const CK_ATTRIBUTE *t;
    CK_ULONG n = tmpl_of(T_DATA, &t);
    CK_OBJECT_HANDLE obj;
    CHECK("C_CreateObject", "data object", F->C_CreateObject(s, (CK_ATTRIBUTE *)t, n, &obj), CKR_OK);
    find(s, obj);
    attributes(s, obj);
    wrap_unwrap_derive(s);
    lists(s);
    CHECK("C_DestroyObject", "data object", F->C_DestroyObject(s, obj), CKR_OK);
    CHECK("C_DestroyObject", "data object, twice", F->C_DestroyObject(s, obj), CKR_OBJECT_HANDLE_INVALID);
}
