/*
 * The correct flow: token and PIN set-up, login, key generation, then every kind of
 * operation with the size-query convention checked at each output (NULL buffer: CKR_OK and
 * the length; short buffer: CKR_BUFFER_TOO_SMALL and the length; then the real call).
 */
#include "common.h"

#define CKR_AEAD_DECRYPT_FAILED_ 0x35UL /* PKCS#11 3.0 */

CK_ULONG sized(const char *name, out_fn step, void *ctx, CK_BYTE *out, CK_ULONG cap) {
    CK_ULONG need = 0, len;
    CHECK(name, "size query", step(ctx, NULL, &need), CKR_OK);
    if (need > cap) {
        fail(name, "size query", "length %lu exceeds %lu", need, cap);
        return 0;
    }
    len = 0;
    CK_RV rv = (CALLS++, step(ctx, out, &len));
    /* A zero-length result fits the zero-length buffer. */
    if (rv != CKR_OK) {
        expect(name, "zero-length buffer", rv, CKR_BUFFER_TOO_SMALL);
        if (len == 0 || len > need)
            fail(name, "zero-length buffer", "length %lu, size query said %lu", len, need);
        len = cap;
        CHECK(name, "real buffer", step(ctx, out, &len), CKR_OK);
    }
    if (len > need)
        fail(name, "real buffer", "wrote %lu bytes, size query said %lu", len, need);
    return len;
}

#define STEP(fn, call)                                                                          \
    static CK_RV fn(void *ctx, CK_BYTE *out, CK_ULONG *len) {                                   \
        const struct io *io = ctx;                                                              \
        (void)io;                                                                               \
        return call;                                                                            \
    }
STEP(encrypt, P11->v2.C_Encrypt(io->s, (CK_BYTE *)io->in, io->in_len, out, len))
STEP(decrypt, P11->v2.C_Decrypt(io->s, (CK_BYTE *)io->in, io->in_len, out, len))
STEP(encrypt_update, P11->v2.C_EncryptUpdate(io->s, (CK_BYTE *)io->in, io->in_len, out, len))
STEP(encrypt_final, P11->v2.C_EncryptFinal(io->s, out, len))
STEP(decrypt_update, P11->v2.C_DecryptUpdate(io->s, (CK_BYTE *)io->in, io->in_len, out, len))
STEP(decrypt_final, P11->v2.C_DecryptFinal(io->s, out, len))
STEP(sign, P11->v2.C_Sign(io->s, (CK_BYTE *)io->in, io->in_len, out, len))
STEP(sign_final, P11->v2.C_SignFinal(io->s, out, len))
STEP(digest, P11->v2.C_Digest(io->s, (CK_BYTE *)io->in, io->in_len, out, len))

static void token_and_pin(void) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_SLOT_ID slots[8];
    CK_ULONG n = 0;
    CHECK("C_GetSlotList", "size query", f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    if (n == 0 || n > 8)
        fatal("C_GetSlotList", "count", CKR_TOKEN_NOT_PRESENT);
    MUST("C_GetSlotList", f->C_GetSlotList(CK_TRUE, slots, &n));
    ST.slot = slots[0];
    CK_BYTE label[32];
    memset(label, ' ', sizeof(label));
    memcpy(label, "abuse", 5);
    CHECK("C_InitToken", "no session open",
          f->C_InitToken(ST.slot, (CK_BYTE *)SO_PIN, strlen(SO_PIN), label), CKR_OK);
    CK_SESSION_HANDLE s = open_rw();
    CHECK("C_Login", "SO", f->C_Login(s, CKU_SO, (CK_BYTE *)SO_PIN, strlen(SO_PIN)), CKR_OK);
    CHECK("C_InitPIN", "as SO", f->C_InitPIN(s, (CK_BYTE *)USER_PIN, strlen(USER_PIN)), CKR_OK);
    CHECK("C_Logout", "SO", f->C_Logout(s), CKR_OK);
    CHECK("C_Login", "user", f->C_Login(s, CKU_USER, (CK_BYTE *)USER_PIN, strlen(USER_PIN)), CKR_OK);
    CHECK("C_SetPIN", "same PIN",
          f->C_SetPIN(s, (CK_BYTE *)USER_PIN, strlen(USER_PIN), (CK_BYTE *)USER_PIN, strlen(USER_PIN)),
          CKR_OK);
    CHECK("C_CloseSession", "set-up session", f->C_CloseSession(s), CKR_OK);
    CK_TOKEN_INFO ti;
    CHECK("C_GetTokenInfo", "after C_InitToken", f->C_GetTokenInfo(ST.slot, &ti), CKR_OK);
    if (memcmp(ti.label, label, 32) != 0 || !(ti.flags & CKF_USER_PIN_INITIALIZED))
        fail("C_GetTokenInfo", "after C_InitToken", "label or CKF_USER_PIN_INITIALIZED missing");
}

