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

/* The managed key's id (UTF-8, a 36-character UUID). */
#define CKA_KMS_KEY_ID 0x804B4D01UL
/* The key version this object acts with (UTF-8 UUID); on a managed key, the primary's. */
#define CKA_KMS_KEY_VERSION_ID 0x804B4D02UL
/* The primary version of the managed key (UTF-8 UUID). */
#define CKA_KMS_PRIMARY_VERSION_ID 0x804B4D03UL
/* Key spec (UTF-8): Aliyun_AES_256, Aliyun_SM4, RSA_2048, EC_P256, EC_P256K, EC_SM2, ... */
#define CKA_KMS_KEY_SPEC 0x804B4D04UL
/* Key usage (UTF-8): ENCRYPT/DECRYPT, SIGN/VERIFY, or both joined by a comma. */
#define CKA_KMS_KEY_USAGE 0x804B4D05UL
/* Key state (UTF-8): Enabled, Disabled, PendingDeletion, PendingImport. */
#define CKA_KMS_KEY_STATE 0x804B4D06UL
/* Origin (UTF-8): Aliyun_KMS or EXTERNAL. */
#define CKA_KMS_ORIGIN 0x804B4D07UL
/* Automatic rotation interval in seconds (CK_ULONG); 0 = no automatic rotation. */
#define CKA_KMS_ROTATION_INTERVAL 0x804B4D08UL
/* When the next automatic rotation is due, Unix seconds (CK_ULONG); 0 = none. */
#define CKA_KMS_NEXT_ROTATION 0x804B4D09UL
/* When a key pending deletion is deleted, Unix seconds (CK_ULONG); 0 = not pending. */
#define CKA_KMS_DELETION_DATE 0x804B4D0AUL
/* Tags: a JSON object of strings (UTF-8). */
#define CKA_KMS_TAGS 0x804B4D0BUL
/* Aliases: a JSON array of alias/... names (UTF-8). */
#define CKA_KMS_ALIASES 0x804B4D0CUL
/* Description (UTF-8). */
#define CKA_KMS_DESCRIPTION 0x804B4D0DUL
/* Creation time, Unix seconds (CK_ULONG). */
#define CKA_KMS_CREATION_DATE 0x804B4D0EUL
/* Deletion protection (CK_BBOOL). */
#define CKA_KMS_DELETION_PROTECTION 0x804B4D0FUL
/* Protection level (UTF-8): SOFTWARE (local backend) or HSM. */
#define CKA_KMS_PROTECTION_LEVEL 0x804B4D10UL
/* True on an object that is one version of a managed key (CK_BBOOL); searches see version
   objects only when they name this attribute or a version id. */
#define CKA_KMS_IS_VERSION 0x804B4D11UL
/* When the last rotation happened, Unix seconds (CK_ULONG); 0 = never. */
#define CKA_KMS_LAST_ROTATION 0x804B4D12UL
/* When imported material expires and is erased (BYOK), Unix seconds (CK_ULONG); 0 = never. */
#define CKA_KMS_MATERIAL_EXPIRY 0x804B4D13UL
/* On an import wrapping key pair (GetParametersForImport): the key id of the CMK it imports into. */
#define CKA_KMS_IMPORT_KEY_ID 0x804B4D14UL
/* On an import wrapping key pair: its import token (UTF-8). */
#define CKA_KMS_IMPORT_TOKEN 0x804B4D15UL
/* On an import wrapping key pair: when its import token expires, Unix seconds (CK_ULONG). */
#define CKA_KMS_IMPORT_EXPIRY 0x804B4D16UL
/* On an import wrapping key pair: the wrapping algorithm it was issued for (UTF-8). */
#define CKA_KMS_WRAPPING_ALGORITHM 0x804B4D17UL

/* KMS Encrypt/Decrypt and data-key wrap/unwrap: ciphertext blobs (key version id || IV ||
   ciphertext || tag); parameter = the encryption context as JSON, or none. */
#define CKM_KMS_ENVELOPE 0x804B4D01UL
/* GenerateDataKeyWithoutPlaintext as C_Encrypt of no data: the output is the blob of a fresh
   data key; parameter CK_KMS_DATA_KEY_PARAMS. */
#define CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT 0x804B4D02UL

/* Parameter of CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT. */
typedef struct CK_KMS_DATA_KEY_PARAMS {
    CK_ULONG ulKeyLen;      /* data key bytes, 1 to 1024; 0 means 32 */
    CK_BYTE_PTR pContext;   /* encryption context as JSON, or NULL */
    CK_ULONG ulContextLen;
} CK_KMS_DATA_KEY_PARAMS;

/* The vendor interface, from C_GetInterface((CK_UTF8CHAR_PTR)KMS_INTERFACE_NAME, NULL, &i, 0):
   i->pFunctionList points to a CK_KMS_FUNCTION_LIST. */
#define KMS_INTERFACE_NAME "KMS PKCS11"

typedef struct CK_KMS_FUNCTION_LIST {
    CK_VERSION version; /* 1.0 */
    /* The KMS error code (e.g. "Rejected.Throttling", "Rejected.Disabled") of the calling
       thread's last failed call that had one, as UTF-8 without a terminating NUL; length 0 when
       there was none. Follows the PKCS#11 size-query convention: pCode NULL sets *pulCodeLen;
       a short buffer gives CKR_BUFFER_TOO_SMALL. */
    CK_RV (*C_KMS_GetLastError)(CK_UTF8CHAR_PTR pCode, CK_ULONG_PTR pulCodeLen);
} CK_KMS_FUNCTION_LIST;

#endif /* KMS_PKCS11_H */
