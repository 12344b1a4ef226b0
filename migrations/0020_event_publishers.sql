-- Where each publisher of events outside the database has got to (docs/events.md, "MQTT").
-- One daemon publishes at a time: it holds a session advisory lock while it does, and keeps
-- here the last event id the broker acknowledged, in order, so whoever takes over next (the
-- same daemon restarted, or another) carries on from there: at least once, nothing skipped.
CREATE TABLE event_publishers (
    name text PRIMARY KEY,
    published_to bigint NOT NULL CHECK (published_to >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
