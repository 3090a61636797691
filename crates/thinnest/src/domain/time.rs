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

const DAY_MS: i64 = 86_400_000;

/// RFC 3339 in UTC, millisecond precision. Every object a list returns carries two of
/// these, so the years 0000–9999 are written directly (a tenth of the cost of the
/// general formatter); other years go through it.
pub fn rfc3339(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    if !(0..=9999).contains(&year) {
        return formatted(ms);
    }
    let in_day = ms.rem_euclid(DAY_MS);
    let mut text = *b"0000-00-00T00:00:00.000Z";
    for (at, value, width) in [
        (0, year, 4),
        (5, month, 2),
        (8, day, 2),
        (11, in_day / 3_600_000, 2),
        (14, in_day / 60_000 % 60, 2),
        (17, in_day / 1000 % 60, 2),
        (20, in_day % 1000, 3),
    ] {
        let mut value = value;
        for slot in text[at..at + width].iter_mut().rev() {
            // A digit: `value % 10` is 0..=9.
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    std::str::from_utf8(&text).map_or_else(|_| formatted(ms), str::to_owned)
}

/// The proleptic Gregorian date of a day counted from 1970-01-01: Howard Hinnant's
/// `civil_from_days` (eras of 400 years, years starting in March).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The general formatter (any year `time` represents; empty beyond).
fn formatted(ms: i64) -> String {
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

    #[test]
    fn written_timestamps_match_the_general_formatter() {
        let first = parse_rfc3339("0000-01-01T00:00:00Z").unwrap();
        let last = parse_rfc3339("9999-12-31T23:59:59.999Z").unwrap();
        let mut edges = vec![
            0,
            -1,
            1,
            first,
            first - 1,
            last,
            last + 1,
            i64::MIN,
            i64::MAX,
        ];
        for day in [
            "1900-02-28",
            "1900-03-01",
            "2000-02-29",
            "2000-03-01",
            "2024-02-29",
            "2100-02-28",
            "2100-03-01",
            "1969-12-31",
            "1600-02-29",
        ] {
            let start = parse_rfc3339(&format!("{day}T00:00:00Z")).unwrap();
            edges.extend([start - 1, start, start + DAY_MS - 1]);
        }
        // And a spread over the whole range (a fixed linear congruential sequence).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let span = u64::try_from(last - first).unwrap_or(1);
        for _ in 0..200_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            edges.push(first + i64::try_from((x >> 11) % span).unwrap_or(0));
        }
        for ms in edges {
            assert_eq!(rfc3339(ms), formatted(ms), "at {ms} ms");
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }
}
