-- Refresh tokens (POST /v1/auth/refresh): opaque, stored only as their SHA-256, used once.
-- Each refresh replaces the token with a new one of the same family; presenting a used one
-- again means it was copied, and revokes the whole family. A token carries the user's
-- token_version at issue, so everything that revokes access tokens (logout, role or password
-- change, disabling) revokes refresh tokens too.
CREATE TABLE refresh_tokens (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family        uuid NOT NULL,
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    token_version integer NOT NULL,
    issued_at     timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL CHECK (expires_at > issued_at),
    used_at       timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- Customers and pricing plans are deactivated, never deleted: rentals refer to them.
ALTER TABLE customers ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE pricing_plans ADD COLUMN active boolean NOT NULL DEFAULT true;
