//! The session's one UDP socket: bound to the same address and port as the
//! TCP listener (so a session listening on 127.0.0.2:6881 also sends its
//! DHT traffic from 127.0.0.2:6881), read by one task that routes each
//! datagram by its first byte, as libtorrent does:
//!
//! | first byte | protocol | goes to |
//! |---|---|---|
//! | `d` | KRPC (BEP 5): a bencoded dictionary | the DHT driver (`seedbed_dht::driver::DhtNode::with_socket`) |
//! | anything else | uTP (BEP 29): its header starts with `type << 4 \| version`, never `d` (0x64 is type 6) | uTP, once the session runs it; dropped until then |
//!
//! The DHT (and later uTP) sends on the same socket; only this task reads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;

/// Largest datagram read (UDP's maximum payload).
const RECV_BUFFER: usize = 65_536;
/// Attempts to find a port free for both TCP and UDP when the listen
/// address asks for any port (port 0).
const BIND_ATTEMPTS: usize = 32;

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// A KRPC message: the DHT.
    Dht,
    /// Anything else: uTP.
    Utp,
}

/// Routes a datagram by its first byte: `d` (a bencoded dictionary) is
/// KRPC, everything else (the empty datagram too) is uTP.
pub(crate) fn route(datagram: &[u8]) -> Route {
    match datagram.first() {
        Some(b'd') => Route::Dht,
        _ => Route::Utp,
    }
}

/// Datagrams seen by the reading task, by where they went.
#[derive(Debug, Default)]
pub(crate) struct UdpCounters {
    /// Handed to the DHT.
    pub(crate) dht: AtomicU64,
    /// KRPC datagrams dropped because the DHT's queue was full (or no DHT
    /// runs).
    pub(crate) dht_dropped: AtomicU64,
    /// Not KRPC: for uTP (dropped while the session has no uTP).
    pub(crate) utp: AtomicU64,
}

/// Binds a TCP listener and a UDP socket on the same address and port.
/// With port 0 it tries ports the system picks for TCP until UDP can have
/// the same one.
///
/// # Errors
/// [`Error::Io`] when `addr` cannot be bound (for a fixed port: by TCP or
/// by UDP).
pub(crate) async fn bind_pair(addr: SocketAddr) -> Result<(TcpListener, UdpSocket), Error> {
    let attempts = if addr.port() == 0 { BIND_ATTEMPTS } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("listen on {addr}"), e))?;
        let local = tcp
            .local_addr()
            .map_err(|e| Error::io("listening address", e))?;
        match UdpSocket::bind(local).await {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) => last = Some(Error::io(format!("UDP on {local}"), e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::io(
            format!("UDP on {addr}"),
            std::io::Error::other("no port free for both TCP and UDP"),
        )
    }))
}

/// Starts the task that reads `socket` and routes its datagrams: KRPC to
/// `dht` (dropped, and counted, when its queue is full: the reader never
/// waits for the DHT), the rest to uTP. It runs until aborted.
pub(crate) fn spawn_reader(
    socket: Arc<UdpSocket>,
    dht: Option<mpsc::Sender<(SocketAddr, Bytes)>>,
    counters: Arc<UdpCounters>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            let (n, from) = match socket.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors (port unreachable) of our own sends
                    // surface here on Linux; the socket stays usable.
                    tracing::trace!(%e, "udp recv");
                    continue;
                }
            };
            let datagram = &buf[..n];
            match route(datagram) {
                Route::Dht => {
                    let sent = dht.as_ref().is_some_and(|tx| {
                        tx.try_send((from, Bytes::copy_from_slice(datagram)))
                            .is_ok()
                    });
                    let counter = if sent {
                        &counters.dht
                    } else {
                        &counters.dht_dropped
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Route::Utp => {
                    // uTP: hand the datagram to the uTP driver here (its
                    // channel, like the DHT's) once the session runs uTP
                    // (crates/utp). Dropped until then.
                    counters.utp.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_first_byte() {
        assert_eq!(route(b"d1:ad2:id20:xxxxxxxxxxxxxxxxxxxxe"), Route::Dht);
        // uTP headers: ST_DATA (0x01), ST_SYN (0x41), ST_STATE (0x21).
        for b in [0x01u8, 0x41, 0x21, 0x11, 0x31] {
            assert_eq!(route(&[b, 0, 0, 0]), Route::Utp);
        }
        assert_eq!(route(b""), Route::Utp);
        assert_eq!(route(b"l4:spame"), Route::Utp);
    }

    #[tokio::test]
    async fn one_port_for_tcp_and_udp() {
        let (tcp, udp) = bind_pair("127.0.0.1:0".parse().unwrap()).await.unwrap();
        assert_eq!(tcp.local_addr().unwrap(), udp.local_addr().unwrap());
        // A fixed port taken for UDP fails cleanly.
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        assert!(matches!(bind_pair(addr).await, Err(Error::Io { .. })));
    }

    #[tokio::test]
    async fn reader_routes_and_counts() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let counters = Arc::new(UdpCounters::default());
        let task = spawn_reader(socket, Some(tx), Arc::clone(&counters));
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        peer.send_to(b"d1:y1:qe", addr).await.unwrap();
        let (from, data) = rx.recv().await.unwrap();
        assert_eq!(from, peer.local_addr().unwrap());
        assert_eq!(&data[..], b"d1:y1:qe");
        // uTP and a KRPC datagram past the full queue (capacity 1).
        peer.send_to(&[0x41, 1, 2, 3], addr).await.unwrap();
        peer.send_to(b"d1:y1:re", addr).await.unwrap();
        peer.send_to(b"d1:y1:ee", addr).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while counters.utp.load(Ordering::Relaxed) + counters.dht_dropped.load(Ordering::Relaxed)
            < 2
        {
            assert!(std::time::Instant::now() < deadline, "{counters:?}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(counters.dht.load(Ordering::Relaxed), 2);
        assert_eq!(counters.utp.load(Ordering::Relaxed), 1);
        assert_eq!(counters.dht_dropped.load(Ordering::Relaxed), 1);
        task.abort();
    }
}