static void aes_gcm(CK_SESSION_HANDLE s) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_BYTE iv[12] = {9, 8, 7}, aad[5] = "head", ct[64], pt[64];
    CK_GCM_PARAMS gcm = {iv, sizeof(iv), 96, aad, sizeof(aad), 128};
    CK_MECHANISM m = {CKM_AES_GCM, &gcm, sizeof(gcm)};
    MUST("C_EncryptInit", f->C_EncryptInit(s, &m, ST.aes));
    struct io io = {s, PLAIN, sizeof(PLAIN)};
    CK_ULONG ct_len = sized("C_Encrypt", encrypt, &io, ct, sizeof(ct));
    if (ct_len != sizeof(PLAIN) + 16)
        fail("C_Encrypt", "AES-GCM", "%lu bytes, want %zu", ct_len, sizeof(PLAIN) + 16);
    MUST("C_DecryptInit", f->C_DecryptInit(s, &m, ST.aes));
    io = (struct io){s, ct, ct_len};
    CK_ULONG pt_len = sized("C_Decrypt", decrypt, &io, pt, sizeof(pt));
    if (pt_len != sizeof(PLAIN) || memcmp(pt, PLAIN, pt_len) != 0)
        fail("C_Decrypt", "AES-GCM", "round trip differs");
    ct[0] ^= 1;
    MUST("C_DecryptInit", f->C_DecryptInit(s, &m, ST.aes));
    CK_ULONG len = sizeof(pt);
    CK_RV tampered[] = {CKR_ENCRYPTED_DATA_INVALID, CKR_AEAD_DECRYPT_FAILED_};
    expect_any("C_Decrypt", "AES-GCM, tampered", (CALLS++, f->C_Decrypt(s, ct, ct_len, pt, &len)),
               tampered, 2);

    /* Bad pointers and lengths inside the parameter structure. */
    struct {
        const char *what;
        CK_GCM_PARAMS p;
    } bad[] = {
        {"IV NULL", {NULL, 12, 96, aad, 5, 128}},
        {"IV of ULONG_MAX bytes", {iv, ULONG_MAX, 96, aad, 5, 128}},
        {"AAD NULL", {iv, 12, 96, NULL, 5, 128}},
        {"AAD of 2^40 bytes", {iv, 12, 96, aad, 1UL << 40, 128}},
        {"tag of 0 bits", {iv, 12, 96, aad, 5, 0}},
        {"tag of ULONG_MAX bits", {iv, 12, 96, aad, 5, ULONG_MAX}},
        {"IV of 0 bytes", {iv, 0, 0, aad, 5, 128}},
    };
    CK_RV param[] = {CKR_MECHANISM_PARAM_INVALID, CKR_ARGUMENTS_BAD};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CK_MECHANISM b = {CKM_AES_GCM, &bad[i].p, sizeof(bad[i].p)};
        expect_any("C_EncryptInit", bad[i].what, (CALLS++, f->C_EncryptInit(s, &b, ST.aes)), param, 2);
        (void)P11->C_SessionCancel(s, CKF_ENCRYPT);
    }
}

static void aes_cbc_parts(CK_SESSION_HANDLE s) {
    CK_BYTE ct[64], pt[64];
    prepare(s, P_ENCRYPT);
    struct io io = {s, PLAIN, sizeof(PLAIN)};
    CK_ULONG a = sized("C_EncryptUpdate", encrypt_update, &io, ct, sizeof(ct));
    CK_ULONG b = sized("C_EncryptFinal", encrypt_final, &io, ct + a, sizeof(ct) - a);
    if (a + b != 32 || memcmp(ct, ST.cipher, 32) != 0)
        fail("C_EncryptFinal", "AES-CBC-PAD in parts", "differs from the single-part result");
    prepare(s, P_DECRYPT);
    io = (struct io){s, ct, a + b};
    a = sized("C_DecryptUpdate", decrypt_update, &io, pt, sizeof(pt));
    b = sized("C_DecryptFinal", decrypt_final, &io, pt + a, sizeof(pt) - a);
    if (a + b != sizeof(PLAIN) || memcmp(pt, PLAIN, sizeof(PLAIN)) != 0)
        fail("C_DecryptFinal", "AES-CBC-PAD in parts", "round trip differs");
}

