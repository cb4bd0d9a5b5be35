//! The local backend: material sealed in the embedded store, crypto in process through the
//! mechanism families and the engine.

use cryptoki_sys::CK_MECHANISM_TYPE;

/// Every mechanism the local engine implements.
pub fn mechanisms() -> Vec<CK_MECHANISM_TYPE> {
    crate::mechanism::all()
}

/// Whether the local engine implements `ty`; answered without building the list, since every
/// operation's init asks.
pub fn supports(ty: CK_MECHANISM_TYPE) -> bool {
    crate::mechanism::info(ty).is_ok()
}
