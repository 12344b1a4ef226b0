-- The registry for a simulated fleet: fleet-sim's vehicles (ids {prefix}{n}, n zero-padded to
-- max(6, digits of the fleet size), as fleet-sim names them) with a driver at the wheel of
-- each, so that dispatch has someone to offer. Idempotent: what exists is left as it is.
--
--   psql -v vehicles=2000 -v prefix=veh- -v available_pct=80 -f scripts/seed_fleet.sql
--
-- Every fifth vehicle is a van (3 seats, 1,200 kg), every tenth a truck (2 seats, 18,000 kg),
-- the rest cars (4 seats, 400 kg). available_pct of the drivers are `available`, the rest
-- `off_duty`. The drivers' users have no usable password (they cannot log in); they exist
-- because every driver profile belongs to a user.
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT n,
       :'prefix' || lpad(n::text, greatest(6, length((:vehicles)::text)), '0') AS vehicle_id,
       CASE WHEN n % 10 = 0 THEN 'truck' WHEN n % 5 = 0 THEN 'van' ELSE 'car' END AS type
  FROM generate_series(1, :vehicles) AS n;

INSERT INTO vehicles (id, plate, vin, make, model, year, type, seats, load_kg)
SELECT vehicle_id, 'SIM-' || n, 'SMV' || lpad(n::text, 14, '0'), 'Simulated', initcap(type),
       2024, type,
       CASE type WHEN 'truck' THEN 2 WHEN 'van' THEN 3 ELSE 4 END,
       CASE type WHEN 'truck' THEN 18000 WHEN 'van' THEN 1200 ELSE 400 END
  FROM seed
ON CONFLICT DO NOTHING;

INSERT INTO users (id, username, password_hash, role)
SELECT gen_random_uuid(), 'sim-driver-' || vehicle_id, '!', 'driver' FROM seed
ON CONFLICT DO NOTHING;

INSERT INTO drivers (id, user_id, name, licence_number, licence_expiry, duty_status,
                     current_vehicle_id)
SELECT gen_random_uuid(), u.id, 'Driver of ' || s.vehicle_id, 'SIM-' || s.vehicle_id,
       current_date + 365,
       CASE WHEN s.n % 100 < :available_pct THEN 'available' ELSE 'off_duty' END,
       s.vehicle_id
  FROM seed s
  JOIN users u ON u.username = 'sim-driver-' || s.vehicle_id
 WHERE NOT EXISTS (SELECT 1 FROM drivers d WHERE d.user_id = u.id)
   AND NOT EXISTS (SELECT 1 FROM drivers d
                    WHERE d.current_vehicle_id = s.vehicle_id AND d.deleted_at IS NULL);
COMMIT;
SELECT count(*) FILTER (WHERE duty_status = 'available') AS available_drivers,
       count(*) AS drivers_at_the_wheel
  FROM drivers WHERE current_vehicle_id LIKE :'prefix' || '%' AND deleted_at IS NULL;