static void ecdsa(CK_SESSION_HANDLE s) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_MECHANISM m = mech_of(M_ECDSA);
    CK_BYTE sig[128];
    prepare(s, P_SIGN);
    struct io io = {s, SIGNED_DATA, sizeof(SIGNED_DATA)};
    CK_ULONG n = sized("C_Sign", sign, &io, sig, sizeof(sig));
    if (n != 64)
        fail("C_Sign", "ECDSA P-256", "%lu bytes, want 64", n);
    MUST("C_VerifyInit", f->C_VerifyInit(s, &m, ST.ec_pub));
    CHECK("C_Verify", "own signature", f->C_Verify(s, (CK_BYTE *)SIGNED_DATA, 64, sig, n), CKR_OK);
    sig[5] ^= 0x40;
    MUST("C_VerifyInit", f->C_VerifyInit(s, &m, ST.ec_pub));
    CHECK("C_Verify", "tampered signature", f->C_Verify(s, (CK_BYTE *)SIGNED_DATA, 64, sig, n),
          CKR_SIGNATURE_INVALID);
    MUST("C_VerifyInit", f->C_VerifyInit(s, &m, ST.ec_pub));
    CK_RV short_sig[] = {CKR_SIGNATURE_LEN_RANGE, CKR_SIGNATURE_INVALID};
    expect_any("C_Verify", "63-byte signature",
               (CALLS++, f->C_Verify(s, (CK_BYTE *)SIGNED_DATA, 64, sig, 63)), short_sig, 2);

    prepare(s, P_SIGN);
    MUST("C_SignUpdate", f->C_SignUpdate(s, (CK_BYTE *)SIGNED_DATA, 10));
    MUST("C_SignUpdate", f->C_SignUpdate(s, (CK_BYTE *)SIGNED_DATA + 10, 54));
    n = sized("C_SignFinal", sign_final, &io, sig, sizeof(sig));
    prepare(s, P_VERIFY);
    MUST("C_VerifyUpdate", f->C_VerifyUpdate(s, (CK_BYTE *)SIGNED_DATA, 33));
    MUST("C_VerifyUpdate", f->C_VerifyUpdate(s, (CK_BYTE *)SIGNED_DATA + 33, 31));
    CHECK("C_VerifyFinal", "signature made in parts", f->C_VerifyFinal(s, sig, n), CKR_OK);
    CHECK("C_VerifySignatureInit", "signature made in parts",
          P11->C_VerifySignatureInit(s, &m, ST.ec_pub, sig, n), CKR_OK);
    CHECK("C_VerifySignature", "signature made in parts",
          P11->C_VerifySignature(s, (CK_BYTE *)SIGNED_DATA, 64), CKR_OK);
    prepare(s, P_VERIFY_SIG);
    MUST("C_VerifySignatureUpdate", P11->C_VerifySignatureUpdate(s, (CK_BYTE *)SIGNED_DATA, 64));
    CHECK("C_VerifySignatureFinal", "setup signature", P11->C_VerifySignatureFinal(s), CKR_OK);
}

static void digest_and_random(CK_SESSION_HANDLE s) {
    static const CK_BYTE abc_sha256[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    CK_BYTE out[64];
    prepare(s, P_DIGEST);
    struct io io = {s, (const CK_BYTE *)"abc", 3};
    CK_ULONG n = sized("C_Digest", digest, &io, out, sizeof(out));
    if (n != 32 || memcmp(out, abc_sha256, 32) != 0)
        fail("C_Digest", "SHA-256 of \"abc\"", "wrong digest");
    CHECK("C_GenerateRandom", "48 bytes", P11->v2.C_GenerateRandom(s, out, 48), CKR_OK);
}

void flow(void) {
    token_and_pin();
    ensure_state();
    CK_SESSION_HANDLE s = open_rw();
    aes_gcm(s);
    aes_cbc_parts(s);
    ecdsa(s);
    digest_and_random(s);
    flow_objects(s);
    CHECK("C_CloseSession", "flow session", P11->v2.C_CloseSession(s), CKR_OK);
    in_place();
    fork_child();
}
