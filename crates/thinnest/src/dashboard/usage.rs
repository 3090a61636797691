//! Usage: the workspace's API requests by hour or day, drawn on the server as SVG
//! (no script, no other host), by outcome, kind of request and key, with a per-key
//! drill-down.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::session::{Nav, SignedIn};
use super::view::When;
use super::{Asked, PageError, render};
use crate::domain::ids::{Id, KeyId};
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::domain::time::now_ms;
use crate::state::AppState;
use crate::store::api_keys::KeyScope;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The ranges offered: query value, label, buckets, bucket length.
const RANGES: &[(&str, &str, i64, i64)] = &[
    ("24h", "Last 24 hours", 24, HOUR_MS),
    ("7d", "Last 7 days", 7, DAY_MS),
    ("30d", "Last 30 days", 30, DAY_MS),
    ("90d", "Last 90 days", 90, DAY_MS),
];

/// The series, in stacking order: stored outcomes each belongs to, label, CSS class.
const SERIES: &[(&[&str], &str, &str)] = &[
    (&["2xx", "3xx"], "Succeeded", "s-ok"),
    (&["4xx"], "Other refusals (4xx)", "s-4xx"),
    (&["403"], "Forbidden (403)", "s-403"),
    (&["429"], "Rate limited (429)", "s-429"),
    (&["5xx"], "Server errors (5xx)", "s-5xx"),
    (&["abandoned"], "Abandoned", "s-gone"),
];

/// The chart's drawing area, in SVG units.
const WIDTH: i64 = 720;
const HEIGHT: i64 = 200;
const LEFT: i64 = 44;
const BOTTOM: i64 = 22;
/// Room above the tallest bar for its gridline's label.
const TOP: i64 = 10;

/// One drawn rectangle: a series' part of one bar.
pub struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    class: &'static str,
    title: String,
}

/// A row of a table: what it counts, and its counts per series and in all.
pub struct Row {
    label: String,
    /// For a key: its drill-down link.
    href: Option<String>,
    counts: Vec<i64>,
    total: i64,
}

#[derive(Template)]
#[template(path = "usage.html")]
struct UsagePage {
    nav: Nav,
    range: &'static str,
    ranges: &'static [(&'static str, &'static str, i64, i64)],
    /// The key shown alone, by name: (id, name).
    key: Option<(String, String)>,
    legend: Vec<(&'static str, &'static str)>,
    rects: Vec<Rect>,
    /// Axis labels: (x, text).
    ticks: Vec<(i64, String)>,
    /// Gridlines: (y, count).
    grid: Vec<(i64, i64)>,
    buckets: Vec<Row>,
    /// By kind of request, and by key: title, first column, rows.
    tables: [(&'static str, &'static str, Vec<Row>); 2],
    /// Retired keys presented (401), since the server started counting: key name,
    /// times, when it was retired.
    refused: Vec<(String, i64, When)>,
    total: i64,
}

#[derive(Deserialize, Default)]
pub struct UsageQuery {
    range: Option<String>,
    key: Option<String>,
}

/// Counts per series, from `(outcome, n)` pairs.
fn per_series(counts: &BTreeMap<String, i64>) -> Vec<i64> {
    SERIES
        .iter()
        .map(|(outcomes, _, _)| outcomes.iter().filter_map(|o| counts.get(*o)).sum())
        .collect()
}

fn row(label: String, href: Option<String>, counts: &BTreeMap<String, i64>) -> Row {
    let counts = per_series(counts);
    Row {
        label,
        href,
        total: counts.iter().sum(),
        counts,
    }
}

