//! Checks of the addresses a node is told to listen on.

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// Fails if `addr`'s TCP port is taken. libp2p's TCP transport sets `SO_REUSEPORT` on its
/// listeners, so two nodes could otherwise both listen on one port and the kernel would split
/// inbound connections between them; a plain bind (without it) fails while any socket listens.
pub(crate) fn probe_port(addr: &Multiaddr) -> Result<(), String> {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    let (Some(ip), Some(port)) = (ip, port) else { return Ok(()) };
    if port == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind((ip, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
            "cannot listen on {addr}: port {port} is in use (another csx daemon, or another program, listens on it)"
        )),
        Err(e) => Err(format!("cannot listen on {addr}: {e}")),
    }
}

/// The lowest port [`free_loopback_port`] hands out.
const LOW_PORT: u32 = 10_000;

/// A TCP port on 127.0.0.1 free now, for a process started next to listen on (the local
/// federation of `csx demo`, and the tests').
///
/// Taken from below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`, 32768 up
/// by default), which the kernel hands out as the local ports of outgoing connections: a port
/// from that range, free when asked, can be taken by a running daemon's outgoing connection
/// before the daemon it was meant for listens on it (seen with 60 daemons dialling one
/// another: "port … is in use"). Each call tries the next port from a random start, so one
/// process does not hand out the same port twice.
pub fn free_loopback_port() -> std::io::Result<u16> {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let span = ephemeral_start() - LOW_PORT;
    let next = NEXT.get_or_init(|| AtomicU32::new(fastrand::u32(..span)));
    for _ in 0..1_000 {
        let port = (LOW_PORT + next.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    // Below the ephemeral range is full (unlikely): a port the kernel picks.
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The first port of the kernel's ephemeral range (32768 where it cannot be read, or where it
/// leaves under 1,000 ports above [`LOW_PORT`]).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|h| *h >= LOW_PORT + 1_000 && *h <= 65_536)
        .unwrap_or(32_768)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_below_the_ephemeral_range_distinct_and_bindable() {
        let ports: Vec<u16> = (0..20).map(|_| free_loopback_port().expect("a port")).collect();
        let low = ephemeral_start();
        for p in &ports {
            assert!((LOW_PORT..low).contains(&u32::from(*p)), "{p} is not below the ephemeral range from {low}");
            std::net::TcpListener::bind(("127.0.0.1", *p)).expect("still free");
        }
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }
}
