//! The HTTP API: one router per resource, merged here with the OpenAPI document.

pub(crate) mod agents;
pub(crate) mod api_keys;
mod audit_log;
mod billing;
pub(crate) mod conversations;
pub(crate) mod embed;
mod extract;
mod health;
mod knowledge;
mod page;
mod usage;
pub(crate) mod webhooks;
mod widget;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use crate::services::found;
pub use extract::{ApiJson, ApiPath, ApiQuery};

use crate::error::{Error, ErrorBody, envelope};
use crate::state::AppState;

/// The error responses an authenticated endpoint can give, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum ErrorResponses {
    /// Malformed JSON or path.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing, malformed, unknown, expired or revoked API key (`unauthorized`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// A valid key whose role does not allow this (`forbidden`), or plain HTTP (`https_required`).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such object in this account (`not_found`).
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The endpoint exists, but not with this method (`method_not_allowed`).
    #[response(status = 405)]
    MethodNotAllowed(ErrorBody),
    /// Body too large (`payload_too_large`).
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not JSON (`unsupported_media_type`).
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// Validation failed (`invalid_request`, with `fields`).
    #[response(status = 422)]
    Invalid(ErrorBody),
    /// Rate limit or key-guessing guard (`rate_limit_exceeded`, with `retry_after` and `Retry-After`).
    #[response(status = 429)]
    TooManyRequests(ErrorBody),
    /// Our fault (`internal_error`); the `x-request-id` header identifies the request in our logs.
    #[response(status = 500)]
    Internal(ErrorBody),
}

/// The widget's own refusals, for the OpenAPI document; listed after
/// [`ErrorResponses`], whose 401 and 403 are about API keys, so that these replace them.
#[derive(utoipa::IntoResponses)]
pub enum WidgetRefusals {
    /// On checks and sessions, `invalid_user_hash` or `invalid_user_token`: verification
    /// is required and the hash or JWT is missing or wrong. On messages,
    /// `invalid_session`: the token is missing, unknown or expired, or the session is
    /// anonymous and the agent now requires verified visitors.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// `origin_not_allowed`: the page's origin is not among the agent's (current)
    /// Allowed Origins, or, on messages, not the session's.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tai_…")
                    .description(Some("An API key: `Authorization: Bearer tai_…`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "widget_session",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The token `POST /widget/sessions` returned, from a page of one of \
                         the agent's Allowed Origins: `Authorization: Bearer <token>`",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "thinnest API", description = "API keys, agents and the platform around them. Every request must use HTTPS."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, crate::domain::events::Event))
)]
struct ApiDoc;

/// The OpenAPI 3.1 description of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(State(state): State<AppState>) -> Response {
    match state.openapi.get() {
        Some(doc) => ([(header::CONTENT_TYPE, "application/json")], doc.clone()).into_response(),
        None => {
            Error::Internal(anyhow::anyhow!("the OpenAPI document was not built")).into_response()
        }
    }
}

/// The answer for a path no route has (`not_found`, in the error envelope).
pub async fn not_found(method: Method, uri: Uri) -> Response {
    envelope(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("There is no endpoint {method} {}.", uri.path()),
    )
}

/// The answer for a route asked with a method it does not have (`method_not_allowed`).
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    envelope(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}.", uri.path()),
    )
}

/// OpenAPI requires a description of every response; one declared with a body only
/// gets its status's reason phrase ("OK", "Created").
fn describe_responses(doc: &mut serde_json::Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(responses) = operation["responses"].as_object_mut() else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            let Some(response) = response.as_object_mut() else {
                continue;
            };
            if response.contains_key("$ref") || response.contains_key("description") {
                continue;
            }
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .and_then(|code| code.canonical_reason())
                .unwrap_or("Response");
            response.insert("description".to_owned(), reason.into());
        }
    }
}

/// The API router, with the OpenAPI document built from the same routes. Every
/// route but `/health`, `/openapi.json` and the widget's sits behind the
/// [gate](crate::gate), with the rate-limit class its router declares. The crate root
/// adds the fallbacks ([`not_found`], [`method_not_allowed`]) and the state, and the body
/// limit around the whole router.
pub fn router(state: AppState) -> Router<AppState> {
    let authenticated = OpenApiRouter::new()
        .merge(agents::router(&state))
        .merge(api_keys::router(&state))
        .merge(usage::router(&state))
        .merge(audit_log::router(&state))
        .merge(billing::router(&state))
        .merge(webhooks::router(&state))
        .merge(conversations::router(&state))
        .merge(knowledge::router(&state))
        .merge(embed::router(&state));
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(utoipa_axum::routes!(openapi_json))
        .merge(health::router())
        .merge(widget::router())
        .merge(authenticated)
        .split_for_parts();
    // Kept in the state, not added by a layer: a router's layers wrap each of its routes.
    let mut doc = serde_json::to_value(&openapi).expect("the OpenAPI document serialises");
    describe_responses(&mut doc);
    let doc = serde_json::to_vec(&doc).expect("the OpenAPI document serialises");
    let _ = state.openapi.set(doc.into());
    widget::with_preflights(router)
}
