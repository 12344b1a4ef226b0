-- Money per vehicle and month, for the dashboard and reports (docs/reports.md):
-- rental charges (revenue) and completed maintenance (labour and parts). A materialized view
-- refreshed CONCURRENTLY on a timer (`reports.stats_refresh_s`), so readers never wait.
CREATE MATERIALIZED VIEW monthly_vehicle_stats AS
WITH revenue AS (
    SELECT r.vehicle_id, date_trunc('month', c.created_at AT TIME ZONE 'UTC')::date AS month,
           c.currency::text AS currency, sum(c.amount) AS revenue, 0::numeric AS maintenance_cost
      FROM rental_charges c JOIN rentals r ON r.id = c.rental_id
     GROUP BY 1, 2, 3
), maintenance AS (
    SELECT j.vehicle_id, date_trunc('month', j.completed_at AT TIME ZONE 'UTC')::date AS month,
           j.currency::text AS currency, 0::numeric AS revenue,
           sum(coalesce(j.labour_cost, 0)
               + coalesce((SELECT sum(p.quantity::bigint * p.unit_cost) FROM maintenance_parts p
                            WHERE p.job_id = j.id), 0)) AS maintenance_cost
      FROM maintenance_jobs j
     WHERE j.status = 'completed' AND j.completed_at IS NOT NULL AND j.currency IS NOT NULL
     GROUP BY 1, 2, 3
)
SELECT vehicle_id, month, currency,
       sum(revenue)::bigint AS revenue, sum(maintenance_cost)::bigint AS maintenance_cost
  FROM (SELECT * FROM revenue UNION ALL SELECT * FROM maintenance) m
 GROUP BY 1, 2, 3;
CREATE UNIQUE INDEX monthly_vehicle_stats_key ON monthly_vehicle_stats (vehicle_id, month, currency);

-- Fleet reports count trips by their start.
CREATE INDEX trips_start ON trips (start_ts);
