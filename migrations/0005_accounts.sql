-- Accounts that can be disabled, and tokens that die with them: every access token carries
-- the user's token_version, and a request is refused once the version has moved on.

ALTER TABLE users
    ADD COLUMN active        boolean     NOT NULL DEFAULT true,
    ADD COLUMN token_version integer     NOT NULL DEFAULT 0,
    ADD COLUMN updated_at    timestamptz NOT NULL DEFAULT now();

-- A change of role, password or active flag revokes the user's tokens, whoever makes it
-- (the API or an operator in psql). Logout bumps the version itself.
CREATE FUNCTION users_revoke_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.role IS DISTINCT FROM OLD.role
       OR NEW.password_hash IS DISTINCT FROM OLD.password_hash
       OR NEW.active IS DISTINCT FROM OLD.active THEN
        NEW.token_version := OLD.token_version + 1;
    END IF;
    IF NEW.token_version IS DISTINCT FROM OLD.token_version THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER users_revoke_tokens BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_revoke_tokens();

-- Daemons cache each user's state; this tells them to forget it (payload: the user id).
CREATE FUNCTION users_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fleetd_users', OLD.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER users_notify AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_notify();
