//! What wraps everything a listener serves: the request id, the request's span, the
//! client's address, panic safety, the refusal of what a proxy received over plain HTTP,
//! waiting for every instance after a change of keys, and the headers that keep responses
//! (some hold secrets) out of caches, frames and sniffers. One service does all of it, once around the whole router, with one boxed
//! future per request: a stack of tower layers re-boxed the body and the future at
//! each layer (see bench/README.md).

use std::convert::Infallible;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use tower::Service;
use tracing::Instrument;

use crate::error::Error;
use crate::guard::{GuardState, refuse};
use crate::net::Client;
use crate::state::AppState;
use crate::store::key_changes::noting_changes;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000; includeSubDomains");

/// Set on every response, replacing what a handler set.
const ALWAYS: [(HeaderName, HeaderValue); 5] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    // Browser features no page of ours uses.
    (
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), \
             bluetooth=(), hid=(), midi=(), display-capture=()",
        ),
    ),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
];

/// Set on every response whose handler did not set its own.
const UNLESS_SET: [(HeaderName, HeaderValue); 2] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    // Pages set a policy of their own (with a nonce); everything else may load nothing.
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ),
];

fn protect(headers: &mut HeaderMap, https: bool) {
    // Room for all of them at once, rather than growing the map twice on the way.
    headers.reserve(ALWAYS.len() + UNLESS_SET.len() + 1);
    for (name, value) in ALWAYS {
        headers.insert(name, value);
    }
    for (name, value) in UNLESS_SET {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
}

/// Request ids: a counter passed through two keyed hashes (SipHash, keys drawn once per
/// process), so that ids are unique without a call to the system's random source per
/// request, and tell nothing about how many requests came before.
#[derive(Clone)]
struct RequestIds(Arc<(RandomState, RandomState, AtomicU64)>);

impl RequestIds {
    fn new() -> RequestIds {
        RequestIds(Arc::new((
            RandomState::new(),
            RandomState::new(),
            AtomicU64::new(0),
        )))
    }

    fn next(&self) -> HeaderValue {
        let (high, low, next) = &*self.0;
        let n = next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 32];
        hex::encode_to_slice(
            [
                high.hash_one(n).to_be_bytes(),
                low.hash_one(n).to_be_bytes(),
            ]
            .concat(),
            &mut id,
        )
        .expect("32 hex digits for 16 bytes");
        HeaderValue::from_bytes(&id).expect("hex digits are a valid header value")
    }
}

/// A caller's request id we keep: 1 to 128 letters, digits and `-_.:+/=`.
fn is_token(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(b))
}

/// The service around a listener's router: see the module.
#[derive(Clone)]
pub struct Front<S> {
    inner: S,
    state: AppState,
    ids: RequestIds,
    /// On the HTTPS listener (whose responses carry HSTS): what refuses a request a
    /// trusted proxy received over plain HTTP.
    https: Option<GuardState>,
}

/// `inner` behind what both listeners share; `https` (the HTTPS listener's guard) adds
/// HSTS and refuses what a proxy received over plain HTTP.
pub fn around<S>(inner: S, state: &AppState, https: Option<GuardState>) -> Front<S> {
    Front {
        inner,
        state: state.clone(),
        ids: RequestIds::new(),
        https,
    }
}

impl<S> Service<Request<hyper::body::Incoming>> for Front<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<hyper::body::Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        // A caller's own id is kept, so that its logs and ours name the request alike, if
        // it is one token that cannot pass for other fields in a log line.
        let id = match request.headers().get(&X_REQUEST_ID) {
            Some(id) if is_token(id.as_bytes()) => id.clone(),
            _ => {
                let id = self.ids.next();
                request.headers_mut().insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        // The id alone: a span's fields are formatted when it opens, on every request;
        // the line logged for a server error adds the method and path.
        let span = match id.to_str() {
            // As Display: a `str` field is written as Debug, escaping it char by char.
            Ok(id) => tracing::info_span!("request", request_id = %id),
            Err(_) => tracing::info_span!("request",
                request_id = %String::from_utf8_lossy(id.as_bytes())),
        };
        let Some(ConnectInfo(peer)) = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
        else {
            // Served without the peer's address, no client could be told apart.
            let mut response =
                Error::Internal(anyhow::anyhow!("served without the peer address")).into_response();
            response.headers_mut().insert(X_REQUEST_ID, id);
            protect(response.headers_mut(), self.https.is_some());
            return Box::pin(std::future::ready(Ok(response)));
        };
        let client = Client::from_parts(
            &self.state.config.trusted_proxy,
            peer.ip(),
            request.headers(),
        );
        let refusing = match &self.https {
            Some(guard) if client.forwarded_plain_http => Some(guard.clone()),
            _ => None,
        };
        request.extensions_mut().insert(client);
        // The service that was made ready answers; its clone waits for the next request.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let state = self.state.clone();
        let https = self.https.is_some();
        // Shared, not copied: kept for the rare line about a server error.
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let started = Instant::now();
        Box::pin(
            async move {
                let answer = AssertUnwindSafe(async move {
                    match refusing {
                        // Boxed: its state would otherwise be carried by every request's future.
                        Some(guard) => Ok(Box::pin(refuse(&guard, request)).await),
                        None => inner.call(request).await,
                    }
                })
                .catch_unwind();
                let (answer, changed_keys) = noting_changes(answer).await;
                let mut response = match answer {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => {
                        Error::Internal(anyhow::anyhow!("a handler panicked")).into_response()
                    }
                };
                // A request that changed what keys verify as (a revocation, a rotation, a
                // limit) is answered once every instance's key cache has applied it; after
                // a panic too.
                if changed_keys {
                    state.keys.settle().await;
                }
                if response.status().is_server_error() {
                    tracing::error!(
                        %method,
                        path = uri.path(),
                        status = response.status().as_u16(),
                        latency_ms = started.elapsed().as_millis(),
                        "answered with a server error"
                    );
                }
                let headers = response.headers_mut();
                if !headers.contains_key(&X_REQUEST_ID) {
                    headers.insert(X_REQUEST_ID, id);
                }
                protect(headers, https);
                Ok(response)
            }
            .instrument(span),
        )
    }
}
