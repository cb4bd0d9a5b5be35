//! kms-pkcs11: a key management service reached through PKCS#11.
//!
//! Data flows one way: C caller → [`ffi`] → [`token`] → [`mechanism`] → [`engine`], with
//! [`store`] for persistence. See `DESIGN.md` in the shared folder for the architecture.

pub mod backend;
pub mod config;
pub mod engine;
pub mod error;
pub mod ffi;
pub mod kms;
pub mod logging;
pub mod mechanism;
pub mod object;
pub mod store;
pub mod token;
pub mod vendor;
