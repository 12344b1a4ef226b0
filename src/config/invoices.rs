//! The `[invoices]` section: who issues the invoices, as their printable document shows it.

use serde::{Deserialize, Serialize};

use super::validate::invalid;
use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvoicesConfig {
    /// The seller's name (the fleet operator's legal name).
    pub seller_name: String,
    /// The seller's postal address; line breaks are kept.
    pub seller_address: String,
    /// The seller's tax or VAT number; empty: not shown.
    pub seller_tax_id: String,
}

impl Default for InvoicesConfig {
    fn default() -> Self {
        InvoicesConfig {
            seller_name: "fleetd".into(),
            seller_address: String::new(),
            seller_tax_id: String::new(),
        }
    }
}

/// `value` is at most `max` characters, with no control character but those `allowed`.
fn text(
    key: &str,
    value: &str,
    min: usize,
    max: usize,
    allowed: &[char],
) -> Result<(), ConfigError> {
    let n = value.chars().count();
    if n < min
        || n > max
        || value
            .chars()
            .any(|c| c.is_control() && !allowed.contains(&c))
    {
        let lines = if allowed.is_empty() {
            ""
        } else {
            " but line breaks"
        };
        return Err(invalid(
            key,
            format!("{min}-{max} characters, no control characters{lines}"),
        ));
    }
    Ok(())
}

impl super::Config {
    /// `[invoices]`.
    pub(super) fn validate_invoices(&self) -> Result<(), ConfigError> {
        let i = &self.invoices;
        text("invoices.seller_name", &i.seller_name, 1, 200, &[])?;
        if i.seller_name.trim().is_empty() {
            return Err(invalid("invoices.seller_name", "must not be blank"));
        }
        text(
            "invoices.seller_address",
            &i.seller_address,
            0,
            1_000,
            &['\n'],
        )?;
        text("invoices.seller_tax_id", &i.seller_tax_id, 0, 64, &[])
    }
}
