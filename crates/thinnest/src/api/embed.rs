//! `/agents/{id}/embed`: where an agent's chat widget may run (Allowed Origins) and
//! whether visitors' identities must be verified.

use axum::Json;
use axum::extract::State;
use openidconnect::url::Url;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::find_agent;
use super::{ApiJson, ApiPath, ErrorResponses};
use crate::auth::Caller;
use crate::domain::fields::Check;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::error::{Error, Result};
use crate::gate::Gated;
use crate::state::AppState;
use crate::store::conversations::EmbedRow;

/// The routes, behind the gate: each request spends the `agent_crud` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_embed, put_embed))
        .gated(state, Class::AgentCrud)
}

const MAX_ORIGINS: usize = 50;

/// Whether a visitor's user id must come with a valid hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verification {
    /// Identity attributes are ignored: every visitor is anonymous.
    Off,
    /// A valid hash makes the visitor known; without one they are anonymous.
    Optional,
    /// A session needs a user id with a valid hash.
    Required,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Off => "off",
            Verification::Optional => "optional",
            Verification::Required => "required",
        }
    }

    /// As stored; anything unknown is taken as the strictest.
    fn parse(text: &str) -> Verification {
        match text {
            "off" => Verification::Off,
            "optional" => Verification::Optional,
            _ => Verification::Required,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Embed {
    /// `scheme://host[:port]`, or `https://*.example.com` for its subdomains. Empty:
    /// any origin may embed the agent.
    pub allowed_origins: Vec<String>,
    pub identity_verification: Verification,
}

impl Default for Embed {
    fn default() -> Self {
        Embed {
            allowed_origins: Vec::new(),
            identity_verification: Verification::Optional,
        }
    }
}

impl TryFrom<EmbedRow> for Embed {
    type Error = Error;

    /// Settings that cannot be read fail closed: an error, never "any origin".
    fn try_from(row: EmbedRow) -> Result<Self> {
        let allowed_origins = serde_json::from_str(&row.allowed_origins)
            .map_err(|e| anyhow::anyhow!("unreadable allowed origins: {e}"))?;
        Ok(Embed {
            allowed_origins,
            identity_verification: Verification::parse(&row.identity_verification),
        })
    }
}

/// An origin as browsers send it, `scheme://host[:port]` in lowercase without the
/// scheme's default port, with `*.` allowed first in the host; or what is wrong.
pub fn normalise_origin(text: &str) -> std::result::Result<String, &'static str> {
    let text = text.trim();
    let (wildcard, parse) = match text.split_once("://*.") {
        Some((scheme, rest)) => (true, format!("{scheme}://{rest}")),
        None => (false, text.to_owned()),
    };
    let url = Url::parse(&parse).map_err(|_| "must look like https://example.com")?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("must start with https:// or http://");
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || url.path() != "/"
    {
        return Err("must be scheme://host[:port] only, without a path");
    }
    let host = url.host_str().ok_or("must name a host")?;
    if wildcard && (host.parse::<std::net::IpAddr>().is_ok() || !host.contains('.')) {
        return Err("a wildcard must stand before a domain, as in https://*.example.com");
    }
    let star = if wildcard { "*." } else { "" };
    Ok(match url.port() {
        Some(port) => format!("{}://{star}{host}:{port}", url.scheme()),
        None => format!("{}://{star}{host}", url.scheme()),
    })
}

/// True when `origin` (as a browser sent it) is allowed by `allowed`.
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Ok(origin) = normalise_origin(origin) else {
        return false;
    };
    if origin.contains("://*.") {
        return false;
    }
    allowed.iter().any(|rule| match rule.split_once("://*.") {
        None => *rule == origin,
        Some((scheme, domain)) => origin.split_once("://").is_some_and(|(s, host)| {
            s == scheme
                && host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
        }),
    })
}

