//! `MseStream`: the MSE handshake over a tokio stream, then transparent
//! RC4 (or plaintext) on everything read and written, so the peer wire
//! codecs run over it unchanged. Generic over the transport (TCP, uTP, an
//! in-memory pipe): nothing here is specific to one.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use seedbed_metainfo::InfoHash;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::cipher::Rc4Pair;
use super::error::Error;
use super::keys::SkeyHash;
use super::{classify, Config, Established, Incoming, Initiator, Method, Responder, Secrets};

/// Most bytes encrypted ahead of the transport in one write: 64 KiB.
const WRITE_BUF: usize = 64 * 1024;
/// Bytes asked of the transport per read during the handshake.
const HANDSHAKE_READ: usize = 4096;

/// A peer connection after the MSE handshake (or a plain one, for a
/// single connection type): reads are decrypted in place in the caller's
/// buffer; writes are encrypted into an internal 64 KiB buffer in one pass
/// (the caller's bytes are borrowed immutably) and written from there.
/// Bytes that arrived with the handshake (IA, and anything after it) are
/// read first. With plaintext (selected in MSE, or a plain BitTorrent
/// connection) reads and writes go straight through.
///
/// Made by [`connect`], [`accept`] or [`MseStream::plaintext`].
pub struct MseStream<S> {
    inner: S,
    /// `None` for a plain BitTorrent connection (no MSE handshake).
    method: Option<Method>,
    info_hash: Option<InfoHash>,
    rc4: Option<Rc4Pair>,
    /// Plaintext bytes received with the handshake, read before the
    /// transport.
    pending: BytesMut,
    /// Encrypted bytes not yet written: `out[start..end]`.
    out: Vec<u8>,
    start: usize,
    end: usize,
}

