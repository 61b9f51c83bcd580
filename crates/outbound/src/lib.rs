//! The outbound-address policy: where the server may connect on a user's
//! behalf (webhook deliveries now; simulcast targets and pulls later).
//!
//! A URL a user registers is attacker-controlled input. Without a policy,
//! "POST my events to `http://169.254.169.254/...`" turns the server into a
//! proxy into its own network: cloud metadata, the database, an admin
//! port on loopback (server-side request forgery). So by default every
//! address that is not ordinary public unicast is refused: loopback,
//! RFC 1918 private, CGNAT shared space (100.64/10), link-local (which
//! holds cloud metadata services), unique-local IPv6 (fc00::/7),
//! IPv4-mapped and -compatible IPv6, multicast, broadcast, unspecified,
//! documentation, benchmarking and reserved ranges ([`classify`]).
//!
//! Names are checked *after* DNS resolution, on the addresses the
//! connection will use: a name that resolved to a public address when it
//! was registered and to 127.0.0.1 when it is used (DNS rebinding) is
//! refused at use. [`OutboundPolicy::resolve`] returns only permitted
//! addresses, and the caller connects to exactly those; with the `reqwest`
//! feature, [`OutboundPolicy::reqwest_resolver`] plugs the same filter into
//! a reqwest client (whose connector then dials only what it returned).
//! A URL whose host is an IP literal is never resolved, so callers also
//! check it with [`OutboundPolicy::check_url`] before sending.
//!
//! Operators with receivers on their own network say so explicitly
//! ([`OutboundConfig`]): `allowed_hosts` lists names, addresses or CIDR
//! ranges that are allowed whatever they resolve to, and
//! `allow_private_networks` allows loopback, private, CGNAT and
//! unique-local ranges everywhere. Link-local addresses (cloud metadata)
//! stay refused even then unless listed in `allowed_hosts`; unspecified,
//! multicast and broadcast addresses are never connectable.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The `[outbound]` section of `aethex.toml`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Allow loopback, RFC 1918 private, CGNAT (100.64/10) and unique-local
    /// IPv6 destinations (env `AETHEX_OUTBOUND_ALLOW_PRIVATE_NETWORKS`).
    /// Link-local addresses (cloud metadata services) stay refused unless
    /// listed in `allowed_hosts`. Default false.
    pub allow_private_networks: bool,
    /// Destinations allowed whatever they are or resolve to: host names
    /// (`hooks.lan`, exact, case-insensitive), IP addresses (`10.0.0.5`)
    /// or CIDR ranges (`10.0.5.0/24`), without scheme or port (env
    /// `AETHEX_OUTBOUND_ALLOWED_HOSTS`, comma-separated). Default empty.
    pub allowed_hosts: Vec<String>,
}

/// What kind of non-public address an IP is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// RFC 6598 carrier-grade NAT: `100.64/10`.
    SharedAddressSpace,
    /// `169.254/16`, `fe80::/10` (cloud metadata services live here).
    LinkLocal,
    /// `fc00::/7`, and the deprecated site-local `fec0::/10`.
    UniqueLocal,
    /// `::ffff:0:0/96`.
    Ipv4Mapped,
    /// `::/96` (deprecated IPv4-compatible addresses).
    Ipv4Compatible,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// TEST-NETs, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18/15`.
    Benchmarking,
    /// Everything else set aside: `240/4`, `192.0.0/24`, `192.88.99/24`,
    /// `100::/64`, Teredo `2001::/32`, ...
    Reserved,
}

