//! The client behind a request: its address and the scheme it used, believing
//! `X-Forwarded-For` / `X-Forwarded-Proto` only from trusted proxies.
//!
//! Every address is canonical before it is trusted or counted: on a dual-stack
//! listener an IPv4 peer arrives as `::ffff:a.b.c.d`, and is an IPv4 client.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The request's client, worked out once per request and put into its extensions by
/// the front service (`layers`).
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub ip: IpAddr,
    /// A trusted proxy reported that the client spoke plain HTTP to it.
    pub forwarded_plain_http: bool,
}

/// The address a client is counted by: an IPv4 address, or an IPv6 /64 (the block
/// one client usually holds, so rotating within it gains nothing).
pub fn client_bucket(ip: IpAddr) -> String {
    bucket_key("", ip)
}

/// `prefix` followed by the client's bucket: the key of a budget per client, built on
/// every request (so without `format!`).
pub fn bucket_key(prefix: &str, ip: IpAddr) -> String {
    let mut key = String::with_capacity(prefix.len() + 24);
    key.push_str(prefix);
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    key.push('.');
                }
                key.push_str(digits.format(octet));
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // Writing into a String cannot fail.
            let _ = write!(key, "{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]);
        }
    }
    key
}

/// A configured range, canonical as addresses are: `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
fn canonical_net(net: &IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(*net, IpNet::V4),
            None => *net,
        },
        _ => *net,
    }
}

fn trusted(proxies: &[IpNet], ip: IpAddr) -> bool {
    proxies.iter().any(|net| canonical_net(net).contains(&ip))
}

/// The comma-separated entries of every `name` header, in order, as raw bytes: an
/// entry that is not UTF-8 is one unreadable entry, not a reason to drop the others.
fn entries<'h>(headers: &'h HeaderMap, name: &str) -> Vec<&'h [u8]> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .collect()
}

/// The address in one `X-Forwarded-For` entry, with any port stripped (`a.b.c.d:p`,
/// `[v6]:p`, `[v6]`), canonical; `None` for anything else (`unknown`, `_hidden`, …).
fn forwarded_ip(entry: &[u8]) -> Option<IpAddr> {
    let entry = std::str::from_utf8(entry).ok()?.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(ip.to_canonical())
}

impl Client {
    pub fn from_parts(proxies: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = peer.to_canonical();
        if !trusted(proxies, peer) {
            return Client {
                ip: peer,
                forwarded_plain_http: false,
            };
        }
        // Each proxy appends the address it heard from. From the right, the first
        // address that is not one of our proxies is the client; an entry we cannot
        // read ends the walk at the proxy that wrote it, since what lies to its left
        // is whatever the client chose to send.
        let mut ip = peer;
        let mut hops = 0;
        for entry in entries(headers, "x-forwarded-for").into_iter().rev() {
            let Some(hop) = forwarded_ip(entry) else {
                break;
            };
            ip = hop;
            if !trusted(proxies, hop) {
                break;
            }
            hops += 1;
        }
        // The scheme is the one recorded for the client's hop: a single value as our
        // proxy set it, or, in a list that proxies appended to alongside
        // `X-Forwarded-For`, the entry as far from the right as the client's, so that
        // what the client wrote itself, further left, never counts.
        let protos = entries(headers, "x-forwarded-proto");
        let proto = match protos.len() {
            0 => None,
            1 => protos.first(),
            n => protos.get(n.saturating_sub(hops + 1)).or(protos.first()),
        };
        let forwarded_plain_http =
            proto.is_some_and(|p| p.trim_ascii().eq_ignore_ascii_case(b"http"));
        Client {
            ip,
            forwarded_plain_http,
        }
    }
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

    fn client_of(proxies: &[&str], peer: &str, xff: &'static str) -> String {
        let proxies: Vec<IpNet> = proxies.iter().map(|p| p.parse().unwrap()).collect();
        let h = headers(&[("x-forwarded-for", xff)]);
        Client::from_parts(&proxies, peer.parse().unwrap(), &h)
            .ip
            .to_string()
    }

