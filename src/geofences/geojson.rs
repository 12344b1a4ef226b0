//! Reading a GeoJSON `Polygon` or `MultiPolygon` geometry object (RFC 7946 §3.1.6–3.1.7) into
//! raw rings of positions, structure only: the geometry checks are in [`super::validate`].
//!
//! The input is untrusted: every level is checked for its JSON type before it is read, the
//! positions are counted against [`MAX_VERTICES`] before any is converted, nesting deeper than
//! the format's is refused as a wrong type (nothing here recurses), and members other than
//! `type` and `coordinates` are refused (a misspelt or unsupported member is never ignored).

use serde_json::Value;

use super::error::ShapeError;
use super::limits::MAX_VERTICES;
use super::point::Point;

/// The rings of each polygon, as given (closing positions included).
pub(crate) type RawPolygons = Vec<Vec<Vec<Point>>>;

/// The polygons of the geometry and whether it was a MultiPolygon.
pub(crate) fn parse(v: &Value) -> Result<(RawPolygons, bool), ShapeError> {
    let obj = v.as_object().ok_or(ShapeError::NotObject)?;
    if let Some(k) = obj.keys().find(|k| *k != "type" && *k != "coordinates") {
        return Err(ShapeError::Member(k.chars().take(64).collect()));
    }
    let multi = match obj.get("type").and_then(Value::as_str) {
        Some("Polygon") => false,
        Some("MultiPolygon") => true,
        _ => return Err(ShapeError::Type),
    };
    let coords = obj.get("coordinates").ok_or(ShapeError::Structure {
        path: "coordinates".into(),
        expected: "present",
    })?;
    // (path, rings) per polygon.
    let polygons: Vec<(String, &Vec<Value>)> = if multi {
        let list = array(
            coords,
            "coordinates".into(),
            "a non-empty array of polygons",
        )?;
        list.iter()
            .enumerate()
            .map(|(i, p)| {
                let path = format!("coordinates[{i}]");
                array(p, path.clone(), "a non-empty array of rings").map(|r| (path, r))
            })
            .collect::<Result<_, _>>()?
    } else {
        let rings = array(coords, "coordinates".into(), "a non-empty array of rings")?;
        vec![("coordinates".into(), rings)]
    };
    let mut total = 0usize;
    let mut ring_lists = Vec::with_capacity(polygons.len());
    for (path, rings) in &polygons {
        let mut list = Vec::with_capacity(rings.len());
        for (r, ring) in rings.iter().enumerate() {
            let positions = ring.as_array().ok_or_else(|| ShapeError::Structure {
                path: format!("{path}[{r}]"),
                expected: "an array of positions",
            })?;
            total = total.saturating_add(positions.len());
            if total > MAX_VERTICES {
                return Err(ShapeError::TooManyVertices);
            }
            list.push((format!("{path}[{r}]"), positions));
        }
        ring_lists.push(list);
    }
    let out = ring_lists
        .into_iter()
        .map(|rings| {
            rings
                .into_iter()
                .map(|(path, positions)| {
                    positions
                        .iter()
                        .enumerate()
                        .map(|(i, pos)| position(pos, || format!("{path}[{i}]")))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((out, multi))
}

fn array<'a>(
    v: &'a Value,
    path: String,
    expected: &'static str,
) -> Result<&'a Vec<Value>, ShapeError> {
    match v.as_array() {
        Some(a) if !a.is_empty() => Ok(a),
        _ => Err(ShapeError::Structure { path, expected }),
    }
}

/// `[lon, lat]`: exactly two JSON numbers (range checks come later, with the ring's location).
fn position(v: &Value, path: impl Fn() -> String) -> Result<Point, ShapeError> {
    let err = || ShapeError::Structure {
        path: path(),
        expected: "a position [lon, lat] of two numbers",
    };
    match v.as_array().map(Vec::as_slice) {
        Some([lon, lat]) => Ok(Point {
            lat: lat.as_f64().ok_or_else(err)?,
            lon: lon.as_f64().ok_or_else(err)?,
        }),
        _ => Err(err()),
    }
}
