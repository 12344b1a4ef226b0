//! Signing a delivery: `fleetd-signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`,
//! where the timestamp is the `fleetd-timestamp` header (Unix seconds). A receiver recomputes
//! it over the raw body and compares in constant time; docs/webhooks.md shows how.

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The `fleetd-signature` header's value.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex(&mac.finalize().into_bytes()))
}

/// A new random secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // printf '%s' '1700000000.{"id":1}' | openssl dgst -sha256 -hmac 'whsec_test_secret_0123'
        assert_eq!(
            signature("whsec_test_secret_0123", 1_700_000_000, br#"{"id":1}"#),
            "v1=b359aca471a76d908e046c23b6367555fdb372fb6e4cbf8d14568613b79a2c89"
        );
    }

    #[test]
    fn secrets_are_random_and_long() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 6 + 64);
        assert!(a.starts_with("whsec_"));
    }
}
