//! Middleware that works out, once per request, the [`Client`] behind it (see
//! [`crate::net`]) and puts it into the request extensions; and holds back the answer to
//! a request that changed what keys verify as until every instance has applied it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::net::Client;
use crate::state::AppState;
use crate::store::key_changes::noting_changes;

/// Middleware: works out the [`Client`] once per request, believing forwarded
/// headers only from the configured trusted proxies.
pub async fn client_context(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = Client::from_parts(&state.config.trusted_proxy, peer.ip(), request.headers());
    request.extensions_mut().insert(client);
    let (response, changed_keys) = noting_changes(next.run(request)).await;
    // A request that changed what keys verify as (a revocation, a rotation, a limit) is
    // answered once every instance's key cache has applied the change.
    if changed_keys {
        state.keys.settle().await;
    }
    response
}
