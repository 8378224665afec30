//! Peer connections over TCP or uTP (BEP 29): the stream type the peer
//! code runs its codecs on, and the dialler that tries uTP first and falls
//! back to TCP, as libtorrent does.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use seedbed_utp::{UtpSocket, UtpStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::error::Error;
use crate::peer_info::Transport;

/// Which transports the session uses for peer connections
/// ([`SessionConfig::transports`](crate::SessionConfig::transports)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transports {
    /// TCP and uTP: accept both on the listen port (TCP and UDP, the
    /// same number), dial uTP first and fall back to TCP when the uTP
    /// handshake fails or is not answered within
    /// [`SessionConfig::utp_connect_timeout`](crate::SessionConfig::utp_connect_timeout)
    /// (libtorrent's behaviour). The default.
    #[default]
    Both,
    /// TCP only: no uTP socket (a UDP socket still exists for the DHT).
    TcpOnly,
    /// uTP only: no TCP listener, no TCP dials.
    UtpOnly,
}

impl Transports {
    /// Peer connections may use TCP.
    pub fn tcp(self) -> bool {
        self != Transports::UtpOnly
    }

    /// Peer connections may use uTP.
    pub fn utp(self) -> bool {
        self != Transports::TcpOnly
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Utp => "utp",
        })
    }
}

/// A peer connection's byte stream below encryption (MSE, see
/// `encryption.rs`): the codecs run on it unchanged.
#[derive(Debug)]
pub(crate) enum TransportStream {
    Tcp(TcpStream),
    Utp(UtpStream),
}

impl TransportStream {
    /// Which transport it runs on.
    pub(crate) fn transport(&self) -> Transport {
        match self {
            TransportStream::Tcp(_) => Transport::Tcp,
            TransportStream::Utp(_) => Transport::Utp,
        }
    }
}

impl AsyncRead for TransportStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TransportStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            TransportStream::Utp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for TransportStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            TransportStream::Tcp(s) => Pin::new(s).poll_write(cx, data),
            TransportStream::Utp(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            TransportStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            TransportStream::Utp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            TransportStream::Tcp(s) => s.is_write_vectored(),
            TransportStream::Utp(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TransportStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            TransportStream::Utp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TransportStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            TransportStream::Utp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Opens peer connections by the session's [`Transports`] setting; cheap
/// to clone.
#[derive(Clone, Debug)]
pub(crate) struct Dialer {
    pub(crate) transports: Transports,
    /// The session's uTP socket (when uTP is on).
    pub(crate) utp: Option<UtpSocket>,
    /// Time for a TCP connect, or for a uTP one when it is the only
    /// transport.
    pub(crate) connect_timeout: Duration,
    /// Time for the uTP attempt before falling back to TCP.
    pub(crate) utp_connect_timeout: Duration,
    /// Where TCP connections leave from ([`SessionConfig::bind_ip`](crate::SessionConfig::bind_ip));
    /// uTP ones leave from the session's UDP socket, bound to the listen
    /// address.
    pub(crate) bind_ip: Option<std::net::IpAddr>,
}

impl Dialer {
    /// Connects to `addr`: uTP first (when on), then TCP (when on).
    ///
    /// # Errors
    /// [`Error::Io`] with the last attempt's error (a time-out is
    /// `TimedOut`).
    pub(crate) async fn dial(&self, addr: SocketAddr) -> Result<TransportStream, Error> {
        let mut last = None;
        if let (true, Some(utp)) = (self.transports.utp(), &self.utp) {
            let limit = if self.transports.tcp() {
                self.utp_connect_timeout
            } else {
                self.connect_timeout
            };
            match timeout(limit, utp.connect(addr)).await {
                Ok(Ok(s)) => return Ok(TransportStream::Utp(s)),
                Ok(Err(e)) => last = Some(e),
                Err(_) => last = Some(io::ErrorKind::TimedOut.into()),
            }
            tracing::trace!(%addr, e = ?last, "uTP connect failed");
        }
        if self.transports.tcp() {
            match timeout(self.connect_timeout, crate::bind::dial(self.bind_ip, addr)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    return Ok(TransportStream::Tcp(s));
                }
                Ok(Err(e)) => last = Some(e),
                Err(_) => last = Some(io::ErrorKind::TimedOut.into()),
            }
        }
        let e = last.unwrap_or_else(|| io::Error::other("no transport for peer connections"));
        Err(Error::io(format!("connect to {addr}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn dialer(transports: Transports, utp: Option<UtpSocket>) -> Dialer {
        Dialer {
            transports,
            utp,
            connect_timeout: Duration::from_secs(5),
            utp_connect_timeout: Duration::from_millis(500),
            bind_ip: None,
        }
    }

    #[test]
    fn settings() {
        assert_eq!(Transports::default(), Transports::Both);
        assert!(Transports::Both.tcp() && Transports::Both.utp());
        assert!(Transports::TcpOnly.tcp() && !Transports::TcpOnly.utp());
        assert!(!Transports::UtpOnly.tcp() && Transports::UtpOnly.utp());
        assert_eq!(Transport::Utp.to_string(), "utp");
    }

    #[tokio::test]
    async fn utp_first_then_tcp() {
        // A peer with both: uTP wins.
        let server = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        // A TCP-only peer: nothing on its UDP port answers uTP.
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ours = UtpSocket::bind("127.0.0.1:0").await.unwrap();
        let d = dialer(Transports::Both, Some(ours.clone()));
        let (s, accepted) = tokio::join!(d.dial(server.local_addr()), server.accept());
        let mut s = s.unwrap();
        assert_eq!(s.transport(), Transport::Utp);
        let (mut a, _) = accepted.unwrap();
        s.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        // The TCP-only peer: TCP after the uTP attempt.
        let tcp_addr = tcp.local_addr().unwrap();
        let (s, _) = tokio::join!(d.dial(tcp_addr), tcp.accept());
        assert_eq!(s.unwrap().transport(), Transport::Tcp);
        // uTP only: that peer cannot be reached.
        let only = dialer(Transports::UtpOnly, Some(ours));
        let only = Dialer {
            connect_timeout: Duration::from_millis(500),
            ..only
        };
        assert!(matches!(only.dial(tcp_addr).await, Err(Error::Io { .. })));
        // TCP only never tries uTP.
        let d = dialer(Transports::TcpOnly, None);
        let (s, _) = tokio::join!(d.dial(tcp_addr), tcp.accept());
        assert_eq!(s.unwrap().transport(), Transport::Tcp);
    }
}
