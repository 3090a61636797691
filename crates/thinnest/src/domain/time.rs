//! Time as the store keeps it (unix milliseconds) and as the API shows it (RFC 3339).

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// RFC 3339 in UTC with exactly three fractional digits.
const MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

pub fn now_ms() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// RFC 3339 in UTC, millisecond precision.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(MILLIS).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 timestamp into unix milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The calendar month (UTC) holding `ms`: its first millisecond and the next month's.
pub fn month_bounds(ms: i64) -> (i64, i64) {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return (ms, ms);
    };
    let start = t.date().replace_day(1).unwrap_or(t.date());
    let next = match start.month() {
        time::Month::December => start
            .replace_year(start.year() + 1)
            .ok()
            .and_then(|d| d.replace_month(time::Month::January).ok()),
        month => start.replace_month(month.next()).ok(),
    }
    .unwrap_or(start);
    let to_ms = |d: time::Date| d.midnight().assume_utc().unix_timestamp() * 1000;
    (to_ms(start), to_ms(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_cover_the_calendar_month() {
        let day = parse_rfc3339("2026-11-28T04:32:00Z").unwrap_or_default();
        let (start, end) = month_bounds(day);
        assert_eq!(rfc3339(start), "2026-11-01T00:00:00.000Z");
        assert_eq!(rfc3339(end), "2026-12-01T00:00:00.000Z");
        let december = parse_rfc3339("2026-12-31T23:59:59Z").unwrap_or_default();
        let (start, end) = month_bounds(december);
        assert_eq!(rfc3339(start), "2026-12-01T00:00:00.000Z");
        assert_eq!(rfc3339(end), "2027-01-01T00:00:00.000Z");
    }
}