pub async fn usage(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Asked(query): Asked<UsageQuery>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::UsageRead)?;
    let account = &signed_in.session.account_id;
    let &(range, _, buckets, bucket_ms) = RANGES
        .iter()
        .find(|r| Some(r.0) == query.range.as_deref())
        .unwrap_or(&RANGES[0]);
    let now = now_ms();
    let from = now - now.rem_euclid(bucket_ms) - (buckets - 1) * bucket_ms;
    let keys = state.store.list_keys(account, KeyScope::All).await?;
    let names: BTreeMap<&str, String> = keys
        .iter()
        .map(|k| (k.id.as_str(), format!("{} ({})", k.name, k.hint)))
        .collect();
    let only = query
        .key
        .as_deref()
        .filter(|k| KeyId::parse(k).is_some())
        .map(|k| {
            let name = names
                .get(k)
                .cloned()
                .unwrap_or_else(|| "A deleted key".to_owned());
            (k.to_owned(), name)
        });
    let mut by_bucket = vec![BTreeMap::<String, i64>::new(); usize::try_from(buckets).unwrap_or(0)];
    let mut by_class: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut by_key: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for count in state.store.usage(account, from, now + 1).await? {
        if only.as_ref().is_some_and(|(id, _)| *id != count.api_key_id) {
            continue;
        }
        let at = usize::try_from((count.hour - from).div_euclid(bucket_ms)).ok();
        if let Some(bucket) = at.and_then(|at| by_bucket.get_mut(at)) {
            *bucket.entry(count.outcome.clone()).or_default() += count.count;
        }
        let class = Class::parse(&count.class).map_or(count.class, |c| c.label().to_owned());
        *by_class
            .entry(class)
            .or_default()
            .entry(count.outcome.clone())
            .or_default() += count.count;
        *by_key
            .entry(count.api_key_id)
            .or_default()
            .entry(count.outcome)
            .or_default() += count.count;
    }
    let bucket_rows: Vec<Row> = by_bucket
        .iter()
        .enumerate()
        .map(|(i, counts)| {
            let start = from + i64::try_from(i).unwrap_or(0) * bucket_ms;
            row(bucket_label(start, bucket_ms), None, counts)
        })
        .collect();
    let (rects, ticks, grid) = chart(&bucket_rows);
    let event_counts = state.store.retired_key_uses(account).await?;
    let refused = keys
        .iter()
        .filter(|k| only.as_ref().is_none_or(|(id, _)| *id == k.id))
        .filter(|k| !k.is_active(now))
        .filter_map(|k| {
            let n = *event_counts.get(&k.id)?;
            let last = k.revoked_at.or(k.expires_at).unwrap_or(k.created_at);
            Some((
                names.get(k.id.as_str()).cloned().unwrap_or_default(),
                n,
                When::at_ms(last),
            ))
        })
        .collect();
    let page = UsagePage {
        nav: signed_in.nav(),
        range,
        ranges: RANGES,
        legend: SERIES
            .iter()
            .map(|(_, label, class)| (*label, *class))
            .collect(),
        total: bucket_rows.iter().map(|r| r.total).sum(),
        rects,
        ticks,
        grid,
        buckets: bucket_rows,
        tables: [
            (
                "By kind of request",
                "Kind",
                by_class
                    .into_iter()
                    .map(|(class, counts)| row(class, None, &counts))
                    .collect(),
            ),
            (
                "By key",
                "Key",
                by_key
                    .into_iter()
                    .map(|(id, counts)| {
                        let name = names
                            .get(id.as_str())
                            .cloned()
                            .unwrap_or_else(|| "A deleted key".to_owned());
                        let href = format!("/app/usage?range={range}&key={id}");
                        row(name, Some(href), &counts)
                    })
                    .collect(),
            ),
        ],
        refused,
        key: only,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A bucket's start in words: `14:00` for an hour, `12-04` for a day (UTC).
fn bucket_label(start: i64, bucket_ms: i64) -> String {
    let iso = crate::domain::time::rfc3339(start);
    if bucket_ms == HOUR_MS {
        format!("{} {}", &iso[5..10], &iso[11..16])
    } else {
        iso[5..10].to_owned()
    }
}

/// A chart as drawn: the bars (stacked by series), the axis labels `(x, text)` and
/// the gridlines `(y, count)`.
type Chart = (Vec<Rect>, Vec<(i64, String)>, Vec<(i64, i64)>);

fn chart(buckets: &[Row]) -> Chart {
    let n = i64::try_from(buckets.len()).unwrap_or(1).max(1);
    let top = buckets.iter().map(|b| b.total).max().unwrap_or(0).max(1);
    let plot = HEIGHT - BOTTOM;
    let slot = (WIDTH - LEFT) / n;
    let width = (slot * 4 / 5).max(1);
    let mut rects = Vec::new();
    let mut ticks = Vec::new();
    let every = (n / 8).max(1);
    for (i, bucket) in (0..).zip(buckets) {
        let x = LEFT + i * slot + (slot - width) / 2;
        let mut y = plot;
        for (count, (_, label, class)) in bucket.counts.iter().zip(SERIES) {
            if *count == 0 {
                continue;
            }
            let h = (count * (plot - TOP) / top).max(1);
            y -= h;
            rects.push(Rect {
                x,
                y,
                w: width,
                h,
                class,
                title: format!("{}: {count} {}", bucket.label, label.to_lowercase()),
            });
        }
        if i % every == 0 {
            ticks.push((x + width / 2, bucket.label.clone()));
        }
    }
    let grid = [top, top / 2, 0]
        .into_iter()
        .map(|v| (plot - v * (plot - TOP) / top, v))
        .collect();
    (rects, ticks, grid)
}
