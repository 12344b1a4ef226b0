-- Webhook subscriptions and their deliveries (docs/webhooks.md, src/webhooks/).
--
-- The fan-out (webhooks_fan_out, one daemon at a time) matches each new event against every
-- subscription's patterns and queues a delivery per match. Deliveries wait in one queue per
-- subscription and aggregate (webhook_queues), so each aggregate's events reach a
-- subscription in order while other aggregates, and other subscriptions, go on: a daemon
-- claims a queue for a lease (webhooks_claim), delivers its first pending events in id
-- order, and gives it back, due again at once or after a backoff when the receiver failed.
-- A daemon that dies mid-delivery leaves its lease to expire; the next claim delivers the
-- same events again (at least once, same event id).
--
-- Times come from the daemon's clock as parameters (`at`), never now(), so tests move time.

CREATE TABLE webhooks (
    id          uuid        PRIMARY KEY,
    url         text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- Event type patterns: `rental.completed`, `rental.*`, `*.completed`, `*`.
    events      text[]      NOT NULL
                CHECK (cardinality(events) BETWEEN 1 AND 64
                       AND array_position(events, NULL) IS NULL),
    secret      text        NOT NULL CHECK (length(secret) BETWEEN 16 AND 256),
    active      boolean     NOT NULL DEFAULT true,
    description text        NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- Every event up to this id has been matched against `events`; a new subscription
    -- starts at the last event numbered when it was made.
    scanned_to  bigint      NOT NULL CHECK (scanned_to >= 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
    webhook_id      uuid        NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    event_id        bigint      NOT NULL,
    event_type      text        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    -- The exact bytes sent (and signed), the same on every attempt; emptied once delivered
    -- (a replay builds it again from `events`).
    body            text        NOT NULL,
    -- pending: not yet accepted by the receiver; delivered: a 2xx answer; failed: dead
    -- letter, retried for webhooks.max_retry_hours since queued_at without success.
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    queued_at       timestamptz NOT NULL,
    last_attempt_at timestamptz,
    -- The receiver's HTTP status of the last attempt (NULL: no answer).
    response_status integer,
    last_error      text,
    done_at         timestamptz,
    PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_pending
    ON webhook_deliveries (webhook_id, aggregate_type, aggregate_id, event_id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_status ON webhook_deliveries (webhook_id, status, event_id);
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (done_at) WHERE status <> 'pending';

-- One row per subscription and aggregate that has (or recently had) pending deliveries.
-- `pending` counts them; only the fan-out, replays and delivery outcomes change it, each
-- under the row's lock, so a queue is never forgotten while it holds work.
CREATE TABLE webhook_queues (
    webhook_id     uuid        NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    pending        integer     NOT NULL CHECK (pending >= 0),
    -- When its first pending delivery may be tried (later after a failure).
    due_at         timestamptz NOT NULL,
    -- Held by a delivering daemon until then, under this claim's token.
    claimed_until  timestamptz,
    claim          uuid,
    PRIMARY KEY (webhook_id, aggregate_type, aggregate_id)
);
CREATE INDEX webhook_queues_due ON webhook_queues (webhook_id, due_at) WHERE pending > 0;
CREATE INDEX webhook_queues_claim ON webhook_queues (claim) WHERE claim IS NOT NULL;

-- The LIKE patterns of event type patterns (`*` any text; `_` and `%` literal).
CREATE FUNCTION webhooks_like(patterns text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT array_agg(replace(replace(replace(p, '\', '\\'), '_', '\_'), '*', '%'))
      FROM unnest(patterns) p
$$;

-- The JSON an event is delivered as (webhooks, the stream): fixed key order, UTC times.
CREATE FUNCTION event_body(e events) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', e.id, 'type', e.type, 'aggregate_type', e.aggregate_type,
        'aggregate_id', e.aggregate_id,
        'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'actor', e.actor, 'version', e.version, 'payload', e.payload)::text
$$;

-- Adds `n` pending deliveries to each queue in `added` (webhook, aggregate type, id, n).
CREATE FUNCTION webhooks_enqueue(hooks uuid[], types text[], ids text[], counts integer[],
                                 at timestamptz) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO webhook_queues AS q (webhook_id, aggregate_type, aggregate_id, pending, due_at)
    SELECT * , at FROM unnest(hooks, types, ids, counts)
    ON CONFLICT (webhook_id, aggregate_type, aggregate_id) DO UPDATE
       SET pending = q.pending + EXCLUDED.pending,
           due_at = CASE WHEN q.pending = 0 THEN EXCLUDED.due_at ELSE q.due_at END
$$;

-- Matches up to `max_events` new events against every subscription it can lock (one being
-- changed by the API waits for the next call) and queues the deliveries; returns how many
-- events it scanned, or -1 when another session is at it.
CREATE FUNCTION webhooks_fan_out(max_events integer, at timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    lo bigint;
    hi bigint;
    locked uuid[];
    hooks uuid[]; types text[]; ids text[]; counts integer[];
BEGIN
    SELECT min(scanned_to) INTO lo FROM webhooks;
    SELECT last_id INTO hi FROM event_counter;
    IF lo IS NULL OR lo >= hi THEN
        RETURN 0; -- the idle poll: no lock, no write
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('fleetd webhooks_fan_out')) THEN
        RETURN -1;
    END IF;
    SELECT array_agg(id), min(scanned_to) INTO locked, lo
      FROM (SELECT id, scanned_to FROM webhooks WHERE scanned_to < hi
                FOR NO KEY UPDATE SKIP LOCKED) w;
    IF locked IS NULL THEN
        RETURN 0;
    END IF;
    hi := least(hi, lo + max_events);
    WITH matched AS (
        INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, aggregate_type,
                                        aggregate_id, body, queued_at)
        SELECT w.id, e.id, e.type, e.aggregate_type, e.aggregate_id, event_body(e), at
          FROM webhooks w
          JOIN events e ON e.id > lo AND e.id <= hi AND e.id > w.scanned_to
         WHERE w.id = ANY (locked) AND w.active
           AND e.type LIKE ANY (webhooks_like(w.events))
        ON CONFLICT DO NOTHING
        RETURNING webhook_id, aggregate_type, aggregate_id
    )
    SELECT array_agg(webhook_id), array_agg(aggregate_type), array_agg(aggregate_id),
           array_agg(n)
      INTO hooks, types, ids, counts
      FROM (SELECT webhook_id, aggregate_type, aggregate_id, count(*)::integer AS n
              FROM matched GROUP BY 1, 2, 3) g;
    IF hooks IS NOT NULL THEN
        PERFORM webhooks_enqueue(hooks, types, ids, counts, at);
    END IF;
    UPDATE webhooks SET scanned_to = hi WHERE id = ANY (locked) AND scanned_to < hi;
    RETURN hi - lo;
END $$;

-- Queues again the events of subscription `hook` from id `from_id` up to `to_id` that it
-- has scanned, that match its patterns and are still retained, whatever became of them
-- (delivered, dead-lettered, never sent while inactive); returns how many. Pending ones
-- stay as they are, and are not locked: deliveries in flight record their outcome
-- meanwhile.
CREATE FUNCTION webhooks_replay(hook uuid, from_id bigint, to_id bigint, at timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    hooks uuid[]; types text[]; ids text[]; counts integer[];
    total integer;
BEGIN
    WITH w AS (
        SELECT id, least(scanned_to, to_id) AS upto, events FROM webhooks WHERE id = hook
    ), matching AS (
        SELECT w.id AS webhook_id, e.id AS event_id, e.type, e.aggregate_type,
               e.aggregate_id, event_body(e) AS body
          FROM w JOIN events e ON e.id >= from_id AND e.id <= w.upto
         WHERE e.type LIKE ANY (webhooks_like(w.events))
    ), fresh AS (
        INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, aggregate_type,
                                        aggregate_id, body, queued_at)
        SELECT webhook_id, event_id, type, aggregate_type, aggregate_id, body, at
          FROM matching
        ON CONFLICT DO NOTHING
        RETURNING webhook_id, aggregate_type, aggregate_id
    ), again AS (
        UPDATE webhook_deliveries d
           SET status = 'pending', attempts = 0, queued_at = at, body = m.body,
               last_attempt_at = NULL, response_status = NULL, last_error = NULL,
               done_at = NULL
          FROM matching m
         WHERE d.webhook_id = m.webhook_id AND d.event_id = m.event_id
           AND d.status <> 'pending'
        RETURNING d.webhook_id, d.aggregate_type, d.aggregate_id
    )
    SELECT array_agg(webhook_id), array_agg(aggregate_type), array_agg(aggregate_id),
           array_agg(n), coalesce(sum(n), 0)
      INTO hooks, types, ids, counts, total
      FROM (SELECT webhook_id, aggregate_type, aggregate_id, count(*)::integer AS n
              FROM (SELECT * FROM fresh UNION ALL SELECT * FROM again) r
             GROUP BY 1, 2, 3) g;
    IF hooks IS NOT NULL THEN
        PERFORM webhooks_enqueue(hooks, types, ids, counts, at);
    END IF;
    RETURN total;
END $$;

-- Claims up to `queues` due queues of subscription `hook` until `at + lease` under
-- `token`; returns how many. (The ctid list keeps the plan an index scan of the due queues
-- however long the backlog.)
CREATE FUNCTION webhooks_claim(hook uuid, queues integer, at timestamptz, lease interval,
                               token uuid) RETURNS integer
LANGUAGE sql AS $$
    WITH claimed AS (
        UPDATE webhook_queues q SET claimed_until = at + lease, claim = token
         WHERE q.ctid = ANY (ARRAY(
                SELECT c.ctid FROM webhook_queues c
                 WHERE c.webhook_id = hook AND c.pending > 0 AND c.due_at <= at
                   AND (c.claimed_until IS NULL OR c.claimed_until <= at)
                 ORDER BY c.due_at LIMIT queues
                   FOR UPDATE SKIP LOCKED))
        RETURNING 1
    )
    SELECT count(*)::integer FROM claimed
$$;

-- The first `per_queue` pending deliveries of each queue claim `token` holds, in id order
-- (read after the claim committed, so none just delivered by another daemon).
CREATE FUNCTION webhooks_claimed(token uuid, per_queue integer)
RETURNS TABLE (aggregate_type text, aggregate_id text, event_id bigint, event_type text,
               body text, attempts integer, queued_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT d.aggregate_type, d.aggregate_id, d.event_id, d.event_type, d.body, d.attempts,
           d.queued_at
      FROM webhook_queues q
     CROSS JOIN LATERAL (
            SELECT * FROM webhook_deliveries p
             WHERE p.webhook_id = q.webhook_id AND p.aggregate_type = q.aggregate_type
               AND p.aggregate_id = q.aggregate_id AND p.status = 'pending'
             ORDER BY p.event_id LIMIT per_queue) d
     WHERE q.claim = token
     ORDER BY d.event_id
$$;

-- Records one attempt's outcome: 'delivered', 'failed' (dead letter) or 'retry' (due
-- again at `retry_at`, the queue given back). A delivery no longer pending (done meanwhile
-- by a daemon that claimed the queue after this one's lease ran out) is left as it is.
-- Returns whether claim `token` still holds the queue: when not, the run must stop.
CREATE FUNCTION webhooks_record(hook uuid, event bigint, outcome text, http_status integer,
                                error text, at timestamptz, retry_at timestamptz, token uuid)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    agg_type text;
    agg_id text;
    held boolean;
BEGIN
    -- An outcome lost in a crash only means the event goes again (at least once), so its
    -- commit need not wait for the WAL flush: one flush per delivery halved the relay.
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT aggregate_type, aggregate_id INTO agg_type, agg_id FROM webhook_deliveries
     WHERE webhook_id = hook AND event_id = event;
    IF NOT FOUND THEN
        RETURN false; -- the subscription was deleted, or the delivery expired
    END IF;
    -- The queue first, then the delivery: the order fan-out and replay lock them in.
    SELECT claim IS NOT DISTINCT FROM token INTO held FROM webhook_queues
     WHERE webhook_id = hook AND aggregate_type = agg_type AND aggregate_id = agg_id
       FOR NO KEY UPDATE;
    UPDATE webhook_deliveries
       SET status = CASE outcome WHEN 'retry' THEN 'pending' ELSE outcome END,
           attempts = attempts + 1, last_attempt_at = at, response_status = http_status,
           last_error = error,
           done_at = CASE WHEN outcome = 'retry' THEN NULL ELSE at END,
           body = CASE WHEN outcome = 'delivered' THEN '' ELSE body END
     WHERE webhook_id = hook AND event_id = event AND status = 'pending';
    IF FOUND AND outcome <> 'retry' THEN
        UPDATE webhook_queues SET pending = pending - 1
         WHERE webhook_id = hook AND aggregate_type = agg_type AND aggregate_id = agg_id;
    END IF;
    IF outcome = 'retry' AND held THEN
        UPDATE webhook_queues SET due_at = retry_at, claimed_until = NULL, claim = NULL
         WHERE webhook_id = hook AND aggregate_type = agg_type AND aggregate_id = agg_id;
    END IF;
    RETURN coalesce(held, false);
END $$;

-- Gives back queue (`agg_type`, `agg_id`) of subscription `hook` if claim `token` still
-- holds it, due at `at` (its remaining deliveries go next).
CREATE FUNCTION webhooks_release(hook uuid, token uuid, agg_type text, agg_id text,
                                 at timestamptz) RETURNS void
LANGUAGE sql AS $$
    -- Lost in a crash, the claim's lease runs out instead.
    SELECT set_config('synchronous_commit', 'off', true);
    UPDATE webhook_queues SET claimed_until = NULL, claim = NULL, due_at = at
     WHERE webhook_id = hook AND aggregate_type = agg_type AND aggregate_id = agg_id
       AND claim = token
$$;

-- Forgets up to `max_rows` deliveries finished before `before`, and idle queues; returns
-- how many deliveries (call again while it returns `max_rows`).
CREATE FUNCTION webhooks_expire(before timestamptz, max_rows integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM webhook_deliveries WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM webhook_deliveries
         WHERE status <> 'pending' AND done_at < before LIMIT max_rows));
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM webhook_queues WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM webhook_queues
         WHERE pending = 0 AND (claimed_until IS NULL OR claimed_until < before)
           AND due_at < before LIMIT max_rows));
    RETURN n;
END $$;
