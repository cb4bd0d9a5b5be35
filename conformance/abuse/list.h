/*
 * The function lists as the module hands them out. p11-kit's header only knows PKCS#11 2.40,
 * so the 3.0 and 3.2 additions are declared here under names of our own (never CK_*), which
 * cannot clash with a newer header. Include after <p11-kit/pkcs11.h>.
 */
#ifndef ABUSE_LIST_H
#define ABUSE_LIST_H

/* --- The 3.0 and 3.2 additions to the function list, in list order. ----------------------- */

/* CK_INTERFACE of PKCS#11 3.0. */
struct iface {
    CK_UTF8CHAR *name;
    void *list;
    CK_FLAGS flags;
};

/* CK_ASYNC_DATA of PKCS#11 3.2. */
struct async_data {
    CK_ULONG version;
    CK_BYTE *data;
    CK_ULONG len;
    CK_OBJECT_HANDLE object, additional;
};

typedef CK_RV (*fn_get_interface_list)(struct iface *, CK_ULONG *);
typedef CK_RV (*fn_get_interface)(CK_UTF8CHAR *, CK_VERSION *, struct iface **, CK_FLAGS);
typedef CK_RV (*fn_login_user)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR *, CK_ULONG,
                               CK_UTF8CHAR *, CK_ULONG);
typedef CK_RV (*fn_session_cancel)(CK_SESSION_HANDLE, CK_FLAGS);
typedef CK_RV (*fn_msg_init)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
typedef CK_RV (*fn_msg_crypt)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG,
                              CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*fn_msg_begin)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*fn_msg_next)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG,
                             CK_BYTE *, CK_ULONG *, CK_FLAGS);
typedef CK_RV (*fn_session_only)(CK_SESSION_HANDLE);
typedef CK_RV (*fn_msg_sign)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG,
                             CK_BYTE *, CK_ULONG *);
typedef CK_RV (*fn_msg_sign_begin)(CK_SESSION_HANDLE, void *, CK_ULONG);
typedef CK_RV (*fn_msg_verify)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG,
                               CK_BYTE *, CK_ULONG);
typedef CK_RV (*fn_encapsulate)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE,
                                CK_ATTRIBUTE *, CK_ULONG, CK_BYTE *, CK_ULONG *,
                                CK_OBJECT_HANDLE *);
typedef CK_RV (*fn_decapsulate)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE,
                                CK_ATTRIBUTE *, CK_ULONG, CK_BYTE *, CK_ULONG,
                                CK_OBJECT_HANDLE *);
typedef CK_RV (*fn_verify_sig_init)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE,
                                    CK_BYTE *, CK_ULONG);
typedef CK_RV (*fn_data)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG);
typedef CK_RV (*fn_validation_flags)(CK_SESSION_HANDLE, CK_ULONG, CK_FLAGS *);
typedef CK_RV (*fn_async_complete)(CK_SESSION_HANDLE, CK_UTF8CHAR *, struct async_data *);
typedef CK_RV (*fn_async_get_id)(CK_SESSION_HANDLE, CK_UTF8CHAR *, CK_ULONG *);
typedef CK_RV (*fn_async_join)(CK_SESSION_HANDLE, CK_UTF8CHAR *, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*fn_wrap_auth)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE,
                              CK_OBJECT_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*fn_unwrap_auth)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE, CK_BYTE *,
                                CK_ULONG, CK_ATTRIBUTE *, CK_ULONG, CK_BYTE *, CK_ULONG,
                                CK_OBJECT_HANDLE *);

/* A 2.40 list is the first part of a 3.0 list, which is the first part of a 3.2 list. Only the
   members of the version a list reports are ever read. */
struct list {
    CK_FUNCTION_LIST v2;
    fn_get_interface_list C_GetInterfaceList;
    fn_get_interface C_GetInterface;
    fn_login_user C_LoginUser;
    fn_session_cancel C_SessionCancel;
    fn_msg_init C_MessageEncryptInit;
    fn_msg_crypt C_EncryptMessage;
    fn_msg_begin C_EncryptMessageBegin;
    fn_msg_next C_EncryptMessageNext;
    fn_session_only C_MessageEncryptFinal;
    fn_msg_init C_MessageDecryptInit;
    fn_msg_crypt C_DecryptMessage;
    fn_msg_begin C_DecryptMessageBegin;
    fn_msg_next C_DecryptMessageNext;
    fn_session_only C_MessageDecryptFinal;
    fn_msg_init C_MessageSignInit;
    fn_msg_sign C_SignMessage;
    fn_msg_sign_begin C_SignMessageBegin;
    fn_msg_sign C_SignMessageNext;
    fn_session_only C_MessageSignFinal;
    fn_msg_init C_MessageVerifyInit;
    fn_msg_verify C_VerifyMessage;
    fn_msg_sign_begin C_VerifyMessageBegin;
    fn_msg_verify C_VerifyMessageNext;
    fn_session_only C_MessageVerifyFinal;
    fn_encapsulate C_EncapsulateKey;
    fn_decapsulate C_DecapsulateKey;
    fn_verify_sig_init C_VerifySignatureInit;
    fn_data C_VerifySignature;
    fn_data C_VerifySignatureUpdate;
    fn_session_only C_VerifySignatureFinal;
    fn_validation_flags C_GetSessionValidationFlags;
    fn_async_complete C_AsyncComplete;
    fn_async_get_id C_AsyncGetID;
    fn_async_join C_AsyncJoin;
    fn_wrap_auth C_WrapKeyAuthenticated;
    fn_unwrap_auth C_UnwrapKeyAuthenticated;
};

#endif
