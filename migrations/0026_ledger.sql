-- The double-entry ledger (docs/ledger.md): a chart of accounts, journal entries and their
-- lines. Amounts are signed bigint minor units: a debit is positive, a credit negative, so an
-- entry balances when its lines sum to zero. The database refuses an unbalanced entry, an
-- entry of fewer than two lines, a line in another currency than its entry, and any UPDATE,
-- DELETE or TRUNCATE of the ledger: corrections are reversing entries. Each entry carries
-- the key of the business event that posted it, unique, so nothing is posted twice.
-- Also here: payment states and refunds, and the backfill of the ledger from the charges,
-- payments and completed maintenance recorded before it existed.

-- An account's type follows from its code's first segment; a code whose type is unknown is
-- refused (the generated column is NOT NULL).
CREATE FUNCTION ledger_account_type(code text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE split_part(code, ':', 1)
        WHEN 'receivable' THEN 'asset'
        WHEN 'cash' THEN 'asset'
        WHEN 'bank' THEN 'asset'
        WHEN 'revenue' THEN 'revenue'
        WHEN 'expense' THEN 'expense'
        WHEN 'payable' THEN 'liability'
    END
$$;

CREATE TABLE ledger_accounts (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z][a-z_]*(:[A-Za-z0-9._-]+)*$'),
    type       text NOT NULL GENERATED ALWAYS AS (ledger_account_type(code)) STORED,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE journal_entries (
    id        bigserial PRIMARY KEY,
    -- `{aggregate}.{what happened}:{id}`, e.g. `rental.completed:9c2a…`.
    event_key text NOT NULL CHECK (event_key ~ '^[a-z][a-z_]*\.[a-z][a-z_]*:.+$'),
    posted_at timestamptz NOT NULL DEFAULT now(),
    currency  char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    memo      text NOT NULL DEFAULT '',
    -- The rental the entry is about, so a rental's receivable can be read from the ledger.
    -- Not a foreign key: the ledger refers to the business tables without depending on
    -- them (a TRUNCATE … CASCADE of the fleet's tables never reaches it).
    rental_id uuid,
    reverses  bigint UNIQUE REFERENCES journal_entries (id),
    CONSTRAINT journal_entries_event_key UNIQUE (event_key),
    UNIQUE (id, currency)
);
CREATE INDEX journal_entries_posted ON journal_entries (posted_at, id);
CREATE INDEX journal_entries_rental ON journal_entries (rental_id) WHERE rental_id IS NOT NULL;

CREATE TABLE journal_lines (
    id       bigserial PRIMARY KEY,
    entry_id bigint NOT NULL,
    account  text NOT NULL REFERENCES ledger_accounts (code),
    -- Debit > 0, credit < 0.
    amount   bigint NOT NULL CHECK (amount <> 0),
    currency char(3) NOT NULL,
    -- A line is in its entry's currency: entries never mix currencies.
    CONSTRAINT journal_lines_entry_currency FOREIGN KEY (entry_id, currency)
        REFERENCES journal_entries (id, currency)
);
CREATE INDEX journal_lines_entry ON journal_lines (entry_id);
CREATE INDEX journal_lines_account ON journal_lines (account, entry_id);

-- At commit: the entry has at least two lines and they sum to zero.
CREATE FUNCTION journal_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry bigint;
    lines bigint;
    total numeric;
BEGIN
    -- Each branch is planned only when it runs: NEW has `id` or `entry_id`, not both.
    IF TG_TABLE_NAME = 'journal_entries' THEN
        entry := NEW.id;
    ELSE
        entry := NEW.entry_id;
    END IF;
    SELECT count(*), coalesce(sum(amount), 0) INTO lines, total
      FROM journal_lines WHERE entry_id = entry;
    IF lines < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'journal entry % does not balance (% lines, sum %)', entry, lines, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();
CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();

-- The ledger is append-only.
CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the ledger is append-only (post a reversing entry)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'ledger_immutable';
END $$;
CREATE TRIGGER ledger_accounts_immutable BEFORE UPDATE OR DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER journal_lines_immutable BEFORE UPDATE OR DELETE ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER journal_lines_no_truncate BEFORE TRUNCATE ON journal_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();

-- Payment states: pending → captured | failed; captured → refunded once refunds reach the
-- amount. Payments recorded before states existed were captured when they were recorded.
ALTER TABLE rental_payments
    ADD COLUMN status      text NOT NULL DEFAULT 'captured'
                           CHECK (status IN ('pending', 'captured', 'failed', 'refunded')),
    ADD COLUMN captured_at timestamptz,
    ADD COLUMN refunded    bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT rental_payments_refunded CHECK (refunded >= 0 AND refunded <= amount),
    ADD CONSTRAINT rental_payments_refunded_status
        CHECK ((status = 'refunded') = (refunded = amount)
               AND (refunded = 0 OR status IN ('captured', 'refunded')));
UPDATE rental_payments SET captured_at = created_at;

CREATE TABLE rental_refunds (
    id         uuid PRIMARY KEY,
    payment_id uuid NOT NULL REFERENCES rental_payments (id),
    rental_id  uuid NOT NULL REFERENCES rentals (id),
    amount     bigint NOT NULL CHECK (amount > 0),
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rental_refunds_payment ON rental_refunds (payment_id);
CREATE INDEX rental_refunds_rental ON rental_refunds (rental_id);

-- Backfill: the ledger equals the history recorded before it. Charges become one entry per
-- rental (the events that charged them are not recorded), payments and completed maintenance
-- jobs one entry each under the keys the daemon uses for them from now on.
CREATE TEMPORARY TABLE ledger_backfill (
    key       text NOT NULL,
    rental_id uuid,
    currency  char(3) NOT NULL,
    memo      text NOT NULL,
    account   text NOT NULL,
    amount    numeric NOT NULL
) ON COMMIT DROP;

INSERT INTO ledger_backfill
SELECT 'rental.charges_before_ledger:' || r.id, r.id, r.currency, 'charges before the ledger',
       l.account, l.amount
  FROM rentals r
  CROSS JOIN LATERAL (
      SELECT 'revenue:' || c.kind AS account, -sum(c.amount) AS amount
        FROM rental_charges c WHERE c.rental_id = r.id GROUP BY c.kind
      UNION ALL
      SELECT 'receivable:customer:' || r.customer_id, sum(c.amount)
        FROM rental_charges c WHERE c.rental_id = r.id
  ) l
 WHERE l.amount <> 0;

INSERT INTO ledger_backfill
SELECT 'payment.captured:' || p.id, p.rental_id, p.currency, 'payment captured (' || p.method || ')',
       l.account, l.amount
  FROM rental_payments p JOIN rentals r ON r.id = p.rental_id
  CROSS JOIN LATERAL (VALUES
      (CASE p.method WHEN 'cash' THEN 'cash' ELSE 'bank' END, p.amount::numeric),
      ('receivable:customer:' || r.customer_id, -p.amount::numeric)
  ) l (account, amount);

INSERT INTO ledger_backfill
SELECT 'maintenance.completed:' || j.id, NULL, j.currency, 'maintenance completed',
       l.account, l.amount
  FROM maintenance_jobs j
  CROSS JOIN LATERAL (
      SELECT coalesce(j.labour_cost, 0)::numeric AS labour,
             coalesce((SELECT sum(p.quantity::numeric * p.unit_cost) FROM maintenance_parts p
                        WHERE p.job_id = j.id), 0) AS parts
  ) c
  CROSS JOIN LATERAL (VALUES
      ('expense:maintenance:labour:' || j.vehicle_id, c.labour),
      ('expense:maintenance:parts:' || j.vehicle_id, c.parts),
      ('payable:maintenance', -(c.labour + c.parts))
  ) l (account, amount)
 WHERE j.status = 'completed' AND j.currency IS NOT NULL AND l.amount <> 0;

INSERT INTO ledger_accounts (code)
SELECT DISTINCT account FROM ledger_backfill ON CONFLICT DO NOTHING;

INSERT INTO journal_entries (event_key, currency, memo, rental_id)
SELECT DISTINCT key, currency, memo, rental_id FROM ledger_backfill ORDER BY key;

INSERT INTO journal_lines (entry_id, account, amount, currency)
SELECT e.id, b.account, b.amount::bigint, b.currency
  FROM ledger_backfill b JOIN journal_entries e ON e.event_key = b.key
 ORDER BY e.id, b.amount DESC;
