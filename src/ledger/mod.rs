//! The double-entry ledger (docs/ledger.md, migrations/0026_ledger.sql): every money-moving
//! business event posts one balanced journal entry in the transaction that records the event.
//!
//! # Layout
//! - [`accounts`]: the chart of accounts, as account codes.
//! - [`posting`]: one entry from signed lines (debit > 0, credit < 0), netted per account,
//!   posted at most once per business event key; reversing entries.
//! - [`rentals`]: rental charges, captured payments and refunds as entries.
//! - [`maintenance`]: a completed maintenance job's labour and parts as an entry.
//! - [`invoices`]: an invoice's tax, and its reversal when the invoice is voided.
//! - [`periods`]: closing months, after which nothing is posted into them.
//! - [`ageing`]: a receivable's balance split by age, first in first out.
//!
//! PostgreSQL is the guard: a deferred trigger refuses an unbalanced entry at commit, a
//! foreign key a line in another currency than its entry, triggers any UPDATE, DELETE or
//! TRUNCATE, and a unique key a second entry for the same business event.

pub mod accounts;
pub mod ageing;
pub mod invoices;
pub mod maintenance;
pub mod periods;
pub mod posting;
pub mod rentals;

pub use posting::{post, reverse, LedgerError, Posted, Posting};
