//! Session and per-torrent settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::dht::DhtConfig;
use crate::file_selection::FilePriority;
use crate::storage::Allocation;
use crate::transport::Transports;

/// Settings of a [`Session`](crate::Session).
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Where to accept incoming peer connections: TCP and uTP (UDP) on the
    /// same port number ([`transports`](Self::transports)). Port 0 picks
    /// a port free for both; `None` accepts none. Default `0.0.0.0:0`. A
    /// specific IP (not `0.0.0.0` or `::`) is also where every outgoing
    /// connection leaves from: peers (TCP and uTP), HTTP and UDP trackers
    /// ([`SessionConfig::bind_ip`]); peers of the other IP version are
    /// then not dialled.
    pub listen: Option<SocketAddr>,
    /// The first bytes of our 20-byte peer id (BEP 20 style); the rest is
    /// random. Default `-SB0100-`.
    pub peer_id_prefix: Vec<u8>,
    /// Most peer connections per torrent. Default 50.
    pub max_peers: usize,
    /// Upload slots: peers unchoked by rate, re-chosen every 10 s, plus one
    /// optimistic unchoke rotated every 30 s (BEP 3 "choking"). Default 4.
    pub unchoke_slots: usize,
    /// Most outstanding block requests we send one peer, also capped by
    /// its `reqq` (BEP 10). Default 500.
    pub max_requests_per_peer: usize,
    /// Most requests we queue from one peer (our `reqq`, BEP 10), 12
    /// bytes each. Default 2000, as libtorrent's
    /// `max_allowed_in_request_queue`: a libtorrent leecher keeps as many
    /// blocks requested as our `reqq` allows, and fetched 1 GiB from us
    /// in 1.1x the time with 500 (8 MiB in flight) and 2x with 250 as
    /// with 2000 (`scripts/bench-seed.sh`, seed
    /// `--max-queued-requests`).
    pub max_queued_uploads: usize,
    /// A requested block not received in this time is requested again
    /// elsewhere. Default 20 s.
    pub request_timeout: Duration,
    /// Time to establish a TCP connection and exchange handshakes.
    /// Default 10 s.
    pub connect_timeout: Duration,
    /// Hashing threads used for verification; 0 means one per core.
    pub hashing_threads: usize,
    /// Bytes of a torrent's complete pieces that may wait for their hash
    /// check and write; past it, its peers send no new requests until the
    /// hashing threads catch up (back-pressure: memory stays bounded and
    /// the data is still in the CPU caches when hashed). Two pieces per
    /// hashing thread are always allowed. Default 32 MiB.
    pub max_unverified_bytes: u64,
    /// User agent for HTTP trackers and `v` in the extension handshake.
    pub user_agent: String,
    /// Time limit of one tracker request. Default 15 s.
    pub tracker_timeout: Duration,
    /// Largest info dictionary accepted from peers for a magnet link
    /// (BEP 9 `metadata_size`), checked before anything is allocated.
    /// Default 30 MiB, as libtorrent.
    pub max_metadata_size: u32,
    /// Most piece payload received per second by all torrents together,
    /// in bytes; 0 is no limit (the default). Change it at run time with
    /// [`Session::set_download_limit`](crate::Session::set_download_limit).
    pub download_rate_limit: u64,
    /// Most piece payload sent per second by all torrents together, in
    /// bytes; 0 is no limit (the default).
    pub upload_rate_limit: u64,
    /// A folder for every torrent's resume data (fast resume), one file
    /// `<info hash in hex>.resume` per torrent, used when the torrent's
    /// [`AddTorrentOptions::resume_file`] is not set. `None` (the
    /// default): no resume data unless a torrent names its file.
    pub resume_dir: Option<PathBuf>,
    /// While pieces are being verified, resume data is saved this often
    /// (besides on pause, on completion and when the torrent stops).
    /// Default 120 s.
    pub resume_save_interval: Duration,
    /// Message Stream Encryption (MSE/PE) policy, both directions.
    /// Default: enabled both ways, plaintext or RC4 payload, as libtorrent.
    pub encryption: crate::encryption::EncryptionConfig,
    /// The Mainline DHT (BEP 5): on by default for public torrents, on a
    /// UDP socket bound to the `listen` address and port, joining through
    /// the public routers. Tests set loopback nodes
    /// ([`DhtConfig::with_bootstrap`]) or turn it off
    /// ([`DhtConfig::disabled`]).
    pub dht: DhtConfig,
    /// Transports of peer connections: TCP and uTP (BEP 29; dial uTP
    /// first, then TCP), TCP only, or uTP only. Default
    /// [`Transports::Both`]. uTP shares the UDP socket of the DHT.
    pub transports: Transports,
    /// Time the uTP attempt of a dial gets before it falls back to TCP
    /// (with [`Transports::Both`]; alone, uTP gets `connect_timeout`).
    /// Default 3 s (libtorrent's `utp_connect_timeout`).
    pub utp_connect_timeout: Duration,
    /// The uTP socket's settings: packet size (MTU), buffers, LEDBAT
    /// target, connection limits (half-open, total, accept backlog).
    /// Default: seedbed-utp's defaults (`EndpointConfig::default()`).
    pub utp: seedbed_utp::EndpointConfig,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            listen: Some(SocketAddr::from(([0, 0, 0, 0], 0))),
            peer_id_prefix: b"-SB0100-".to_vec(),
            max_peers: 50,
            unchoke_slots: 4,
            max_requests_per_peer: 500,
            max_queued_uploads: 2000,
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            hashing_threads: 0,
            max_unverified_bytes: 32 * 1024 * 1024,
            user_agent: concat!("seedbed/", env!("CARGO_PKG_VERSION")).to_string(),
            tracker_timeout: Duration::from_secs(15),
            max_metadata_size: 30 * 1024 * 1024,
            download_rate_limit: 0,
            upload_rate_limit: 0,
            resume_dir: None,
            resume_save_interval: Duration::from_secs(120),
            encryption: crate::encryption::EncryptionConfig::default(),
            dht: DhtConfig::default(),
            transports: Transports::Both,
            utp_connect_timeout: Duration::from_secs(3),
            utp: seedbed_utp::EndpointConfig::default(),
        }
    }
}

