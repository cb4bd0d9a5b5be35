//! Rate limits (to be implemented).
