-- The event outbox (docs/events.md, src/events/). Every state change the API, the
-- dispatcher, the time rules and the trip segmenter make stages its events in
-- `event_outbox` in its own transaction (fleetd_emit), so an event exists exactly when its
-- change committed. A sequencer (events_sequence, run by every daemon, one at a time) then
-- moves the committed staged events into `events`, numbering them from `event_counter` in
-- the order they were staged: ids have no gaps, and a reader that has seen id n has seen
-- every id below n, since only one sequencer numbers at a time and each of its batches
-- commits whole. Writers share nothing but an identity column, so they never wait on each
-- other. (Numbering at COMMIT under a counter row lock, the first design, serialised every
-- emitting commit; see docs/events.md.)

CREATE TABLE event_counter (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id  bigint  NOT NULL CHECK (last_id >= 0)
);
INSERT INTO event_counter VALUES (true, 0);

-- Partitioned by day on occurred_at, kept `events.retention_days`: old days go by dropping
-- their partition (events_expire), never by DELETE. A day without its partition (maintenance
-- stopped for days) still lands in the default partition.
CREATE TABLE events (
    id             bigint      NOT NULL,
    type           text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    -- The user whose request made the change, or 'system' (dispatcher, time rules, trips).
    actor          text        NOT NULL,
    version        integer     NOT NULL,
    payload        jsonb       NOT NULL,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX events_aggregate ON events (aggregate_type, aggregate_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE TABLE event_outbox (
    seq            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type           text        NOT NULL CHECK (type ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'),
    aggregate_type text        NOT NULL CHECK (aggregate_type = split_part(type, '.', 1)),
    aggregate_id   text        NOT NULL CHECK (aggregate_id <> ''),
    occurred_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor          text        NOT NULL DEFAULT coalesce(fleetd_user()::text, 'system'),
    version        integer     NOT NULL DEFAULT 1 CHECK (version > 0),
    payload        jsonb       NOT NULL CHECK (jsonb_typeof(payload) = 'object')
);

-- Moves up to `max_events` staged events of committed transactions into `events`, numbered
-- in staging order; returns how many, or -1 when another session is sequencing. Events of
-- one aggregate keep their order: a change locks its aggregate's row before it stages its
-- event, so the next change's event is staged after the previous one committed.
CREATE FUNCTION events_sequence(max_events integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
    moved integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM event_outbox) THEN
        RETURN 0; -- the idle poll: no lock, no write
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('fleetd events_sequence')) THEN
        RETURN -1;
    END IF;
    SELECT last_id INTO last FROM event_counter FOR UPDATE;
    WITH taken AS (
        DELETE FROM event_outbox
         WHERE seq IN (SELECT seq FROM event_outbox ORDER BY seq LIMIT max_events)
        RETURNING *
    ), numbered AS (
        INSERT INTO events (id, type, aggregate_type, aggregate_id, occurred_at, actor,
                            version, payload)
        SELECT last + row_number() OVER (ORDER BY seq), type, aggregate_type, aggregate_id,
               occurred_at, actor, version, payload
          FROM taken
        RETURNING 1
    )
    SELECT count(*) INTO moved FROM numbered;
    IF moved > 0 THEN
        UPDATE event_counter SET last_id = last + moved;
        -- Delivered at commit, to whoever follows events (SSE, relays).
        PERFORM pg_notify('fleetd_events', (last + moved)::text);
    END IF;
    RETURN moved;
END $$;

-- Stages one event of the current transaction (src/events/mod.rs).
CREATE FUNCTION fleetd_emit(event_type text, aggregate_id text, payload jsonb,
                            version integer DEFAULT 1) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO event_outbox (type, aggregate_type, aggregate_id, payload, version)
    VALUES (event_type, split_part(event_type, '.', 1), aggregate_id, payload, version)
$$;

-- Day partitions `events_pYYYYMMDD` from the day of `since` through `days` more
-- (idempotent, and safe when several daemons run it at once); a day whose rows already sit
-- in the default partition is skipped.
CREATE FUNCTION events_partitions(since timestamptz, days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    first date := (since AT TIME ZONE 'UTC')::date;
    d date;
    created integer := 0;
BEGIN
    -- One creator at a time (the daemons' time rules run concurrently).
    PERFORM pg_advisory_xact_lock(hashtext('fleetd events_partitions'));
    FOR i IN 0..days LOOP
        d := first + i;
        IF to_regclass(format('events_p%s', to_char(d, 'YYYYMMDD'))) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                    format('events_p%s', to_char(d, 'YYYYMMDD')),
                    d::timestamp AT TIME ZONE 'UTC',
                    (d + 1)::timestamp AT TIME ZONE 'UTC');
                created := created + 1;
            EXCEPTION
                WHEN check_violation THEN
                    RAISE NOTICE 'events: rows of % are in the default partition', d;
                WHEN duplicate_table OR unique_violation THEN
                    NULL; -- made meanwhile by a session not holding the lock
            END;
        END IF;
    END LOOP;
    RETURN created;
END $$;

-- Drops the day partitions wholly before `before`; returns how many.
CREATE FUNCTION events_expire(before timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    dropped integer := 0;
BEGIN
    -- One dropper at a time: two would both find a partition and the second DROP would fail.
    PERFORM pg_advisory_xact_lock(hashtext('fleetd events_expire'));
    FOR p IN
        SELECT c.relname::text AS name FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_p[0-9]{8}$'
           AND to_date(substr(c.relname, 9), 'YYYYMMDD') + 1
               <= (before AT TIME ZONE 'UTC')::date
    LOOP
        EXECUTE format('DROP TABLE %I', p.name);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $$;

SELECT events_partitions(now() - interval '1 day', 3);

-- The audit trail's partition maker (0010) had the same race between daemons: serialise it
-- the same way.
CREATE OR REPLACE FUNCTION audit_log_partitions(since timestamptz, months integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', since AT TIME ZONE 'UTC')::date;
    m date;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('fleetd audit_log_partitions'));
    FOR i IN 0..months LOOP
        m := (first + make_interval(months => i))::date;
        IF to_regclass(format('audit_log_%s', to_char(m, 'YYYY_MM'))) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                    format('audit_log_%s', to_char(m, 'YYYY_MM')),
                    m::timestamp AT TIME ZONE 'UTC',
                    (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
                created := created + 1;
            EXCEPTION
                WHEN check_violation THEN
                    RAISE NOTICE 'audit_log: rows of % are in the default partition', m;
                WHEN duplicate_table OR unique_violation THEN
                    NULL;
            END;
        END IF;
    END LOOP;
    RETURN created;
END $$;
