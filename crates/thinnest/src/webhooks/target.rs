//! Where deliveries may go. Unless private targets are allowed (development and
//! tests), a target must be https and must not be, or resolve to, an address of this
//! machine or its networks: loopback, private, link-local (cloud metadata among them),
//! carrier-grade NAT, multicast, unspecified or reserved.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use openidconnect::url::{Host, Url};

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Checks an endpoint URL as written: scheme, credentials, and literal hosts.
/// Names are checked again, resolved, at every delivery.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, &'static str> {
    if text.len() > MAX_URL_LEN {
        return Err("must be at most 2048 characters");
    }
    let url = Url::parse(text)
        .map_err(|_| "must be an absolute URL such as https://example.com/hooks")?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err("must use https"),
        _ => return Err("must be an https:// URL"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment");
    }
    let Some(host) = url.host() else {
        return Err("must name a host");
    };
    if allow_private {
        return Ok(url);
    }
    let forbidden = match host {
        Host::Ipv4(ip) => forbidden_ip(IpAddr::V4(ip)),
        Host::Ipv6(ip) => forbidden_ip(IpAddr::V6(ip)),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost"
                || name.ends_with(".localhost")
                || name.ends_with(".internal")
                || name.ends_with(".local")
        }
    };
    if forbidden {
        return Err("must not point at a private, loopback, link-local or metadata address");
    }
    Ok(url)
}

/// An address no delivery may reach.
pub fn forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT, 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments 192.0.0.0/24.
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        // Benchmarking 198.18.0.0/15 and reserved 240.0.0.0/4.
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10 and the old site-local fec0::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // NAT64's well-known 64:ff9b::/96 reaches the IPv4 address in its last 32 bits,
        // which is checked as such (DNS64 hosts reach public receivers this way).
        || (ip.segments()[..6] == [0x0064, 0xff9b, 0, 0, 0, 0]
            && forbidden_v4(Ipv4Addr::from_bits(ip.to_bits() as u32)))
        // The rest of 64:ff9b::/32 (local-use NAT64), 6to4 2002::/16 and Teredo
        // 2001::/32 can reach IPv4 space that cannot be checked from here.
        || (first == 0x0064 && ip.segments()[1] == 0xff9b && ip.segments()[2..6] != [0, 0, 0, 0])
        || first == 0x2002
        || (first == 0x2001 && ip.segments()[1] == 0)
        // IPv4-compatible ::/96 (deprecated): an IPv4 address in disguise.
        || (ip.segments()[..6].iter().all(|s| *s == 0) && forbidden_v4(ip.to_ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_targets_are_refused() {
        for url in [
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://localhost/x",
            "https://metadata.google.internal/x",
            "https://224.0.0.1/x",
            "https://192.0.0.8/x",
            "https://[2002:7f00:1::1]/x",
            "https://[64:ff9b:1::a00:1]/x",
            "https://[::7f00:1]/x",
            "https://[64:ff9b::a9fe:a9fe]/x",
            "https://[64:ff9b::7f00:1]/x",
            "https://[fec0::1]/x",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
        }
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        assert!(check_url("https://93.184.216.34/in", false).is_ok());
        // A public IPv4 receiver reached through DNS64.
        assert!(check_url("https://[64:ff9b::5db8:d822]/in", false).is_ok());
    }

    #[test]
    fn http_credentials_and_odd_schemes_are_refused() {
        assert_eq!(
            check_url("http://example.com/x", false).err(),
            Some("must use https")
        );
        assert!(check_url("https://user:pw@example.com/x", false).is_err());
        assert!(check_url("ftp://example.com/x", false).is_err());
        assert!(check_url("not a url", false).is_err());
        // Allowed for development: http and private targets.
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
    }
}
