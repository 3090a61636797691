//! The HTTP client that sends deliveries. Unless private targets are allowed, names
//! are resolved here and refused when any address is loopback, private, link-local,
//! carrier-grade NAT, multicast, metadata or reserved; the connection goes to the
//! addresses checked, so a second lookup cannot swap them (DNS rebinding). No proxy,
//! no redirects, a timeout, and only the first bytes of an answer are read.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::url::Host;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::target::forbidden_ip;

/// How long one attempt may take, answer included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer is read and kept.
pub const MAX_LOGGED_BODY: usize = 2048;

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves to a loopback, private, link-local or reserved address; refused")]
struct Refused(String);

/// Resolves with the system resolver and refuses forbidden addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| forbidden_ip(a.ip())) {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// What one attempt got.
#[derive(Debug, Default)]
pub struct Answer {
    pub status: Option<u16>,
    /// The first [`MAX_LOGGED_BODY`] bytes, as text.
    pub body: Option<String>,
    /// Why no answer came, without the URL.
    pub error: Option<String>,
    /// From `Retry-After` (seconds) on 429 and 503.
    pub retry_after: Option<Duration>,
    pub latency_ms: i64,
}

#[derive(Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
    allow_private: bool,
}

impl DeliveryClient {
    pub fn new(allow_private: bool) -> anyhow::Result<DeliveryClient> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("thinnest-webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(DeliveryClient {
            http: builder.build()?,
            allow_private,
        })
    }

    /// Checks what the resolver does not see: the scheme, and a literal address.
    fn refusal(&self, url: &reqwest::Url) -> Option<String> {
        if self.allow_private {
            return None;
        }
        if url.scheme() != "https" {
            return Some("only https targets are allowed; refused".to_owned());
        }
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        literal.filter(|ip| forbidden_ip(*ip)).map(|ip| {
            format!("{ip} is a loopback, private, link-local or reserved address; refused")
        })
    }

    /// POSTs `body` with `headers` to `url`; never fails, the answer says what happened.
    pub async fn post(&self, url: &str, headers: HeaderMap, body: String) -> Answer {
        let started = Instant::now();
        let mut answer = Answer::default();
        let outcome = match reqwest::Url::parse(url) {
            Err(_) => Err("the endpoint URL does not parse".to_owned()),
            Ok(url) => match self.refusal(&url) {
                Some(refused) => Err(refused),
                None => self
                    .http
                    .post(url)
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(describe),
            },
        };
        match outcome {
            Err(error) => answer.error = Some(error),
            Ok(mut response) => {
                let status = response.status();
                answer.status = Some(status.as_u16());
                if matches!(status.as_u16(), 429 | 503) {
                    answer.retry_after = retry_after(response.headers());
                }
                let mut kept = Vec::new();
                while kept.len() < MAX_LOGGED_BODY {
                    match response.chunk().await {
                        Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                        Ok(None) => break,
                        Err(e) => {
                            answer.error = Some(describe(e));
                            break;
                        }
                    }
                }
                kept.truncate(MAX_LOGGED_BODY);
                // Kept as text; PostgreSQL refuses NUL in text, so it is replaced.
                let text = String::from_utf8_lossy(&kept).replace('\0', "\u{FFFD}");
                answer.body = Some(text);
            }
        }
        answer.latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        answer
    }
}

/// `Retry-After` as seconds or an HTTP date, at most a day.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(Duration::from_secs(86_400)))
}

/// An error and its causes, without the URL (which may hold the user's tokens).
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let error = error.without_url();
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_that_resolve_to_this_machine_are_refused_at_resolution() {
        let name: Name = "localhost".parse().unwrap_or_else(|_| unreachable!());
        let refused = PublicOnly.resolve(name).await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("refused")),
            "localhost must be refused"
        );
    }

    #[tokio::test]
    async fn literal_private_addresses_are_refused_before_connecting() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = DeliveryClient::new(false).unwrap_or_else(|e| panic!("{e}"));
        for url in [
            "https://127.0.0.1:9/hook",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "http://example.com/x",
        ] {
            let answer = client.post(url, HeaderMap::new(), String::new()).await;
            assert!(answer.status.is_none(), "{url}");
            assert!(
                answer
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("refused")),
                "{url}: {answer:?}"
            );
        }
    }
}
