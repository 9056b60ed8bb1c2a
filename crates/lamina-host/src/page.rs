//! Keyset paging for every list of the back-office API: a page holds at most `limit`
//! items (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]; a limit outside
//! `1..=MAX_LIMIT` is refused as invalid, never clamped) and, when more follow, an opaque
//! `next` cursor: the sort key of the page's last item. The SQL of each list reads only
//! `limit + 1` rows after the cursor (`WHERE (sort key) > (cursor) ORDER BY sort key
//! LIMIT n`), so the cost of a page does not grow with the size of the list and rows
//! inserted meanwhile neither repeat nor shift the pages.

use serde::Serialize;

use crate::error::{Result, invalid};

/// Items per page when the caller names no limit.
pub const DEFAULT_LIMIT: i64 = 100;

/// Largest page a caller may ask for.
pub const MAX_LIMIT: i64 = 1000;

/// Which page to read: after which sort key, and how many items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    after: Option<Vec<String>>,
    limit: i64,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            after: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl PageRequest {
    /// The first page of `limit` items (`1..=MAX_LIMIT`).
    pub fn first(limit: i64) -> Result<PageRequest> {
        Self::parse(None, Some(limit))
    }

    /// A page from the API's `cursor` and `limit` query parameters: a limit outside
    /// `1..=MAX_LIMIT` or a cursor this host did not hand out is invalid.
    pub fn parse(cursor: Option<&str>, limit: Option<i64>) -> Result<PageRequest> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid("limit", format!("must be 1 to {MAX_LIMIT}")));
        }
        let after = match cursor {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| invalid("cursor", "unknown cursor"))?),
        };
        Ok(PageRequest { after, limit })
    }

    /// Items per page.
    pub fn limit(&self) -> i64 {
        self.limit
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub(crate) fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The cursor as a (time, id) sort key.
    pub(crate) fn after_time_id(&self) -> Result<Option<(i64, String)>> {
        let Some(parts) = &self.after else {
            return Ok(None);
        };
        match parts.as_slice() {
            [t, id] => t
                .parse::<i64>()
                .ok()
                .map(|t| Some((t, id.clone())))
                .ok_or_else(|| invalid("cursor", "not a cursor of this list")),
            _ => Err(invalid("cursor", "not a cursor of this list")),
        }
    }

    /// The cursor as a sort key of `n` text columns.
    pub(crate) fn after_texts(&self, n: usize) -> Result<Option<Vec<String>>> {
        match &self.after {
            None => Ok(None),
            Some(parts) if parts.len() == n => Ok(Some(parts.clone())),
            Some(_) => Err(invalid("cursor", "not a cursor of this list")),
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Cursor of the next page; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `req.fetch()` rows, each with its sort key.
    pub(crate) fn from_rows(rows: Vec<(T, Vec<String>)>, req: &PageRequest) -> Page<T> {
        let limit = usize::try_from(req.limit).unwrap_or(0);
        let more = rows.len() > limit;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        let mut last_key = None;
        for (item, key) in rows.into_iter().take(limit) {
            items.push(item);
            last_key = Some(key);
        }
        Page {
            next: last_key.filter(|_| more).map(|k| encode_cursor(&k)),
            items,
        }
    }
}

/// Separator of the key parts inside a cursor (a control character no key contains).
const SEP: char = '\u{1f}';

fn encode_cursor(parts: &[String]) -> String {
    hex::encode(parts.join(&SEP.to_string()))
}

fn decode_cursor(c: &str) -> Option<Vec<String>> {
    if c.is_empty() || c.len() > 512 {
        return None;
    }
    let raw = String::from_utf8(hex::decode(c).ok()?).ok()?;
    Some(raw.split(SEP).map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert_eq!(
            PageRequest::parse(None, None).map(|p| p.limit()).ok(),
            Some(100)
        );
        assert!(PageRequest::parse(None, Some(0)).is_err());
        assert!(PageRequest::parse(None, Some(MAX_LIMIT + 1)).is_err());
        assert!(PageRequest::parse(Some("zz"), None).is_err());
        assert!(PageRequest::parse(Some(""), None).is_err());
        let c = encode_cursor(&["17".into(), "acc_1".into()]);
        let p = PageRequest::parse(Some(&c), Some(5)).ok();
        let key = p.as_ref().and_then(|p| p.after_time_id().ok().flatten());
        assert_eq!(key, Some((17, "acc_1".to_owned())));
        assert!(p.is_some_and(|p| p.after_texts(3).is_err()));
        let bad = encode_cursor(&["x".into(), "acc_1".into()]);
        let p = PageRequest::parse(Some(&bad), None).ok();
        assert!(p.is_some_and(|p| p.after_time_id().is_err()));
    }

    #[test]
    fn next_only_when_more_rows() {
        let req = PageRequest::first(2).unwrap_or_default();
        let rows = |n: usize| (0..n).map(|i| (i, vec![i.to_string()])).collect::<Vec<_>>();
        assert_eq!(Page::from_rows(rows(2), &req).next, None);
        let p = Page::from_rows(rows(3), &req);
        assert_eq!(p.items, vec![0, 1]);
        assert_eq!(p.next, Some(encode_cursor(&["1".into()])));
    }
}
