//! What an invoice is, as the API shows it and as its rows hold it, and the pure rules: the
//! tax of a net total ([`tax_of`]) and the number's form ([`number`], [`parse_number`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::api::error::ApiError;
use crate::api::pagination::grouped;

crate::text_enum! {
    /// An invoice's state: `issued → paid | void`.
    pub enum InvoiceStatus {
        Issued => "issued",
        Paid => "paid",
        Void => "void",
    }
}

/// One line: a copy of the rental charge it covers, as the charge was.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InvoiceLine {
    /// The rental charge (each is on at most one invoice that is not void).
    pub charge_id: i64,
    /// The charge's kind (`base`, `extra_km`, `late_fee`, …).
    pub kind: String,
    pub quantity: i64,
    pub unit_amount: i64,
    /// quantity × unit_amount, minor units (negative for a credit).
    pub amount: i64,
}

/// An invoice for (part of) a rental's charges.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Invoice {
    pub id: Uuid,
    /// `{year}-{sequence}`, the sequence at least 6 digits (`2026-000123`): consecutive
    /// within a year, without gaps.
    pub number: String,
    /// The UTC year of `issued_at`, which numbers it.
    pub year: i32,
    pub rental_id: Uuid,
    pub customer_id: Uuid,
    pub status: InvoiceStatus,
    /// The rental's ISO 4217 currency.
    pub currency: String,
    /// Its charges, oldest first.
    pub lines: Vec<InvoiceLine>,
    /// Σ of the lines, minor units; negative on a credit invoice.
    pub net: i64,
    /// The pricing plan's tax rate when it was issued, basis points (2000 = 20 %).
    pub tax_bp: i32,
    /// `net × tax_bp / 10000` rounded half away from zero to the minor unit.
    pub tax: i64,
    /// `net + tax`.
    pub total: i64,
    pub issued_at: DateTime<Utc>,
    /// When the rental's balance reached zero or less with this invoice issued.
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
}

/// An invoice's columns, for [`from_row`] (lines apart).
pub const COLUMNS: &str = "i.id, i.number, i.year, i.rental_id, i.customer_id, i.status, \
     i.currency::text AS currency, i.net, i.tax_bp, i.tax, i.total, i.issued_at, i.paid_at, \
     i.voided_at";
/// Lines of a page of invoices (`$1`: their ids), each invoice's in charge order.
const LINES_OF: &str = "SELECT invoice_id, charge_id, kind, quantity, unit_amount, amount
                          FROM invoice_lines WHERE invoice_id = ANY($1)
                         ORDER BY invoice_id, charge_id";

/// The invoice of a row of [`COLUMNS`], without its lines.
pub fn from_row(r: &tokio_postgres::Row) -> Invoice {
    Invoice {
        id: r.get("id"),
        number: r.get("number"),
        year: r.get("year"),
        rental_id: r.get("rental_id"),
        customer_id: r.get("customer_id"),
        status: r.get("status"),
        currency: r.get("currency"),
        lines: Vec::new(),
        net: r.get("net"),
        tax_bp: r.get("tax_bp"),
        tax: r.get("tax"),
        total: r.get("total"),
        issued_at: r.get("issued_at"),
        paid_at: r.get("paid_at"),
        voided_at: r.get("voided_at"),
    }
}

/// Invoices from their rows, with their lines: one query for any number of rows.
pub async fn assemble<C: tokio_postgres::GenericClient>(
    client: &C,
    rows: &[tokio_postgres::Row],
) -> Result<Vec<Invoice>, ApiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.get("id")).collect();
    let mut lines: HashMap<Uuid, Vec<InvoiceLine>> =
        grouped(client, LINES_OF, &ids, |r| InvoiceLine {
            charge_id: r.get(1),
            kind: r.get(2),
            quantity: r.get(3),
            unit_amount: r.get(4),
            amount: r.get(5),
        })
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let mut invoice = from_row(r);
            invoice.lines = lines.remove(&invoice.id).unwrap_or_default();
            invoice
        })
        .collect())
}

/// The tax on `net` at `tax_bp` basis points: `net × tax_bp / 10000`, rounded half away
/// from zero to the minor unit (so a credit's tax mirrors the charge's exactly). Exact in
/// 128 bits; `None` when the tax does not fit in 64 (it never does not for a net that
/// fits and a rate of at most 100 %).
pub fn tax_of(net: i64, tax_bp: i32) -> Option<i64> {
    let product = i128::from(net) * i128::from(tax_bp);
    let magnitude = (product.abs() + 5_000) / 10_000;
    i64::try_from(if product < 0 { -magnitude } else { magnitude }).ok()
}

/// The number of the `seq`th invoice of `year`: `2026-000123` (the sequence zero-padded to
/// 6 digits, longer past 999,999).
pub fn number(year: i32, seq: i64) -> String {
    format!("{year:04}-{seq:06}")
}

/// `(year, seq)` of a number made by [`number`]; `None` for anything else.
pub fn parse_number(s: &str) -> Option<(i32, i64)> {
    let (year, seq) = s.split_once('-')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if year.len() != 4 || seq.len() < 6 || !digits(year) || !digits(seq) {
        return None;
    }
    Some((year.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rounds_half_away_from_zero_on_the_net() {
        assert_eq!(tax_of(0, 2000), Some(0));
        assert_eq!(tax_of(1, 2000), Some(0)); // 0.2
        assert_eq!(tax_of(1, 4999), Some(0)); // 0.4999
        assert_eq!(tax_of(1, 5000), Some(1)); // 0.5: half up
        assert_eq!(tax_of(-1, 5000), Some(-1)); // a credit mirrors it
        assert_eq!(tax_of(3, 5000), Some(2)); // 1.5
        assert_eq!(tax_of(10_000, 1900), Some(1_900));
        assert_eq!(tax_of(12_345, 2000), Some(2_469));
        assert_eq!(tax_of(-12_345, 2000), Some(-2_469));
        assert_eq!(tax_of(7, 0), Some(0));
        assert_eq!(tax_of(7, 10_000), Some(7));
        // Exact where the product overflows 64 bits.
        assert_eq!(tax_of(i64::MAX, 10_000), Some(i64::MAX));
        assert_eq!(tax_of(i64::MAX, 5_000), Some(i64::MAX / 2 + 1));
        assert_eq!(tax_of(i64::MIN, 10_000), Some(i64::MIN));
    }

    #[test]
    fn numbers_are_year_and_a_zero_padded_sequence() {
        assert_eq!(number(2026, 1), "2026-000001");
        assert_eq!(number(2026, 123), "2026-000123");
        assert_eq!(number(2026, 1_234_567), "2026-1234567");
        for (y, s) in [(2026, 1), (2026, 999_999), (2027, 1_234_567)] {
            assert_eq!(parse_number(&number(y, s)), Some((y, s)));
        }
        for bad in [
            "",
            "2026",
            "2026-",
            "2026-12",
            "26-000001",
            "2026-00000x",
            "x-000001",
        ] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
