-- Every MQTT client id a daemon has connected with (src/broker/sessions): the broker cannot
-- list its persistent sessions, so this is how `fleetd broker sessions` knows which ids may
-- still hold one. A running daemon refreshes `live_until` of its ids every minute (3 minutes
-- ahead) and sets it to now when it stops cleanly; an id whose `live_until` has passed and
-- that the configuration at hand does not name is an orphan. Rows stay after their session
-- is dropped (`dropped_at`), as the history of the ids used.
CREATE TABLE broker_sessions (
    client_id    text PRIMARY KEY,
    topic_prefix text NOT NULL,
    share_group  text NOT NULL,
    subscription text NOT NULL CHECK (subscription IN ('plain', 'shared')),
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    live_until   timestamptz NOT NULL,
    dropped_at   timestamptz
);
CREATE INDEX broker_sessions_prefix ON broker_sessions (topic_prefix, client_id);
