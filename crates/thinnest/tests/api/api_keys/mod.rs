//! `/api-keys`, by action.

mod lifecycle;
mod lineage;
mod roles;
mod rotation;

use reqwest::StatusCode;

use crate::support::{Principal, TestApp};

/// The id of the key with this name, as the admin's list shows it.
pub async fn key_id(app: &TestApp, admin: &Principal, name: &str) -> String {
    let (_, list) = app.get("/api-keys", &admin.key).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key named {name}: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The names an editor's list shows.
pub async fn names(app: &TestApp, key: &str) -> Vec<String> {
    let (status, list) = app.get("/api-keys", key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut names: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}