/// An agent's embed settings (defaults when never set).
pub async fn settings(state: &AppState, account_id: &str, agent_id: &str) -> Result<Embed> {
    match state.store.embed(account_id, agent_id).await? {
        Some(row) => Embed::try_from(row),
        None => Ok(Embed::default()),
    }
}

/// The agent's embed settings.
#[utoipa::path(get, path = "/agents/{id}/embed", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = Embed), ErrorResponses), security(("api_key" = [])))]
async fn get_embed(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Embed>> {
    caller.require(Permission::AgentsRead)?;
    let agent = find_agent(&state, &caller.account_id, &id).await?;
    Ok(Json(settings(&state, &caller.account_id, &agent.id).await?))
}

/// Replace the agent's embed settings. Origins are normalised and deduplicated.
#[utoipa::path(put, path = "/agents/{id}/embed", tag = "agents", params(("id" = String, Path)),
    request_body = Embed,
    responses((status = 200, body = Embed), ErrorResponses), security(("api_key" = [])))]
async fn put_embed(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<Embed>>,
) -> Result<Json<Embed>> {
    caller.require(Permission::AgentsWrite)?;
    let ApiJson(body) = body?;
    let agent = find_agent(&state, &caller.account_id, &id).await?;
    Ok(Json(
        save(&state, &caller.account_id, &agent.id, body).await?,
    ))
}

/// Checks, normalises and stores an agent's embed settings.
pub(crate) async fn save(
    state: &AppState,
    account_id: &str,
    agent: &str,
    body: Embed,
) -> Result<Embed> {
    let mut check = Check::new();
    let mut origins = Vec::new();
    for (i, origin) in body.allowed_origins.iter().enumerate() {
        match normalise_origin(origin) {
            Ok(origin) => origins.push(origin),
            Err(problem) => check.fail(&format!("allowed_origins[{i}]"), problem),
        }
    }
    if origins.len() > MAX_ORIGINS {
        check.fail("allowed_origins", "may list at most 50 origins");
    }
    check.finish()?;
    origins.sort();
    origins.dedup();
    let embed = Embed {
        allowed_origins: origins,
        identity_verification: body.identity_verification,
    };
    let row = EmbedRow {
        allowed_origins: serde_json::to_string(&embed.allowed_origins)
            .map_err(anyhow::Error::from)?,
        identity_verification: embed.identity_verification.as_str().to_owned(),
    };
    state.store.set_embed(account_id, agent, &row).await?;
    Ok(embed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_checked() {
        assert_eq!(
            normalise_origin("HTTPS://Shop.Example.com/"),
            Ok("https://shop.example.com".to_owned())
        );
        assert_eq!(
            normalise_origin("https://example.com:443"),
            Ok("https://example.com".to_owned())
        );
        assert_eq!(
            normalise_origin("http://localhost:3000"),
            Ok("http://localhost:3000".to_owned())
        );
        assert_eq!(
            normalise_origin("https://*.example.com"),
            Ok("https://*.example.com".to_owned())
        );
        for bad in [
            "example.com",
            "https://example.com/path",
            "ftp://example.com",
            "https://*.com",
            "https://u@example.com",
            "https://example.com?x=1",
        ] {
            assert!(normalise_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_cover_subdomains_only() {
        let allowed = vec![
            "https://*.example.com".to_owned(),
            "http://localhost:3000".to_owned(),
        ];
        assert!(origin_allowed(&allowed, "https://shop.example.com"));
        assert!(origin_allowed(&allowed, "https://a.b.example.com"));
        assert!(!origin_allowed(&allowed, "https://example.com"));
        assert!(!origin_allowed(&allowed, "https://evilexample.com"));
        assert!(!origin_allowed(&allowed, "http://shop.example.com"));
        assert!(origin_allowed(&allowed, "http://localhost:3000"));
        assert!(!origin_allowed(&allowed, "http://localhost:3001"));
        assert!(!origin_allowed(&allowed, "null"));
        assert!(origin_allowed(&[], "https://anything.test"));
    }
}
