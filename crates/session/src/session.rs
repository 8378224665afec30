//! The session: a listening socket, a hashing pool, and the torrents.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use rand::Rng;
use seedbed_metainfo::{InfoHash, PeerId, Torrent, Version};
use seedbed_peer_wire::{HandshakeCodec, HandshakeEvent};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

use crate::config::{AddTorrentOptions, SessionConfig};
use crate::error::Error;
use crate::handle::TorrentHandle;
use crate::peer;
use crate::storage::Storage;
use crate::torrent::{new_shared, run_driver, Registry};
use crate::verify::HashPool;

/// A BitTorrent session: accepts peer connections on one port and runs any
/// number of torrents. Needs a multi-threaded tokio runtime.
///
/// ```no_run
/// # async fn f() -> Result<(), seedbed_session::Error> {
/// use seedbed_session::{AddTorrentOptions, Session, SessionConfig};
/// let torrent = seedbed_metainfo::Torrent::from_bytes(std::fs::read("a.torrent").unwrap())?;
/// let session = Session::new(SessionConfig::default()).await?;
/// let handle = session
///     .add_torrent(&torrent, AddTorrentOptions::new("downloads").seed(false))
///     .await?;
/// handle.wait_for_completion().await?;
/// session.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<SessionConfig>,
    registry: Arc<Registry>,
    peer_id: PeerId,
    listen_addr: Option<SocketAddr>,
    hasher: HashPool,
    listener: Mutex<Option<JoinHandle<()>>>,
}

/// A random peer id with `prefix` (cut to 20 bytes) in front.
fn make_peer_id(prefix: &[u8]) -> PeerId {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let mut id = [0u8; 20];
    let n = prefix.len().min(20);
    id[..n].copy_from_slice(&prefix[..n]);
    for b in &mut id[n..] {
        *b = ALPHABET[rng.random_range(0..ALPHABET.len())];
    }
    PeerId(id)
}

impl Session {
    /// Starts a session: binds the listening socket (if configured) and
    /// the hashing threads.
    ///
    /// # Errors
    /// [`Error::Io`] if the listen address cannot be bound.
    pub async fn new(config: SessionConfig) -> Result<Session, Error> {
        let registry: Arc<Registry> = Arc::new(Mutex::new(HashMap::new()));
        let (listen_addr, listener) = match config.listen {
            Some(addr) => {
                let l = TcpListener::bind(addr)
                    .await
                    .map_err(|e| Error::io(format!("listen on {addr}"), e))?;
                let local = l
                    .local_addr()
                    .map_err(|e| Error::io("listening address", e))?;
                let task = tokio::spawn(accept_loop(l, Arc::clone(&registry)));
                (Some(local), Some(task))
            }
            None => (None, None),
        };
        let hasher = HashPool::new(config.hashing_threads);
        let peer_id = make_peer_id(&config.peer_id_prefix);
        Ok(Session {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                registry,
                peer_id,
                listen_addr,
                hasher,
                listener: Mutex::new(listener),
            }),
        })
    }

    /// The address incoming peers connect to, if listening.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.inner.listen_addr
    }

    /// Our 20-byte peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// Adds a torrent: opens (creating) its files under
    /// `opts.output_dir`, checks the data already there, then downloads
    /// what is missing and seeds.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for v2-only torrents (v1 and hybrid are
    /// verified with SHA-1 piece hashes); [`Error::DuplicateTorrent`];
    /// [`Error::Io`] when the files cannot be created.
    pub async fn add_torrent(
        &self,
        torrent: &Torrent,
        opts: AddTorrentOptions,
    ) -> Result<TorrentHandle, Error> {
        let info = Arc::new(torrent.info().clone());
        if info.version() == Version::V2 {
            return Err(Error::Unsupported(
                "v2-only torrents (piece verification uses v1 SHA-1 hashes)",
            ));
        }
        let info_hash = info.info_hash();
        if self.lock_registry().contains_key(&info_hash) {
            return Err(Error::DuplicateTorrent(info_hash));
        }
        let dir = opts.output_dir.clone();
        let for_storage = Arc::clone(&info);
        let storage = tokio::task::spawn_blocking(move || Storage::open(for_storage, &dir))
            .await
            .map_err(|e| Error::io("open files", std::io::Error::other(e)))??;
        let (shared, cmd_rx) = new_shared(
            info,
            torrent.trackers().to_vec(),
            Arc::new(storage),
            Arc::clone(&self.inner.config),
            opts,
            self.inner.peer_id,
            self.inner.listen_addr.map(|a| a.port()),
            self.inner.hasher.clone(),
            Arc::downgrade(&self.inner.registry),
        );
        {
            let mut reg = self.lock_registry();
            if reg.contains_key(&info_hash) {
                return Err(Error::DuplicateTorrent(info_hash));
            }
            reg.insert(info_hash, Arc::clone(&shared));
        }
        tokio::spawn(run_driver(Arc::clone(&shared), cmd_rx));
        Ok(TorrentHandle { shared })
    }

    /// The torrent with this info hash, if it is in the session.
    pub fn torrent(&self, info_hash: &InfoHash) -> Option<TorrentHandle> {
        self.lock_registry()
            .get(info_hash)
            .map(|shared| TorrentHandle {
                shared: Arc::clone(shared),
            })
    }

    /// Every torrent in the session.
    pub fn torrents(&self) -> Vec<TorrentHandle> {
        self.lock_registry()
            .values()
            .map(|shared| TorrentHandle {
                shared: Arc::clone(shared),
            })
            .collect()
    }

    /// Stops every torrent gracefully (each sends `stopped` to its
    /// trackers, bounded by the tracker timeout) and closes the listening
    /// socket.
    pub async fn shutdown(&self) {
        let handles = self.torrents();
        futures_util::future::join_all(handles.iter().map(|h| h.remove())).await;
        if let Some(task) = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }

    fn lock_registry(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<InfoHash, Arc<crate::torrent::TorrentShared>>> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

async fn accept_loop(listener: TcpListener, registry: Arc<Registry>) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(%e, "accept");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let mut framed = Framed::new(stream, HandshakeCodec::early_info_hash());
            let first =
                tokio::time::timeout(std::time::Duration::from_secs(10), framed.next()).await;
            let Ok(Some(Ok(HandshakeEvent::Prefix(prefix)))) = first else {
                return;
            };
            let shared = registry
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&prefix.info_hash)
                .cloned();
            if let Some(shared) = shared {
                peer::accept(shared, framed, addr).await;
            }
        });
    }
}
