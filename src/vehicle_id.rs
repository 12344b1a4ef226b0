//! The vehicle id (docs/telemetry.md): 1–64 characters of `[A-Za-z0-9._-]`. One rule for the
//! topic a tracker publishes on, the API's bodies and paths, and the live index.

/// The longest vehicle id, in bytes (= characters: the alphabet is ASCII).
pub const MAX_LEN: usize = 64;

/// [`VehicleId::parse`]'s rule as a regular expression, for the OpenAPI document.
pub const PATTERN: &str = r"^[A-Za-z0-9._-]{1,64}$";

/// Why a string is not a vehicle id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VehicleIdError {
    #[error("vehicle id is empty")]
    Empty,
    /// Longer than [`MAX_LEN`]; `len` in bytes.
    #[error("vehicle id is {len} bytes long, at most 64 allowed")]
    TooLong { len: usize },
    #[error("vehicle id contains a character outside [A-Za-z0-9._-]")]
    Char,
}

/// A string known to be a vehicle id, borrowed from wherever it was read (a topic, a body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VehicleId<'a>(&'a str);

impl<'a> VehicleId<'a> {
    pub fn parse(id: &'a str) -> Result<VehicleId<'a>, VehicleIdError> {
        if id.is_empty() {
            return Err(VehicleIdError::Empty);
        }
        if id.len() > MAX_LEN {
            return Err(VehicleIdError::TooLong { len: id.len() });
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(VehicleIdError::Char);
        }
        Ok(VehicleId(id))
    }

    /// Whether `id` follows the rule.
    pub fn is_valid(id: &str) -> bool {
        VehicleId::parse(id).is_ok()
    }

    pub fn as_str(self) -> &'a str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        assert_eq!(VehicleId::parse("truck-42").unwrap().as_str(), "truck-42");
        assert!(VehicleId::is_valid("A.b_c-9"));
        assert!(VehicleId::is_valid(&"x".repeat(64)));
        assert_eq!(VehicleId::parse(""), Err(VehicleIdError::Empty));
        assert_eq!(
            VehicleId::parse(&"x".repeat(65)),
            Err(VehicleIdError::TooLong { len: 65 })
        );
        for bad in ["a b", "a/b", "ä", "a+", "a#", "a\0"] {
            assert_eq!(VehicleId::parse(bad), Err(VehicleIdError::Char), "{bad:?}");
        }
        // Few characters, many bytes: counted in bytes, refused as too long or by alphabet.
        assert!(!VehicleId::is_valid(&"é".repeat(40)));
    }
}
