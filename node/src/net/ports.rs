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
