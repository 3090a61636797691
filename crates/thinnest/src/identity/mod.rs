//! Sign-in through other identity providers.
//!
//! - Google and any OpenID Connect provider: the authorization code flow with PKCE
//!   (S256), state and nonce; the ID token's signature, issuer, audience, expiry and
//!   nonce are checked.
//! - GitHub: OAuth 2 with state and PKCE; the address is the primary verified one
//!   from its API.
//!
//! One random secret per flow lives in the browser's flow cookie; the state, the
//! nonce and the PKCE verifier are derived from it, so the server stores nothing
//! secret about a flow in progress, only the state's hash.

mod github;
mod http;
mod oidc;

use anyhow::{Context, bail};
use openidconnect::url::Url;

pub use http::Http;

use crate::config::IdentityArgs;
use crate::secrets::token::Token;

/// What a provider vouches for at the end of a flow.
pub struct ProviderIdentity {
    pub issuer: String,
    pub subject: String,
    /// Only an address the provider says it has verified.
    pub verified_email: Option<String>,
}

/// Why a flow did not complete. The reason code is shown to the user; the detail
/// (which may quote the provider) is only logged.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("the provider could not be used: {0}")]
    Provider(String),
    #[error("refused ({reason}): {detail}")]
    Refused {
        reason: &'static str,
        detail: String,
    },
}

impl FlowError {
    pub fn refused(reason: &'static str, detail: impl std::fmt::Display) -> FlowError {
        FlowError::Refused {
            reason,
            detail: detail.to_string(),
        }
    }
}

/// The secrets of one flow, all derived from the flow cookie's token.
pub struct FlowSecrets {
    pub state: String,
    nonce: String,
    verifier: String,
}

impl FlowSecrets {
    pub fn of(token: &Token) -> FlowSecrets {
        FlowSecrets {
            state: token.derive("oauth-state"),
            nonce: token.derive("oauth-nonce"),
            verifier: token.derive("oauth-pkce-verifier"),
        }
    }
}

enum Protocol {
    Oidc(oidc::Oidc),
    GitHub(github::GitHub),
}

/// One configured provider.
pub struct Provider {
    /// In the paths: `/app/oauth/{slug}`.
    pub slug: &'static str,
    /// On the buttons: "Continue with {label}".
    pub label: String,
    protocol: Protocol,
}

impl Provider {
    /// Where to send the browser to start a flow.
    pub async fn authorize_url(
        &self,
        http: &Http,
        redirect_uri: &str,
        flow: &FlowSecrets,
    ) -> Result<Url, FlowError> {
        match &self.protocol {
            Protocol::Oidc(p) => p.authorize_url(http, redirect_uri, flow).await,
            Protocol::GitHub(p) => p.authorize_url(redirect_uri, flow),
        }
    }

    /// Exchanges the code the browser came back with, and verifies who it is.
    pub async fn finish(
        &self,
        http: &Http,
        redirect_uri: &str,
        flow: &FlowSecrets,
        code: String,
    ) -> Result<ProviderIdentity, FlowError> {
        match &self.protocol {
            Protocol::Oidc(p) => p.finish(http, redirect_uri, flow, code).await,
            Protocol::GitHub(p) => p.finish(http, redirect_uri, flow, code).await,
        }
    }

    /// Whether `iss` in an authorization response names this provider (RFC 9207).
    pub fn is_issuer(&self, iss: &str) -> bool {
        match &self.protocol {
            Protocol::Oidc(p) => p.is_issuer(iss),
            Protocol::GitHub(p) => p.issuer() == iss,
        }
    }
}

/// The providers this server offers, in button order.
#[derive(Default)]
pub struct Providers(Vec<Provider>);

impl Providers {
    pub fn from_config(args: &IdentityArgs) -> anyhow::Result<Providers> {
        let mut list = Vec::new();
        if let (Some(id), Some(secret)) = (&args.google_client_id, &args.google_client_secret) {
            let issuer = &args.google_issuer;
            checked_url("--google-issuer", issuer)?;
            list.push(Provider {
                slug: "google",
                label: "Google".to_owned(),
                protocol: Protocol::Oidc(oidc::Oidc::new(issuer, id, secret.expose())),
            });
        }
        if let (Some(id), Some(secret)) = (&args.github_client_id, &args.github_client_secret) {
            let github = github::GitHub::new(
                id,
                secret.expose(),
                checked_url("--github-authorize-url", &args.github_authorize_url)?,
                checked_url("--github-token-url", &args.github_token_url)?,
                checked_url("--github-api-url", &args.github_api_url)?,
            );
            list.push(Provider {
                slug: "github",
                label: "GitHub".to_owned(),
                protocol: Protocol::GitHub(github),
            });
        }
        if let (Some(url), Some(id), Some(secret)) = (
            &args.oidc_discovery_url,
            &args.oidc_client_id,
            &args.oidc_client_secret,
        ) {
            let issuer = url
                .strip_suffix("/.well-known/openid-configuration")
                .unwrap_or(url);
            checked_url("--oidc-discovery-url", issuer)?;
            list.push(Provider {
                slug: "oidc",
                label: args.oidc_name.clone(),
                protocol: Protocol::Oidc(oidc::Oidc::new(issuer, id, secret.expose())),
            });
        }
        Ok(Providers(list))
    }

    pub fn get(&self, slug: &str) -> Option<&Provider> {
        self.0.iter().find(|p| p.slug == slug)
    }

    /// (slug, label) of every provider, for sign-in buttons.
    pub fn buttons(&self) -> Vec<(&'static str, String)> {
        self.0.iter().map(|p| (p.slug, p.label.clone())).collect()
    }
}

/// A provider URL: https, or http on this machine (a provider under test).
fn checked_url(flag: &str, text: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text).with_context(|| format!("{flag} is not a URL: {text}"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => bail!("{flag} must be an https:// URL (http:// only on localhost), got {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_urls_are_https_except_on_this_machine() {
        assert!(checked_url("--x", "https://accounts.google.com").is_ok());
        assert!(checked_url("--x", "http://localhost:8080").is_ok());
        assert!(checked_url("--x", "http://127.0.0.1:9/authorize").is_ok());
        assert!(checked_url("--x", "http://example.com").is_err());
        assert!(checked_url("--x", "ftp://localhost").is_err());
        assert!(checked_url("--x", "not a url").is_err());
    }

    #[test]
    fn each_flow_secret_is_different() {
        let flow = FlowSecrets::of(&Token::generate());
        assert_ne!(flow.state, flow.nonce);
        assert_ne!(flow.nonce, flow.verifier);
        // A PKCE verifier is 43 to 128 unreserved characters.
        assert!((43..=128).contains(&flow.verifier.len()));
    }
}
