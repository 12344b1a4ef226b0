-- Trip and stop events (docs/events.md, src/trips/segments.rs): the segmenter emits
-- `trip.completed` / `stop.completed` when it writes a segment or changes one (a late
-- reading re-decided it, late OBD changed its fuel figures), and `trip.discarded` /
-- `stop.discarded` when a re-decision drops one. Folding a vehicle's events (the latest
-- completed per id, less the discarded) gives exactly its rows in `trips` and `stops`.

-- A time as the events write it: RFC 3339 in UTC, microseconds.
CREATE FUNCTION fleetd_ts(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- A trip as GET /v1/trips/{id} answers it, without the path.
CREATE FUNCTION trip_json(t trips) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.id, 'vehicle_id', t.vehicle_id, 'driver_id', t.driver_id,
        'start', jsonb_build_object('ts', fleetd_ts(t.start_ts),
                                    'lat', ST_Y(t.start_position), 'lon', ST_X(t.start_position)),
        'end', jsonb_build_object('ts', fleetd_ts(t.end_ts),
                                  'lat', ST_Y(t.end_position), 'lon', ST_X(t.end_position)),
        'distance_m', t.distance_m,
        'duration_s', extract(epoch FROM t.end_ts - t.start_ts)::float8,
        'moving_s', t.moving_s, 'idle_s', t.idle_s, 'max_speed_kmh', t.max_speed_kmh,
        'avg_speed_kmh', t.avg_speed_kmh, 'readings', t.readings,
        'fuel_used_pct', t.fuel_used_pct, 'odometer_delta_km', t.odometer_delta_km)
$$;

-- A stop as GET /v1/vehicles/{id}/stops answers it.
CREATE FUNCTION stop_json(s stops) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', s.id, 'vehicle_id', s.vehicle_id, 'driver_id', s.driver_id,
        'start_ts', fleetd_ts(s.start_ts), 'end_ts', fleetd_ts(s.end_ts),
        'duration_s', extract(epoch FROM s.end_ts - s.start_ts)::float8,
        'lat', ST_Y(s.position), 'lon', ST_X(s.position))
$$;
