/*
 * Output buffers that overlap the input: in place (the same pointer) and shifted by a few
 * bytes either way, single-part and in parts, for AES-GCM and AES-CBC-PAD. Callers do this
 * to save a copy; the result must be what separate buffers give.
 */
#include "common.h"

enum { GCM, CBC };

/* Encrypts or decrypts `n` bytes of `data` into `res`: each call's input is put in a scratch
   buffer and its output asked for `shift` bytes away from it, in the same buffer. */
static CK_RV crypt(CK_SESSION_HANDLE s, int which, int decrypt, int parts, int shift,
                   const CK_BYTE *data, CK_ULONG n, CK_BYTE *res, CK_ULONG *res_len) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_BYTE iv[12];
    memset(iv, 3, sizeof(iv));
    CK_GCM_PARAMS gcm = {iv, sizeof(iv), 96, NULL, 0, 128};
    CK_MECHANISM m = which == GCM ? (CK_MECHANISM){CKM_AES_GCM, &gcm, sizeof(gcm)} : mech_of(M_CBC_PAD);
    MUST("init", decrypt ? f->C_DecryptInit(s, &m, ST.aes) : f->C_EncryptInit(s, &m, ST.aes));
    CK_BYTE buf[320];
    CK_BYTE *in = buf + 64, *out = buf + 64 + shift;
    CK_ULONG len = 128;
    CK_RV rv;
    *res_len = 0;
    if (!parts) {
        memcpy(in, data, n);
        CALLS++;
        rv = decrypt ? f->C_Decrypt(s, in, n, out, &len) : f->C_Encrypt(s, in, n, out, &len);
        if (rv == CKR_OK)
            memcpy(res, out, len), *res_len = len;
        return rv;
    }
    CK_ULONG half = n / 2;
    for (int i = 0; i < 2; i++) {
        CK_ULONG part = i ? n - half : half;
        memcpy(in, data + (i ? half : 0), part);
        len = 128;
        CALLS++;
        rv = decrypt ? f->C_DecryptUpdate(s, in, part, out, &len) : f->C_EncryptUpdate(s, in, part, out, &len);
        if (rv != CKR_OK)
            return rv;
        memcpy(res + *res_len, out, len), *res_len += len;
    }
    len = 128;
    CALLS++;
    rv = decrypt ? f->C_DecryptFinal(s, out, &len) : f->C_EncryptFinal(s, out, &len);
    if (rv == CKR_OK)
        memcpy(res + *res_len, out, len), *res_len += len;
    return rv;
}

void in_place(void) {
    CK_SESSION_HANDLE s = open_rw();
    static const int shifts[] = {0, 1, -1, 7, -7, 16, -16};
    for (int which = GCM; which <= CBC; which++)
        for (int parts = 0; parts < 2; parts++) {
            CK_BYTE ref[128], res[256];
            CK_ULONG ref_len, len;
            MUST("reference", crypt(s, which, 0, parts, 100, SIGNED_DATA, 40, ref, &ref_len));
            for (size_t i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
                char what[96];
                snprintf(what, sizeof(what), "%s%s, output at input%+d",
                         which == GCM ? "AES-GCM" : "AES-CBC-PAD", parts ? " in parts" : "", shifts[i]);
                CK_RV rv = crypt(s, which, 0, parts, shifts[i], SIGNED_DATA, 40, res, &len);
                expect("C_Encrypt", what, rv, CKR_OK);
                if (rv == CKR_OK && (len != ref_len || memcmp(res, ref, len) != 0))
                    fail("C_Encrypt", what, "differs from the result into a separate buffer");
                rv = crypt(s, which, 1, parts, shifts[i], ref, ref_len, res, &len);
                expect("C_Decrypt", what, rv, CKR_OK);
                if (rv == CKR_OK && (len != 40 || memcmp(res, SIGNED_DATA, 40) != 0))
                    fail("C_Decrypt", what, "differs from the plaintext");
            }
        }
    MUST("C_CloseSession", P11->v2.C_CloseSession(s));
}