/// Options for one torrent added with
/// [`Session::add_torrent`](crate::Session::add_torrent).
#[derive(Clone, Debug)]
pub struct AddTorrentOptions {
    /// The download folder: files are laid out below it (multi-file
    /// torrents in a folder named after the torrent).
    pub output_dir: PathBuf,
    /// Peers to connect to, besides those from trackers.
    pub peers: Vec<SocketAddr>,
    /// Announce to the torrent's trackers. Default `true`.
    pub trackers: bool,
    /// Most peer connections for this torrent; `None` uses the session's.
    pub max_peers: Option<usize>,
    /// Keep seeding after completion. Default `true`; `false` disconnects
    /// once every piece is verified.
    pub seed: bool,
    /// Start paused. Default `false`.
    pub paused: bool,
    /// How new files are sized on disk. Default
    /// [`Allocation::Preallocate`].
    pub allocation: Allocation,
    /// Flush the files to the disk (`fsync`) when the last piece is
    /// verified, before [`Event::Completed`](crate::Event::Completed).
    /// Default `false`, as libtorrent and Transmission: verified pieces are
    /// written (in the page cache) before they count as done, which
    /// survives the process being killed but not a power loss.
    pub sync_on_completion: bool,
    /// Most piece payload this torrent receives per second, in bytes; 0
    /// is no limit (the default). The session's limit applies too.
    pub download_limit: u64,
    /// Most piece payload this torrent sends per second, in bytes; 0 is
    /// no limit (the default).
    pub upload_limit: u64,
    /// Where this torrent's resume data is read at start and saved (fast
    /// resume: see `ResumeData`). `None` (the default) uses
    /// `<info hash in hex>.resume` in [`SessionConfig::resume_dir`], if
    /// that is set.
    pub resume_file: Option<PathBuf>,
    /// Priority of each file by index (the torrent's files in order, pad
    /// files not counted, from 0; the `info` example prints them); files
    /// past the end of the list get [`default_file_priority`](Self::default_file_priority).
    /// A list longer than the torrent's files is an
    /// [`Error::FileIndex`](crate::Error::FileIndex) when the torrent
    /// starts. Default empty.
    pub file_priorities: Vec<FilePriority>,
    /// Priority of files not in [`file_priorities`](Self::file_priorities).
    /// Default [`FilePriority::Normal`].
    pub default_file_priority: FilePriority,
    /// Fetch pieces in order (for streaming) instead of rarest first; see
    /// `TorrentHandle::set_sequential`. Default `false`.
    pub sequential: bool,
}