    #[test]
    fn forwarded_entries_are_walked_from_the_right_with_ports_stripped() {
        let proxy = ["10.0.0.0/8"];
        // What the client wrote on the left never counts once a real hop is found.
        assert_eq!(
            client_of(&proxy, "10.0.0.1", "1.1.1.1, 198.51.100.9:5555"),
            "198.51.100.9"
        );
        assert_eq!(
            client_of(&proxy, "10.0.0.1", "1.1.1.1, [2001:db8::9]:443"),
            "2001:db8::9"
        );
        assert_eq!(
            client_of(&proxy, "10.0.0.1", "1.1.1.1, [2001:db8::9]"),
            "2001:db8::9"
        );
        assert_eq!(
            client_of(&proxy, "10.0.0.1", "1.1.1.1, 198.51.100.9, 10.0.0.7:80"),
            "198.51.100.9"
        );
        // An entry that cannot be read ends the walk at the proxy that wrote it.
        assert_eq!(
            client_of(&proxy, "10.0.0.1", "1.1.1.1, unknown"),
            "10.0.0.1"
        );
        assert_eq!(
            client_of(&proxy, "10.0.0.1", "1.1.1.1, _hidden, 10.0.0.7"),
            "10.0.0.7"
        );
        // Only trusted hops: the left-most of them.
        assert_eq!(
            client_of(&proxy, "10.0.0.1", "10.0.0.9, 10.0.0.7"),
            "10.0.0.9"
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4_for_trust_and_buckets() {
        let proxy = ["127.0.0.1/32"];
        assert_eq!(
            client_of(&proxy, "::ffff:127.0.0.1", "203.0.113.4"),
            "203.0.113.4"
        );
        assert_eq!(
            client_of(&proxy, "::ffff:127.0.0.1", "::ffff:203.0.113.4"),
            "203.0.113.4"
        );
        assert_eq!(
            client_of(&[], "::ffff:192.0.2.1", "203.0.113.4"),
            "192.0.2.1"
        );
        let (a, b) = ("::ffff:192.0.2.1", "::ffff:192.0.2.2");
        assert_ne!(
            client_bucket(a.parse().unwrap()),
            client_bucket(b.parse().unwrap())
        );
        assert_eq!(client_bucket(a.parse().unwrap()), "192.0.2.1");
    }

    #[test]
    fn bucket_keys_name_the_address_as_it_is_written() {
        for ip in ["0.0.0.0", "9.10.99.100", "255.255.255.255", "203.0.113.4"] {
            assert_eq!(bucket_key("p:", ip.parse().unwrap()), format!("p:{ip}"));
        }
        let v6 = "2001:db8:0:12:aa::1".parse().unwrap();
        assert_eq!(bucket_key("p:", v6), "p:2001:db8:0:12::/64");
    }

    #[test]
    fn the_scheme_is_the_one_recorded_for_the_clients_hop() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        for (xff, proto, plain) in [
            // One proxy that sets the header.
            ("198.51.100.1", "https", false),
            ("198.51.100.1", "http", true),
            // One proxy that appends: the client's own "https" on the left is ignored.
            ("198.51.100.1", "https, http", true),
            // A TLS edge (10.0.0.7), then an internal hop over plain HTTP.
            ("198.51.100.1, 10.0.0.7", "https, http", false),
            // The same, with the client claiming HTTPS it did not use.
            ("198.51.100.1, 10.0.0.7", "https, http, http", true),
        ] {
            let mut h = HeaderMap::new();
            h.append("x-forwarded-for", HeaderValue::from_static(xff));
            h.append("x-forwarded-proto", HeaderValue::from_static(proto));
            let c = Client::from_parts(&proxies, "10.0.0.1".parse().unwrap(), &h);
            assert_eq!(c.forwarded_plain_http, plain, "{xff} / {proto}");
        }
    }

    #[test]
    fn ranges_written_ipv4_mapped_and_entries_that_are_not_utf8() {
        assert_eq!(
            client_of(&["::ffff:10.0.0.0/104"], "10.0.0.1", "203.0.113.4"),
            "203.0.113.4"
        );
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"1.1.1.1, \xff, 198.51.100.3").unwrap(),
        );
        let c = Client::from_parts(&proxies, "10.0.0.1".parse().unwrap(), &h);
        assert_eq!(c.ip.to_string(), "198.51.100.3");
    }
}
