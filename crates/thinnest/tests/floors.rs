//! The floors of `src/` (see `docs/architecture.md`): each module imports only from
//! its own floor and the floors below, the API and the dashboard never import each
//! other, and the domain floor knows neither HTTP nor SQL nor the runtime.

use std::collections::BTreeSet;
use std::path::Path;

/// Each top-level module of `src/` and its floor, lowest first.
const FLOORS: &[(&str, u8)] = &[
    ("config", 0),
    ("error", 0),
    ("net", 0),
    ("sealed", 0),
    ("secrets", 0),
    ("tls", 0),
    ("domain", 1),
    ("email", 2),
    ("identity", 2),
    ("ratelimit", 2),
    ("responder", 2),
    ("store", 2),
    ("webhooks", 2),
    ("auth", 3),
    ("services", 3),
    ("state", 3),
    ("usage", 3),
    ("api", 4),
    ("dashboard", 4),
    ("gate", 4),
    ("guard", 4),
    ("layers", 4),
    ("workers", 4),
    ("cli", 5),
    ("lib", 5),
    ("main", 6),
];

/// Modules of one floor that must not import each other.
const APART: &[(&str, &str)] = &[("api", "dashboard"), ("dashboard", "api")];

/// Crates the domain floor may use: data, serde and the OpenAPI schema, nothing that
/// does I/O or knows a protocol.
const DOMAIN_CRATES: &[&str] = &[
    "std",
    "core",
    "serde",
    "serde_json",
    "utoipa",
    "uuid",
    "time",
    "thiserror",
    "url",
];

fn floor(module: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|(_, f)| *f)
}

/// Source without comments and string literals, so that prose and SQL cannot look
/// like imports.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut in_string = false;
        let mut previous = ' ';
        for c in line.chars() {
            if c == '"' && previous != '\\' {
                in_string = !in_string;
            } else if !in_string {
                out.push(c);
            }
            previous = c;
        }
        out.push('\n');
    }
    out
}

/// The top-level modules a source names through `crate::`: `crate::a::b`,
/// `crate::{a, b::c}`, and names re-exported at the root (`crate::App`) as `lib`.
fn crate_imports(source: &str) -> BTreeSet<String> {
    let code = code_only(source);
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            group_imports(group, &mut found);
        } else if !is_macro(rest) {
            found.insert(first_segment(rest));
        }
    }
    found.remove("");
    found
}

/// The first segments of the items of a `{…}` group, also of groups nested in it.
fn group_imports(group: &str, found: &mut BTreeSet<String>) {
    let end = matching_brace(group);
    for item in top_level_items(&group[..end]) {
        match item.strip_prefix('{') {
            Some(inner) => group_imports(inner, found),
            None => {
                found.insert(first_segment(item));
            }
        }
    }
}

/// The top-level modules that `super::` paths name from a file `depth` modules below
/// the root ([`file_depth`]): a chain of `super::` that climbs to the crate root names
/// a top-level module as `crate::` does. (Strings are blanked line by line, so a
/// string literal spanning lines may hide the rest of its last line.)
fn super_imports(source: &str, depth: usize) -> BTreeSet<String> {
    let code = code_only(source);
    let inline = inline_module_depths(&code);
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("super::") {
        let depth = depth
            + inline
                .iter()
                .filter(|(open, close)| *open < at && at < *close)
                .count();
        let starts = !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if !starts {
            continue;
        }
        let mut rest = &code[at..];
        let mut climbed = 0;
        while let Some(next) = rest.strip_prefix("super::") {
            climbed += 1;
            rest = next;
        }
        if climbed >= depth {
            if let Some(group) = rest.strip_prefix('{') {
                group_imports(group, &mut found);
            } else {
                found.insert(first_segment(rest));
            }
        }
    }
    found.remove("");
    found
}

/// Where each inline `mod name { … }` of a source opens and closes: inside one,
/// `super::` climbs one module less far.
fn inline_module_depths(code: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open: Vec<Option<usize>> = Vec::new();
    let bytes = code.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => {
                let before = code[..i].trim_end();
                let is_mod = before
                    .rsplit(|c: char| c.is_whitespace())
                    .nth(1)
                    .is_some_and(|word| word == "mod");
                open.push(is_mod.then_some(i));
            }
            b'}' => {
                if let Some(Some(start)) = open.pop() {
                    spans.push((start, i));
                }
            }
            _ => {}
        }
    }
    spans
}

/// How many `super::` lead from a file's module to the crate root: `src/a.rs` and
/// `src/a/mod.rs` 1, `src/a/b.rs` and `src/a/b/mod.rs` 2, and so on.
fn file_depth(relative: &Path) -> usize {
    let parts = relative.components().count();
    if relative.file_name().is_some_and(|n| n == "mod.rs") {
        parts - 1
    } else {
        parts
    }
}

