-- The audit trail (src/api/audit): one row per state-changing /v1 request, whatever its
-- outcome, written in the request's own transaction when it succeeds (the change and its
-- record commit together or not at all) and on its own after a refused or failed one.
-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks; old months go by dropping their
-- partition. No foreign keys: the trail outlives the users and entities it names.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    user_id     uuid,
    role        text,
    ip          inet,
    method      text NOT NULL,
    route       text NOT NULL,
    path        text NOT NULL,
    entity_type text NOT NULL,
    entity_id   text,
    status      smallint NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('succeeded', 'refused', 'failed')),
    request_id  text,
    changes     jsonb,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, id);
CREATE INDEX audit_log_user ON audit_log (user_id, id);
-- Rows of a month without its partition (maintenance lagging months behind) still land.
CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Monthly partitions from the month of `from` through `months` more (idempotent); a month
-- whose rows already sit in the default partition is skipped with a notice.
CREATE FUNCTION audit_log_partitions(since timestamptz, months integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', since AT TIME ZONE 'UTC')::date;
    m date;
    created integer := 0;
BEGIN
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
            EXCEPTION WHEN check_violation THEN
                RAISE NOTICE 'audit_log: rows of % are in the default partition', m;
            END;
        END IF;
    END LOOP;
    RETURN created;
END $$;
SELECT audit_log_partitions(now(), 3);
