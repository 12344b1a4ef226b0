//! The result of `fleet-sim verify --trips` (`trips_compare.rs`), as JSON (serde) or text.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Pair {
    pub trips: u64,
    pub stops: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct DwellCounts {
    pub total: u64,
    pub long: u64,
    pub short: u64,
    pub ambiguous: u64,
    pub initial: u64,
    pub open: u64,
}

/// Largest differences over matched pairs (absolute values).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct MaxErrors {
    pub trip_start_s: f64,
    pub trip_end_s: f64,
    pub stop_start_s: f64,
    pub stop_end_s: f64,
    pub distance_pct: f64,
    pub stop_position_m: f64,
}

/// The outcome; `ok` only if every count of a difference is zero.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TripsReport {
    pub ok: bool,
    pub vehicles: u64,
    pub interval_s: f64,
    pub margin_s: f64,
    pub tolerance_s: f64,
    pub distance_pct: f64,
    pub legs: u64,
    pub dwells: DwellCounts,
    /// Long dwells before the last required stop's end, and those inside a stored stop.
    pub long_dwells_required: u64,
    pub long_dwells_in_a_stop: u64,
    pub short_dwells_starting_a_stop: u64,
    pub expected: Pair,
    /// At the end of the run: compared when stored, not required.
    pub optional: Pair,
    pub stored: Pair,
    pub matched: Pair,
    pub matched_optional: Pair,
    pub missing: Pair,
    pub unexpected: Pair,
    pub off_time: Pair,
    pub off_distance: u64,
    pub off_position: u64,
    pub max_error: MaxErrors,
    /// Marks and vehicles the segmenter had not processed yet when the tables were read.
    pub pending_segmentation: u64,
    pub examples: Vec<String>,
}

/// An epoch-ms time as RFC 3339 with milliseconds.
pub(crate) fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

impl TripsReport {
    pub fn text(&self) -> String {
        let t = crate::report::thousands;
        let p = |x: &Pair| format!("{} trips, {} stops", t(x.trips), t(x.stops));
        let d = &self.dwells;
        let m = &self.max_error;
        let mut s = format!(
            "verify --trips: {} vehicles in the truth, GPS every {} s; leeway: ±{} s around the thresholds, times ±{} s, distance ±{} %\n",
            t(self.vehicles), self.interval_s, self.margin_s, self.tolerance_s, self.distance_pct
        );
        s += &format!(
            "truth       {} legs; {} dwells: {} long, {} short, {} near min_stop (taken as fleetd took them), {} initial, {} open at the end\n",
            t(self.legs), t(d.total), t(d.long), t(d.short), t(d.ambiguous), t(d.initial), t(d.open)
        );
        s += &format!(
            "expected    {} (and {} the end of the run may not have settled)\n",
            p(&self.expected),
            p(&self.optional)
        );
        s += &format!("stored      {}\n", p(&self.stored));
        s += &format!(
            "matched     {} (and {} of the optional ones)\n",
            p(&self.matched),
            p(&self.matched_optional)
        );
        s += &format!(
            "missing     {}\nunexpected  {}\n",
            p(&self.missing),
            p(&self.unexpected)
        );
        s += &format!(
            "dwells      {} of {} long dwells inside a stored stop; {} stored stops start at a short dwell\n",
            t(self.long_dwells_in_a_stop), t(self.long_dwells_required), t(self.short_dwells_starting_a_stop)
        );
        s += &format!(
            "times       {} off by more than {} s; max error: trip start {:.3} s, end {:.3} s; stop start {:.3} s, end {:.3} s\n",
            p(&self.off_time), self.tolerance_s, m.trip_start_s, m.trip_end_s, m.stop_start_s, m.stop_end_s
        );
        s += &format!(
            "distance    {} trips off by more than {} % (max error {:.3} %)\n",
            t(self.off_distance),
            self.distance_pct,
            m.distance_pct
        );
        s += &format!(
            "position    {} stops away from where the vehicle stood (max {:.2} m)\n",
            t(self.off_position),
            m.stop_position_m
        );
        for e in &self.examples {
            s += &format!("  {e}\n");
        }
        if self.pending_segmentation > 0 {
            s += &format!(
                "warning: the segmenter had {} marks or vehicles left to process; verify again once it has caught up\n",
                t(self.pending_segmentation)
            );
        }
        s += if self.ok { "OK\n" } else { "MISMATCH\n" };
        s
    }
}