impl AddTorrentOptions {
    /// Defaults with `output_dir` as the download folder.
    pub fn new(output_dir: impl Into<PathBuf>) -> Self {
        AddTorrentOptions {
            output_dir: output_dir.into(),
            peers: Vec::new(),
            trackers: true,
            max_peers: None,
            seed: true,
            paused: false,
            allocation: Allocation::default(),
            sync_on_completion: false,
            download_limit: 0,
            upload_limit: 0,
            resume_file: None,
            file_priorities: Vec::new(),
            default_file_priority: FilePriority::Normal,
            sequential: false,
        }
    }

    /// Adds peers to connect to.
    pub fn peers(mut self, peers: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.peers.extend(peers);
        self
    }

    /// Announces to trackers or not.
    pub fn trackers(mut self, on: bool) -> Self {
        self.trackers = on;
        self
    }

    /// Sets the peer connection limit.
    pub fn max_peers(mut self, n: usize) -> Self {
        self.max_peers = Some(n);
        self
    }

    /// Seeds after completion or not.
    pub fn seed(mut self, on: bool) -> Self {
        self.seed = on;
        self
    }

    /// Sets how new files are sized on disk.
    pub fn allocation(mut self, allocation: Allocation) -> Self {
        self.allocation = allocation;
        self
    }

    /// Flushes the files to the disk at completion or not.
    pub fn sync_on_completion(mut self, on: bool) -> Self {
        self.sync_on_completion = on;
        self
    }

    /// Reads and saves resume data at `path`.
    pub fn resume_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.resume_file = Some(path.into());
        self
    }

    /// Sets the priority of each file, by index (see
    /// [`file_priorities`](Self::file_priorities)).
    pub fn file_priorities(mut self, priorities: impl IntoIterator<Item = FilePriority>) -> Self {
        self.file_priorities = priorities.into_iter().collect();
        self
    }

    /// Downloads only the files with these indexes (the torrent's files in
    /// order, pad files not counted, from 0); the others are skipped.
    pub fn only_files(mut self, indexes: impl IntoIterator<Item = usize>) -> Self {
        let indexes: Vec<usize> = indexes.into_iter().collect();
        let len = indexes.iter().max().map_or(0, |m| m + 1);
        self.file_priorities = vec![FilePriority::Skip; len];
        for i in indexes {
            self.file_priorities[i] = FilePriority::Normal;
        }
        self.default_file_priority = FilePriority::Skip;
        self
    }

    /// Fetches pieces in order (streaming) or not.
    pub fn sequential(mut self, on: bool) -> Self {
        self.sequential = on;
        self
    }

    /// Starts paused or not.
    pub fn paused(mut self, on: bool) -> Self {
        self.paused = on;
        self
    }

    /// Sets the download limit in bytes per second (0: none).
    pub fn download_limit(mut self, bytes_per_second: u64) -> Self {
        self.download_limit = bytes_per_second;
        self
    }

    /// Sets the upload limit in bytes per second (0: none).
    pub fn upload_limit(mut self, bytes_per_second: u64) -> Self {
        self.upload_limit = bytes_per_second;
        self
    }
}
