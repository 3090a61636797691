//! One error type, one JSON envelope: `{"error": code, "message": text, …}`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code such as `unauthorized` or `invalid_request`.
    pub error: &'static str,
    /// A sentence for the developer reading it.
    pub message: String,
    /// Per-field problems, on `invalid_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
    /// Seconds to wait before retrying, on `rate_limit_exceeded`; also in `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// Why a request is not authenticated. Each has its own message and RFC 6750 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Bearer <token>`.
    Malformed,
    /// A mistyped, unknown, expired or revoked key: one answer for all, so that
    /// nobody learns whether a key ever existed.
    InvalidKey,
}

impl AuthFailure {
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => {
                "Missing API key: send the header `Authorization: Bearer <your API key>`."
            }
            AuthFailure::Malformed => {
                "Malformed Authorization header: expected `Bearer <key>`, with one space after `Bearer`."
            }
            AuthFailure::InvalidKey => {
                "Invalid API key: it is mistyped, expired or revoked. Check it was copied whole, or create a new one."
            }
        }
    }

    /// The `WWW-Authenticate` challenge.
    pub fn challenge(self) -> &'static str {
        match self {
            AuthFailure::Missing => "Bearer realm=\"thinnest\"",
            AuthFailure::Malformed => "Bearer realm=\"thinnest\", error=\"invalid_request\"",
            AuthFailure::InvalidKey => "Bearer realm=\"thinnest\", error=\"invalid_token\"",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", .0.message())]
    Unauthorized(AuthFailure),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    HttpsRequired(String),
    #[error("{0}")]
    Conflict(String),
    /// Too many requests; retry after this many seconds.
    #[error("Too many requests. Please retry after {0} seconds.")]
    RateLimited(u64),
    #[error("{message}")]
    Invalid {
        message: String,
        fields: BTreeMap<String, String>,
    },
    /// An error with its own status and code: a body the server could not read (malformed
    /// JSON, wrong content type, too large), `origin_not_allowed`, `engine_unavailable`…
    #[error("{message}")]
    Coded {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn not_found(what: &str) -> Self {
        Error::NotFound(format!("No {what} with that id in this account."))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }

    /// An error with its own status and code, e.g. 403 `origin_not_allowed`.
    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Error::Coded {
            status,
            code,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::HttpsRequired(_) => (StatusCode::FORBIDDEN, "https_required"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded"),
            Error::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            Error::Coded { status, code, .. } => (*status, code),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    /// The status and body that answer this error (logging an internal one): for
    /// responses, and for errors reported another way, such as a stream's last event.
    pub(crate) fn status_and_body(self) -> (StatusCode, ErrorBody) {
        let (status, code) = self.status_and_code();
        let retry_after = match &self {
            Error::RateLimited(seconds) => Some(*seconds),
            _ => None,
        };
        let (message, fields) = match self {
            Error::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                (
                    "Something went wrong on our side. The x-request-id response header identifies this request in our logs.".to_owned(),
                    None,
                )
            }
            Error::Invalid { message, fields } => (message, Some(fields)),
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            error: code,
            message,
            fields,
            retry_after,
        };
        (status, body)
    }
}

/// Builds an envelope response; used by [`Error`] and by the fallbacks.
pub fn envelope(status: StatusCode, code: &'static str, message: String) -> Response {
    let body = ErrorBody {
        error: code,
        message,
        fields: None,
        retry_after: None,
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let challenge = match &self {
            Error::Unauthorized(failure) => Some(failure.challenge()),
            _ => None,
        };
        let (status, body) = self.status_and_body();
        let retry_after = body.retry_after;
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// axum's rejection texts start with a generic sentence; keep the part that names the problem.
fn rejection_detail(text: &str) -> String {
    text.split_once(": ")
        .map_or(text, |(_, detail)| detail)
        .to_owned()
}

/// The field a deserialisation error names, and its problem: serde reports a path
/// prefix (`voice.speed: invalid type…`) or, at the top level, `missing field `name``.
fn field_problem(detail: &str) -> Option<(String, String)> {
    let detail = detail.rsplit_once(" at line ").map_or(detail, |(d, _)| d);
    if let Some((path, problem)) = detail.split_once(": ")
        && !path.contains(' ')
    {
        return Some((path.to_owned(), problem.to_owned()));
    }
    ["missing field `", "unknown field `"]
        .iter()
        .find_map(|start| {
            let rest = detail.strip_prefix(start)?;
            let name = rest.split('`').next()?;
            Some((name.to_owned(), detail.to_owned()))
        })
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        let detail = rejection_detail(&rejection.body_text());
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Error::Coded {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "payload_too_large",
                message: "The request body is larger than this endpoint accepts.".to_owned(),
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::Coded {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: "Send the body as JSON with `Content-Type: application/json`.".to_owned(),
            },
            StatusCode::UNPROCESSABLE_ENTITY => Error::Invalid {
                fields: field_problem(&detail).into_iter().collect(),
                message: format!("The JSON body does not fit this endpoint: {detail}"),
            },
            _ => Error::Coded {
                status: StatusCode::BAD_REQUEST,
                code: "malformed_json",
                message: format!("The body is not valid JSON: {detail}"),
            },
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::Invalid {
            message: format!(
                "The query string does not fit this endpoint: {}",
                rejection_detail(&rejection.body_text())
            ),
            fields: BTreeMap::new(),
        }
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::Coded {
            status: StatusCode::BAD_REQUEST,
            code: "bad_path",
            message: rejection_detail(&rejection.body_text()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::field_problem;

    #[test]
    fn deserialisation_errors_name_their_field() {
        let cases = [
            (
                "role: unknown variant `owner`, expected one of `viewer` at line 1 column 27",
                Some("role"),
            ),
            (
                "voice.speed: invalid type: string \"x\", expected f64 at line 1 column 9",
                Some("voice.speed"),
            ),
            ("missing field `name` at line 1 column 2", Some("name")),
            (
                "unknown field `colour`, expected one of `name` at line 1 column 9",
                Some("colour"),
            ),
            (
                "invalid type: integer `1`, expected a map at line 1 column 1",
                None,
            ),
        ];
        for (detail, field) in cases {
            assert_eq!(
                field_problem(detail).map(|(f, _)| f).as_deref(),
                field,
                "{detail}"
            );
        }
    }
}
