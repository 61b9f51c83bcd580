//! Caps on RTMP connections: in all, and from one address (IPv6: one /64,
//! `outbound::client_bucket`), except trusted proxies'. Taken right after
//! `accept`, before the handshake, so a flood of idle sockets (each holds a
//! task and buffers until the handshake timeout) cannot starve real
//! publishers of file descriptors and memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitRefusal {
    #[error("the server has {0} RTMP connections open (rtmp.max_connections)")]
    Total(usize),
    #[error("this address has {0} RTMP connections open (rtmp.max_connections_per_ip)")]
    PerAddress(usize),
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The open connections, counted against the caps. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    /// Peers not held to `max_per_ip` (a proxy connects for everyone).
    trusted: Arc<Vec<ipnet::IpNet>>,
    counts: Arc<Mutex<Counts>>,
}

/// One counted connection; dropping it gives its place back.
pub(crate) struct ConnectionPermit {
    limits: ConnectionLimits,
    ip: IpAddr,
}

impl ConnectionLimits {
    pub(crate) fn new(
        max_total: u32,
        max_per_ip: u32,
        trusted: Vec<ipnet::IpNet>,
    ) -> ConnectionLimits {
        ConnectionLimits {
            max_total: max_total.max(1) as usize,
            max_per_ip: max_per_ip.max(1) as usize,
            trusted: Arc::new(trusted),
            counts: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection from `ip`, or says which cap it would break.
    pub(crate) fn acquire(&self, peer: IpAddr) -> Result<ConnectionPermit, LimitRefusal> {
        let ip = outbound::client_bucket(peer);
        let trusted = self.trusted.iter().any(|net| net.contains(&peer));
        let mut counts = self.lock();
        if counts.total >= self.max_total {
            return Err(LimitRefusal::Total(counts.total));
        }
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip && !trusted {
            return Err(LimitRefusal::PerAddress(from_ip));
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        Ok(ConnectionPermit {
            limits: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut counts = self.limits.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_address() {
        let limits = ConnectionLimits::new(3, 2, Vec::new());
        let a = IpAddr::from([192, 0, 2, 1]);
        let b = IpAddr::from([192, 0, 2, 2]);
        let a1 = limits.acquire(a).unwrap();
        let _a2 = limits.acquire(a).unwrap();
        assert_eq!(limits.acquire(a).err(), Some(LimitRefusal::PerAddress(2)));
        let b1 = limits.acquire(b).unwrap();
        assert_eq!(limits.acquire(b).err(), Some(LimitRefusal::Total(3)));
        drop(a1);
        let _a3 = limits.acquire(a).unwrap();
        drop(b1);
        assert_eq!(limits.lock().per_ip.get(&b), None, "emptied entries go");
        assert_eq!(limits.lock().total, 2);
    }

    #[test]
    fn ipv6_clients_count_by_prefix_and_proxies_are_trusted() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let limits = ConnectionLimits::new(10, 1, vec!["127.0.0.0/8".parse().unwrap()]);
        let _a = limits.acquire("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(
            limits.acquire("2001:db8:1:2::99".parse().unwrap()).err(),
            Some(LimitRefusal::PerAddress(1)),
            "same /64"
        );
        let _b = limits.acquire("2001:db8:1:3::1".parse().unwrap()).unwrap();
        let held: Vec<_> = (0..5).map(|_| limits.acquire(proxy).unwrap()).collect();
        assert_eq!(held.len(), 5, "the proxy is held to the total only");
    }
}
