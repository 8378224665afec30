//! The tokio driver (feature `tokio`): a [`UtpSocket`] runs an
//! [`Endpoint`] on one UDP socket, and each connection is a [`UtpStream`]
//! implementing `AsyncRead + AsyncWrite`.
//!
//! One task per socket drives the endpoint: it receives datagrams (in
//! batches, into one reused buffer), fires the one timer of the socket,
//! and sends what the connections have to send. Streams do their own work
//! inline: a write queues the bytes and sends what the window allows from
//! the writer's task, without waking the driver.
//!
//! The socket may be owned ([`UtpSocket::bind`]) or shared with another
//! protocol ([`UtpSocket::with_socket`]): then the owner of the UDP socket
//! reads every datagram and hands the uTP ones (first byte `type << 4 |
//! 1`, never `d`) to the driver through a channel, while the driver sends
//! on the same socket.

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{ToSocketAddrs, UdpSocket};
use tokio::sync::{mpsc, Notify};

use crate::config::EndpointConfig;
use crate::connection::{ConnectionStats, Event, State};
use crate::endpoint::{ConnectionHandle, Endpoint, EndpointStats};
use crate::error::Error;

/// Datagrams received per wakeup of the driver, at most.
const RECV_BATCH: usize = 256;

/// A uTP socket: one UDP socket carrying any number of connections.
/// Cloning gives another handle to the same socket. The driver task stops
/// once every handle and every stream is dropped and the connections have
/// closed.
#[derive(Debug)]
pub struct UtpSocket {
    shared: Arc<Shared>,
}

/// One uTP connection as a byte stream. `poll_shutdown` sends FIN (after
/// what was written); dropping the stream closes it gracefully in the
/// background.
#[derive(Debug)]
pub struct UtpStream {
    shared: Arc<Shared>,
    handle: ConnectionHandle,
    remote: SocketAddr,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the driver: something to send that had to wait, a socket
    /// handle or stream gone.
    notify: Notify,
    socket: Arc<UdpSocket>,
    local_addr: SocketAddr,
}

#[derive(Debug, Default)]
struct Wakers {
    read: Option<Waker>,
    write: Option<Waker>,
    connect: Option<Waker>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    wakers: HashMap<ConnectionHandle, Wakers>,
    accept_waker: Option<Waker>,
    /// A datagram the socket would not take (its buffer was full); the
    /// driver sends it when the socket is writable.
    /// A datagram the socket would not take yet: destination, bytes, and
    /// the connection whose path MTU probe it is.
    blocked: Option<(SocketAddr, Vec<u8>, Option<ConnectionHandle>)>,
    send_buf: Vec<u8>,
    socket_handles: usize,
    /// The driver stopped (the datagram channel closed, or a socket
    /// error): no more connections.
    stopped: Option<io::ErrorKind>,
}

enum Source {
    Socket,
    Channel(mpsc::Receiver<(SocketAddr, Bytes)>),
}

