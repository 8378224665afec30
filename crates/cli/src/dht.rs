//! `seedbed dht` (flags and output) and the DHT flags of `download`,
//! `seed` and `tui` ([`DhtFlags`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use seedbed::dht::{InfoHash, LookupStats, NodeId, NodeInfo};
use seedbed::session::DhtConfig;

/// The DHT flags of the session commands (`download`, `seed`, `tui`).
///
/// ```
/// use clap::Parser;
/// use seedbed_cli::dht::DhtFlags;
///
/// #[derive(Parser)]
/// struct Cmd {
///     #[command(flatten)]
///     dht: DhtFlags,
/// }
/// let off = Cmd::parse_from(["x", "--no-dht"]).dht.config();
/// assert!(!off.enabled);
/// let local = Cmd::parse_from(["x", "--dht-bootstrap", "127.0.0.1:6881"]).dht.config();
/// assert_eq!(local.bootstrap, ["127.0.0.1:6881"]);
/// ```
#[derive(Args, Debug, Clone, Default)]
pub struct DhtFlags {
    /// Do not use the DHT (BEP 5): peers come only from trackers, PeX and
    /// the peers given. (Private torrents never use it.)
    #[arg(long, conflicts_with_all = ["dht_bootstrap", "dht_state"])]
    pub no_dht: bool,
    /// DHT nodes to join through, `host:port` (one or more); default: the
    /// public routers (router.bittorrent.com:6881,
    /// router.utorrent.com:6881, dht.transmissionbt.com:6881,
    /// dht.libtorrent.org:25401).
    #[arg(long, num_args = 1.., value_name = "ADDR", value_parser = parse_node)]
    pub dht_bootstrap: Vec<String>,
    /// Keep the DHT routing table in this file between runs (read at
    /// start, written at exit and every 10 minutes), so the next run
    /// bootstraps at once.
    #[arg(long, value_name = "FILE")]
    pub dht_state: Option<PathBuf>,
}

impl DhtFlags {
    /// The session's DHT settings for these flags.
    pub fn config(&self) -> DhtConfig {
        if self.no_dht {
            return DhtConfig::disabled();
        }
        let mut c = if self.dht_bootstrap.is_empty() {
            DhtConfig::default()
        } else {
            DhtConfig::with_bootstrap(self.dht_bootstrap.iter().cloned())
        };
        c.state_file = self.dht_state.clone();
        c
    }
}

/// Checks that `s` is `host:port` (a name or an address, and a port
/// number); the name is resolved later.
///
/// # Errors
/// A message saying what is wrong, for clap.
pub fn parse_node(s: &str) -> Result<String, String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(s.to_owned());
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("{s:?} is not host:port"));
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(format!("{s:?}: bad host name"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("{s:?}: bad port {port:?}"))?;
    Ok(s.to_owned())
}

/// A Mainline DHT node (BEP 5): ping a node, look up the peers of a
/// torrent, announce one, ask a node for a sample of its info hashes
/// (BEP 51), or serve as a node.
///
/// `get-peers` and `announce` without --bootstrap join the public DHT
/// through its routers; `serve` without it joins nothing and waits for
/// others to join it. Errors go to stderr; the exit status is then 1.
#[derive(Parser, Debug, Clone)]
#[command(name = "dht")]
pub struct DhtArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DhtCommand,
    /// DHT nodes to join through, `host:port` (one or more).
    #[arg(long, global = true, num_args = 1.., value_name = "ADDR", value_parser = parse_node)]
    pub bootstrap: Vec<String>,
    /// The IPv4 address to bind.
    #[arg(long, global = true, value_name = "ADDR", default_value = "0.0.0.0:0")]
    pub bind: SocketAddr,
    /// An IPv6 address to bind as well (BEP 32); bound to `[::]:0` on its
    /// own when a node given is IPv6.
    #[arg(long, global = true, value_name = "ADDR")]
    pub bind6: Option<SocketAddr>,
    /// Routing table file: read at start if present, written at exit.
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Give up after this many seconds (`serve` and `announce --stay` run
    /// until interrupted).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Print one JSON object instead of text (`serve`: one line when
    /// ready, one when stopping); see each command's help for the keys.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The `dht` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum DhtCommand {
    /// Ping one node: prints its node id and the round trip time. JSON:
    /// `addr`, `id`, `ms`.
    Ping {
        /// The node, `host:port`.
        #[arg(value_parser = parse_node)]
        addr: String,
    },
    /// Look up the peers of a torrent (iterative `get_peers`); text output
    /// prints peers as they are found. JSON: `info_hash`, `peers` (a list
    /// of `ip:port`), `seconds`, `hops`, `queries`, `responses`,
    /// `timeouts`.
    GetPeers {
        /// The info hash, 40 hex digits.
        info_hash: InfoHash,
    },
    /// Announce that a peer of the torrent listens on --port (a
    /// `get_peers` lookup, then `announce_peer` to the 8 closest nodes
    /// that gave tokens). JSON: `info_hash`, `port`, `acked`, `sent`,
    /// `peers`, `seconds`, `hops`, `queries`, `responses`, `timeouts`.
    Announce {
        /// The info hash, 40 hex digits.
        info_hash: InfoHash,
        /// The TCP/uTP port to announce.
        #[arg(long, required_unless_present = "implied_port")]
        port: Option<u16>,
        /// Announce the DHT's own UDP port instead (`implied_port`).
        #[arg(long)]
        implied_port: bool,
        /// Keep the node running (answering queries, re-announcing every
        /// 30 minutes) until Ctrl-C.
        #[arg(long)]
        stay: bool,
    },
    /// Ask one node for a sample of the info hashes it stores (BEP 51).
    /// JSON: `addr`, `id`, `num`, `interval`, `samples`, `nodes` (each
    /// `id`, `addr`).
    Sample {
        /// The node, `host:port`.
        #[arg(value_parser = parse_node)]
        addr: String,
        /// The id near which the node returns nodes (40 hex digits).
        #[arg(long, default_value = "0000000000000000000000000000000000000000")]
        target: NodeId,
    },
    /// Serve as a DHT node (answer queries, store announced peers) until
    /// Ctrl-C, after joining through --bootstrap if given: a bootstrap
    /// node for a private swarm or a test. Prints its id and address once
    /// ready (JSON: `id`, `addrs`), and what it served when stopping
    /// (JSON: `queries`, `nodes`, `info_hashes`, `peers`).
    Serve,
}

