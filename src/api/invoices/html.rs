//! `GET /v1/invoices/{id}/html`: the invoice as a printable, standalone HTML document
//! (seller, customer, number, dates, lines, net, tax, total), with the same visibility as
//! the JSON. Every text from the database is escaped ([`escape`]); amounts are formatted
//! with their currency's ISO 4217 minor units ([`money`]). The answer carries a
//! `Content-Security-Policy` that allows no script and no external resource at all.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::model::Invoice;
use super::read::{visible, READERS};
use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::middleware::txn::Db;
use crate::api::routes::{schema, RouteDoc, Routes};
use crate::api::state::AppState;
use crate::config::InvoicesConfig;

const CUSTOMER: &str = "SELECT name, email FROM customers WHERE id = $1";
const RENTAL: &str = "SELECT vehicle_id, starts_at, ends_at FROM rentals WHERE id = $1";
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// `s` safe inside HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The ISO 4217 minor units of `currency`: 0 (JPY, KRW, …), 3 (BHD, KWD, …), 4 (CLF,
/// UYW), 2 for every other code.
pub fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// `minor` units of `currency` as a decimal: `-1234` EUR → `-12.34`, `5` KWD → `0.005`,
/// `500` JPY → `500`.
pub fn money(minor: i64, currency: &str) -> String {
    let e = exponent(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if e == 0 {
        return format!("{sign}{abs}");
    }
    let unit = 10u64.pow(e);
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = e as usize
    )
}

/// What the document shows besides the invoice.
pub struct Parties<'a> {
    /// Who issues it (`[invoices]`).
    pub seller: &'a InvoicesConfig,
    pub customer_name: String,
    pub customer_email: String,
    pub vehicle_id: String,
    pub period: String,
}

/// The document.
pub fn render(i: &Invoice, p: &Parties<'_>) -> String {
    let cur = escape(&i.currency);
    let m = |v: i64| format!("{} {cur}", escape(&money(v, &i.currency)));
    let mut rows = String::new();
    for l in &i.lines {
        rows.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(&l.kind),
            l.quantity,
            m(l.unit_amount),
            m(l.amount)
        ));
    }
    let status = match i.status.as_str() {
        "issued" => String::new(),
        s => format!("<p class=\"status\">{}</p>\n", escape(&s.to_uppercase())),
    };
    let tax_pct = format!("{}.{:02} %", i.tax_bp / 100, i.tax_bp % 100);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>Invoice {number}</title>\n<style>\n\
