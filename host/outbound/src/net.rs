//! The private-network guard: a DNS resolver for the outbound clients that drops
//! loopback, private, link-local and other non-public addresses after resolution (so a
//! public name that points inside the network is refused too), and the same rule for
//! IP literals, which never reach a resolver.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// Whether `ip` is not a public unicast address: loopback, RFC 1918, CGNAT, link-local,
/// unique-local, site-local, unspecified, broadcast, multicast, documentation,
/// benchmarking, reserved and IETF protocol ranges, and every IPv6 form that embeds an
/// IPv4 address (mapped, compatible, translated, NAT64, 6to4) when that address is one
/// of these. Teredo (`2001::/32`) is refused whatever it embeds: it tunnels to any IPv4
/// address, the server's obfuscated one included.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation() // 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24
        || a == 0 // 0.0.0.0/8, "this network"
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10, carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 192.88.99.0/24, 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15, benchmarking
        || a >= 240 // 240.0.0.0/4 reserved, and the broadcast address
}

/// The IPv4 address an IPv6 address stands for, in the forms that carry one: mapped
/// `::ffff:a.b.c.d`, compatible `::a.b.c.d` (deprecated; `::` and `::1` included),
/// translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:AABB:CCDD::`.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn is_private_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast() // ff00::/8
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site local (deprecated)
        || (s[0] == 0x0064 && s[1] == 0xff9b) // 64:ff9b::/32: NAT64, local use (64:ff9b:1::/48) included
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // 100::/64 discard only
        || (s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23 IETF protocol assignments: Teredo, benchmarking, ORCHID
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
        || (s[0] == 0x3fff && s[1] < 0x1000) // 3fff::/20 documentation
        || s[0] == 0x5f00 // 5f00::/16 segment routing
}

/// Why the guard refused an address; found again in reqwest's error chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedAddress {
    host: String,
    /// An IP literal in the URL, rather than a name that resolved only to such addresses.
    literal: bool,
}

impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.literal {
            "is a private, loopback or link-local address"
        } else {
            "resolves only to private, loopback or link-local addresses"
        };
        write!(
            f,
            "{} {what}; the operator must start the host with --allow-private-networks to reach it",
            self.host
        )
    }
}

impl std::error::Error for BlockedAddress {}

/// Refuses a URL whose host is an IP literal the guard forbids (names are checked
/// after DNS, by [`GuardedResolver`]).
///
/// # Errors
/// [`BlockedAddress`] naming the address.
pub(crate) fn check_literal(url: &Url, allow_private: bool) -> Result<(), BlockedAddress> {
    if allow_private {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_private(ip) {
        return Err(BlockedAddress {
            host: ip.to_string(),
            literal: true,
        });
    }
    Ok(())
}

/// The guard's refusal somewhere in `e`'s chain of sources.
pub(crate) fn blocked_in<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a BlockedAddress> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<BlockedAddress>() {
            return Some(b);
        }
        source = s.source();
    }
    None
}

/// System DNS, filtered.
#[derive(Debug)]
pub(super) struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    pub(super) fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(BlockedAddress {
                    host,
                    literal: false,
                }) as Box<_>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            // IPv4
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            // IPv6
            "::1",
            "::",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            // Teredo, whatever it embeds, and the rest of 2001::/23.
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001::1",
            "2001:2::1",
            "2001:10::1",
            "2001:1ff::1",
            // NAT64 local use (RFC 8215).
            "64:ff9b:1::1",
            "64:ff9b:1:ffff::808:808",
            // IPv4 embedded in IPv6: mapped, compatible, translated, NAT64, 6to4.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:192.168.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101::",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "8.8.8.8",
            "192.0.1.1",
            "192.88.98.1",
            "198.20.0.1",
            "100.128.0.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "2001:4860:4860::8888",
            "2001:200::1",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }

    #[test]
    fn literals_are_checked_with_the_same_rule() {
        for url in [
            "http://127.0.0.1:9/token",
            "https://[::1]/token",
            "http://[::ffff:127.0.0.1]/token",
            "http://[::127.0.0.1]/token",
            "http://[64:ff9b::7f00:1]/token",
            "http://[2002:7f00:1::]/token",
            "http://[2001::1]/token",
            "http://0x7f.1/token",
            "http://2130706433/token",
            "http://10.0.0.1/token",
        ] {
            let url = Url::parse(url).unwrap();
            let e = check_literal(&url, false).unwrap_err();
            assert!(
                e.to_string().contains("--allow-private-networks")
                    && e.to_string().contains("is a private"),
                "{url}: {e}"
            );
            assert!(check_literal(&url, true).is_ok(), "{url}");
            let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e.clone());
            assert_eq!(blocked_in(boxed.as_ref()), Some(&e));
        }
        for url in [
            "https://auth.example.com/token",
            "http://localhost/token",
            "https://8.8.8.8/token",
            "https://[2606:4700:4700::1111]/token",
        ] {
            assert!(
                check_literal(&Url::parse(url).unwrap(), false).is_ok(),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn resolver_refuses_loopback_names_unless_allowed() {
        let name: Name = "localhost".parse().unwrap();
        let err = GuardedResolver::new(false)
            .resolve(name)
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("--allow-private-networks"),
            "{err}"
        );
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<_> = GuardedResolver::new(true)
            .resolve(name)
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
