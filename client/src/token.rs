//! Bearer tokens: how they are made and hashed, and where a CLI finds one.
//!
//! A token is `pharos_` and 64 hex digits (32 bytes from the operating system's random source).
//! Servers store and compare only its SHA-256, in lowercase hex.

use sha2::{Digest, Sha256};

/// A new random token.
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("pharos_{}", hex::encode(bytes))
}

/// SHA-256 of `token` (surrounding whitespace ignored), lowercase hex.
pub fn sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_to_64_lowercase_hex_digits() {
        let (first, second) = (generate(), generate());
        assert_ne!(first, second);
        assert_eq!(first.len(), "pharos_".len() + 64);
        let hash = sha256(&first);
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(sha256(&format!("{first}\n")), hash, "a trailing newline from a file is ignored");
        // A known value, so the hash function can never change silently.
        assert_eq!(sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
