//! `seedbed download`: flags (PyBitTorrent's `--torrent --peers
//! --output-directory --use-progress-bar --max-peers` among them),
//! progress display, when to give up, and the final summary.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::ProgressBar;
use seedbed::session::{
    EncryptionConfig, EncryptionLevel, EncryptionPolicy, Stats, Status, Transports,
};

/// Download a torrent (PyBitTorrent's `Client.py`, as a seedbed program).
///
/// Shows a progress bar when asked or when stdout is a terminal, log lines
/// otherwise. Exits 0 only when every wanted piece is verified on disk; 1
/// with a clear error on bad input or when no peer can be reached within
/// --peer-timeout seconds. A file is created when its first piece is
/// written, so a download that never starts leaves nothing behind.
///
/// Resume data is saved in `<output-directory>/.seedbed/<info hash>.resume`
/// (or --resume-dir) on pause, completion, exit and every
/// --resume-interval seconds while pieces arrive. Running the same command
/// again trusts the files unchanged since, without reading them: on a
/// finished folder it exits at once.
#[derive(Parser, Debug, Clone)]
#[command(name = "download")]
pub struct DownloadArgs {
    /// The .torrent file.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "magnet",
        conflicts_with = "magnet"
    )]
    pub torrent: Option<PathBuf>,
    /// A magnet link (BEP 9) instead of a .torrent file: the info
    /// dictionary is fetched from the link's `x.pe` peers, its `tr`
    /// trackers, the DHT and the --peer/--peers addresses.
    #[arg(long, value_name = "URI")]
    pub magnet: Option<String>,
    /// Where files are written (multi-file torrents in a folder named after
    /// the torrent).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub output_directory: PathBuf,
    /// A file of peer addresses, one `ip:port` per line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub peers: Option<PathBuf>,
    /// A peer address `ip:port` (repeatable).
    #[arg(long = "peer", value_name = "ADDR")]
    pub peer: Vec<SocketAddr>,
    /// Most peer connections.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_peers: usize,
    /// Show a progress bar even when stdout is not a terminal.
    #[arg(long)]
    pub use_progress_bar: bool,
    /// Do not announce to the torrent's trackers.
    #[arg(long)]
    pub no_trackers: bool,
    /// Keep seeding after the download completes, until interrupted.
    #[arg(long)]
    pub seed: bool,
    /// Address to accept peer connections on (default: any address, a free
    /// port). A specific IP (e.g. a VPN's) is also where every outgoing
    /// connection leaves from: peers, HTTP and UDP trackers.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Give up when no peer connects and no data arrives within this many
    /// seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub peer_timeout: u64,
    /// Flush the files to the disk (fsync) before reporting completion.
    #[arg(long)]
    pub fsync: bool,
    /// Create sparse files instead of reserving their disk space up front.
    #[arg(long)]
    pub sparse: bool,
    /// Message Stream Encryption: `disabled` (plain connections only),
    /// `enabled` (either; dial plain, retry encrypted) or `forced`
    /// (encrypted only, both directions).
    #[arg(long, value_name = "POLICY", default_value = "enabled")]
    pub encryption: EncryptionPolicy,
    /// What an encrypted connection's payload may be: `plaintext`, `rc4`
    /// or `both`.
    #[arg(long, value_name = "LEVEL", default_value = "both")]
    pub encryption_level: EncryptionLevel,
    /// The DHT (BEP 5): on unless --no-dht, through the public routers
    /// unless --dht-bootstrap.
    #[command(flatten)]
    pub dht: crate::dht::DhtFlags,
    /// Peer transports: TCP and uTP (BEP 29, tried first) unless
    /// --utp-only or --no-utp.
    #[command(flatten)]
    pub transport: TransportFlags,
    /// Print the final summary as one JSON object (`name`, `info_hash`,
    /// `total_bytes`, `wanted_bytes` and `wanted_bytes_have` (bytes of the
    /// files asked for, see --only, and of them verified), `pieces`,
    /// `downloaded`, `uploaded`, `wasted`, `seconds`, `mib_per_second`,
    /// `hashing_seconds`) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Download at most this many bytes of piece payload per second, for
    /// the whole session (`500000`, `500k`, `2M`: k and M are KiB and MiB;
    /// 0: no limit).
    #[arg(long, value_name = "RATE", value_parser = crate::input::parse_size, default_value = "0")]
    pub max_download_rate: u64,
    /// Upload at most this many bytes of piece payload per second, for the
    /// whole session (suffixes as --max-download-rate; 0: no limit).
    #[arg(long, value_name = "RATE", value_parser = crate::input::parse_size, default_value = "0")]
    pub max_upload_rate: u64,
    /// Download only these files (indexes in the torrent's order, from 0,
    /// as `info` prints them), comma-separated. Bytes of other files that
    /// share a piece with them wait in `.<name>.parts` in the output
    /// folder. Progress counts the bytes of these files only.
    #[arg(long, value_delimiter = ',', value_name = "INDEX,...")]
    pub only: Vec<usize>,
    /// Fetch pieces in order (for playing a file while it downloads)
    /// instead of rarest first.
    #[arg(long)]
    pub sequential: bool,
    /// Neither read nor save resume data: check all the data on disk.
    #[arg(long, conflicts_with = "resume_dir")]
    pub no_resume: bool,
    /// Where resume data is kept (default: `.seedbed` in the output folder).
    #[arg(long, value_name = "DIR")]
    pub resume_dir: Option<PathBuf>,
    /// Seconds between saves of resume data while pieces arrive.
    #[arg(long, value_name = "SECS", default_value = "120", value_parser = positive_seconds)]
    pub resume_interval: Duration,
}

