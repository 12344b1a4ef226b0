//! The `bbox` of `GET /v1/stream`: `south,west,north,east` in degrees, parsed strictly.

use crate::api::error::ApiError;
use crate::live::geo;

/// What [`BBox::parse`] reads, as the OpenAPI document states it.
pub const BBOX_PATTERN: &str = r"^ *-?[0-9]+(\.[0-9]+)? *(, *-?[0-9]+(\.[0-9]+)? *){3}$";

/// `-?[0-9]+(\.[0-9]+)?`.
fn decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// A latitude/longitude box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

impl BBox {
    /// Four plain decimals ([`BBOX_PATTERN`]: no exponent, no sign but `-`, spaces allowed
    /// around each), then the ranges and `south <= north`.
    pub fn parse(s: &str) -> Result<BBox, ApiError> {
        let bad = || ApiError::invalid("bbox", "south,west,north,east in degrees, south <= north");
        let v: Vec<f64> = s
            .split(',')
            .map(|p| p.trim_matches(' '))
            .map(|p| {
                if decimal(p) {
                    p.parse::<f64>().ok()
                } else {
                    None
                }
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let [south, west, north, east] = v[..] else {
            return Err(bad());
        };
        let ok = geo::valid_lat(south)
            && geo::valid_lat(north)
            && south <= north
            && geo::valid_lon(west)
            && geo::valid_lon(east);
        if !ok {
            return Err(bad());
        }
        Ok(BBox {
            south,
            west,
            north,
            east,
        })
    }

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        let lon_in = if self.west <= self.east {
            (self.west..=self.east).contains(&lon)
        } else {
            lon >= self.west || lon <= self.east
        };
        (self.south..=self.north).contains(&lat) && lon_in
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_pattern_reads_what_parse_reads() {
        let pattern = regex::Regex::new(BBOX_PATTERN).unwrap();
        for s in [
            "50,10,51,11",
            " 50 , -10.5,51,11 ",
            "1e1,0,20,1",
            "+1,0,2,1",
            "1.,0,2,1",
            "1,\t2,3,4",
            "1,2,3",
            "a,b,c,d",
        ] {
            // In range and ordered, the syntax decides alone.
            assert_eq!(pattern.is_match(s), BBox::parse(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn bbox_parses_strictly_and_wraps_the_antimeridian() {
        assert!(BBox::parse(" 50 , -10.5,51,11 ").is_ok());
        let b = BBox::parse("50,10,51,11").unwrap();
        assert!(b.contains(50.5, 10.5));
        assert!(b.contains(50.0, 11.0));
        assert!(!b.contains(49.9, 10.5));
        assert!(!b.contains(50.5, 11.1));
        let wrap = BBox::parse("-20,170,-10,-170").unwrap();
        assert!(wrap.contains(-15.0, 179.9));
        assert!(wrap.contains(-15.0, -179.9));
        assert!(!wrap.contains(-15.0, 0.0));
        for bad in [
            "",
            "1,2,3",
            "1,2,3,4,5",
            "a,b,c,d",
            "51,10,50,11",
            "0,0,91,1",
            "0,-181,1,1",
            "NaN,0,1,1",
            "1e1,0,20,1",
            "+1,0,2,1",
            "inf,0,1,1",
            "1.,0,2,1",
            ".5,0,2,1",
            "1,\t2,3,4",
        ] {
            assert_eq!(BBox::parse(bad).unwrap_err().status, 422, "{bad}");
        }
    }
}
