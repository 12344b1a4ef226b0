//! Posting: one journal entry per business event, its lines netted per account. The event
//! key (`rental.completed:{id}`) is unique in `journal_entries`, so a replay of the same event
//! posts nothing ([`Posted::Already`]); an event whose lines net to nothing posts nothing
//! either ([`Posted::Nothing`]): an entry has at least two lines, none of them zero.

use std::collections::BTreeMap;

use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Creates the accounts `$1` that do not exist yet (their type follows from the code).
const ACCOUNTS: &str = "INSERT INTO ledger_accounts (code) SELECT unnest($1::text[])
                        ON CONFLICT DO NOTHING";
/// The entry, unless its business event was posted before.
const ENTRY: &str = "INSERT INTO journal_entries (event_key, currency, memo, rental_id, reverses)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT ON CONSTRAINT journal_entries_event_key DO NOTHING
                     RETURNING id";
const LINES: &str = "INSERT INTO journal_lines (entry_id, account, amount, currency)
                     SELECT $1::bigint, u.account, u.amount, $2::text
                       FROM unnest($3::text[], $4::bigint[]) WITH ORDINALITY
                            AS u(account, amount, n)
                      ORDER BY u.n";
const ENTRY_OF: &str = "SELECT currency::text, rental_id FROM journal_entries WHERE id = $1";
const LINES_OF: &str = "SELECT account, amount FROM journal_lines WHERE entry_id = $1 ORDER BY id";

/// Why posting failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database refused the entry or the connection broke.
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    /// An account's amount, netted, does not fit in 64-bit minor units.
    #[error("amount does not fit in 64-bit minor units")]
    Overflow,
    /// The lines do not sum to zero: a mapper's bug, refused before the database would.
    #[error("entry {0} does not balance")]
    Unbalanced(String),
    /// A reversal names an entry that does not exist.
    #[error("journal entry {0} not found")]
    NoSuchEntry(i64),
}

/// One entry to post.
#[derive(Debug, Clone)]
pub struct Posting {
    /// The business event: `{aggregate}.{what happened}:{id}`.
    pub key: String,
    /// ISO 4217; every line is in it.
    pub currency: String,
    pub memo: String,
    /// The rental the entry is about, if any.
    pub rental_id: Option<Uuid>,
    /// (account code, signed amount: debit > 0, credit < 0); several lines of one account
    /// are netted.
    pub lines: Vec<(String, i64)>,
}

/// What [`post`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// A new entry, with its id.
    Entry(i64),
    /// The business event has its entry already: nothing was posted.
    Already,
    /// The lines net to zero on every account: nothing to post.
    Nothing,
}

/// The lines netted per account, zeros dropped, in account order; checked to balance.
pub fn net(key: &str, lines: &[(String, i64)]) -> Result<Vec<(String, i64)>, LedgerError> {
    let mut by_account: BTreeMap<&str, i128> = BTreeMap::new();
    for (account, amount) in lines {
        *by_account.entry(account).or_default() += i128::from(*amount);
    }
    if by_account.values().sum::<i128>() != 0 {
        return Err(LedgerError::Unbalanced(key.to_string()));
    }
    by_account
        .into_iter()
        .filter(|(_, amount)| *amount != 0)
        .map(|(account, amount)| {
            i64::try_from(amount)
                .map(|a| (account.to_string(), a))
                .map_err(|_| LedgerError::Overflow)
        })
        .collect()
}

/// Posts `p` in the caller's transaction, at most once per business event. Outside a
/// transaction the entry's row would be checked alone, before its lines, and refused.
pub async fn post(c: &impl GenericClient, p: &Posting) -> Result<Posted, LedgerError> {
    insert(c, p, None).await
}

/// Posts the reversal of entry `entry` under the business event `key`: the same lines with
/// their signs flipped, linked to it by `reverses` (an entry is reversed at most once).
pub async fn reverse(
    c: &impl GenericClient,
    entry: i64,
    key: &str,
    memo: &str,
) -> Result<Posted, LedgerError> {
    let row = c
        .query_opt(ENTRY_OF, &[&entry])
        .await?
        .ok_or(LedgerError::NoSuchEntry(entry))?;
    let lines = c.query(LINES_OF, &[&entry]).await?;
    let p = Posting {
        key: key.to_string(),
        currency: row.get(0),
        memo: memo.to_string(),
        rental_id: row.get(1),
        lines: lines
            .iter()
            .map(|l| (l.get::<_, String>(0), -l.get::<_, i64>(1)))
            .collect(),
    };
    insert(c, &p, Some(entry)).await
}

async fn insert(
    c: &impl GenericClient,
    p: &Posting,
    reverses: Option<i64>,
) -> Result<Posted, LedgerError> {
    let lines = net(&p.key, &p.lines)?;
    if lines.is_empty() {
        return Ok(Posted::Nothing);
    }
    let (accounts, amounts): (Vec<String>, Vec<i64>) = lines.into_iter().unzip();
    c.execute(ACCOUNTS, &[&accounts]).await?;
    let Some(row) = c
        .query_opt(
            ENTRY,
            &[&p.key, &p.currency, &p.memo, &p.rental_id, &reverses],
        )
        .await?
    else {
        return Ok(Posted::Already);
    };
    let id: i64 = row.get(0);
    c.execute(LINES, &[&id, &p.currency, &accounts, &amounts])
        .await?;
    Ok(Posted::Entry(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(account: &str, amount: i64) -> (String, i64) {
        (account.to_string(), amount)
    }

    #[test]
    fn lines_are_netted_per_account_and_zeros_dropped() {
        let lines = [
            l("receivable:customer:x", -10_000),
            l("revenue:cancellation_reversal", 10_000),
            l("receivable:customer:x", 2_000),
            l("revenue:cancellation_fee", -2_000),
        ];
        assert_eq!(
            net("k", &lines).unwrap(),
            vec![
                l("receivable:customer:x", -8_000),
                l("revenue:cancellation_fee", -2_000),
                l("revenue:cancellation_reversal", 10_000),
            ]
        );
        let nothing = [l("a", 5), l("a", -5)];
        assert!(net("k", &nothing).unwrap().is_empty());
    }

    #[test]
    fn an_unbalanced_or_overflowing_entry_is_refused_before_the_database() {
        assert!(matches!(
            net("k", &[l("a", 1), l("b", -2)]),
            Err(LedgerError::Unbalanced(_))
        ));
        let big = [
            l("a", i64::MAX),
            l("a", i64::MAX),
            l("b", i64::MIN),
            l("b", i64::MIN),
        ];
        // Sums to -2 overall: unbalanced, whatever the overflow.
        assert!(net("k", &big).is_err());
        let over = [l("a", i64::MAX), l("a", 1), l("b", i64::MIN)];
        assert!(matches!(net("k", &over), Err(LedgerError::Overflow)));
    }
}