impl AddressClass {
    /// As in "127.0.0.1 is a loopback address".
    pub fn describe(self) -> &'static str {
        match self {
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private-network address",
            AddressClass::SharedAddressSpace => "a carrier-grade NAT address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::UniqueLocal => "a unique-local address",
            AddressClass::Ipv4Mapped => "an IPv4-mapped IPv6 address",
            AddressClass::Ipv4Compatible => "an IPv4-compatible IPv6 address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "a broadcast address",
            AddressClass::Documentation => "a documentation address",
            AddressClass::Benchmarking => "a benchmarking address",
            AddressClass::Reserved => "a reserved address",
        }
    }

    /// Whether `allow_private_networks` allows it.
    fn is_private_network(self) -> bool {
        matches!(
            self,
            AddressClass::Loopback
                | AddressClass::Private
                | AddressClass::SharedAddressSpace
                | AddressClass::UniqueLocal
        )
    }
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Special-purpose ranges (IANA's IPv4 and IPv6 special-purpose address
/// registries, RFC 6890 and its updates), most specific first where they
/// nest.
static RANGES: LazyLock<Vec<(IpNet, AddressClass)>> = LazyLock::new(|| {
    use AddressClass::*;
    [
        // IPv4
        ("0.0.0.0/8", Unspecified),
        ("10.0.0.0/8", Private),
        ("100.64.0.0/10", SharedAddressSpace),
        ("127.0.0.0/8", Loopback),
        ("169.254.0.0/16", LinkLocal),
        ("172.16.0.0/12", Private),
        ("192.0.0.0/24", Reserved),
        ("192.0.2.0/24", Documentation),
        ("192.88.99.0/24", Reserved),
        ("192.168.0.0/16", Private),
        ("198.18.0.0/15", Benchmarking),
        ("198.51.100.0/24", Documentation),
        ("203.0.113.0/24", Documentation),
        ("224.0.0.0/4", Multicast),
        ("255.255.255.255/32", Broadcast),
        ("240.0.0.0/4", Reserved),
        // IPv6
        ("::/128", Unspecified),
        ("::1/128", Loopback),
        ("::ffff:0:0/96", Ipv4Mapped),
        ("::/96", Ipv4Compatible),
        // NAT64 for local use (RFC 8215): whatever it translates to.
        ("64:ff9b:1::/48", Reserved),
        ("100::/64", Reserved),
        ("2001:db8::/32", Documentation),
        ("2001::/32", Reserved),
        ("2001::/23", Reserved),
        ("3fff::/20", Documentation),
        ("fc00::/7", UniqueLocal),
        ("fe80::/10", LinkLocal),
        ("fec0::/10", UniqueLocal),
        ("ff00::/8", Multicast),
    ]
    .into_iter()
    .map(|(net, class)| (IpNet::from_str(net).expect("valid range literal"), class))
    .collect()
});

/// The class of a non-public address; `None` for public unicast. IPv6
/// addresses that embed an IPv4 one for translation (6to4 `2002::/16`,
/// NAT64 `64:ff9b::/96`) are classed by the embedded address.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    if let IpAddr::V6(v6) = ip
        && let Some(embedded) = translated_v4(v6)
    {
        return classify(IpAddr::V4(embedded));
    }
    RANGES
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, class)| *class)
}

/// The IPv4 address a 6to4 or NAT64 address stands for.
fn translated_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    None
}

/// Why a destination is refused. The messages are ours (they never carry
/// what a remote server said) and name the address or name, not the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// An address (literal, or the only kind a name resolved to) that the
    /// policy does not allow.
    #[error("{addr} is {class}, which the outbound policy refuses")]
    Address { addr: IpAddr, class: AddressClass },
    /// A name that means this machine (`localhost`, `*.localhost`).
    #[error("{0} names this machine, which the outbound policy refuses")]
    LocalName(String),
    /// Every address the name resolved to is refused.
    #[error("{host} resolves to {addr}, {class}, which the outbound policy refuses")]
    Resolved {
        host: String,
        addr: IpAddr,
        class: AddressClass,
    },
    /// The name does not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Dns { host: String, reason: String },
    /// Not something a connection can be opened to (no host, bad URL).
    #[error("{0}")]
    Invalid(String),
}

impl Refused {
    /// A short reason for a delivery log: "refused by the outbound
    /// policy (a loopback address)", "DNS lookup failed".
    pub fn short_reason(&self) -> String {
        match self {
            Refused::Address { class, .. } | Refused::Resolved { class, .. } => {
                format!("refused by the outbound policy ({class})")
            }
            Refused::LocalName(_) => "refused by the outbound policy (this machine)".into(),
            Refused::Dns { .. } => "DNS lookup failed".into(),
            Refused::Invalid(_) => "invalid destination".into(),
        }
    }
}

/// An `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    /// A host name, lowercased, without a trailing dot.
    Name(String),
    /// An address or a range.
    Net(IpNet),
}

/// The policy, ready to check addresses. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    allow_private_networks: bool,
    allowed: Vec<Allowed>,
}

/// Lowercase, without a trailing dot (`Example.COM.` is `example.com`).
fn normalize_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn is_local_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

impl Default for OutboundPolicy {
    /// The default: public unicast only.
    fn default() -> Self {
        OutboundPolicy::new(&OutboundConfig::default()).expect("the default config is valid")
    }
}

