-- Every (schedule, vehicle) pair that applies, with its due state at $1 (the rule of
-- src/maintenance/due.rs, which the integration tests hold this query to):
-- $1 now, $2 only this vehicle, $3 only this schedule, $4 the statuses wanted,
-- $5..$8 the key after which the page starts (rank, -progress, vehicle, schedule; $5 NULL for
-- the first page), $9 the page size (NULL: all).
WITH pairs AS (
    SELECT s.id AS schedule_id, s.name, s.vehicle_type, v.id AS vehicle_id, s.every_km,
           s.every_months, s.lead_km, s.lead_days, v.odometer_km,
           greatest(s.created_at, v.created_at) AS start
      FROM maintenance_schedules s JOIN vehicles v ON v.id = s.vehicle_id
     WHERE s.deleted_at IS NULL AND v.deleted_at IS NULL AND v.status <> 'decommissioned'
       AND ($2::text IS NULL OR v.id = $2) AND ($3::uuid IS NULL OR s.id = $3)
    UNION ALL
    SELECT s.id, s.name, s.vehicle_type, v.id, s.every_km, s.every_months, s.lead_km,
           s.lead_days, v.odometer_km, greatest(s.created_at, v.created_at)
      FROM maintenance_schedules s JOIN vehicles v ON v.type = s.vehicle_type
     WHERE s.deleted_at IS NULL AND v.deleted_at IS NULL AND v.status <> 'decommissioned'
       AND ($2::text IS NULL OR v.id = $2) AND ($3::uuid IS NULL OR s.id = $3)
), based AS (
    SELECT p.*, last.id AS last_job_id, last.completed_at AS last_completed_at,
           coalesce(last.completed_at, p.start) AS base_at
      FROM pairs p
      LEFT JOIN LATERAL (
          SELECT j.id, j.completed_at FROM maintenance_jobs j
           WHERE j.schedule_id = p.schedule_id AND j.vehicle_id = p.vehicle_id
             AND j.status = 'completed'
           ORDER BY j.completed_at DESC, j.id DESC LIMIT 1
      ) last ON true
), measured AS (
    -- The odometer at the baseline: the latest reading at or before it, else the first one
    -- after it, else the vehicle's odometer (no reading at all).
    SELECT b.*,
           coalesce(
               (SELECT r.reading_km FROM odometer_readings r
                 WHERE r.vehicle_id = b.vehicle_id AND r.recorded_at <= b.base_at
                 ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1),
               (SELECT r.reading_km FROM odometer_readings r
                 WHERE r.vehicle_id = b.vehicle_id AND r.recorded_at > b.base_at
                 ORDER BY r.recorded_at, r.id LIMIT 1),
               b.odometer_km) AS base_km,
           (b.base_at AT TIME ZONE 'UTC')::date AS base_on,
           ($1::timestamptz AT TIME ZONE 'UTC')::date AS today,
           ((b.base_at AT TIME ZONE 'UTC') + make_interval(months => b.every_months))::date
               AS due_on
      FROM based b
), stated AS (
    SELECT m.*, m.base_km + m.every_km AS due_at_km,
           m.base_km + m.every_km - m.odometer_km AS km_remaining,
           m.due_on - m.today AS days_remaining,
           greatest(floor(1000 * (m.odometer_km - m.base_km)::numeric / m.every_km),
                    floor(1000 * (m.today - m.base_on)::numeric / (m.due_on - m.base_on))
           )::bigint AS progress
      FROM measured m
), ranked AS (
    SELECT s.*,
           CASE WHEN s.km_remaining <= 0 OR s.days_remaining <= 0 THEN 'overdue'
                WHEN s.km_remaining <= s.lead_km OR s.days_remaining <= s.lead_days THEN 'due'
                ELSE 'ok' END AS status
      FROM stated s
), keyed AS (
    SELECT r.*, CASE r.status WHEN 'overdue' THEN 0 WHEN 'due' THEN 1 ELSE 2 END AS rank
      FROM ranked r
     WHERE r.status = ANY($4::text[])
)
SELECT schedule_id, name, vehicle_type, vehicle_id, every_km, every_months, lead_km, lead_days,
       odometer_km, base_at, base_km, last_job_id, last_completed_at, due_at_km, due_on,
       km_remaining, days_remaining, progress, status, rank
  FROM keyed
 WHERE $5::int IS NULL
    OR (rank, -progress, vehicle_id COLLATE "C", schedule_id)
       > ($5::int, $6::bigint, $7::text COLLATE "C", $8::uuid)
 ORDER BY rank, -progress, vehicle_id COLLATE "C", schedule_id
 LIMIT $9::bigint
