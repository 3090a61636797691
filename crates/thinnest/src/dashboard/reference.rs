//! `/docs`: the API reference, rendered on the server from this binary's own
//! OpenAPI document (the one `/openapi.json` serves), so it needs no other host and
//! never disagrees with the API.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{PageError, render};
use crate::state::AppState;

/// An operation as the reference shows it.
struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    /// Schemes that authenticate it, in words.
    auth: Vec<String>,
    /// Name, where, type, required, description.
    params: Vec<(String, String, String, bool, String)>,
    body: Option<String>,
    /// Status and description.
    responses: Vec<(String, String)>,
}

/// A schema: its name, description and fields (name, type, required, description).
struct Schema {
    name: String,
    description: String,
    fields: Vec<(String, String, bool, String)>,
}

#[derive(Template)]
#[template(path = "reference.html")]
struct ReferencePage {
    title: String,
    description: String,
    /// Tag and its operations.
    groups: Vec<(String, Vec<Operation>)>,
    schemas: Vec<Schema>,
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// A schema's type in words: a referenced schema by name, arrays by their items.
fn type_of(schema: &Value) -> String {
    if let Some(target) = schema["$ref"].as_str() {
        return target.rsplit('/').next().unwrap_or(target).to_owned();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[key].as_array() {
            let named: Vec<String> = options.iter().map(type_of).collect();
            return named.join(" or ");
        }
    }
    let one = |kind: &str| match kind {
        "array" => format!("array of {}", type_of(&schema["items"])),
        other => match schema["format"].as_str() {
            Some(format) => format!("{other} ({format})"),
            None => other.to_owned(),
        },
    };
    match &schema["type"] {
        Value::String(kind) => one(kind),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .map(one)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    }
}

fn operation(doc: &Value, path: &str, method: &str, op: &Value) -> Operation {
    let schemes = &doc["components"]["securitySchemes"];
    let auth = op["security"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|r| r.keys())
        .map(|name| match schemes[name]["description"].as_str() {
            Some(said) => said.to_owned(),
            None => name.clone(),
        })
        .collect();
    let params = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                text(&p["name"]),
                text(&p["in"]),
                type_of(&p["schema"]),
                p["required"].as_bool().unwrap_or(false),
                text(&p["description"]),
            )
        })
        .collect();
    let body = op["requestBody"]["content"]
        .as_object()
        .and_then(|c| c.iter().next())
        .map(|(kind, content)| format!("{} ({kind})", type_of(&content["schema"])));
    let responses = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| (status.clone(), text(&r["description"])))
        .collect();
    let (summary, description) = match text(&op["summary"]) {
        s if s.is_empty() => (text(&op["description"]), String::new()),
        s => (s, text(&op["description"])),
    };
    Operation {
        anchor: format!("{method}-{path}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect(),
        method: method.to_uppercase(),
        path: path.to_owned(),
        summary,
        description,
        auth,
        params,
        body,
        responses,
    }
}

fn schema(name: &str, s: &Value) -> Schema {
    let required: Vec<&str> = s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let fields = s["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(field, f)| {
            (
                field.clone(),
                type_of(f),
                required.contains(&field.as_str()),
                text(&f["description"]),
            )
        })
        .collect();
    Schema {
        name: name.to_owned(),
        description: text(&s["description"]),
        fields,
    }
}

pub async fn reference(State(state): State<AppState>) -> Result<Response, PageError> {
    let doc: Value = match state.openapi.get() {
        Some(bytes) => serde_json::from_slice(bytes)?,
        None => return Err(PageError::NotFound),
    };
    let mut groups: Vec<(String, Vec<Operation>)> = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let operation = operation(&doc, path, method, op);
            match groups.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, ops)) => ops.push(operation),
                None => groups.push((tag, vec![operation])),
            }
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let schemas = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| schema(name, s))
        .collect();
    let page = ReferencePage {
        title: text(&doc["info"]["title"]),
        description: text(&doc["info"]["description"]),
        groups,
        schemas,
    };
    Ok(render(StatusCode::OK, &page))
}
