//! Keyset pagination for every list: `limit` (1..=200, default 50) and an opaque `cursor`
//! (the sort key of the last item, base64url-encoded). Lists are ordered by their key, so a
//! page never skips or repeats an item when others are inserted meanwhile.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use schemars::JsonSchema;
use serde::Serialize;

use std::collections::HashMap;

use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::api::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;
const PREFIX: &str = "k1:";

/// The query parameters every list documents.
pub const PARAMS: &[(&str, &str)] = &[
    ("limit", "items per page, 1..=200 (default 50)"),
    ("cursor", "next_cursor from the previous page"),
];

/// A validated page request.
#[derive(Debug, Clone)]
pub struct Page {
    pub limit: i64,
    /// Items strictly after this key.
    pub after: Option<String>,
}

impl Page {
    pub fn new(limit: Option<i64>, cursor: Option<&str>) -> Result<Page, ApiError> {
        Page::within(limit, cursor, DEFAULT_LIMIT, MAX_LIMIT)
    }

    /// A page of a list with its own default and largest `limit` (long series like tracks).
    pub fn within(
        limit: Option<i64>,
        cursor: Option<&str>,
        default: i64,
        max: i64,
    ) -> Result<Page, ApiError> {
        let limit = limit.unwrap_or(default);
        if !(1..=max).contains(&limit) {
            return Err(ApiError::invalid("limit", format!("must be in 1..={max}")));
        }
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(decode(c).ok_or_else(|| ApiError::invalid("cursor", "not a cursor"))?),
        };
        Ok(Page { limit, after })
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The lower bound for SQL (`key > $n`); the empty string sorts before every key.
    pub fn after_or_min(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }

    /// The lower bound for lists keyed by a UUID.
    pub fn after_uuid(&self) -> Result<Option<uuid::Uuid>, ApiError> {
        self.after_key()
    }

    /// The cursor as the list's key (a UUID, an `i64` id…), or 422 when it is not one.
    pub fn after_key<K: std::str::FromStr>(&self) -> Result<Option<K>, ApiError> {
        self.after
            .as_deref()
            .map(|a| {
                a.parse()
                    .map_err(|_| ApiError::invalid("cursor", "not a cursor"))
            })
            .transpose()
    }

    /// Cuts the extra row off and makes the cursor from the last item's key.
    pub fn finish<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> String) -> Paged<T> {
        let more = items.len() as i64 > self.limit;
        items.truncate(self.limit as usize);
        let next_cursor = if more {
            items.last().map(|i| encode(&key(i)))
        } else {
            None
        };
        Paged { items, next_cursor }
    }
}

/// One page of a list.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn encode(key: &str) -> String {
    B64.encode(format!("{PREFIX}{key}"))
}

fn decode(cursor: &str) -> Option<String> {
    let bytes = B64.decode(cursor).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    s.strip_prefix(PREFIX).map(str::to_string)
}

/// The rows of each of a page's `ids` in one query (no query per item): `sql` takes the ids
/// as `$1` (`= ANY($1)`) and returns the owning id first; `item` reads the rest of a row.
pub async fn grouped<C, T>(
    client: &C,
    sql: &str,
    ids: &[Uuid],
    item: impl Fn(&Row) -> T,
) -> Result<HashMap<Uuid, Vec<T>>, ApiError>
where
    C: GenericClient,
{
    let mut by_id: HashMap<Uuid, Vec<T>> = HashMap::new();
    for row in client.query(sql, &[&ids]).await? {
        by_id.entry(row.get(0)).or_default().push(item(&row));
    }
    Ok(by_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_chain_and_bad_input_is_422() {
        let p = Page::new(Some(2), None).unwrap();
        let page = p.finish(vec!["a", "b", "c"], |s| s.to_string());
        assert_eq!(page.items, vec!["a", "b"]);
        let next = Page::new(Some(2), page.next_cursor.as_deref()).unwrap();
        assert_eq!(next.after.as_deref(), Some("b"));
        assert!(p.finish(vec!["a"], |s| s.to_string()).next_cursor.is_none());
        assert_eq!(Page::new(Some(0), None).unwrap_err().status, 422);
        assert_eq!(Page::new(Some(201), None).unwrap_err().status, 422);
        assert_eq!(Page::new(None, Some("!!")).unwrap_err().status, 422);
        assert_eq!(Page::new(None, None).unwrap().limit, 50);
    }
}
