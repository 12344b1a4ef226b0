-- When each mark was written (its transaction's start, a moment before its readings
-- committed), and per vehicle the earliest one not yet processed: the segmenter measures its
-- lag from commit to trips and rollups (`fleetd_trips_lag_seconds`).
ALTER TABLE segment_marks ADD COLUMN marked_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE segment_state ADD COLUMN marked_at timestamptz;