/// `crate::name!`: a macro exported at the root, usable from every floor.
fn is_macro(path: &str) -> bool {
    let name_len = path
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(path.len());
    path[name_len..].starts_with('!')
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn top_level_items(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(group[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(group[start..].trim());
    items
}

/// `a` of `a::b`; a name starting with a capital (a root re-export) is `lib`.
fn first_segment(path: &str) -> String {
    let name: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if name.starts_with(|c: char| c.is_uppercase()) {
        "lib".to_owned()
    } else {
        name
    }
}

/// Crates that do I/O or speak a protocol: never named in the domain, even inline.
const IO_CRATES: &[&str] = &[
    "axum",
    "sqlx",
    "tokio",
    "reqwest",
    "hyper",
    "tower",
    "tower_http",
    "lettre",
    "redis",
    "rustls",
    "askama",
    "openidconnect",
    "oauth2",
];

/// The crates a source uses: the first segment of each `use`, and any I/O crate
/// named at the start of a path.
fn external_crates(source: &str) -> BTreeSet<String> {
    let code = code_only(source);
    let mut found = BTreeSet::new();
    for statement in code.split(';') {
        if let Some(path) = statement.trim().strip_prefix("use ") {
            found.insert(first_segment(path.trim_start_matches("::")));
        }
    }
    for name in IO_CRATES {
        let named = code.match_indices(&format!("{name}::")).any(|(at, _)| {
            !code[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        });
        if named {
            found.insert((*name).to_owned());
        }
    }
    for own in ["crate", "super", "self", "lib"] {
        found.remove(own);
    }
    found
}

/// What is wrong with `source`, the file of module `module`, `depth` modules below
/// the crate root.
fn violations(module: &str, depth: usize, source: &str) -> Vec<String> {
    let Some(own) = floor(module) else {
        return vec![format!(
            "{module} has no floor: add it to FLOORS and to docs/architecture.md"
        )];
    };
    let mut wrong = Vec::new();
    let code = code_only(source);
    if code.contains("crate as ") || code.contains("extern crate self") {
        wrong.push(format!(
            "{module} renames the crate, which hides its imports"
        ));
    }
    let mut targets = crate_imports(source);
    targets.extend(super_imports(source, depth));
    for target in targets {
        if target == module {
            continue;
        }
        match floor(&target) {
            None => wrong.push(format!(
                "{module} names crate::{target}, which has no floor"
            )),
            Some(f) if f > own => wrong.push(format!(
                "{module} (floor {own}) imports {target} (floor {f}), a higher floor"
            )),
            Some(_) if APART.contains(&(module, target.as_str())) => {
                wrong.push(format!("{module} imports {target}: they must stay apart"))
            }
            Some(_) => {}
        }
    }
    if module == "domain" {
        for name in external_crates(source) {
            if !DOMAIN_CRATES.contains(&name.as_str()) {
                wrong.push(format!("domain uses the crate {name}"));
            }
        }
    }
    wrong
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_a_higher_floor_and_the_domain_knows_no_http_or_sql() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap_or(file);
        let first = relative
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = first.trim_end_matches(".rs").to_owned();
        let source = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{e}"));
        for problem in violations(&module, file_depth(relative), &source) {
            wrong.push(format!("{}: {problem}", relative.display()));
        }
    }
    assert!(files.len() > 50, "the sources were not found");
    assert!(
        wrong.is_empty(),
        "imports across floors:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_upward_imports_in_every_form() {
    let upward = [
        "use crate::api::agents::Agent;",
        "use crate::{domain::ids::AgentId, store::Store};",
        "fn f() { crate::dashboard::send_mail(); }",
        "use crate::AppState;",
    ];
    for source in upward {
        assert!(!violations("domain", 1, source).is_empty(), "{source}");
    }
    assert!(!violations("store", 1, "use crate::services::mail;").is_empty());
    assert!(!violations("store", 2, "use super::super::api::found;").is_empty());
    assert!(!violations("store", 2, "use super::super::{domain::ids, {api::found}};").is_empty());
    assert!(violations("store", 2, "use super::outbox::publish;").is_empty());
    assert!(!violations("domain", 1, "use crate as root;").is_empty());
    assert!(violations("gate", 1, "mod tests {\n    use super::failures_of;\n}").is_empty());
    assert!(!violations("dashboard", 1, "use crate::api::found;").is_empty());
    assert!(violations("api", 1, "use crate::{domain::ids::AgentId, store::Store};").is_empty());
    // Prose and SQL are not imports.
    assert!(violations("store", 1, "// see crate::api\nlet q = \"crate::api\";").is_empty());
}

#[test]
fn the_check_sees_http_sql_and_the_runtime_in_the_domain() {
    for source in [
        "use axum::Json;",
        "fn f() -> sqlx::Result<()> { todo!() }",
        "use tokio::sync::Mutex;",
        "use reqwest::Client;",
    ] {
        assert!(!violations("domain", 1, source).is_empty(), "{source}");
    }
    assert!(violations("domain", 1, "use serde::Serialize;\nuse std::fmt;").is_empty());
}
