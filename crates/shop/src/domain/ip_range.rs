//! An IP address range in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or a single address, as
//! `CAISSE_TRUSTED_PROXIES` lists them: a proxy's address is rarely fixed (a load balancer's pool,
//! a container network), its network is.

use std::fmt;
use std::net::IpAddr;

/// A network and the length of its prefix; a single address is its own /32 (IPv4) or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`, `::1`. The address part is taken in canonical form
    /// (`::ffff:10.0.0.1` is IPv4). Host bits set beyond the prefix (`10.0.0.1/8`) are refused:
    /// such a value is usually a typo for something narrower.
    pub fn parse(text: &str) -> Result<IpRange, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR range"))?
            .to_canonical();
        let max = max_prefix(network);
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        let range = IpRange { network, prefix };
        if range.masked(network) != network {
            return Err(format!(
                "`{text}` has bits set past its /{prefix}: write its network address"
            ));
        }
        Ok(range)
    }

    /// `0.0.0.0/0` or `::/0`: every address of its family.
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    /// Whether `ip` (compared in canonical form) lies in this range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.network
    }

    /// `ip` with every bit past the prefix cleared (`ip` of the same family as the range).
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_their_addresses_and_nothing_else() {
        let private = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(private.contains(ip("10.0.0.1")));
        assert!(private.contains(ip("10.255.255.255")));
        assert!(
            private.contains(ip("::ffff:10.1.2.3")),
            "a mapped IPv4 peer"
        );
        assert!(!private.contains(ip("11.0.0.0")));
        assert!(!private.contains(ip("9.255.255.255")));
        assert!(!private.contains(ip("::a00:1")), "another family");

        let ula = IpRange::parse("fd00::/8").unwrap();
        assert!(ula.contains(ip("fd12:3456::1")));
        assert!(!ula.contains(ip("fe80::1")));
        assert!(!ula.contains(ip("10.0.0.1")));

        let one = IpRange::parse(" 127.0.0.1 ").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(IpRange::parse("::1").unwrap().contains(ip("::1")));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpRange::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(IpRange::parse("192.168.1.0/24")
            .unwrap()
            .contains(ip("192.168.1.77")));
    }

    #[test]
    fn malformed_ranges_are_refused() {
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/-1",
            "10.0.0.1/8",
            "10.0.0/8",
            "proxy.internal",
            "10.0.0.0/8/8",
        ] {
            assert!(IpRange::parse(bad).is_err(), "{bad}");
        }
    }
}