body {{ font-family: sans-serif; margin: 2em; color: #111; }}\n\
table {{ border-collapse: collapse; width: 100%; }}\n\
th, td {{ border-bottom: 1px solid #ccc; padding: 0.3em; text-align: left; }}\n\
.n {{ text-align: right; }} .status {{ font-weight: bold; color: #a00; }}\n\
@media print {{ body {{ margin: 0; }} }}\n</style>\n</head>\n<body>\n\
<h1>Invoice {number}</h1>\n{status}\
<p><strong>Seller:</strong> {seller}{address}{tax_id}</p>\n\
<p><strong>Customer:</strong> {name} &lt;{email}&gt;<br>Customer id: {customer}</p>\n\
<p>Issued: {issued}<br>Rental: {rental}, vehicle {vehicle}, {period}</p>\n\
<table>\n<thead><tr><th>Item</th><th class=\"n\">Quantity</th><th class=\"n\">Unit price</th>\
<th class=\"n\">Amount</th></tr></thead>\n<tbody>\n{rows}</tbody>\n<tfoot>\n\
<tr><th colspan=\"3\">Net</th><td class=\"n\">{net}</td></tr>\n\
<tr><th colspan=\"3\">Tax ({tax_pct})</th><td class=\"n\">{tax}</td></tr>\n\
<tr><th colspan=\"3\">Total</th><td class=\"n\"><strong>{total}</strong></td></tr>\n\
</tfoot>\n</table>\n<p>Amounts in {cur}.</p>\n</body>\n</html>\n",
        number = escape(&i.number),
        seller = escape(&p.seller.seller_name),
        address = lines(&p.seller.seller_address),
        tax_id = if p.seller.seller_tax_id.is_empty() {
            String::new()
        } else {
            format!("<br>Tax number: {}", escape(&p.seller.seller_tax_id))
        },
        name = escape(&p.customer_name),
        email = escape(&p.customer_email),
        customer = i.customer_id,
        issued = i.issued_at.format("%Y-%m-%d %H:%M UTC"),
        rental = i.rental_id,
        vehicle = escape(&p.vehicle_id),
        period = escape(&p.period),
        net = m(i.net),
        tax = m(i.tax),
        total = m(i.total),
    )
}

/// `address`'s lines, escaped, each after a line break.
fn lines(address: &str) -> String {
    address
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("<br>{}", escape(l)))
        .collect()
}

async fn html(
    State(state): State<Arc<AppState>>,
    db: Db,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = db.tx().await?;
    let invoice = visible(&client, &caller, &id).await?;
    let c = client.query_one(CUSTOMER, &[&invoice.customer_id]).await?;
    let r = client.query_one(RENTAL, &[&invoice.rental_id]).await?;
    let (starts, ends): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        (r.get(1), r.get(2));
    let parties = Parties {
        seller: &state.api.seller,
        customer_name: c.get(0),
        customer_email: c.get(1),
        vehicle_id: r.get(0),
        period: format!(
            "{} to {}",
            starts.format("%Y-%m-%d %H:%M"),
            ends.format("%Y-%m-%d %H:%M UTC")
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        render(&invoice, &parties),
    )
        .into_response())
}

pub fn routes(r: Routes) -> Routes {
    r.add(
        RouteDoc {
            response: Some(schema::<String>),
            content_type: "text/html",
            errors: &[404],
            ..RouteDoc::new(
                "GET",
                "/v1/invoices/{id}/html",
                "The invoice as a printable HTML document (customers: their own)",
                READERS,
            )
        },
        html,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::invoices::model::{InvoiceLine, InvoiceStatus};
    use uuid::Uuid;

    #[test]
    fn money_follows_the_currency_minor_units() {
        assert_eq!(money(123_456, "EUR"), "1234.56");
        assert_eq!(money(5, "EUR"), "0.05");
        assert_eq!(money(-1, "EUR"), "-0.01");
        assert_eq!(money(0, "EUR"), "0.00");
        assert_eq!(money(500, "JPY"), "500");
        assert_eq!(money(-500, "JPY"), "-500");
        assert_eq!(money(5, "KWD"), "0.005");
        assert_eq!(money(12_345, "BHD"), "12.345");
        assert_eq!(money(1, "CLF"), "0.0001");
        assert_eq!(money(i64::MIN, "EUR"), "-92233720368547758.08");
    }

    #[test]
    fn every_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        let invoice = Invoice {
            id: Uuid::nil(),
            number: "2026-000001".into(),
            year: 2026,
            rental_id: Uuid::nil(),
            customer_id: Uuid::nil(),
            status: InvoiceStatus::Void,
            currency: "JPY".into(),
            lines: vec![InvoiceLine {
                charge_id: 1,
                kind: "<b>base</b>".into(),
                quantity: 2,
                unit_amount: 500,
                amount: 1_000,
            }],
            net: 1_000,
            tax_bp: 1_000,
            tax: 100,
            total: 1_100,
            issued_at: chrono::Utc::now(),
            paid_at: None,
            voided_at: Some(chrono::Utc::now()),
        };
        let seller = InvoicesConfig {
            seller_name: "Acme & <i>Sons</i>".into(),
            seller_address: "1 Main St\n\n  <Springfield>  \n".into(),
            seller_tax_id: "DE<123>".into(),
        };
        let parties = Parties {
            seller: &seller,
            customer_name: "<script>alert(1)</script>".into(),
            customer_email: "a\"@b".into(),
            vehicle_id: "v-1".into(),
            period: "p".into(),
        };
        let doc = render(&invoice, &parties);
        assert!(!doc.contains("<script>"), "{doc}");
        assert!(!doc.contains("<b>"), "{doc}");
        assert!(doc.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(doc.contains("1100 JPY"), "{doc}");
        assert!(doc.contains("10.00 %"), "{doc}");
        assert!(doc.contains("VOID"), "{doc}");
        assert!(
            doc.contains(
                "Acme &amp; &lt;i&gt;Sons&lt;/i&gt;<br>1 Main St<br>&lt;Springfield&gt;\
                 <br>Tax number: DE&lt;123&gt;</p>"
            ),
            "{doc}"
        );
    }

    #[test]
    fn without_an_address_or_tax_number_only_the_name_is_shown() {
        assert_eq!(lines(""), "");
        assert_eq!(lines("\n \n"), "");
        assert_eq!(lines("a\nb"), "<br>a<br>b");
    }
}
