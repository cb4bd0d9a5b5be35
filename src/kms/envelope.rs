//! Ciphertext blobs and encryption contexts (to be implemented).
