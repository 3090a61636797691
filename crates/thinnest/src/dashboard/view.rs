//! How pages show things: moments, and a form's problems at their fields.

use std::collections::BTreeMap;
use std::fmt;

use askama::filters::Escaper;
use axum::http::StatusCode;

use crate::domain::time::rfc3339;

/// A moment as a page shows it: a `<time>` element holding the UTC time, which the
/// page's script turns into a relative one with the exact local time on hover.
pub struct When {
    iso: String,
}

impl When {
    pub fn at_ms(ms: i64) -> When {
        When { iso: rfc3339(ms) }
    }

    /// From an RFC 3339 string as the domain types carry it.
    pub fn at(rfc3339: &str) -> When {
        When {
            iso: rfc3339.to_owned(),
        }
    }
}

/// Rendered with `|safe`: both parts are digits and separators we wrote ourselves
/// (anything else is escaped, never trusted).
impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ours = self
            .iso
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-:.TZ+".contains(&b));
        if !ours || self.iso.len() < 16 {
            return askama::filters::Html.write_escaped_str(f, &self.iso);
        }
        write!(
            f,
            "<time datetime=\"{}\">{} {} UTC</time>",
            self.iso,
            &self.iso[..10],
            &self.iso[11..16]
        )
    }
}

/// The query of a page shown after an action: which one it was (`?done=saved`), so
/// the page can say so; anything else is ignored.
#[derive(serde::Deserialize, Default)]
pub struct DoneQuery {
    pub done: Option<String>,
}

/// A browser's `User-Agent` in words, such as "Firefox on Linux".
pub fn browser_name(user_agent: &str) -> String {
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: &[(&str, &str)] = &[
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let find = |list: &[(&str, &'static str)]| {
        list.iter()
            .find(|(marker, _)| user_agent.contains(marker))
            .map(|(_, name)| *name)
    };
    match (find(BROWSERS), find(SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) if user_agent.is_empty() => "Unknown".to_owned(),
        (None, None) => user_agent.chars().take(40).collect(),
    }
}

/// Cuts `rows`, fetched one longer than a page, to the page; the cursor of the next
/// page (the last row's id) when there is one.
pub fn page_of<T>(rows: &mut Vec<T>, page: usize, id: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() <= page {
        return None;
    }
    rows.truncate(page);
    rows.last().map(id)
}

/// What was wrong with a form, by field name, in words for people.
#[derive(Default)]
pub struct Problems {
    by_field: BTreeMap<String, String>,
    /// A problem of the whole form (a conflict, say).
    pub general: Option<String>,
}

impl Problems {
    /// From the API's error for the same input: each field's problem after its label.
    pub fn from_error(
        error: crate::error::Error,
        label: impl Fn(&str) -> &'static str,
    ) -> Result<Problems, super::PageError> {
        use crate::error::Error;
        match error {
            Error::Invalid { fields, .. } => Ok(Problems {
                by_field: fields
                    .into_iter()
                    .map(|(field, problem)| {
                        let said = format!("{} {problem}.", label(&field));
                        (field, said)
                    })
                    .collect(),
                general: None,
            }),
            Error::Conflict(message) => Ok(Problems::whole(message)),
            Error::NotFound(_) => Err(super::PageError::NotFound),
            other => Err(super::PageError::Internal(other.into())),
        }
    }

    /// A problem of the whole form, in words.
    pub fn whole(said: impl Into<String>) -> Problems {
        Problems {
            by_field: BTreeMap::new(),
            general: Some(said.into()),
        }
    }

    /// One field's problem, in words.
    pub fn one(field: &str, said: &str) -> Problems {
        Problems {
            by_field: BTreeMap::from([(field.to_owned(), said.to_owned())]),
            general: None,
        }
    }

    pub fn any(&self) -> bool {
        !self.by_field.is_empty() || self.general.is_some()
    }

    /// 422 for a form shown again with its problems, 200 otherwise.
    pub fn status(&self) -> StatusCode {
        if self.any() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }

    /// The problem of the field `name`, if it has one.
    pub fn of(&self, name: &str) -> Option<&str> {
        self.by_field.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_is_a_time_element_and_anything_else_is_escaped() {
        let shown = When::at_ms(0).to_string();
        assert_eq!(
            shown,
            "<time datetime=\"1970-01-01T00:00:00.000Z\">1970-01-01 00:00 UTC</time>"
        );
        assert_eq!(When::at("<b>").to_string(), "&#60;b&#62;");
    }

    #[test]
    fn a_user_agent_reads_as_a_browser_on_a_system() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(browser_name(firefox), "Firefox on Linux");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_name(safari), "Safari on iOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                    Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(browser_name(edge), "Edge on Windows");
        assert_eq!(browser_name(""), "Unknown");
    }
}