/// A positive, finite number of seconds (fractions allowed).
fn positive_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if secs > 0.0 {
        Duration::try_from_secs_f64(secs).map_err(|e| format!("{e}"))
    } else {
        Err("must be a positive number of seconds".to_owned())
    }
}

impl DownloadArgs {
    /// The session's resume folder: --resume-dir, else `.seedbed` in the
    /// output folder; `None` with --no-resume.
    pub fn resume_dir(&self) -> Option<PathBuf> {
        (!self.no_resume).then(|| {
            self.resume_dir
                .clone()
                .unwrap_or_else(|| self.output_directory.join(".seedbed"))
        })
    }

    /// Whether to draw a progress bar: asked for, or stdout is a terminal
    /// (and no JSON was asked for).
    pub fn progress_bar(&self) -> bool {
        self.use_progress_bar || (std::io::stdout().is_terminal() && !self.json)
    }

    /// The session's encryption settings from `--encryption` and
    /// `--encryption-level`.
    pub fn encryption(&self) -> EncryptionConfig {
        EncryptionConfig {
            level: self.encryption_level,
            ..EncryptionConfig::with_policy(self.encryption)
        }
    }
}

/// Progress while downloading: a bar, or a log line every 2 s.
#[derive(Debug)]
pub enum Progress {
    /// An indicatif bar on stderr.
    Bar(ProgressBar),
    /// `tracing` info lines, the time of the last one.
    Log(Instant),
}

/// The transport flags of `download` and `seed`: peer connections over
/// TCP and uTP (BEP 29; uTP is dialled first, TCP is the fallback, both
/// are accepted on the listen port), or one of them only.
///
/// ```
/// use clap::Parser;
/// use seedbed::session::Transports;
/// use seedbed_cli::download::TransportFlags;
///
/// #[derive(Parser)]
/// struct Cmd {
///     #[command(flatten)]
///     transport: TransportFlags,
/// }
/// assert_eq!(Cmd::parse_from(["x"]).transport.transports(), Transports::Both);
/// assert_eq!(Cmd::parse_from(["x", "--utp-only"]).transport.transports(), Transports::UtpOnly);
/// assert_eq!(Cmd::parse_from(["x", "--no-utp"]).transport.transports(), Transports::TcpOnly);
/// assert!(Cmd::try_parse_from(["x", "--utp-only", "--no-utp"]).is_err());
/// ```
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TransportFlags {
    /// Peer connections over uTP only (BEP 29): no TCP listener, no TCP
    /// dials.
    #[arg(long, conflicts_with = "no_utp")]
    pub utp_only: bool,
    /// Peer connections over TCP only: no uTP.
    #[arg(long)]
    pub no_utp: bool,
}

impl TransportFlags {
    /// The session's transports for these flags.
    pub fn transports(&self) -> Transports {
        match (self.utp_only, self.no_utp) {
            (true, _) => Transports::UtpOnly,
            (false, true) => Transports::TcpOnly,
            (false, false) => Transports::Both,
        }
    }
}

/// The peer count for the progress display: `N peers`, with how many use
/// uTP when any do (`5 peers (3 uTP)`).
pub fn peers_label(s: &Stats) -> String {
    if s.peers_utp > 0 {
        format!("{} peers ({} uTP)", s.peers, s.peers_utp)
    } else {
        format!("{} peers", s.peers)
    }
}

