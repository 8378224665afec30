//! Binding to an address: when the session listens on a given IP, every
//! outgoing connection (peers, HTTP and UDP trackers) leaves from that IP
//! too, as libtorrent's `outgoing_interfaces` and Transmission's
//! `bind-address-ipv4` do, so a session bound to a VPN's address never
//! sends from another one. A peer only reachable over the other IP
//! version is not dialled at all. And a session never dials its own
//! listen address (a tracker hands us back to ourselves).

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

use crate::config::SessionConfig;

impl SessionConfig {
    /// The local IP every outgoing connection is bound to: the IP of
    /// [`listen`](SessionConfig::listen) unless it is unspecified
    /// (`0.0.0.0`, `::`) or there is none; then `None` and the system
    /// chooses per connection. The DHT and uTP are to use the same one.
    pub fn bind_ip(&self) -> Option<IpAddr> {
        self.listen
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified())
    }

    /// Whether `addr` is where this session listens: the listen address
    /// itself or, when listening on an unspecified IP, the listen port on
    /// a loopback or unspecified IP (other local interfaces are caught by
    /// the peer id in the handshake). Meaningful on the session's copy of
    /// the config, whose `listen` holds the bound port.
    pub(crate) fn is_own_address(&self, addr: SocketAddr) -> bool {
        let Some(listen) = self.listen else {
            return false;
        };
        if addr.port() != listen.port() {
            return false;
        }
        let ip = canonical(addr.ip());
        if listen.ip().is_unspecified() {
            ip.is_loopback() || ip.is_unspecified()
        } else {
            ip == canonical(listen.ip())
        }
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`; other addresses as they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Opens a TCP connection to `addr` from `local` (port chosen by the
/// system) or, when `None`, from wherever the system chooses.
///
/// # Errors
/// The socket's errors; [`io::ErrorKind::AddrNotAvailable`] when `addr`
/// is of the other IP version than `local` (it cannot be reached without
/// leaving from another address).
pub(crate) async fn dial(local: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    let Some(ip) = local else {
        return TcpStream::connect(addr).await;
    };
    let socket = match (ip, addr) {
        (IpAddr::V4(_), SocketAddr::V4(_)) => TcpSocket::new_v4()?,
        (IpAddr::V6(_), SocketAddr::V6(_)) => TcpSocket::new_v6()?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{addr} cannot be reached from the bound address {ip}"),
            ))
        }
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening(addr: &str) -> SessionConfig {
        SessionConfig {
            listen: Some(addr.parse().unwrap()),
            ..SessionConfig::default()
        }
    }

    #[test]
    fn bind_ip_is_a_specific_listen_ip() {
        assert_eq!(listening("0.0.0.0:6881").bind_ip(), None);
        assert_eq!(listening("[::]:6881").bind_ip(), None);
        assert_eq!(
            listening("127.0.0.2:0").bind_ip(),
            Some([127, 0, 0, 2].into())
        );
        let none = SessionConfig {
            listen: None,
            ..SessionConfig::default()
        };
        assert_eq!(none.bind_ip(), None);
    }

    #[test]
    fn own_addresses() {
        let any = listening("0.0.0.0:6881");
        for own in [
            "127.0.0.1:6881",
            "127.0.0.2:6881",
            "0.0.0.0:6881",
            "[::1]:6881",
        ] {
            assert!(any.is_own_address(own.parse().unwrap()), "{own}");
        }
        for other in ["127.0.0.1:6882", "10.0.0.1:6881"] {
            assert!(!any.is_own_address(other.parse().unwrap()), "{other}");
        }
        let two = listening("127.0.0.2:6881");
        assert!(two.is_own_address("127.0.0.2:6881".parse().unwrap()));
        assert!(two.is_own_address("[::ffff:127.0.0.2]:6881".parse().unwrap()));
        assert!(!two.is_own_address("127.0.0.1:6881".parse().unwrap()));
        assert!(!two.is_own_address("127.0.0.2:6882".parse().unwrap()));
    }

    #[tokio::test]
    async fn dial_leaves_from_the_bound_address() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = l.local_addr().unwrap();
        let (s, accepted) = tokio::join!(dial(Some([127, 0, 0, 2].into()), to), l.accept());
        assert_eq!(
            s.unwrap().local_addr().unwrap().ip(),
            IpAddr::from([127, 0, 0, 2])
        );
        assert_eq!(accepted.unwrap().1.ip(), IpAddr::from([127, 0, 0, 2]));
        let e = dial(Some([127, 0, 0, 2].into()), "[::1]:1".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable);
    }
}