impl OutboundPolicy {
    /// Parses the config; an `allowed_hosts` entry that is neither a host
    /// name, an address nor a CIDR range is an error naming it.
    pub fn new(config: &OutboundConfig) -> Result<OutboundPolicy, String> {
        let mut allowed = Vec::with_capacity(config.allowed_hosts.len());
        for entry in &config.allowed_hosts {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let bad = || {
                format!(
                    "outbound.allowed_hosts: {entry:?} is not a host name, an IP address or a \
                     CIDR range (no scheme, port or path)"
                )
            };
            let parsed = if let Ok(ip) = entry
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Allowed::Net(IpNet::from(ip))
            } else if entry.contains('/') {
                Allowed::Net(entry.parse::<IpNet>().map_err(|_| bad())?.trunc())
            } else {
                let name = normalize_name(entry);
                let valid = !name.is_empty()
                    && name.len() <= 253
                    && name.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    });
                if !valid {
                    return Err(bad());
                }
                Allowed::Name(name)
            };
            allowed.push(parsed);
        }
        Ok(OutboundPolicy {
            inner: Arc::new(Inner {
                allow_private_networks: config.allow_private_networks,
                allowed,
            }),
        })
    }

    fn name_allowed(&self, name: &str) -> bool {
        let name = normalize_name(name);
        self.inner
            .allowed
            .iter()
            .any(|a| matches!(a, Allowed::Name(n) if *n == name))
    }

    fn ip_listed(&self, ip: IpAddr) -> bool {
        self.inner
            .allowed
            .iter()
            .any(|a| matches!(a, Allowed::Net(net) if net.contains(&ip)))
    }

    /// Whether a connection to `ip` is allowed; the class that refuses it
    /// otherwise.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), AddressClass> {
        let Some(class) = classify(ip) else {
            return Ok(());
        };
        if self.ip_listed(ip) || (self.inner.allow_private_networks && class.is_private_network()) {
            Ok(())
        } else {
            Err(class)
        }
    }

    /// Checks a host as written in a URL, without resolving it: a literal
    /// address must be allowed, and `localhost` names are refused unless
    /// listed or private networks are allowed. Any other name passes here;
    /// its addresses are checked when it is resolved.
    pub fn check_host(&self, host: &url::Host<&str>) -> Result<(), Refused> {
        let ip = match host {
            url::Host::Ipv4(v4) => IpAddr::V4(*v4),
            url::Host::Ipv6(v6) => IpAddr::V6(*v6),
            url::Host::Domain(name) => {
                let name = normalize_name(name);
                if is_local_name(&name)
                    && !self.name_allowed(&name)
                    && !self.inner.allow_private_networks
                {
                    return Err(Refused::LocalName(name));
                }
                return Ok(());
            }
        };
        self.check_ip(ip)
            .map_err(|class| Refused::Address { addr: ip, class })
    }

    /// [`OutboundPolicy::check_host`] on a URL's host (an error if it has
    /// none): what can be refused when a URL is registered.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let host = url
            .host()
            .ok_or_else(|| Refused::Invalid("the URL has no host".into()))?;
        self.check_host(&host)
    }

    /// Checks a URL's host if it is an address literal (which a client
    /// connects to without resolving anything); names pass, for
    /// [`OutboundPolicy::resolve`] (or the reqwest resolver) to check
    /// what they resolve to. Call before each request.
    pub fn check_literal(&self, url: &url::Url) -> Result<(), Refused> {
        match url.host() {
            None => Err(Refused::Invalid("the URL has no host".into())),
            Some(url::Host::Domain(_)) => Ok(()),
            Some(host) => self.check_host(&host),
        }
    }

    /// Resolves `host` (a name or a literal address, IPv6 with or without
    /// brackets) and returns the addresses a connection to `port` may use:
    /// those the policy allows, in the resolver's order. Connect to these
    /// and nothing else. Every address of a name in `allowed_hosts` is
    /// allowed.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check_ip(ip)
                .map_err(|class| Refused::Address { addr: ip, class })?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let name = normalize_name(bare);
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|e| Refused::Dns {
                host: name.clone(),
                reason: e.to_string(),
            })?
            .collect();
        self.filter(&name, resolved)
    }

    /// The resolved addresses of `name` the policy allows; an error naming
    /// the first refused one if none is left.
    fn filter(&self, name: &str, resolved: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
        if resolved.is_empty() {
            return Err(Refused::Dns {
                host: name.to_owned(),
                reason: "no addresses".into(),
            });
        }
        if self.name_allowed(name) {
            return Ok(resolved);
        }
        let mut first_refused = None;
        let allowed: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|addr| match self.check_ip(addr.ip()) {
                Ok(()) => true,
                Err(class) => {
                    first_refused.get_or_insert((addr.ip(), class));
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_refused) {
            (true, Some((addr, class))) => {
                tracing::debug!(host = %name, %addr, %class, "outbound connection refused");
                Err(Refused::Resolved {
                    host: name.to_owned(),
                    addr,
                    class,
                })
            }
            _ => Ok(allowed),
        }
    }

    /// A reqwest DNS resolver that returns only the addresses this policy
    /// allows (`ClientBuilder::dns_resolver`). reqwest does not resolve IP
    /// literals: check URLs with [`OutboundPolicy::check_url`] too, and
    /// turn proxies off (`no_proxy`), or the proxy's address is what gets
    /// resolved.
    #[cfg(feature = "reqwest")]
    pub fn reqwest_resolver(&self) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver {
            policy: self.clone(),
        })
    }
}

