//! The SSRF guard: unless `webhooks.allow_private` is set, fleetd neither accepts nor
//! delivers to a URL whose host is, or resolves to, an address that is not public:
//! loopback, link-local (cloud metadata services live there), private, shared (CGNAT),
//! unspecified, multicast, broadcast or reserved, IPv4 inside IPv6 included. The check runs
//! when a subscription is saved and again on every delivery, through [`GuardedResolver`],
//! so a name that later resolves somewhere private (DNS rebinding) is refused too; the
//! client never follows redirects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::Url;

/// Longest URL accepted.
pub const MAX_URL: usize = 2048;

/// Why `ip` is not a public address, if it is not.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b) {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_private() => "private",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast",
        (0, _) => "unspecified (this network)",
        (100, 64..=127) => "shared (carrier-grade NAT)",
        (192, 0) if c == 0 => "reserved (IETF protocol assignments)",
        (198, 18..=19) => "reserved (benchmarking)",
        (240..=255, _) => "reserved",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits, 6to4 (2002::/16)
    // in bits 16 to 48: judge that address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return non_public_v4(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return non_public_v4(v4(s[1], s[2]));
    }
    Some(match s[0] {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_multicast() => "multicast",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xfc00..=0xfdff => "private (unique local)",
        // Teredo, ORCHID, benchmarking and the other IETF protocol assignments.
        0x2001 if s[1] < 0x0200 => "reserved (IETF protocol assignments)",
        0x2001 if s[1] == 0x0db8 => "reserved (documentation)",
        // Global unicast is 2000::/3; everything else is reserved or special.
        0x2000..=0x3fff => return None,
        _ => "reserved",
    })
}

/// Parses a subscription's URL: `http` or `https`, a host, no credentials, no fragment.
pub fn parse_url(raw: &str) -> Result<Url, String> {
    if raw.len() > MAX_URL {
        return Err(format!("longer than {MAX_URL} bytes"));
    }
    let url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    if url.host().is_none() {
        return Err("has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; the receiver checks the signature".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    Ok(url)
}

/// Refuses `url` if its host is a non-public IP address, unless `allow_private`.
pub fn check_literal(url: &Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            return Err(refused("localhost", "loopback"));
        }
        _ => return Ok(()),
    };
    match non_public(ip) {
        Some(why) => Err(refused(&ip.to_string(), why)),
        None => Ok(()),
    }
}

/// [`check_literal`], then, for a name, every address it resolves to now. A name that does
/// not resolve passes (the receiver may not be up yet; deliveries retry).
pub async fn check(url: &Url, allow_private: bool) -> Result<(), String> {
    check_literal(url, allow_private)?;
    if allow_private {
        return Ok(());
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let Ok(addrs) = tokio::net::lookup_host((host, port)).await else {
        return Ok(());
    };
    for addr in addrs {
        if let Some(why) = non_public(addr.ip()) {
            return Err(refused(&format!("{host} ({})", addr.ip()), why));
        }
    }
    Ok(())
}

fn refused(what: &str, why: &str) -> String {
    format!("{what} is a {why} address; fleetd delivers only to public addresses unless webhooks.allow_private is set")
}

/// The delivery client's resolver: the system's, keeping only public addresses (all of
/// them with `allow_private`); a name left with none fails to resolve.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| allow_private || non_public(a.ip()).is_none())
                .collect();
            if kept.is_empty() && !all.is_empty() {
                let why = non_public(all[0].ip()).unwrap_or("non-public");
                return Err(refused(&format!("{host} ({})", all[0].ip()), why).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_addresses() {
        for s in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
            "2001::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "64:ff9b:1::1",
            "::ffff:0:7f00:1",
            "100::1",
            "::1:2:3",
        ] {
            assert!(non_public(ip(s)).is_some(), "{s} taken for public");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
            "2a00:1450:4001:80b::200e",
        ] {
            assert_eq!(non_public(ip(s)), None, "{s}");
        }
    }

    #[test]
    fn parses_urls() {
        assert!(parse_url("https://hooks.example.com/fleet?x=1").is_ok());
        assert!(parse_url("http://203.0.113.7:8080/in").is_ok());
        for bad in [
            "",
            "hooks.example.com",
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://127.0.0.1:6379/_FLUSHALL",
            "javascript:alert(1)",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "http://",
            "https://exa mple.com/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL));
        assert!(parse_url(&long).is_err());
    }

    #[tokio::test]
    async fn refuses_private_hosts_unless_allowed() {
        for raw in [
            "http://127.0.0.1:9/",
            "http://localhost:8080/",
            "http://LOCALHOST/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:7f00:1]/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://10.0.0.1/",
        ] {
            let url = parse_url(raw).unwrap();
            let e = check(&url, false).await.unwrap_err();
            assert!(e.contains("webhooks.allow_private"), "{raw}: {e}");
            check(&url, true).await.unwrap();
        }
        // A public literal passes without any lookup.
        check(&parse_url("http://203.0.113.7/").unwrap(), false)
            .await
            .unwrap();
    }
}
