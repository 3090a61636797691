//! What wraps everything a listener serves: request id, tracing, panic safety, the
//! client's address, and the headers that keep responses (some hold secrets) out of
//! caches, frames and sniffers. Applied once around the whole router, where a router's
//! own layers would be cloned with its route on every request.

use std::convert::Infallible;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::error::Error;
use crate::request_context;
use crate::state::AppState;

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
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let (high, low, next) = &*self.0;
        let n = next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}{:016x}", high.hash_one(n), low.hash_one(n));
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Error::Internal(anyhow::anyhow!("a handler panicked")).into_response()
}

fn span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

/// `inner` behind the layers both listeners share; `https` adds HSTS.
pub fn around<S>(
    inner: S,
    state: &AppState,
    https: bool,
) -> impl Service<
    Request<hyper::body::Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    ServiceBuilder::new()
        .map_request(|request: Request<hyper::body::Incoming>| request.map(Body::new))
        .map_response(IntoResponse::into_response)
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()))
        .layer(TraceLayer::new_for_http().make_span_with(span as fn(&Request) -> tracing::Span))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Outside the panic guard: a panic's 500 gets the headers too, and a request that
        // changed keys before it panicked still waits for every instance.
        .map_response(move |response: Response| {
            let mut response = response.into_response();
            protect(response.headers_mut(), https);
            response
        })
        .layer(from_fn_with_state(
            state.clone(),
            request_context::client_context,
        ))
        .layer(CatchPanicLayer::custom(
            panic_response as fn(Box<dyn std::any::Any + Send + 'static>) -> Response,
        ))
        .service(inner)
}
