-- Trackers' broker accounts (docs/security.md): which vehicles have one and when it was last
-- issued. The password lives only at the broker (as a salted hash) and in the one answer that
-- issued it; this table never holds it.

CREATE TABLE tracker_credentials (
    vehicle_id  text        PRIMARY KEY REFERENCES vehicles (id),
    -- The MQTT username, also the client id the tracker must connect with.
    username    text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    -- When the current password was issued; equal to created_at until the first rotation.
    issued_at   timestamptz NOT NULL,
    -- How many times the password was rotated.
    rotations   integer     NOT NULL DEFAULT 0 CHECK (rotations >= 0)
);