/// See [`OutboundPolicy::reqwest_resolver`].
#[cfg(feature = "reqwest")]
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: OutboundPolicy,
}

#[cfg(feature = "reqwest")]
impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The connector sets the port; 0 here is replaced.
            let addrs = policy.resolve(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The address a per-client limit counts `ip` against: IPv4 addresses as
/// they are, IPv6 ones by their /64 (one subscriber's prefix: keying on
/// the whole address would give anyone with a /64 unlimited buckets), and
/// IPv4-mapped IPv6 as the IPv4 address.
pub fn client_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The [`Refused`] in an error's source chain, if the policy is why it
/// failed (for turning a client's connect error into a short reason).
pub fn find_refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy(allow_private: bool, hosts: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new(&OutboundConfig {
            allow_private_networks: allow_private,
            allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn classifies_special_ranges() {
        use AddressClass::*;
        for (addr, class) in [
            ("127.0.0.1", Some(Loopback)),
            ("127.255.0.9", Some(Loopback)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(Private)),
            ("100.64.0.1", Some(SharedAddressSpace)),
            ("100.128.0.1", None),
            ("169.254.169.254", Some(LinkLocal)),
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("255.255.255.255", Some(Broadcast)),
            ("240.0.0.1", Some(Reserved)),
            ("192.0.2.1", Some(Documentation)),
            ("198.51.100.7", Some(Documentation)),
            ("203.0.113.9", Some(Documentation)),
            ("198.18.0.1", Some(Benchmarking)),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::ffff:127.0.0.1", Some(Ipv4Mapped)),
            ("::ffff:8.8.8.8", Some(Ipv4Mapped)),
            ("::127.0.0.1", Some(Ipv4Compatible)),
            ("fc00::1", Some(UniqueLocal)),
            ("fd12:3456::1", Some(UniqueLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Documentation)),
            ("2001::1", Some(Reserved)),
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:808:808::", None),
            ("64:ff9b::a00:1", Some(Private)),
            ("64:ff9b::808:808", None),
            ("64:ff9b:1::a00:1", Some(Reserved)),
            ("2606:4700:4700::1111", None),
        ] {
            assert_eq!(classify(ip(addr)), class, "{addr}");
        }
    }

    #[test]
    fn clients_are_bucketed_by_ipv6_prefix() {
        assert_eq!(client_bucket(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(
            client_bucket(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_bucket(ip("2001:db8:1:2::1")),
            client_bucket(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            client_bucket(ip("2001:db8:1:2::1")),
            client_bucket(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn default_policy_allows_public_unicast_only() {
        let p = OutboundPolicy::default();
        assert_eq!(p.check_ip(ip("93.184.216.34")), Ok(()));
        assert_eq!(p.check_ip(ip("127.0.0.1")), Err(AddressClass::Loopback));
        assert_eq!(p.check_ip(ip("::1")), Err(AddressClass::Loopback));
        assert_eq!(p.check_ip(ip("10.0.0.1")), Err(AddressClass::Private));
        let url = |u: &str| p.check_url(&url::Url::parse(u).unwrap());
        assert!(url("https://example.com/hook").is_ok());
        assert!(matches!(
            url("http://127.0.0.1:9000/"),
            Err(Refused::Address { .. })
        ));
        assert!(matches!(
            url("http://[::ffff:7f00:1]/"),
            Err(Refused::Address { .. })
        ));
        assert!(matches!(
            url("http://169.254.169.254/latest/meta-data"),
            Err(Refused::Address {
                class: AddressClass::LinkLocal,
                ..
            })
        ));
        assert!(matches!(
            url("http://LocalHost./x"),
            Err(Refused::LocalName(_))
        ));
        assert!(matches!(
            url("http://api.localhost/x"),
            Err(Refused::LocalName(_))
        ));
        // Decimal and hex spellings are parsed by the URL parser first.
        assert!(url("http://2130706433/").is_err());
        assert!(url("http://0x7f.1/").is_err());
        // At delivery, names are left to the resolver; literals are not.
        let literal = |u: &str| p.check_literal(&url::Url::parse(u).unwrap());
        assert!(literal("http://localhost/").is_ok());
        assert!(literal("http://10.0.0.1/").is_err());
        assert!(literal("http://[fe80::1]/").is_err());
    }

    #[test]
    fn allow_private_networks_keeps_link_local_and_multicast_out() {
        let p = policy(true, &[]);
        assert_eq!(p.check_ip(ip("127.0.0.1")), Ok(()));
        assert_eq!(p.check_ip(ip("192.168.0.10")), Ok(()));
        assert_eq!(p.check_ip(ip("100.64.1.1")), Ok(()));
        assert_eq!(p.check_ip(ip("fd00::5")), Ok(()));
        assert_eq!(
            p.check_ip(ip("169.254.169.254")),
            Err(AddressClass::LinkLocal)
        );
        assert_eq!(p.check_ip(ip("224.0.0.1")), Err(AddressClass::Multicast));
        assert_eq!(p.check_ip(ip("0.0.0.0")), Err(AddressClass::Unspecified));
        assert!(
            p.check_url(&url::Url::parse("http://localhost:1/").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn allowed_hosts_let_names_addresses_and_ranges_through() {
        let p = policy(
            false,
            &[
                "hooks.lan",
                "127.0.0.1",
                "10.0.5.0/24",
                "[::1]",
                "Metadata.Internal.",
            ],
        );
        assert_eq!(p.check_ip(ip("127.0.0.1")), Ok(()));
        assert_eq!(p.check_ip(ip("127.0.0.2")), Err(AddressClass::Loopback));
        assert_eq!(p.check_ip(ip("10.0.5.77")), Ok(()));
        assert_eq!(p.check_ip(ip("10.0.6.1")), Err(AddressClass::Private));
        assert_eq!(p.check_ip(ip("::1")), Ok(()));
        assert!(p.name_allowed("HOOKS.lan."));
        assert!(p.name_allowed("metadata.internal"));
        // A listed name may resolve to anything.
        let loopback = vec![SocketAddr::from(([127, 0, 0, 9], 80))];
        assert_eq!(
            p.filter("hooks.lan", loopback.clone()),
            Ok(loopback.clone())
        );
        assert!(matches!(
            p.filter("other.lan", loopback),
            Err(Refused::Resolved { .. })
        ));
        for bad in ["http://x", "x:80", "10.0.0.0/33", "a b", "bad..name"] {
            let err = OutboundPolicy::new(&OutboundConfig {
                allow_private_networks: false,
                allowed_hosts: vec![bad.into()],
            })
            .unwrap_err();
            assert!(err.contains("allowed_hosts"), "{bad}: {err}");
        }
    }

    #[test]
    fn resolution_keeps_only_allowed_addresses() {
        let p = OutboundPolicy::default();
        let mixed = vec![
            SocketAddr::from(([10, 0, 0, 1], 443)),
            SocketAddr::from(([93, 184, 216, 34], 443)),
        ];
        assert_eq!(
            p.filter("example.com", mixed),
            Ok(vec![SocketAddr::from(([93, 184, 216, 34], 443))])
        );
        let err = p
            .filter(
                "rebind.example",
                vec![SocketAddr::from(([127, 0, 0, 1], 80))],
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rebind.example resolves to 127.0.0.1, a loopback address, which the outbound policy refuses"
        );
        assert_eq!(
            err.short_reason(),
            "refused by the outbound policy (a loopback address)"
        );
    }

    #[tokio::test]
    async fn resolves_names_through_the_system_resolver() {
        let p = OutboundPolicy::default();
        // localhost resolves to loopback, which is refused.
        assert!(matches!(
            p.resolve("localhost", 80).await,
            Err(Refused::Resolved {
                class: AddressClass::Loopback,
                ..
            })
        ));
        assert!(matches!(
            p.resolve("[::1]", 80).await,
            Err(Refused::Address { .. })
        ));
        let allowed = policy(false, &["localhost"]);
        let addrs = allowed.resolve("localhost", 8080).await.unwrap();
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 8080 && a.ip().is_loopback())
        );
        let public = p.resolve("192.0.2.1", 80).await;
        assert!(public.is_err(), "documentation range: {public:?}");
    }
}
