//! Tokio front ends for the in-memory tracker ([`MemoryTracker`]): a UDP
//! socket (BEP 15) and a minimal HTTP/1.1 server (one `GET` per
//! connection, `Connection: close`). Feature `server`.
//!
//! Limits: a request head larger than [`MAX_REQUEST_HEAD`] bytes or slower
//! than [`REQUEST_TIMEOUT`] is dropped; at most [`MAX_HTTP_CONNECTIONS`]
//! connections are served at once.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::memory::{MemoryTracker, MemoryTrackerConfig};

/// Largest HTTP request head read (request line and headers): 8 KiB.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time allowed to receive a request head: 10 s.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most HTTP connections served at once: 256.
pub const MAX_HTTP_CONNECTIONS: usize = 256;

/// A running tracker: HTTP and/or UDP tasks over one shared
/// [`MemoryTracker`]. Dropping it stops the tasks.
#[derive(Debug)]
pub struct RunningTracker {
    http_addr: Option<SocketAddr>,
    udp_addr: Option<SocketAddr>,
    tracker: Arc<Mutex<MemoryTracker>>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningTracker {
    /// Binds the given addresses (port 0 picks a free port) and starts
    /// serving. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// The bind error of either socket.
    pub async fn start(
        http: Option<SocketAddr>,
        udp: Option<SocketAddr>,
        config: MemoryTrackerConfig,
    ) -> io::Result<RunningTracker> {
        let tracker = Arc::new(Mutex::new(MemoryTracker::new(config, rand::random())));
        let mut running = RunningTracker {
            http_addr: None,
            udp_addr: None,
            tracker: tracker.clone(),
            tasks: Vec::new(),
        };
        if let Some(addr) = http {
            let listener = TcpListener::bind(addr).await?;
            running.http_addr = Some(listener.local_addr()?);
            running
                .tasks
                .push(tokio::spawn(serve_http(listener, tracker.clone())));
        }
        if let Some(addr) = udp {
            let socket = UdpSocket::bind(addr).await?;
            running.udp_addr = Some(socket.local_addr()?);
            running
                .tasks
                .push(tokio::spawn(serve_udp(socket, tracker.clone())));
        }
        let purger = tracker.clone();
        running.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                lock(&purger).purge(Instant::now().into_std());
            }
        }));
        Ok(running)
    }

    /// The HTTP address actually bound.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The UDP address actually bound.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// The HTTP announce URL, `http://ADDR/announce`.
    pub fn http_announce_url(&self) -> Option<String> {
        self.http_addr.map(|a| format!("http://{a}/announce"))
    }

    /// The UDP announce URL, `udp://ADDR`.
    pub fn udp_announce_url(&self) -> Option<String> {
        self.udp_addr.map(|a| format!("udp://{a}"))
    }

    /// The shared tracker state.
    pub fn tracker(&self) -> &Arc<Mutex<MemoryTracker>> {
        &self.tracker
    }

    /// Waits until a serving task ends (normally never).
    pub async fn wait(mut self) {
        if let Some(t) = self.tasks.first_mut() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningTracker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock(t: &Mutex<MemoryTracker>) -> MutexGuard<'_, MemoryTracker> {
    t.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn serve_udp(socket: UdpSocket, tracker: Arc<Mutex<MemoryTracker>>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, src)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let reply = lock(&tracker).handle_udp(Instant::now().into_std(), &buf[..n], src);
        if let Some(reply) = reply {
            if let Err(e) = socket.send_to(&reply, src).await {
                tracing::debug!(%src, "udp send failed: {e}");
            }
        }
    }
}

async fn serve_http(listener: TcpListener, tracker: Arc<Mutex<MemoryTracker>>) {
    let permits = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let tracker = tracker.clone();
        tokio::spawn(async move {
            if let Err(e) = handle_conn(stream, peer, &tracker).await {
                tracing::debug!(%peer, "http: {e}");
            }
            drop(permit);
        });
    }
}

/// Reads one request head and answers it.
async fn handle_conn(
    mut stream: TcpStream,
    peer: SocketAddr,
    tracker: &Mutex<MemoryTracker>,
) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 2048];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            head.extend_from_slice(&chunk[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(());
            }
            if head.len() > MAX_REQUEST_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
            }
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "slow request"))??;
    let line_end = head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
    let mut parts = head[..line_end].split(|&b| b == b' ');
    let (status, body) = match (parts.next(), parts.next(), parts.next()) {
        (Some(b"GET"), Some(target), Some(v)) if v.starts_with(b"HTTP/1.") => {
            let r = lock(tracker).handle_http(Instant::now().into_std(), target, peer.ip());
            (r.status, r.body)
        }
        _ => (400, b"bad request".to_vec()),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    stream.write_all(&out).await?;
    stream.shutdown().await
}
