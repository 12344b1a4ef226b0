-- Invoices (docs/invoices.md, src/api/invoices/, src/ledger/invoices.rs): numbered without
-- gaps per year, their lines copied from the rental's charges (each charge on at most one
-- invoice that is not void), their tax from the pricing plan's rate in basis points, posted
-- to the ledger in the transaction that issues them.

-- The plan's tax rate, in basis points of the net (2000 = 20 %), exclusive. Existing plans
-- charge none.
ALTER TABLE pricing_plans
    ADD COLUMN tax_bp integer NOT NULL DEFAULT 0 CHECK (tax_bp BETWEEN 0 AND 10000);

-- The last number issued in each year. Issuing increments it in the issuing transaction
-- (`INSERT … ON CONFLICT DO UPDATE SET last = last + 1 RETURNING last`): the row stays locked
-- until that transaction ends, so concurrent issues take consecutive numbers, and a
-- rollback takes its increment back with it. No gap, no duplicate.
CREATE TABLE invoice_counters (
    year integer PRIMARY KEY CHECK (year BETWEEN 1 AND 9999),
    last bigint  NOT NULL CHECK (last > 0)
);

CREATE TABLE invoices (
    id          uuid PRIMARY KEY,
    year        integer NOT NULL,
    seq         bigint  NOT NULL CHECK (seq > 0),
    -- `{year}-{seq, at least 6 digits}`, e.g. `2026-000123`.
    number      text    NOT NULL UNIQUE,
    rental_id   uuid    NOT NULL REFERENCES rentals (id),
    customer_id uuid    NOT NULL REFERENCES customers (id),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Σ of the lines; negative for a credit (a cancellation's reversal, fewer km).
    net         bigint  NOT NULL,
    tax_bp      integer NOT NULL CHECK (tax_bp BETWEEN 0 AND 10000),
    tax         bigint  NOT NULL,
    total       bigint  NOT NULL,
    status      text    NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'paid', 'void')),
    -- The ledger entry of its tax (`invoice.issued:{id}`), none when the tax is 0.
    entry_id    bigint,
    issued_at   timestamptz NOT NULL,
    paid_at     timestamptz,
    voided_at   timestamptz,
    UNIQUE (year, seq),
    CONSTRAINT invoices_total CHECK (total = net + tax),
    CONSTRAINT invoices_paid CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
    CONSTRAINT invoices_void CHECK ((status = 'void') = (voided_at IS NOT NULL))
);
CREATE INDEX invoices_rental ON invoices (rental_id);
CREATE INDEX invoices_customer ON invoices (customer_id);

-- What an invoice lists: copies of the charges it covers, as they were.
CREATE TABLE invoice_lines (
    invoice_id  uuid   NOT NULL REFERENCES invoices (id),
    charge_id   bigint NOT NULL REFERENCES rental_charges (id),
    kind        text   NOT NULL,
    quantity    bigint NOT NULL,
    unit_amount bigint NOT NULL,
    amount      bigint NOT NULL,
    PRIMARY KEY (invoice_id, charge_id)
);
CREATE INDEX invoice_lines_charge ON invoice_lines (charge_id);

-- The charges on an invoice that is not void: the primary key puts a charge on at most one
-- such invoice. Voiding an invoice deletes its rows, so its charges can be invoiced again.
CREATE TABLE invoiced_charges (
    charge_id  bigint PRIMARY KEY REFERENCES rental_charges (id),
    invoice_id uuid   NOT NULL REFERENCES invoices (id)
);
CREATE INDEX invoiced_charges_invoice ON invoiced_charges (invoice_id);

-- Row security (0011): a customer reads only the invoices of its own customer profile.
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY invoices_own ON invoices
    USING (fleetd_sees_all() OR (fleetd_scope() = 'customer'
           AND customer_id IN (SELECT fleetd_my_customer_ids())));
