-- Closed periods (docs/financial-reports.md): the ledger is closed month by month (UTC), and
-- PostgreSQL refuses any entry, or any line of an entry, posted into a closed month. Closing
-- a month closes every month before it too: a posting is refused when its month is at or
-- before the latest closed month. So a report over closed months reads the same forever;
-- corrections are posted into the open period (a reversal posts at now()).
--
-- One row per close: the month named, when, by whom. A month is closed by the first close
-- at or after it. Rows are never changed or deleted: a closed period is not reopened (a
-- reopened month would make every report over it that was handed out unverifiable).
CREATE TABLE ledger_periods (
    -- The first day of the month closed.
    month     date PRIMARY KEY CHECK (month = date_trunc('month', month)::date),
    closed_at timestamptz NOT NULL DEFAULT now(),
    -- The user who closed it (NULL from SQL).
    closed_by uuid,
    -- Only a month that has ended can be closed.
    CONSTRAINT ledger_period_ended CHECK (closed_at >= month + interval '1 month')
);

-- The race between a posting and a close. An entry's `posted_at` is its transaction's start
-- (`now()`), so a transaction begun in month M may still be posting into M after M ended and
-- while M is being closed. The rule: no entry commits into a month after that month's close
-- committed. How:
--   * every posting (an entry, or a line) takes the SHARED transaction-level advisory lock
--     LEDGER_PERIODS_LOCK, held until it commits, and then checks the closed months;
--   * a close (an INSERT into ledger_periods) takes the same lock EXCLUSIVELY, also until it
--     commits.
-- So a close waits for every posting transaction in flight to commit or roll back (they all
-- hold the shared lock), and a posting that asks for the lock while a close holds or awaits
-- it waits until the close committed; its check (a new snapshot per statement in READ
-- COMMITTED) then sees the closed month and refuses. A REPEATABLE READ or SERIALIZABLE
-- snapshot may predate the close it waited for, so postings are refused outside READ
-- COMMITTED (fleetd posts in READ COMMITTED only). Advisory locks need no table privilege,
-- so the API role takes them as any other.
CREATE FUNCTION ledger_periods_lock() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT 7380385375772241008::bigint  -- 'fleetdlp' (0x666c6565_74646c70)
$$;

-- The month a posting at `at` falls in (UTC), refused when closed.
CREATE FUNCTION ledger_period_check(at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    month   date := date_trunc('month', at AT TIME ZONE 'UTC')::date;
    through date;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'ledger postings need a READ COMMITTED transaction (not %)',
            current_setting('transaction_isolation')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_read_committed';
    END IF;
    PERFORM pg_advisory_xact_lock_shared(ledger_periods_lock());
    SELECT max(p.month) INTO through FROM ledger_periods p;
    IF through IS NOT NULL AND month <= through THEN
        RAISE EXCEPTION 'the ledger is closed through %: nothing can be posted into %',
            to_char(through, 'YYYY-MM'), to_char(month, 'YYYY-MM')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_period_closed';
    END IF;
END $$;

CREATE FUNCTION journal_entry_period_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_period_check(NEW.posted_at);
    RETURN NEW;
END $$;
CREATE TRIGGER journal_entries_period_open BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entry_period_open();

-- A line added later to an entry of a closed month would change that month as much as a new
-- entry: it is checked by its entry's posting time.
CREATE FUNCTION journal_line_period_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_period_check(
        (SELECT e.posted_at FROM journal_entries e WHERE e.id = NEW.entry_id));
    RETURN NEW;
END $$;
CREATE TRIGGER journal_lines_period_open BEFORE INSERT ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION journal_line_period_open();

-- A close takes the lock exclusively before its row is written, however it is written.
CREATE FUNCTION ledger_period_close() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(ledger_periods_lock());
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_periods_close BEFORE INSERT ON ledger_periods
    FOR EACH ROW EXECUTE FUNCTION ledger_period_close();

-- Closed is closed: no UPDATE, DELETE or TRUNCATE (ledger_immutable, migration 0026).
CREATE TRIGGER ledger_periods_immutable BEFORE UPDATE OR DELETE ON ledger_periods
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_periods_no_truncate BEFORE TRUNCATE ON ledger_periods
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();
