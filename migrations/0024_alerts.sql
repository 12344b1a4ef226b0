-- Alert rules and alerts (docs/alerts.md, src/alerts/, src/api/alerts/).
--
-- A rule says what to watch (`kind` and its `params`, checked by fleetd per kind) and for
-- whom (its scope: vehicle types, vehicle ids, geofences; all empty = the whole fleet). An
-- alert is one rule's condition on one subject (a vehicle, or a driver for
-- `licence_expiring`): a continuing condition bumps `last_seen_at` and `count` on the one
-- alert not yet resolved, which the partial unique index below guarantees even when several
-- daemons raise it at once. A resolved alert stays as history; a later sighting opens a new
-- one.
--
-- Every change to a rule's definition notifies `fleetd_alert_rules` with the rule id, so
-- evaluators reload it. The timer's own bookkeeping (`evaluated_at`) does not notify.

CREATE TABLE alert_rules (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind          text        NOT NULL CHECK (kind IN ('speeding', 'dtc', 'low_fuel',
                      'fuel_drop', 'overheat', 'offline', 'geofence', 'maintenance_due',
                      'licence_expiring')),
    params        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    vehicle_types text[]      NOT NULL DEFAULT '{}'
                  CHECK (cardinality(vehicle_types) <= 100
                         AND array_position(vehicle_types, NULL) IS NULL),
    vehicle_ids   text[]      NOT NULL DEFAULT '{}'
                  CHECK (cardinality(vehicle_ids) <= 10000
                         AND array_position(vehicle_ids, NULL) IS NULL),
    geofence_ids  uuid[]      NOT NULL DEFAULT '{}'
                  CHECK (cardinality(geofence_ids) <= 1000
                         AND array_position(geofence_ids, NULL) IS NULL),
    -- How long the condition must stay clear before an alert resolves itself.
    clear_s       integer     NOT NULL DEFAULT 300 CHECK (clear_s BETWEEN 0 AND 604800),
    enabled       boolean     NOT NULL DEFAULT true,
    -- When a daemon's timer last evaluated this (time-based) rule; daemons skip a rule
    -- evaluated less than an interval ago, or locked by another daemon right now.
    evaluated_at  timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE INDEX alert_rules_kind ON alert_rules (kind) WHERE enabled;

CREATE FUNCTION alert_rules_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('fleetd_alert_rules', OLD.id::text);
    ELSE
        PERFORM pg_notify('fleetd_alert_rules', NEW.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER alert_rules_notify
    AFTER INSERT OR DELETE OR UPDATE OF name, kind, params, vehicle_types, vehicle_ids,
        geofence_ids, clear_s, enabled ON alert_rules
    FOR EACH ROW EXECUTE FUNCTION alert_rules_notify();

CREATE TABLE alerts (
    id              uuid        PRIMARY KEY,
    -- NULL once the rule is deleted (deleting a rule resolves its alerts first).
    rule_id         uuid        REFERENCES alert_rules (id) ON DELETE SET NULL,
    -- The rule's kind, kept when the rule is deleted.
    kind            text        NOT NULL CHECK (kind IN ('speeding', 'dtc', 'low_fuel',
                        'fuel_drop', 'overheat', 'offline', 'geofence', 'maintenance_due',
                        'licence_expiring')),
    subject_type    text        NOT NULL CHECK (subject_type IN ('vehicle', 'driver')),
    subject_id      text        NOT NULL CHECK (length(subject_id) BETWEEN 1 AND 64),
    status          text        NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'acknowledged', 'resolved')),
    opened_at       timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    -- Times the condition was seen while the alert was not resolved (1 when opened).
    count           integer     NOT NULL DEFAULT 1 CHECK (count >= 1),
    -- What the latest sighting saw (per kind: docs/alerts.md).
    details         jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    acknowledged_at timestamptz,
    acknowledged_by uuid,
    resolved_at     timestamptz,
    -- The user who resolved it by hand; NULL when it resolved itself.
    resolved_by     uuid,
    resolution      text        CHECK (resolution IN ('auto', 'manual')),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    CHECK ((status = 'resolved') = (resolution IS NOT NULL)),
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
    CHECK (status <> 'acknowledged' OR acknowledged_at IS NOT NULL)
);

-- One alert not yet resolved per (rule, subject): concurrent raises meet here.
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (rule_id, subject_type, subject_id)
    WHERE status <> 'resolved';
-- GET /v1/alerts: newest first, by status, by vehicle.
CREATE INDEX alerts_newest ON alerts (opened_at DESC, id DESC);
CREATE INDEX alerts_unresolved ON alerts (status, opened_at DESC, id DESC)
    WHERE status <> 'resolved';
CREATE INDEX alerts_subject ON alerts (subject_type, subject_id, opened_at DESC, id DESC);
