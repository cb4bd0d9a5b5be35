//! Names and descriptions (to be implemented).
