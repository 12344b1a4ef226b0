//! A trip's stored path: its readings simplified with Douglas–Peucker.
//!
//! Distances are measured in a local equirectangular projection around the first point
//! (longitudes unwrapped across the antimeridian), which at trip scale is within a fraction
//! of a percent of the great circle; the tolerance only decides which points to keep.

use crate::live::geo::EARTH_RADIUS_M;

/// The indices of `points` (lat, lon) to keep so that no dropped point is further than
/// `tolerance_m` from the kept path; always the first and the last.
pub fn simplify(points: &[(f64, f64)], tolerance_m: f64) -> Vec<usize> {
    let n = points.len();
    if n <= 2 {
        return (0..n).collect();
    }
    let (lat0, lon0) = points[0];
    let k = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
    let cos0 = lat0.to_radians().cos();
    let xy: Vec<(f64, f64)> = points
        .iter()
        .map(|&(lat, lon)| {
            let dl = (lon - lon0 + 540.0).rem_euclid(360.0) - 180.0;
            (dl * cos0 * k, (lat - lat0) * k)
        })
        .collect();
    let mut keep = vec![false; n];
    keep[0] = true;
    keep[n - 1] = true;
    let mut stack = vec![(0, n - 1)];
    while let Some((a, b)) = stack.pop() {
        if b <= a + 1 {
            continue;
        }
        let (far, d) = (a + 1..b)
            .map(|i| (i, off_segment(xy[i], xy[a], xy[b])))
            .fold((a, -1.0), |best, c| if c.1 > best.1 { c } else { best });
        if d > tolerance_m {
            keep[far] = true;
            stack.push((a, far));
            stack.push((far, b));
        }
    }
    (0..n).filter(|&i| keep[i]).collect()
}

/// Distance from `p` to the segment `a`–`b`.
fn off_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::simplify;

    #[test]
    fn a_straight_line_keeps_its_ends() {
        let pts: Vec<_> = (0..100)
            .map(|i| (52.0 + f64::from(i) * 1e-4, 13.0))
            .collect();
        assert_eq!(simplify(&pts, 1.0), vec![0, 99]);
    }

    #[test]
    fn a_corner_is_kept_and_tiny_wiggles_are_not() {
        let mut pts: Vec<_> = (0..50)
            .map(|i| (52.0 + f64::from(i) * 1e-4, 13.0))
            .collect();
        pts.extend((1..50).map(|i| (52.0049, 13.0 + f64::from(i) * 1e-4)));
        pts[10].1 += 1e-6; // ~7 cm off the line
        assert_eq!(simplify(&pts, 5.0), vec![0, 49, 98]);
    }

    #[test]
    fn across_the_antimeridian_the_path_is_short_not_around_the_world() {
        let pts = [(0.0, 179.9999), (0.00001, -179.99995), (0.0, -179.9999)];
        assert_eq!(simplify(&pts, 5.0), vec![0, 2]);
        assert_eq!(simplify(&pts, 0.5), vec![0, 1, 2]);
    }

    #[test]
    fn few_points_are_kept_as_they_are() {
        assert!(simplify(&[], 1.0).is_empty());
        assert_eq!(simplify(&[(1.0, 2.0)], 1.0), vec![0]);
        assert_eq!(simplify(&[(1.0, 2.0), (1.0, 2.0)], 1.0), vec![0, 1]);
    }
}
