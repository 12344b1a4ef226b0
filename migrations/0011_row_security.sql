-- Row-level security as defence in depth (src/api/middleware/txn.rs): every API transaction
-- states whose it is (SET LOCAL fleetd.user_id / fleetd.role) and, when this role exists,
-- runs as fleetd_api, a role without BYPASSRLS (a superuser, as in a default PostgreSQL,
-- bypasses row security otherwise). A customer then reads and writes only their own
-- customer profile, rentals and dispatch jobs, a driver only their own profile, assignments
-- and jobs, even if a handler forgot its own check. Without fleetd.role (the matcher, the
-- time rules, an operator in psql) the policies let everything through. FORCE makes them
-- bind the tables' owner too, when fleetd connects as a non-superuser owner.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleetd_api') THEN
        BEGIN
            CREATE ROLE fleetd_api NOLOGIN NOBYPASSRLS;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL; -- created concurrently
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'role fleetd_api not created (no CREATEROLE): row security binds only a non-superuser owner';
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleetd_api') THEN
        GRANT USAGE ON SCHEMA public TO fleetd_api;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO fleetd_api;
        GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO fleetd_api;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO fleetd_api;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO fleetd_api;
        IF NOT pg_has_role(current_user, 'fleetd_api', 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT fleetd_api TO %I', current_user);
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'cannot make % a member of fleetd_api: %', current_user, SQLERRM;
            END;
        END IF;
    END IF;
END $$;

-- Whose transaction this is: the API's caller, or 'system' outside the API.
CREATE FUNCTION fleetd_scope() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('fleetd.role', true), ''), 'system')
$$;
CREATE FUNCTION fleetd_user() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('fleetd.user_id', true), '')::uuid
$$;
CREATE FUNCTION fleetd_sees_all() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT fleetd_scope() IN ('system', 'admin', 'dispatcher')
$$;

-- The caller's own ids, looked up as 'system' (each function sets fleetd.role for its own
-- duration), so that one table's policy never expands another's: policies that read each
-- other's tables would recurse.
CREATE FUNCTION fleetd_my_customer_ids() RETURNS SETOF uuid LANGUAGE sql STABLE
SET fleetd.role = 'system' AS $$
    SELECT id FROM customers WHERE user_id = fleetd_user()
$$;
CREATE FUNCTION fleetd_my_driver_ids() RETURNS SETOF uuid LANGUAGE sql STABLE
SET fleetd.role = 'system' AS $$
    SELECT id FROM drivers WHERE user_id = fleetd_user()
$$;
-- Drivers serving the caller's dispatch jobs (a customer cancelling an accepted job frees
-- its driver).
CREATE FUNCTION fleetd_my_job_driver_ids() RETURNS SETOF uuid LANGUAGE sql STABLE
SET fleetd.role = 'system' AS $$
    SELECT driver_id FROM dispatch_jobs WHERE created_by = fleetd_user() AND driver_id IS NOT NULL
$$;
-- Jobs the caller (a driver) declined or let expire: the decline answers with the job.
CREATE FUNCTION fleetd_my_refused_job_ids() RETURNS SETOF uuid LANGUAGE sql STABLE
SET fleetd.role = 'system' AS $$
    SELECT job_id FROM dispatch_job_refusals WHERE driver_id IN (SELECT fleetd_my_driver_ids())
$$;

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customers FORCE ROW LEVEL SECURITY;
CREATE POLICY customers_own ON customers
    USING (fleetd_sees_all() OR (fleetd_scope() = 'customer' AND user_id = fleetd_user()));

ALTER TABLE rentals ENABLE ROW LEVEL SECURITY;
ALTER TABLE rentals FORCE ROW LEVEL SECURITY;
CREATE POLICY rentals_own ON rentals
    USING (fleetd_sees_all() OR (fleetd_scope() = 'customer'
           AND customer_id IN (SELECT fleetd_my_customer_ids())));

ALTER TABLE drivers ENABLE ROW LEVEL SECURITY;
ALTER TABLE drivers FORCE ROW LEVEL SECURITY;
CREATE POLICY drivers_own ON drivers
    USING (fleetd_sees_all()
           OR (fleetd_scope() = 'driver' AND user_id = fleetd_user())
           OR (fleetd_scope() = 'customer' AND id IN (SELECT fleetd_my_job_driver_ids())));

ALTER TABLE assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE assignments FORCE ROW LEVEL SECURITY;
CREATE POLICY assignments_own ON assignments
    USING (fleetd_sees_all() OR (fleetd_scope() = 'driver'
           AND driver_id IN (SELECT fleetd_my_driver_ids())));

-- A driver declining or letting an offer expire leaves the job without them: the updated row
-- need not stay theirs, so updates check only which rows may be touched.
ALTER TABLE dispatch_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE dispatch_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY dispatch_jobs_read ON dispatch_jobs FOR SELECT
    USING (fleetd_sees_all()
           OR (fleetd_scope() = 'customer' AND created_by = fleetd_user())
           OR (fleetd_scope() = 'driver' AND (driver_id IN (SELECT fleetd_my_driver_ids())
                                              OR id IN (SELECT fleetd_my_refused_job_ids()))));
CREATE POLICY dispatch_jobs_insert ON dispatch_jobs FOR INSERT
    WITH CHECK (fleetd_sees_all() OR (fleetd_scope() = 'customer' AND created_by = fleetd_user()));
CREATE POLICY dispatch_jobs_update ON dispatch_jobs FOR UPDATE
    USING (fleetd_sees_all()
           OR (fleetd_scope() = 'customer' AND created_by = fleetd_user())
           OR (fleetd_scope() = 'driver' AND driver_id IN (SELECT fleetd_my_driver_ids())))
    WITH CHECK (true);
CREATE POLICY dispatch_jobs_delete ON dispatch_jobs FOR DELETE USING (fleetd_sees_all());