fn lookup_fields(s: &LookupStats) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("hops".into(), s.hops.into());
    m.insert("queries".into(), s.queries.into());
    m.insert("responses".into(), s.responses.into());
    m.insert("timeouts".into(), s.timeouts.into());
    m
}

/// One line about a lookup's counters.
pub fn lookup_summary(s: &LookupStats) -> String {
    format!(
        "{} hops, {} queries, {} responses, {} timeouts",
        s.hops, s.queries, s.responses, s.timeouts
    )
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The answer to `ping`; ends with a newline.
pub fn render_pong(node: &NodeInfo, ms: f64, json: bool) -> String {
    if json {
        let v = serde_json::json!({
            "addr": node.addr.to_string(),
            "id": node.id.to_hex(),
            "ms": round3(ms),
        });
        return format!("{v}\n");
    }
    format!("pong from {} ({}) in {ms:.1} ms\n", node.addr, node.id)
}

/// The end of `get-peers` (text: the summary, the peers were printed as
/// found; JSON: everything); ends with a newline.
pub fn render_peers(
    info_hash: InfoHash,
    peers: &[SocketAddr],
    seconds: f64,
    stats: &LookupStats,
    json: bool,
) -> String {
    if json {
        let mut m = lookup_fields(stats);
        m.insert("info_hash".into(), info_hash.to_string().into());
        m.insert(
            "peers".into(),
            peers
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .into(),
        );
        m.insert("seconds".into(), round3(seconds).into());
        return format!("{}\n", serde_json::Value::Object(m));
    }
    format!(
        "{} peers in {seconds:.2} s; {}\n",
        peers.len(),
        lookup_summary(stats)
    )
}

/// The end of `announce` (text: the other peers found and a summary);
/// ends with a newline.
pub fn render_announce(
    info_hash: InfoHash,
    port: Option<u16>,
    peers: &[SocketAddr],
    seconds: f64,
    stats: &LookupStats,
    json: bool,
) -> String {
    if json {
        let mut m = lookup_fields(stats);
        m.insert("info_hash".into(), info_hash.to_string().into());
        m.insert("port".into(), port.into());
        m.insert("acked".into(), stats.announces_acked.into());
        m.insert("sent".into(), stats.announces_sent.into());
        m.insert(
            "peers".into(),
            peers
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .into(),
        );
        m.insert("seconds".into(), round3(seconds).into());
        return format!("{}\n", serde_json::Value::Object(m));
    }
    let mut out: String = peers.iter().map(|p| format!("peer {p}\n")).collect();
    out.push_str(&format!(
        "announced to {} of {} nodes in {seconds:.2} s; {} other peers; {}\n",
        stats.announces_acked,
        stats.announces_sent,
        peers.len(),
        lookup_summary(stats)
    ));
    out
}

/// The answer to `sample` (BEP 51); ends with a newline.
pub fn render_sample(sample: &seedbed::dht::driver::Sample, json: bool) -> String {
    if json {
        let v = serde_json::json!({
            "addr": sample.node.addr.to_string(),
            "id": sample.node.id.to_hex(),
            "num": sample.num,
            "interval": sample.interval,
            "samples": sample.samples.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
            "nodes": sample.nodes.iter().map(|n| serde_json::json!({
                "id": n.id.to_hex(),
                "addr": n.addr.to_string(),
            })).collect::<Vec<_>>(),
        });
        return format!("{v}\n");
    }
    let or_q = |n: Option<i64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let mut out = format!(
        "{} ({}) stores {} info hashes; sample again in {} s\n",
        sample.node.addr,
        sample.node.id,
        or_q(sample.num),
        or_q(sample.interval)
    );
    for h in &sample.samples {
        out.push_str(&format!("sample {h}\n"));
    }
    for n in &sample.nodes {
        out.push_str(&format!("node {} {}\n", n.id, n.addr));
    }
    out
}

/// The line `serve` prints once ready; ends with a newline.
pub fn render_serving(id: NodeId, addrs: &[SocketAddr], json: bool) -> String {
    if json {
        let v = serde_json::json!({
            "id": id.to_hex(),
            "addrs": addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        });
        return format!("{v}\n");
    }
    let addrs: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    format!("serving as node {id} on {}\n", addrs.join(", "))
}

/// The line `serve` prints when stopping; ends with a newline.
pub fn render_served(
    queries: u64,
    nodes: usize,
    info_hashes: usize,
    peers: usize,
    json: bool,
) -> String {
    if json {
        let v = serde_json::json!({
            "queries": queries,
            "nodes": nodes,
            "info_hashes": info_hashes,
            "peers": peers,
        });
        return format!("{v}\n");
    }
    format!(
        "answered {queries} queries; {nodes} nodes in the routing table, {peers} peers of {info_hashes} torrents stored; stopping\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses() {
        assert!(parse_node("127.0.0.1:6881").is_ok());
        assert!(parse_node("[::1]:6881").is_ok());
        assert!(parse_node("router.bittorrent.com:6881").is_ok());
        assert!(parse_node("router.bittorrent.com").is_err());
        assert!(parse_node("host:99999").is_err());
        assert!(parse_node(":6881").is_err());
        assert!(parse_node("a b:1").is_err());
    }

    #[test]
    fn flags_to_config() {
        assert!(DhtFlags::default().config().enabled);
        assert_eq!(
            DhtFlags::default().config().bootstrap.len(),
            seedbed::session::DEFAULT_DHT_BOOTSTRAP.len()
        );
        let off = DhtFlags {
            no_dht: true,
            ..DhtFlags::default()
        };
        assert!(!off.config().enabled);
        let f = DhtFlags {
            dht_bootstrap: vec!["127.0.0.1:1".into()],
            dht_state: Some("s".into()),
            ..DhtFlags::default()
        };
        let c = f.config();
        assert!(c.enabled);
        assert_eq!(c.bootstrap, ["127.0.0.1:1"]);
        assert_eq!(c.state_file, Some(PathBuf::from("s")));
    }

    #[test]
    fn json_outputs() {
        let stats = LookupStats {
            hops: 2,
            queries: 5,
            responses: 4,
            timeouts: 1,
            announces_sent: 3,
            announces_acked: 2,
            ..LookupStats::default()
        };
        let h: InfoHash = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:51413".parse().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&render_peers(h, &[peer], 0.5, &stats, true)).unwrap();
        assert_eq!(v["peers"][0], "127.0.0.1:51413");
        assert_eq!(v["hops"], 2);
        assert_eq!(v["info_hash"], h.to_string());
        let v: serde_json::Value =
            serde_json::from_str(&render_announce(h, Some(1), &[], 0.5, &stats, true)).unwrap();
        assert_eq!(
            (v["acked"].as_u64(), v["sent"].as_u64()),
            (Some(2), Some(3))
        );
        let text = render_announce(h, Some(1), &[peer], 0.5, &stats, false);
        assert!(text.starts_with("peer 127.0.0.1:51413\nannounced to 2 of 3 nodes"));
        let node = NodeInfo::new(NodeId([1; 20]), peer);
        let v: serde_json::Value = serde_json::from_str(&render_pong(&node, 1.25, true)).unwrap();
        assert_eq!(v["id"], "01".repeat(20));
        let v: serde_json::Value =
            serde_json::from_str(&render_serving(NodeId([2; 20]), &[peer], true)).unwrap();
        assert_eq!(v["addrs"][0], "127.0.0.1:51413");
        let v: serde_json::Value = serde_json::from_str(&render_served(7, 3, 1, 2, true)).unwrap();
        assert_eq!(v["queries"], 7);
    }
}
