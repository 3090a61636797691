//! Cursor pagination: newest first; `limit` 1 to 100 (default 20); `cursor` is the
//! id of the last object of the previous page, as `next_cursor` gave it.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::fields::Check;
use crate::domain::ids::Id;
use crate::error::Result;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A checked page request.
pub struct Page<'a> {
    /// List objects with ids below this one.
    pub before: Option<&'a str>,
    limit: usize,
}

impl PageQuery {
    /// Checks the request for a list of objects whose ids are `T`s.
    pub fn checked<T: Id>(&self) -> Result<Page<'_>> {
        let limit = self.limit.unwrap_or(20);
        let mut check = Check::new();
        if !(1..=100).contains(&limit) {
            check.fail("limit", "must be between 1 and 100");
        }
        if self
            .cursor
            .as_deref()
            .is_some_and(|c| T::parse(c).is_none())
        {
            check.fail("cursor", "is not a cursor returned by this endpoint");
        }
        check.finish()?;
        Ok(Page {
            before: self.cursor.as_deref(),
            limit: usize::try_from(limit).unwrap_or(20),
        })
    }
}

impl Page<'_> {
    /// How many rows to fetch: one more than a page, to know whether another follows.
    pub fn fetch(&self) -> i64 {
        i64::try_from(self.limit + 1).unwrap_or(i64::MAX)
    }

    /// The page's rows and the cursor of the next page, if there is one.
    pub fn split<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let next = if more {
            rows.last().map(|r| id(r).to_owned())
        } else {
            None
        };
        (rows, next)
    }
}
