//! The client behind a request: its address and the scheme it used, believing
//! `X-Forwarded-For` / `X-Forwarded-Proto` only from trusted proxies.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::AppState;

/// The request's client, put into the request extensions by [`client_context`].
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub ip: IpAddr,
    /// A trusted proxy reported that the client spoke plain HTTP to it.
    pub forwarded_plain_http: bool,
}

/// The address a client is counted by: an IPv4 address, or an IPv6 /64 (the block
/// one client usually holds, so rotating within it gains nothing).
pub fn client_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

fn trusted(proxies: &[IpNet], ip: IpAddr) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

impl Client {
    pub fn from_parts(proxies: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> Client {
        if !trusted(proxies, peer) {
            return Client {
                ip: peer,
                forwarded_plain_http: false,
            };
        }
        // The right-most address that is not one of our proxies is the client.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .rev()
            .find(|ip| !trusted(proxies, *ip));
        let proto = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim);
        Client {
            ip: forwarded.unwrap_or(peer),
            forwarded_plain_http: proto.is_some_and(|p| p.eq_ignore_ascii_case("http")),
        }
    }
}

/// Middleware: works out the [`Client`] once per request.
pub async fn client_context(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = Client::from_parts(&state.config.trusted_proxy, peer.ip(), request.headers());
    request.extensions_mut().insert(client);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9, 10.0.0.7"),
            ("x-forwarded-proto", "http"),
        ]);
        let via_proxy = Client::from_parts(&proxies, "10.0.0.1".parse().unwrap(), &h);
        assert_eq!(via_proxy.ip.to_string(), "203.0.113.9");
        assert!(via_proxy.forwarded_plain_http);

        let direct = Client::from_parts(&proxies, "198.51.100.1".parse().unwrap(), &h);
        assert_eq!(direct.ip.to_string(), "198.51.100.1");
        assert!(!direct.forwarded_plain_http);
    }
}
