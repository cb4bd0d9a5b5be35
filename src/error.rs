//! The engine's error type. Every layer below the FFI returns [`Error`]; the FFI layer turns it
//! into a `CK_RV` with [`Error::rv`]. Variants name the PKCS#11 condition they report so that a
//! reader of a rule sees the exact return value the caller will get.

use cryptoki_sys::*;

macro_rules! errors {
    ($($variant:ident => $rv:ident),* $(,)?) => {
        /// A failed call, as the PKCS#11 caller will see it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Error {
            $($variant,)*
            /// The output buffer is too small; the value is the length that is needed.
            BufferTooSmall(usize),
        }

        impl Error {
            /// The `CKR_*` value reported to the caller.
            pub fn rv(self) -> CK_RV {
                match self {
                    $(Error::$variant => $rv,)*
                    Error::BufferTooSmall(_) => CKR_BUFFER_TOO_SMALL,
                }
            }

            /// The `CKR_*` name, for logs and audit records.
            pub fn name(self) -> &'static str {
                match self {
                    $(Error::$variant => stringify!($rv),)*
                    Error::BufferTooSmall(_) => "CKR_BUFFER_TOO_SMALL",
                }
            }
        }
    };
}

errors! {
    ActionProhibited => CKR_ACTION_PROHIBITED,
    ArgumentsBad => CKR_ARGUMENTS_BAD,
    AttributeReadOnly => CKR_ATTRIBUTE_READ_ONLY,
    AttributeSensitive => CKR_ATTRIBUTE_SENSITIVE,
    AttributeTypeInvalid => CKR_ATTRIBUTE_TYPE_INVALID,
    AttributeValueInvalid => CKR_ATTRIBUTE_VALUE_INVALID,
    CantLock => CKR_CANT_LOCK,
    CryptokiAlreadyInitialized => CKR_CRYPTOKI_ALREADY_INITIALIZED,
    CryptokiNotInitialized => CKR_CRYPTOKI_NOT_INITIALIZED,
    CurveNotSupported => CKR_CURVE_NOT_SUPPORTED,
    DataInvalid => CKR_DATA_INVALID,
    DataLenRange => CKR_DATA_LEN_RANGE,
    DeviceError => CKR_DEVICE_ERROR,
    DeviceMemory => CKR_DEVICE_MEMORY,
    DomainParamsInvalid => CKR_DOMAIN_PARAMS_INVALID,
    EncryptedDataInvalid => CKR_ENCRYPTED_DATA_INVALID,
    EncryptedDataLenRange => CKR_ENCRYPTED_DATA_LEN_RANGE,
    FunctionFailed => CKR_FUNCTION_FAILED,
    FunctionNotParallel => CKR_FUNCTION_NOT_PARALLEL,
    FunctionNotSupported => CKR_FUNCTION_NOT_SUPPORTED,
    GeneralError => CKR_GENERAL_ERROR,
    HostMemory => CKR_HOST_MEMORY,
    KeyFunctionNotPermitted => CKR_KEY_FUNCTION_NOT_PERMITTED,
    KeyHandleInvalid => CKR_KEY_HANDLE_INVALID,
    KeyIndigestible => CKR_KEY_INDIGESTIBLE,
    KeyNotWrappable => CKR_KEY_NOT_WRAPPABLE,
    KeySizeRange => CKR_KEY_SIZE_RANGE,
    KeyTypeInconsistent => CKR_KEY_TYPE_INCONSISTENT,
    KeyUnextractable => CKR_KEY_UNEXTRACTABLE,
    MechanismInvalid => CKR_MECHANISM_INVALID,
    MechanismParamInvalid => CKR_MECHANISM_PARAM_INVALID,
    NoEvent => CKR_NO_EVENT,
    ObjectHandleInvalid => CKR_OBJECT_HANDLE_INVALID,
    OperationActive => CKR_OPERATION_ACTIVE,
    OperationNotInitialized => CKR_OPERATION_NOT_INITIALIZED,
    PinIncorrect => CKR_PIN_INCORRECT,
    PinInvalid => CKR_PIN_INVALID,
    PinLenRange => CKR_PIN_LEN_RANGE,
    PinLocked => CKR_PIN_LOCKED,
    RandomNoRng => CKR_RANDOM_NO_RNG,
    RandomSeedNotSupported => CKR_RANDOM_SEED_NOT_SUPPORTED,
    SessionClosed => CKR_SESSION_CLOSED,
    SessionExists => CKR_SESSION_EXISTS,
    SessionHandleInvalid => CKR_SESSION_HANDLE_INVALID,
    SessionParallelNotSupported => CKR_SESSION_PARALLEL_NOT_SUPPORTED,
    SessionReadOnly => CKR_SESSION_READ_ONLY,
    SessionReadOnlyExists => CKR_SESSION_READ_ONLY_EXISTS,
    SessionReadWriteSoExists => CKR_SESSION_READ_WRITE_SO_EXISTS,
    SignatureInvalid => CKR_SIGNATURE_INVALID,
    SignatureLenRange => CKR_SIGNATURE_LEN_RANGE,
    SlotIdInvalid => CKR_SLOT_ID_INVALID,
    TemplateIncomplete => CKR_TEMPLATE_INCOMPLETE,
    TemplateInconsistent => CKR_TEMPLATE_INCONSISTENT,
    TokenNotPresent => CKR_TOKEN_NOT_PRESENT,
    TokenNotRecognized => CKR_TOKEN_NOT_RECOGNIZED,
    TokenResourceExceeded => CKR_TOKEN_RESOURCE_EXCEEDED,
    TokenWriteProtected => CKR_TOKEN_WRITE_PROTECTED,
    UnwrappingKeyHandleInvalid => CKR_UNWRAPPING_KEY_HANDLE_INVALID,
    UnwrappingKeySizeRange => CKR_UNWRAPPING_KEY_SIZE_RANGE,
    UnwrappingKeyTypeInconsistent => CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
    UserAlreadyLoggedIn => CKR_USER_ALREADY_LOGGED_IN,
    UserAnotherAlreadyLoggedIn => CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
    UserNotLoggedIn => CKR_USER_NOT_LOGGED_IN,
    UserPinNotInitialized => CKR_USER_PIN_NOT_INITIALIZED,
    UserTooManyTypes => CKR_USER_TOO_MANY_TYPES,
    UserTypeInvalid => CKR_USER_TYPE_INVALID,
    WrappedKeyInvalid => CKR_WRAPPED_KEY_INVALID,
    WrappedKeyLenRange => CKR_WRAPPED_KEY_LEN_RANGE,
    WrappingKeyHandleInvalid => CKR_WRAPPING_KEY_HANDLE_INVALID,
    WrappingKeySizeRange => CKR_WRAPPING_KEY_SIZE_RANGE,
    WrappingKeyTypeInconsistent => CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_values() {
        assert_eq!(Error::PinIncorrect.rv(), CKR_PIN_INCORRECT);
        assert_eq!(Error::PinIncorrect.name(), "CKR_PIN_INCORRECT");
        assert_eq!(Error::BufferTooSmall(7).rv(), CKR_BUFFER_TOO_SMALL);
    }
}
