-- The API's tables: users, the fleet registry, commitments, rentals and maintenance.
-- Overlaps are refused here, by exclusion constraints, never by a read-then-write in Rust.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'dispatcher', 'driver', 'customer')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_role ON users (role);

-- First response to each (user, Idempotency-Key); status NULL while the first request runs.
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL REFERENCES users (id),
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE vehicles (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
    plate       text NOT NULL,
    vin         text NOT NULL CHECK (vin ~ '^[A-HJ-NPR-Z0-9]{17}$'),
    make        text NOT NULL,
    model       text NOT NULL,
    year        integer NOT NULL CHECK (year BETWEEN 1886 AND 2100),
    type        text NOT NULL,
    seats       integer NOT NULL CHECK (seats >= 0),
    load_kg     integer NOT NULL CHECK (load_kg >= 0),
    specs       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(specs) = 'object'),
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'rented', 'under_maintenance', 'decommissioned')),
    odometer_km bigint NOT NULL DEFAULT 0 CHECK (odometer_km >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE UNIQUE INDEX vehicles_plate ON vehicles (plate) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX vehicles_vin ON vehicles (vin) WHERE deleted_at IS NULL;
CREATE INDEX vehicles_status_type ON vehicles (status, type);
CREATE INDEX vehicles_specs ON vehicles USING gin (specs);

-- Odometer readings never decrease: the vehicle's current reading may only grow, checked
-- under the vehicle's row lock, so concurrent readings serialise.
CREATE FUNCTION vehicles_odometer_monotonic() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.odometer_km < OLD.odometer_km THEN
        RAISE EXCEPTION 'odometer reading % km is below the current % km', NEW.odometer_km, OLD.odometer_km
            USING ERRCODE = 'check_violation', CONSTRAINT = 'odometer_never_decreases';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER vehicles_odometer_monotonic BEFORE UPDATE OF odometer_km ON vehicles
    FOR EACH ROW EXECUTE FUNCTION vehicles_odometer_monotonic();

CREATE TABLE odometer_readings (
    id          bigserial PRIMARY KEY,
    vehicle_id  text NOT NULL REFERENCES vehicles (id),
    reading_km  bigint NOT NULL CHECK (reading_km >= 0),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    source      text NOT NULL
);
CREATE INDEX odometer_readings_vehicle ON odometer_readings (vehicle_id, recorded_at DESC);

-- Every reading moves the vehicle's odometer, which the trigger above keeps monotonic.
CREATE FUNCTION odometer_readings_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE vehicles SET odometer_km = NEW.reading_km, updated_at = now()
     WHERE id = NEW.vehicle_id;
    RETURN NEW;
END $$;
CREATE TRIGGER odometer_readings_apply BEFORE INSERT ON odometer_readings
    FOR EACH ROW EXECUTE FUNCTION odometer_readings_apply();

CREATE TABLE drivers (
    id                 uuid PRIMARY KEY,
    user_id            uuid NOT NULL UNIQUE REFERENCES users (id),
    name               text NOT NULL,
    licence_number     text NOT NULL,
    licence_expiry     date NOT NULL,
    duty_status        text NOT NULL DEFAULT 'off_duty'
                       CHECK (duty_status IN ('off_duty', 'available', 'busy')),
    current_vehicle_id text REFERENCES vehicles (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz
);
CREATE UNIQUE INDEX drivers_licence ON drivers (licence_number) WHERE deleted_at IS NULL;
-- Dispatch reads available drivers and their vehicles.
CREATE INDEX drivers_duty ON drivers (duty_status, current_vehicle_id) WHERE deleted_at IS NULL;
-- One driver at the wheel of a vehicle at a time.
CREATE UNIQUE INDEX drivers_current_vehicle ON drivers (current_vehicle_id)
    WHERE current_vehicle_id IS NOT NULL AND deleted_at IS NULL;

-- What occupies a vehicle over a time range: rentals (reserved/active), maintenance windows
-- and scheduled assignments share one exclusion constraint, so they never overlap each
-- other either. A row lives while its commitment holds; it is deleted when released.
CREATE TABLE vehicle_commitments (
    id         bigserial PRIMARY KEY,
    vehicle_id text NOT NULL REFERENCES vehicles (id),
    kind       text NOT NULL CHECK (kind IN ('rental', 'maintenance', 'assignment')),
    ref_id     uuid NOT NULL,
    period     tstzrange NOT NULL CHECK (NOT isempty(period)),
    UNIQUE (kind, ref_id),
    CONSTRAINT vehicle_commitments_no_overlap EXCLUDE USING gist (vehicle_id WITH =, period WITH &&)
);

CREATE TABLE assignments (
    id         uuid PRIMARY KEY,
    driver_id  uuid NOT NULL REFERENCES drivers (id),
    vehicle_id text NOT NULL REFERENCES vehicles (id),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    status     text NOT NULL DEFAULT 'scheduled'
               CHECK (status IN ('scheduled', 'completed', 'cancelled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CONSTRAINT assignments_driver_no_overlap EXCLUDE USING gist
        (driver_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) WHERE (status = 'scheduled')
);
CREATE INDEX assignments_vehicle ON assignments (vehicle_id, starts_at);

CREATE TABLE customers (
    id         uuid PRIMARY KEY,
    user_id    uuid UNIQUE REFERENCES users (id),
    name       text NOT NULL,
    email      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pricing_plans (
    id                      uuid PRIMARY KEY,
    name                    text NOT NULL,
    currency                char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    daily_rate              bigint NOT NULL CHECK (daily_rate >= 0),
    included_km_per_day     bigint NOT NULL CHECK (included_km_per_day >= 0),
    extra_km_rate           bigint NOT NULL CHECK (extra_km_rate >= 0),
    late_fee_per_hour       bigint NOT NULL CHECK (late_fee_per_hour >= 0),
    free_cancellation_hours integer NOT NULL CHECK (free_cancellation_hours >= 0),
    cancellation_fee_pct    integer NOT NULL CHECK (cancellation_fee_pct BETWEEN 0 AND 100),
    created_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rentals (
    id           uuid PRIMARY KEY,
    vehicle_id   text NOT NULL REFERENCES vehicles (id),
    customer_id  uuid NOT NULL REFERENCES customers (id),
    plan_id      uuid NOT NULL REFERENCES pricing_plans (id),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    estimated_km bigint NOT NULL CHECK (estimated_km >= 0),
    status       text NOT NULL DEFAULT 'reserved'
                 CHECK (status IN ('reserved', 'active', 'completed', 'cancelled')),
    odometer_out bigint,
    odometer_in  bigint,
    activated_at timestamptz,
    returned_at  timestamptz,
    currency     char(3) NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (odometer_in IS NULL OR odometer_in >= odometer_out)
);
CREATE INDEX rentals_vehicle ON rentals (vehicle_id, starts_at);
CREATE INDEX rentals_customer ON rentals (customer_id);

-- Charges are immutable facts; a rental's balance is sum(charges) - sum(payments).
CREATE TABLE rental_charges (
    id          bigserial PRIMARY KEY,
    rental_id   uuid NOT NULL REFERENCES rentals (id),
    kind        text NOT NULL,
    quantity    bigint NOT NULL,
    unit_amount bigint NOT NULL,
    amount      bigint NOT NULL CHECK (amount = quantity * unit_amount),
    currency    char(3) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rental_charges_rental ON rental_charges (rental_id);

CREATE TABLE rental_payments (
    id         uuid PRIMARY KEY,
    rental_id  uuid NOT NULL REFERENCES rentals (id),
    amount     bigint NOT NULL CHECK (amount > 0),
    currency   char(3) NOT NULL,
    method     text NOT NULL CHECK (method IN ('cash', 'card', 'transfer')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rental_payments_rental ON rental_payments (rental_id);

CREATE TABLE maintenance_jobs (
    id           uuid PRIMARY KEY,
    vehicle_id   text NOT NULL REFERENCES vehicles (id),
    description  text NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'scheduled'
                 CHECK (status IN ('scheduled', 'in_progress', 'completed', 'cancelled')),
    started_at   timestamptz,
    completed_at timestamptz,
    labour_cost  bigint CHECK (labour_cost >= 0),
    currency     char(3) CHECK (currency ~ '^[A-Z]{3}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX maintenance_jobs_vehicle ON maintenance_jobs (vehicle_id, status);
CREATE INDEX maintenance_jobs_open ON maintenance_jobs (starts_at) WHERE status IN ('scheduled', 'in_progress');

CREATE TABLE maintenance_parts (
    id        bigserial PRIMARY KEY,
    job_id    uuid NOT NULL REFERENCES maintenance_jobs (id),
    part_name text NOT NULL,
    quantity  integer NOT NULL CHECK (quantity > 0),
    unit_cost bigint NOT NULL CHECK (unit_cost >= 0)
);
CREATE INDEX maintenance_parts_job ON maintenance_parts (job_id);
