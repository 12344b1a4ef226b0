//! VIN validation: 17 characters of ISO 3779's alphabet (no I, O or Q) with the North
//! American check digit (49 CFR 565.15) in position 9. ISO 3779 itself makes the check
//! digit optional; fleetd requires it, so a typo in a VIN is caught at registration. The
//! trade-off: a VIN whose maker did not compute the digit cannot be registered.

/// Why a VIN was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VinError {
    /// Not exactly 17 characters.
    #[error("must be 17 characters")]
    Length,
    /// A character outside A-Z/0-9, or one of I, O, Q.
    #[error("character {0:?} is not allowed (0-9, A-Z except I, O, Q)")]
    Character(char),
    /// Position 9 is not the computed check digit.
    #[error("check digit is {found:?}, expected {expected:?}")]
    CheckDigit { found: char, expected: char },
}

const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

fn value(c: char) -> Option<u32> {
    Some(match c {
        '0'..='9' => c as u32 - '0' as u32,
        'A' | 'J' => 1,
        'B' | 'K' | 'S' => 2,
        'C' | 'L' | 'T' => 3,
        'D' | 'M' | 'U' => 4,
        'E' | 'N' | 'V' => 5,
        'F' | 'W' => 6,
        'G' | 'P' | 'X' => 7,
        'H' | 'Y' => 8,
        'R' | 'Z' => 9,
        _ => return None,
    })
}

/// The check digit a 17-character VIN should carry in position 9.
pub fn check_digit(vin: &str) -> Result<char, VinError> {
    let chars: Vec<char> = vin.chars().collect();
    if chars.len() != 17 {
        return Err(VinError::Length);
    }
    let mut sum = 0;
    for (c, w) in chars.iter().zip(WEIGHTS) {
        sum += value(*c).ok_or(VinError::Character(*c))? * w;
    }
    Ok(match sum % 11 {
        10 => 'X',
        d => char::from_digit(d, 10).expect("a digit"),
    })
}

/// Validates an upper-case VIN.
pub fn validate(vin: &str) -> Result<(), VinError> {
    let expected = check_digit(vin)?;
    let found = vin.chars().nth(8).expect("17 characters");
    if found != expected {
        return Err(VinError::CheckDigit { found, expected });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vins() {
        assert_eq!(validate("1M8GDM9AXKP042788"), Ok(()));
        assert_eq!(validate("11111111111111111"), Ok(()));
        assert_eq!(validate("1HGCM82633A004352"), Ok(()));
        assert!(matches!(
            validate("1M8GDM9A1KP042788"),
            Err(VinError::CheckDigit { expected: 'X', .. })
        ));
        assert_eq!(validate("1M8GDM9AXKP04278"), Err(VinError::Length));
        assert_eq!(validate("1M8GDM9AXKP04278O"), Err(VinError::Character('O')));
        assert_eq!(validate("1m8GDM9AXKP042788"), Err(VinError::Character('m')));
    }
}