impl UtpSocket {
    /// Binds a UDP socket and starts its driver, with default settings.
    ///
    /// # Errors
    /// The bind error.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UtpSocket> {
        Self::bind_with_config(addr, EndpointConfig::default()).await
    }

    /// Binds a UDP socket and starts its driver with `config`.
    ///
    /// # Errors
    /// The bind error; `InvalidInput` when a setting is out of range.
    pub async fn bind_with_config(
        addr: impl ToSocketAddrs,
        config: EndpointConfig,
    ) -> io::Result<UtpSocket> {
        let socket = Arc::new(UdpSocket::bind(addr).await?);
        Self::start(socket, Source::Socket, config)
    }

    /// Runs on a UDP socket shared with another protocol (the DHT): the
    /// driver sends on `socket`, and receives the uTP datagrams that the
    /// socket's reader passes on `incoming` (source address, datagram).
    /// When `incoming` closes, every connection is aborted.
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// `InvalidInput` when a setting is out of range; an error when not
    /// in a tokio runtime or the socket has no local address.
    pub fn with_socket(
        socket: Arc<UdpSocket>,
        incoming: mpsc::Receiver<(SocketAddr, Bytes)>,
        config: EndpointConfig,
    ) -> io::Result<UtpSocket> {
        Self::start(socket, Source::Channel(incoming), config)
    }

    fn start(socket: Arc<UdpSocket>, source: Source, config: EndpointConfig) -> io::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| io::Error::other(format!("not in a tokio runtime: {e}")))?;
        let endpoint = Endpoint::new(config, rand::random())?;
        let local_addr = socket.local_addr()?;
        set_buffers(&socket, config.socket_buffer);
        set_dont_fragment(&socket, local_addr, false);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                send_buf: vec![0; config.connection.max_packet_size()],
                endpoint,
                wakers: HashMap::new(),
                accept_waker: None,
                blocked: None,
                socket_handles: 1,
                stopped: None,
            }),
            notify: Notify::new(),
            socket,
            local_addr,
        });
        runtime.spawn(drive(shared.clone(), source));
        Ok(UtpSocket { shared })
    }

    /// The local address of the UDP socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The multiplexer's counters.
    pub fn stats(&self) -> EndpointStats {
        self.shared.lock().endpoint.stats()
    }

    /// Opens a connection to `remote` and waits for the handshake.
    ///
    /// # Errors
    /// `TimedOut` when the SYN is not answered (after its retransmits),
    /// `ConnectionRefused` when it is answered with a reset, or the
    /// connection limit.
    pub async fn connect(&self, remote: SocketAddr) -> io::Result<UtpStream> {
        let handle = {
            let mut inner = self.shared.lock();
            if let Some(kind) = inner.stopped {
                return Err(io::Error::new(kind, "uTP socket stopped"));
            }
            let h = inner.endpoint.connect(Instant::now(), remote)?;
            inner.wakers.insert(h, Wakers::default());
            self.shared.flush(&mut inner);
            h
        };
        let stream = UtpStream {
            shared: self.shared.clone(),
            handle,
            remote,
        };
        poll_fn(|cx| {
            let mut inner = stream.shared.lock();
            let Some(c) = inner.endpoint.connection(handle) else {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected)));
            };
            match c.state() {
                State::Connected => Poll::Ready(Ok(())),
                State::Closed => Poll::Ready(Err(c
                    .error()
                    .cloned()
                    .unwrap_or(Error::ConnectionReset)
                    .into())),
                State::SynSent => {
                    if let Some(w) = inner.wakers.get_mut(&handle) {
                        w.connect = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok(stream)
    }

    /// Waits for the next incoming connection.
    ///
    /// # Errors
    /// When the socket's driver stopped (socket error, or the datagram
    /// channel of [`with_socket`](Self::with_socket) closed).
    pub async fn accept(&self) -> io::Result<(UtpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next incoming connection (see [`accept`](Self::accept)).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UtpStream, SocketAddr)>> {
        let mut inner = self.shared.lock();
        if let Some((handle, remote)) = inner.endpoint.accept() {
            inner.wakers.insert(handle, Wakers::default());
            // The accepted connection's first events (Connected) are
            // nobody's business but the stream's state.
            self.shared.flush(&mut inner);
            return Poll::Ready(Ok((
                UtpStream {
                    shared: self.shared.clone(),
                    handle,
                    remote,
                },
                remote,
            )));
        }
        if let Some(kind) = inner.stopped {
            return Poll::Ready(Err(io::Error::new(kind, "uTP socket stopped")));
        }
        inner.accept_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Clone for UtpSocket {
    fn clone(&self) -> Self {
        self.shared.lock().socket_handles += 1;
        UtpSocket {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for UtpSocket {
    fn drop(&mut self) {
        self.shared.lock().socket_handles -= 1;
        self.shared.notify.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the endpoint usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends what the connections have to send, as far as the socket
    /// takes it, then wakes the tasks whose connections changed.
    fn flush(&self, inner: &mut Inner) {
        if inner.blocked.is_none() {
            let now = Instant::now();
            let Inner {
                endpoint,
                send_buf,
                blocked,
                ..
            } = inner;
            while let Some(t) = endpoint.poll_transmit(now, send_buf) {
                let d = &send_buf[..t.size];
                match send(&self.socket, self.local_addr, d, t.destination, t.mtu_probe) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        *blocked = Some((t.destination, d.to_vec(), t.mtu_probe));
                        self.notify.notify_one();
                        break;
                    }
                    Err(e) if t.mtu_probe.is_some() && too_big(&e) => {
                        refuse_probe(endpoint, t.mtu_probe);
                    }
                    // An ICMP error from an earlier datagram, or a remote
                    // that cannot be reached: uTP's timers deal with loss.
                    Err(_) => {}
                }
            }
        }
        inner.dispatch();
    }
}

impl Inner {
    /// Wakes the tasks waiting on connections that have events.
    fn dispatch(&mut self) {
        while let Some((h, ev)) = self.endpoint.poll_event() {
            let Some(w) = self.wakers.get_mut(&h) else {
                continue;
            };
            let wake = |slot: &mut Option<Waker>| {
                if let Some(w) = slot.take() {
                    w.wake();
                }
            };
            match ev {
                Event::Connected => wake(&mut w.connect),
                Event::Readable => wake(&mut w.read),
                Event::Writable => wake(&mut w.write),
                _ => {
                    wake(&mut w.connect);
                    wake(&mut w.read);
                    wake(&mut w.write);
                }
            }
        }
    }

    fn wake_all(&mut self) {
        for w in self.wakers.values_mut() {
            for slot in [&mut w.read, &mut w.write, &mut w.connect] {
                if let Some(w) = slot.take() {
                    w.wake();
                }
            }
        }
        if let Some(w) = self.accept_waker.take() {
            w.wake();
        }
    }
}

async fn drive(shared: Arc<Shared>, mut source: Source) {
    let mut buf = vec![0u8; 65536];
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(sleep);
    loop {
        let (deadline, blocked) = {
            let mut inner = shared.lock();
            if inner.socket_handles == 0 {
                // Nobody can accept any more: refuse what waits.
                while let Some((h, _)) = inner.endpoint.accept() {
                    inner.endpoint.abort(h);
                }
                if inner.endpoint.is_empty() && inner.wakers.is_empty() {
                    return;
                }
            }
            (inner.endpoint.poll_timeout(), inner.blocked.is_some())
        };
        if let Some(d) = deadline {
            sleep.as_mut().reset(tokio::time::Instant::from_std(d));
        }
        let received = tokio::select! {
            r = recv(&shared.socket, &mut source, &mut buf) => Some(r),
            () = shared.notify.notified() => None,
            () = &mut sleep, if deadline.is_some() => None,
            r = shared.socket.writable(), if blocked => {
                let _ = r;
                None
            }
        };
        let mut inner = shared.lock();
        let now = Instant::now();
        match received {
            Some(Ok((from, len))) => {
                handle_datagram(&mut inner, now, from, &buf[..len]);
                // Take what else is already there, under one lock.
                for _ in 1..RECV_BATCH {
                    match try_recv(&shared.socket, &mut source, &mut buf) {
                        Some(Ok((from, len))) => {
                            handle_datagram(&mut inner, now, from, &buf[..len])
                        }
                        Some(Err(_)) | None => break,
                    }
                }
            }
            Some(Err(e)) if matches!(source, Source::Channel(_)) || !transient(&e) => {
                stop(&mut inner, e.kind());
                return;
            }
            Some(Err(_)) | None => {}
        }
        if inner.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            inner.endpoint.handle_timeout(now);
        }
        if let Some((to, d, probe)) = inner.blocked.take() {
            match send(&shared.socket, shared.local_addr, &d, to, probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    inner.blocked = Some((to, d, probe))
                }
                Err(e) if probe.is_some() && too_big(&e) => {
                    refuse_probe(&mut inner.endpoint, probe);
                }
                _ => {}
            }
        }
        shared.flush(&mut inner);
        if inner.endpoint.stats().backlog > 0 {
            if let Some(w) = inner.accept_waker.take() {
                w.wake();
            }
        }
    }
}

/// Sets the socket's receive and send buffers to `size` bytes (0: leave
/// them). A failure only costs speed, so it is ignored.
fn set_buffers(socket: &UdpSocket, size: u32) {
    if size == 0 {
        return;
    }
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size(socket, size as usize);
    let _ = rustix::net::sockopt::set_socket_send_buffer_size(socket, size as usize);
}

/// Sends one datagram; a path MTU probe goes with the don't-fragment bit
/// (set for this send only: the socket may be shared with the DHT, and
/// other datagrams may be fragmented on a narrower path).
fn send(
    socket: &UdpSocket,
    local: SocketAddr,
    d: &[u8],
    to: SocketAddr,
    probe: Option<ConnectionHandle>,
) -> io::Result<usize> {
    if probe.is_none() {
        return socket.try_send_to(d, to);
    }
    set_dont_fragment(socket, local, true);
    let r = socket.try_send_to(d, to);
    set_dont_fragment(socket, local, false);
    r
}

/// Whether a send failed because the datagram is above the path MTU the
/// system knows (`EMSGSIZE`).
fn too_big(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::MSGSIZE.raw_os_error())
}

fn refuse_probe(endpoint: &mut Endpoint, probe: Option<ConnectionHandle>) {
    if let Some(c) = probe.and_then(|h| endpoint.connection_mut(h)) {
        c.refuse_mtu_probe();
    }
}

/// Sets or clears the don't-fragment bit of the socket's datagrams
/// (`IP_MTU_DISCOVER` / `IPV6_MTU_DISCOVER`: `PROBE` sets it whatever the
/// system's path MTU cache says, `DONT` lets the system fragment). A
/// failure only costs discovery, so it is ignored. Linux only; elsewhere
/// the system's default stays.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_dont_fragment(socket: &UdpSocket, local: SocketAddr, on: bool) {
    use rustix::net::sockopt::{Ipv4PathMtuDiscovery, Ipv6PathMtuDiscovery};
    let _ = if local.is_ipv4() {
        let v = if on {
            Ipv4PathMtuDiscovery::PROBE
        } else {
            Ipv4PathMtuDiscovery::DONT
        };
        rustix::net::sockopt::set_ip_mtu_discover(socket, v)
    } else {
        let v = if on {
            Ipv6PathMtuDiscovery::PROBE
        } else {
            Ipv6PathMtuDiscovery::DONT
        };
        rustix::net::sockopt::set_ipv6_mtu_discover(socket, v)
    };
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_dont_fragment(_socket: &UdpSocket, _local: SocketAddr, _on: bool) {}

fn handle_datagram(inner: &mut Inner, now: Instant, from: SocketAddr, d: &[u8]) {
    // Invalid datagrams are counted by the endpoint and dropped.
    let _ = inner.endpoint.handle(now, from, d);
}

/// Errors a UDP socket reports that do not end it (ICMP results of
/// earlier sends, interrupted calls).
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

fn stop(inner: &mut Inner, kind: io::ErrorKind) {
    inner.stopped = Some(kind);
    while let Some((h, _)) = inner.endpoint.accept() {
        inner.endpoint.abort(h);
    }
    let handles: Vec<ConnectionHandle> = inner.wakers.keys().copied().collect();
    for h in handles {
        if let Some(c) = inner.endpoint.connection_mut(h) {
            c.abort();
        }
    }
    inner.wake_all();
}

async fn recv(
    socket: &UdpSocket,
    source: &mut Source,
    buf: &mut [u8],
) -> io::Result<(SocketAddr, usize)> {
    match source {
        Source::Socket => socket.recv_from(buf).await.map(|(n, a)| (a, n)),
        Source::Channel(rx) => match rx.recv().await {
            Some((from, d)) => Ok((from, copy_into(buf, &d))),
            None => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        },
    }
}

fn try_recv(
    socket: &UdpSocket,
    source: &mut Source,
    buf: &mut [u8],
) -> Option<io::Result<(SocketAddr, usize)>> {
    match source {
        Source::Socket => match socket.try_recv_from(buf) {
            Ok((n, a)) => Some(Ok((a, n))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(Err(e)),
        },
        Source::Channel(rx) => rx
            .try_recv()
            .ok()
            .map(|(from, d)| Ok((from, copy_into(buf, &d)))),
    }
}

fn copy_into(buf: &mut [u8], d: &[u8]) -> usize {
    let n = d.len().min(buf.len());
    buf[..n].copy_from_slice(&d[..n]);
    n
}

impl UtpStream {
    /// The remote address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The local address (the UDP socket's).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The connection's counters and congestion state.
    pub fn stats(&self) -> Option<ConnectionStats> {
        self.shared
            .lock()
            .endpoint
            .connection(self.handle)
            .map(|c| c.stats())
    }
}

impl AsyncRead for UtpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut inner = this.shared.lock();
        let Some(c) = inner.endpoint.connection_mut(this.handle) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        // Copied straight into the unfilled part: `initialize_unfilled`
        // would zero all of it (a 64 KiB read-ahead) for every packet.
        let n = c.readable().len().min(buf.remaining());
        let read = if n > 0 || buf.remaining() == 0 {
            buf.put_slice(&c.readable()[..n]);
            c.consume(n);
            Ok(n)
        } else {
            // Nothing buffered: end of stream, an error, or nothing yet.
            c.read(&mut [0u8; 1])
        };
        match read {
            Ok(_) => {
                if c.wants_transmit() {
                    // A window update, if the remote may be waiting for one.
                    this.shared.flush(&mut inner);
                }
                Poll::Ready(Ok(()))
            }
            Err(Error::WouldBlock) => {
                if let Some(w) = inner.wakers.get_mut(&this.handle) {
                    w.read = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }
}

impl AsyncWrite for UtpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut inner = this.shared.lock();
        let Some(c) = inner.endpoint.connection_mut(this.handle) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        match c.write(data) {
            Ok(n) => {
                this.shared.flush(&mut inner);
                Poll::Ready(Ok(n))
            }
            Err(Error::WouldBlock) => {
                if let Some(w) = inner.wakers.get_mut(&this.handle) {
                    w.write = Some(cx.waker().clone());
                }
                // What is queued still has to go.
                this.shared.flush(&mut inner);
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written bytes are queued in the connection and sent as the
        // window allows (as a TCP socket's are): nothing to wait for.
        let this = self.get_mut();
        let mut inner = this.shared.lock();
        this.shared.flush(&mut inner);
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut inner = this.shared.lock();
        if let Some(c) = inner.endpoint.connection_mut(this.handle) {
            c.close();
        }
        this.shared.flush(&mut inner);
        Poll::Ready(Ok(()))
    }
}

impl Drop for UtpStream {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.wakers.remove(&self.handle);
        let dialling = inner
            .endpoint
            .connection(self.handle)
            .is_some_and(|c| c.state() == State::SynSent);
        if dialling {
            // A connect given up (its future dropped, say by a time-out):
            // no SYN retransmits left behind.
            inner.endpoint.abort(self.handle);
        } else {
            inner.endpoint.release(self.handle);
        }
        self.shared.flush(&mut inner);
        drop(inner);
        self.shared.notify.notify_one();
    }
}