impl Progress {
    /// A bar when `bar`, else log lines (and then the log is set up).
    pub fn new(bar: bool, total: u64) -> Progress {
        if bar {
            Progress::Bar(crate::progress::download_bar(total))
        } else {
            crate::logging::init("info");
            Progress::Log(Instant::now())
        }
    }

    /// Shows `s`: the bar counts the wanted bytes (every file's unless
    /// some are skipped with `--only`), log lines say them too.
    pub fn update(&mut self, s: &Stats) {
        match self {
            Progress::Bar(bar) => {
                bar.set_length(s.wanted_bytes);
                bar.set_position(s.wanted_bytes_have);
                bar.set_message(peers_label(s));
            }
            Progress::Log(last) => {
                if last.elapsed() >= Duration::from_secs(2) {
                    *last = Instant::now();
                    tracing::info!(
                        "{:?}: {} of {} wanted bytes ({}), {}/{} pieces, {}, {}",
                        s.status,
                        s.wanted_bytes_have,
                        s.wanted_bytes,
                        crate::format::percent(s.wanted_bytes_have, s.wanted_bytes),
                        s.pieces_have,
                        s.num_pieces,
                        crate::format::rate(s.download_rate),
                        peers_label(s)
                    );
                }
            }
        }
    }

    /// Shows `s` a last time and clears the bar; in log mode, one line
    /// `progress wanted_bytes_have=N wanted_bytes=N percent=P`.
    pub fn finish(&self, s: &Stats) {
        match self {
            Progress::Bar(bar) => {
                bar.set_length(s.wanted_bytes);
                bar.set_position(s.wanted_bytes_have);
                bar.finish_and_clear();
            }
            Progress::Log(_) => tracing::info!(
                wanted_bytes_have = s.wanted_bytes_have,
                wanted_bytes = s.wanted_bytes,
                percent = %crate::format::percent(s.wanted_bytes_have, s.wanted_bytes),
                "progress"
            ),
        }
    }
}

/// Whether the download is done for the user: the torrent says every
/// wanted piece is verified (status `Seeding` or `Finished`) and every
/// byte of the wanted files is in a verified piece.
pub fn is_complete(s: &Stats) -> bool {
    matches!(s.status, Status::Seeding | Status::Finished) && s.wanted_bytes_have == s.wanted_bytes
}

/// Why to give up on a download `elapsed` after it started, given
/// `--peer-timeout` (`limit`): no peer and no data, metadata that never
/// came, or a failed torrent. `None` while it should go on.
pub fn give_up(s: &Stats, elapsed: Duration, limit: Duration) -> Option<String> {
    match &s.status {
        Status::Downloading if s.peers == 0 && s.downloaded == 0 && elapsed > limit => {
            Some(format!("no peer reachable within {} s", limit.as_secs()))
        }
        Status::FetchingMetadata if elapsed > limit => Some(format!(
            "no peer sent the metadata within {} s",
            limit.as_secs()
        )),
        Status::Failed(msg) => Some(msg.clone()),
        _ => None,
    }
}

/// The summary printed when the download completes; ends with a newline.
/// `hashing` is the time the session's hashing threads spent checking
/// pieces (SHA-1, or SHA-256 merkle trees for v2), summed over threads.
pub fn render_summary(
    name: &str,
    info_hash: &str,
    s: &Stats,
    elapsed: Duration,
    hashing: Duration,
    json: bool,
) -> String {
    let hashing = hashing.as_secs_f64();
    let secs = elapsed.as_secs_f64();
    let mibs = s.downloaded as f64 / 1_048_576.0 / secs.max(1e-3);
    if json {
        let v = serde_json::json!({
            "name": name,
            "info_hash": info_hash,
            "total_bytes": s.total_bytes,
            "wanted_bytes": s.wanted_bytes,
            "wanted_bytes_have": s.wanted_bytes_have,
            "pieces": s.num_pieces,
            "downloaded": s.downloaded,
            "uploaded": s.uploaded,
            "wasted": s.wasted,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "mib_per_second": (mibs * 10.0).round() / 10.0,
            "hashing_seconds": (hashing * 1000.0).round() / 1000.0,
        });
        return format!("{v}\n");
    }
    let size = if s.wanted_bytes_have < s.total_bytes {
        // Files skipped (or pad files): say what was fetched of what.
        format!("{} of {} bytes", s.wanted_bytes_have, s.total_bytes)
    } else {
        format!("{} bytes", s.total_bytes)
    };
    format!(
        "complete: {name} ({size}, {} pieces) in {secs:.1} s, {mibs:.1} MiB/s, hashing {hashing:.2} s\n",
        s.num_pieces,
    )
}
