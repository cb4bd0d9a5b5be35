//! Where key material lives and crypto runs. `local` keeps material in the token store and
//! computes in process; each backend declares the mechanisms it serves, and
//! `C_GetMechanismList` reports exactly those.

pub mod local;
