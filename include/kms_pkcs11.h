/*
 * kms_pkcs11.h - vendor values of libkms_pkcs11.so.
 *
 * Include after the standard PKCS#11 header (pkcs11.h / pkcs11t.h), which defines CK_ULONG
 * and the CK*_VENDOR_DEFINED bases. Every value the library accepts beyond the standard is
 * declared here; src/vendor.rs mirrors this file and a test checks that the two agree.
 *
 * SM values follow the Chinese HSM family (Sansec / TASS / Koal, also ChainMaker and xipki).
 * KMS values live in their own block, CK*_VENDOR_DEFINED | 0x004B4D00 + n ("KM"), which
 * keeps bit 0x40000000 clear (on an attribute that bit means CKF_ARRAY_ATTRIBUTE).
 */
#ifndef KMS_PKCS11_H
#define KMS_PKCS11_H

/* --- Key types ------------------------------------------------------------------------ */

/* SM2 key pair; CKA_EC_PARAMS is the SM2 curve OID 1.2.156.10197.1.301. */
#define CKK_SM2 0x80000004UL
/* SM4 secret key, 16 bytes. */
#define CKK_SM4 0x80000002UL

/* --- SM2 mechanisms ----------------------------------------------------------------------- */

/* Generate an SM2 key pair. */
#define CKM_SM2_KEY_PAIR_GEN 0x80008001UL
/* Sign/verify a caller-supplied 32-byte digest e; signature r||s (64 bytes). */
#define CKM_SM2 0x80008000UL
/* SM3(Z_A || M) inside; parameter = signer ID (empty: "1234567812345678"); signature r||s. */
#define CKM_SM3_SM2 0x80008100UL
/* As CKM_SM3_SM2, signature DER SEQUENCE { r, s }. */
#define CKM_SM3_SM2_DER 0x80008101UL
/* SM2 encrypt/decrypt; ciphertext C1 || C3 || C2, C1 = 04 || x1 || y1. */
#define CKM_SM2_RAW 0x80008200UL
/* SM2 encrypt/decrypt; ciphertext GM/T 0009 DER SM2Cipher. */
#define CKM_SM2_CIPHER_DER 0x80008201UL

/* --- SM3 -------------------------------------------------------------------------------- */

/* SM3 digest. */
#define CKM_SM3 0x80000005UL

/* --- SM4 mechanisms ----------------------------------------------------------------------- */

/* Generate a 16-byte SM4 key (no CKA_VALUE_LEN needed). */
#define CKM_SM4_KEY_GEN 0x80000107UL
/* SM4-ECB, no padding. */
#define CKM_SM4_ECB 0x80000108UL
/* SM4-CBC, 16-byte IV, no padding. */
#define CKM_SM4_CBC 0x80000109UL
/* SM4-CBC with PKCS#7 padding, 16-byte IV. */
#define CKM_SM4_CBC_PAD 0x8000010CUL
/* SM4-GCM; parameter CK_GCM_PARAMS. */
#define CKM_SM4_GCM 0x8000010FUL
/* SM4-CTR; parameter laid out as CK_AES_CTR_PARAMS. */
#define CKM_SM4_CTR 0x80000110UL

/* --- KMS block (0x804B4D00 + n) --------------------------------------------------------- */

/* First value of the KMS attribute and mechanism block. */
#define CKA_KMS_BASE 0x804B4D00UL
#define CKM_KMS_BASE 0x804B4D00UL

#endif /* KMS_PKCS11_H */
