//! Bearer tokens: HS256 JWTs carrying the user id, role and token version, signed with
//! `jwt.secret`. A valid signature is not enough: [`super::accounts`] checks on every request
//! that the user is still active at that token version.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::roles::Role;

/// The HS256 key.
pub struct Keys {
    mac: Hmac<Sha256>,
}

/// A token's claims.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    /// The user's `token_version` when the token was issued; bumped by logout and by any
    /// change of role, password or active flag, which revokes every older token.
    #[serde(default)]
    pub ver: i32,
}

/// Why a token was refused (all 401).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or the parts are not the JSON we issue.
    #[error("malformed token")]
    Malformed,
    /// The header names another algorithm than HS256.
    #[error("unsupported token algorithm")]
    Algorithm,
    /// The signature does not match (forged or signed with another secret).
    #[error("bad token signature")]
    Signature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `exp - iat` is longer than `jwt.max_ttl_s`, or `iat` is in the future.
    #[error("token lifetime out of bounds")]
    Lifetime,
}

/// How far ahead of this daemon's clock another daemon's clock may have issued a token.
const ISSUE_SKEW_S: i64 = 60;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        Keys {
            mac: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let body = serde_json::to_vec(claims).expect("claims serialize");
        let input = format!("{}.{}", B64.encode(HEADER), B64.encode(body));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig))
    }

    /// Checks the algorithm, the signature (constant time), the expiry, then the lifetime
    /// (at most `max_ttl_s`, issued no later than a minute ahead of `now`).
    pub fn verify(&self, token: &str, now: i64, max_ttl_s: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::Algorithm);
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(c.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.exp.saturating_sub(claims.iat) > max_ttl_s
            || claims.iat > now.saturating_add(ISSUE_SKEW_S)
        {
            return Err(TokenError::Lifetime);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::nil(),
            role: Role::Dispatcher,
            iat: 0,
            exp,
            ver: 0,
        }
    }

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let k = Keys::new(b"0123456789abcdef0123456789abcdef");
        let t = k.issue(&claims(100));
        let c = k.verify(&t, 99, 3600).unwrap();
        assert_eq!(c.role, Role::Dispatcher);
        assert_eq!(k.verify(&t, 100, 3600).unwrap_err(), TokenError::Expired);
        let other = Keys::new(b"another secret, also 32 bytes long!");
        assert_eq!(
            other.verify(&t, 0, 3600).unwrap_err(),
            TokenError::Signature
        );
        // Promote oneself to admin without re-signing.
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let forged = serde_json::to_vec(&Claims {
            role: Role::Admin,
            ..claims(100)
        })
        .unwrap();
        parts[1] = B64.encode(forged);
        assert_eq!(
            k.verify(&parts.join("."), 0, 3600).unwrap_err(),
            TokenError::Signature
        );
        // "alg": "none" is refused before any signature check.
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), parts[1]);
        assert_eq!(k.verify(&none, 0, 3600).unwrap_err(), TokenError::Algorithm);
        assert_eq!(k.verify("a.b", 0, 3600).unwrap_err(), TokenError::Malformed);
    }

    #[test]
    fn lifetimes_beyond_the_maximum_or_from_the_future_are_refused() {
        let k = Keys::new(b"0123456789abcdef0123456789abcdef");
        let at = |iat: i64, exp: i64| k.issue(&Claims { iat, ..claims(exp) });
        assert!(k.verify(&at(0, 3600), 10, 3600).is_ok());
        assert_eq!(
            k.verify(&at(0, 3601), 10, 3600).unwrap_err(),
            TokenError::Lifetime
        );
        assert_eq!(
            k.verify(&at(0, i64::MAX), 10, 3600).unwrap_err(),
            TokenError::Lifetime,
            "exp = i64::MAX"
        );
        assert_eq!(
            k.verify(&at(i64::MIN, 100), 10, 3600).unwrap_err(),
            TokenError::Lifetime,
            "no overflow"
        );
        assert!(k.verify(&at(70, 100), 10, 3600).is_ok(), "a minute's skew");
        assert_eq!(
            k.verify(&at(71, 100), 10, 3600).unwrap_err(),
            TokenError::Lifetime
        );
        // Tokens from before versions existed read as version 0.
        let old = format!(
            "{}.{}",
            B64.encode(HEADER),
            B64.encode(
                r#"{"sub":"00000000-0000-0000-0000-000000000000","role":"admin","iat":0,"exp":100}"#
            )
        );
        let sig = B64.encode(k.sign(old.as_bytes()));
        assert_eq!(k.verify(&format!("{old}.{sig}"), 10, 3600).unwrap().ver, 0);
    }
}