impl<S> MseStream<S> {
    /// A plain BitTorrent connection (no MSE), whose first bytes
    /// `already_read` were read to classify it; they are read first.
    pub fn plaintext(inner: S, already_read: BytesMut) -> MseStream<S> {
        MseStream {
            inner,
            method: None,
            info_hash: None,
            rc4: None,
            pending: already_read,
            out: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    fn established(inner: S, est: Established, pending: BytesMut) -> MseStream<S> {
        MseStream {
            inner,
            method: Some(est.method),
            info_hash: Some(est.info_hash),
            rc4: est.rc4,
            pending,
            out: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// The MSE method of the payload stream, or `None` for a plain
    /// BitTorrent connection.
    pub fn method(&self) -> Option<Method> {
        self.method
    }

    /// Whether an MSE handshake took place (the payload may still be
    /// plaintext: see [`method`](Self::method)).
    pub fn is_mse(&self) -> bool {
        self.method.is_some()
    }

    /// The torrent the MSE handshake named (SKEY), if there was one.
    pub fn info_hash(&self) -> Option<InfoHash> {
        self.info_hash
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The transport, mutably (writing to it directly would corrupt an RC4
    /// stream).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The transport and the bytes received with the handshake that were
    /// not read yet (to be read before the transport's), when the payload
    /// stream is plaintext (a plain connection, or MSE that selected
    /// plaintext) and nothing waits to be written: from there the
    /// transport can be used directly, e.g. split into halves.
    ///
    /// # Errors
    /// Gives the stream back unchanged (boxed: it is large) when its
    /// payload is RC4 or bytes still wait to be written.
    pub fn into_plaintext(self) -> Result<(S, BytesMut), Box<MseStream<S>>> {
        if self.rc4.is_some() || self.start < self.end {
            return Err(Box::new(self));
        }
        Ok((self.inner, self.pending))
    }
}

impl<S: fmt::Debug> fmt::Debug for MseStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MseStream")
            .field("inner", &self.inner)
            .field("method", &self.method)
            .field("info_hash", &self.info_hash)
            .field("pending", &self.pending.len())
            .field("unwritten", &(self.end - self.start))
            .finish()
    }
}

impl<S: AsyncWrite + Unpin> MseStream<S> {
    /// Writes out what is already encrypted.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.start < self.end {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.start..self.end]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.start += n;
        }
        self.start = 0;
        self.end = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MseStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.pending.is_empty() {
            let n = buf.remaining().min(this.pending.len());
            buf.put_slice(&this.pending[..n]);
            this.pending.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some(rc4) = &mut this.rc4 {
            rc4.decrypt.apply(&mut buf.filled_mut()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MseStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(data)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(rc4) = this.rc4.as_mut() else {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        };
        if this.start < this.end {
            // Room is made only by writing out what is encrypted already.
            let n =
                ready!(Pin::new(&mut this.inner).poll_write(cx, &this.out[this.start..this.end]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.start += n;
            if this.start < this.end {
                // Keep what is left in front; take new bytes behind it.
                this.out.copy_within(this.start..this.end, 0);
                this.end -= this.start;
                this.start = 0;
            } else {
                this.start = 0;
                this.end = 0;
            }
        }
        if this.out.is_empty() {
            this.out = vec![0; WRITE_BUF];
        }
        let mut taken = 0;
        for b in bufs {
            let room = WRITE_BUF - this.end;
            if room == 0 {
                break;
            }
            let n = b.len().min(room);
            rc4.encrypt
                .apply_to(&b[..n], &mut this.out[this.end..this.end + n]);
            this.end += n;
            taken += n;
        }
        if taken == 0 && bufs.iter().any(|b| !b.is_empty()) {
            // Full: wait for the transport.
            ready!(this.poll_drain(cx))?;
            return Pin::new(this).poll_write_vectored(cx, bufs);
        }
        // Start writing at once; what the transport does not take now goes
        // out on the next write or flush.
        let _ = this.poll_drain(cx)?;
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        self.rc4.is_some() || self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

async fn with_timeout<T>(
    limit: Duration,
    f: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or(Err(Error::TimedOut))
}

/// Reads more of the handshake into `buf`; `Closed` at end of stream.
async fn read_more<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    received: &mut u64,
) -> Result<(), Error> {
    buf.reserve(HANDSHAKE_READ);
    let n = io.read_buf(buf).await?;
    if n == 0 {
        return Err(Error::Closed {
            received: *received,
        });
    }
    *received += n as u64;
    Ok(())
}

/// Runs the initiator side of the MSE handshake on `io` (a connection we
/// opened) for the torrent `info_hash`, sending `initial_payload` (IA,
/// usually our 68-byte BitTorrent handshake) in step 3. The whole
/// handshake must finish within `timeout`.
///
/// # Errors
/// Those of [`Initiator::new`] and [`Initiator::receive`];
/// [`Error::TimedOut`]; [`Error::Closed`] when the peer closes (a peer
/// that refuses encryption usually does); [`Error::Io`].
pub async fn connect<S>(
    mut io: S,
    info_hash: InfoHash,
    initial_payload: &[u8],
    config: &Config,
    secrets: Secrets,
    timeout: Duration,
) -> Result<MseStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut machine = Initiator::new(config, info_hash, initial_payload, secrets)?;
    let (est, buf) = with_timeout(timeout, async {
        let mut buf = BytesMut::new();
        let mut received = 0;
        loop {
            if let Some(out) = machine.poll_transmit() {
                io.write_all(&out).await?;
                io.flush().await?;
            }
            read_more(&mut io, &mut buf, &mut received).await?;
            if let Some(est) = machine.receive(&mut buf)? {
                return Ok((est, buf));
            }
        }
    })
    .await?;
    Ok(MseStream::established(io, est, buf))
}

/// What [`accept`] lets in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptOptions {
    /// Accept plain BitTorrent connections. Default `true`.
    pub allow_plaintext: bool,
    /// Accept MSE connections. Default `true`.
    pub allow_encrypted: bool,
    /// Settings of the MSE responder.
    pub config: Config,
    /// Time limit of the whole handshake (classification included).
    /// Default 10 s.
    pub timeout: Duration,
}

impl Default for AcceptOptions {
    fn default() -> Self {
        AcceptOptions {
            allow_plaintext: true,
            allow_encrypted: true,
            config: Config::default(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Accepts an incoming connection: reads until its first bytes tell a
/// plain BitTorrent handshake from an MSE one ([`classify`]), then returns
/// a plain [`MseStream`] (the bytes read so far are read again first) or
/// runs the responder side of MSE with `secrets`, finding the torrent with
/// `lookup` (`HASH('req2', SKEY)` to info hash; see [`SkeyHash`]).
///
/// # Errors
/// [`Error::Refused`] for a kind `options` does not allow; those of
/// [`Responder::receive`]; [`Error::TimedOut`]; [`Error::Closed`];
/// [`Error::Io`].
pub async fn accept<S, F>(
    mut io: S,
    options: &AcceptOptions,
    secrets: Secrets,
    mut lookup: F,
) -> Result<MseStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(&SkeyHash) -> Option<InfoHash>,
{
    let mut machine = Responder::new(&options.config, secrets)?;
    let outcome = with_timeout(options.timeout, async {
        let mut buf = BytesMut::new();
        let mut received = 0;
        let kind = loop {
            if let Some(kind) = classify(&buf) {
                break kind;
            }
            read_more(&mut io, &mut buf, &mut received).await?;
        };
        match kind {
            Incoming::Plaintext if options.allow_plaintext => return Ok((None, buf)),
            Incoming::Plaintext => return Err(Error::Refused { kind: "plaintext" }),
            Incoming::Encrypted if !options.allow_encrypted => {
                return Err(Error::Refused { kind: "encrypted" })
            }
            Incoming::Encrypted => {}
        }
        loop {
            let done = machine.receive(&mut buf, &mut lookup)?;
            if let Some(out) = machine.poll_transmit() {
                io.write_all(&out).await?;
                io.flush().await?;
            }
            if let Some(est) = done {
                return Ok((Some(est), buf));
            }
            read_more(&mut io, &mut buf, &mut received).await?;
        }
    })
    .await?;
    Ok(match outcome {
        (Some(est), buf) => MseStream::established(io, est, buf),
        (None, buf) => MseStream::plaintext(io, buf),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plaintext_stream_gives_back_its_transport_and_unread_bytes() {
        let s = MseStream::plaintext(vec![1u8, 2], BytesMut::from(&b"\x13Bit"[..]));
        let (inner, pending) = s.into_plaintext().unwrap();
        assert_eq!(inner, vec![1, 2]);
        assert_eq!(&pending[..], b"\x13Bit");
    }
}
