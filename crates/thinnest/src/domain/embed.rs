//! Embed settings: where an agent's chat widget may run (Allowed Origins) and
//! whether visitors' identities must be verified.

use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

use crate::domain::fields::{Check, Invalid};

/// The most origins one agent may list.
pub const MAX_ORIGINS: usize = 50;

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
    pub fn parse(text: &str) -> Verification {
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

impl Embed {
    /// The settings with their origins normalised, sorted and deduplicated; or every
    /// origin that is not one, and too many of them.
    pub fn checked(self) -> Result<Embed, Invalid> {
        let mut check = Check::new();
        let mut origins = Vec::new();
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            match normalise_origin(origin) {
                Ok(origin) => origins.push(origin),
                Err(problem) => check.fail(&format!("allowed_origins[{i}]"), problem),
            }
        }
        if origins.len() > MAX_ORIGINS {
            check.fail(
                "allowed_origins",
                format!("may list at most {MAX_ORIGINS} origins"),
            );
        }
        check.finish()?;
        origins.sort();
        origins.dedup();
        Ok(Embed {
            allowed_origins: origins,
            identity_verification: self.identity_verification,
        })
    }
}

/// An origin as browsers send it, `scheme://host[:port]` in lowercase without the
/// scheme's default port, with `*.` allowed first in the host; or what is wrong.
pub fn normalise_origin(text: &str) -> Result<String, &'static str> {
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
    fn checked_settings_are_normalised_sorted_and_deduplicated() {
        let sent = Embed {
            allowed_origins: vec![
                "https://b.example.com/".to_owned(),
                "HTTPS://A.example.com".to_owned(),
                "https://b.example.com:443".to_owned(),
            ],
            identity_verification: Verification::Required,
        };
        let embed = sent.checked().unwrap();
        assert_eq!(
            embed.allowed_origins,
            ["https://a.example.com", "https://b.example.com"]
        );
        assert_eq!(embed.identity_verification, Verification::Required);
        let bad = Embed {
            allowed_origins: vec!["https://ok.test".to_owned(), "ftp://x.test".to_owned()],
            ..Embed::default()
        };
        let invalid = bad.checked().unwrap_err();
        assert!(
            invalid.fields.contains_key("allowed_origins[1]"),
            "{invalid:?}"
        );
        let many = Embed {
            allowed_origins: (0..=MAX_ORIGINS)
                .map(|i| format!("https://{i}.example.com"))
                .collect(),
            ..Embed::default()
        };
        assert!(
            many.checked()
                .unwrap_err()
                .fields
                .contains_key("allowed_origins")
        );
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
