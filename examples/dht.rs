//! A Mainline DHT node (BEP 5) on the command line, with seedbed-dht's tokio
//! driver: ping a node, look up the peers of a torrent, announce one, or ask
//! a node for a sample of its info hashes (BEP 51).
//!
//! ```text
//! cargo run --release --example dht -- ping ADDR [--bootstrap ADDR...]
//! cargo run --release --example dht -- get-peers HASH --bootstrap ADDR...
//! cargo run --release --example dht -- announce HASH --port P [--implied-port] [--stay] --bootstrap ADDR...
//! cargo run --release --example dht -- sample ADDR [--target HEX]
//! ```
//!
//! `ADDR` is `host:port`. `get-peers` and `announce` without `--bootstrap`
//! join the public DHT through the well-known routers; tests and demos
//! always pass loopback nodes. `--state FILE` keeps the routing table
//! between runs (BEP 5), so the next run bootstraps from the nodes it
//! knew. `RUST_LOG=seedbed_dht=debug` shows what the node does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use seedbed::dht::driver::{DhtNode, DriverConfig};
use seedbed::dht::{Error, Event, InfoHash, LookupStats, NodeId, RoutingState};

/// Bootstrap routers of the public DHT, used when `--bootstrap` is not given
/// to `get-peers` or `announce`.
const PUBLIC_ROUTERS: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

#[derive(Parser, Debug)]
#[command(about = "A Mainline DHT node: ping, get-peers, announce, sample_infohashes")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
    /// DHT nodes to join through (`host:port`, one or more).
    #[arg(long, global = true, num_args = 1..)]
    bootstrap: Vec<String>,
    /// The IPv4 address to bind.
    #[arg(long, global = true, default_value = "0.0.0.0:0")]
    bind: SocketAddr,
    /// An IPv6 address to bind as well (BEP 32); bound to `[::]:0` on its
    /// own when an address given is IPv6.
    #[arg(long, global = true)]
    bind6: Option<SocketAddr>,
    /// Routing table file: read at start if present, written at exit.
    #[arg(long, global = true)]
    state: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, global = true, default_value_t = 60)]
    timeout: u64,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Ping one node: prints its node id and the round trip time.
    Ping {
        /// The node, `host:port`.
        addr: String,
    },
    /// Look up the peers of a torrent (iterative `get_peers`).
    GetPeers {
        /// The info hash, 40 hex digits.
        info_hash: InfoHash,
    },
    /// Announce that a peer of the torrent listens on `--port` (a
    /// `get_peers` lookup, then `announce_peer` to the 8 closest nodes).
    Announce {
        /// The info hash, 40 hex digits.
        info_hash: InfoHash,
        /// The TCP/uTP port to announce.
        #[arg(long, required_unless_present = "implied_port")]
        port: Option<u16>,
        /// Announce the DHT's own UDP port instead (`implied_port`).
        #[arg(long)]
        implied_port: bool,
        /// Keep the node running (answering queries, re-announcing every 30
        /// minutes) until Ctrl-C.
        #[arg(long)]
        stay: bool,
    },
    /// Ask one node for a sample of the info hashes it stores (BEP 51).
    Sample {
        /// The node, `host:port`.
        addr: String,
        /// The id near which the node returns nodes (40 hex digits).
        #[arg(long, default_value = "0000000000000000000000000000000000000000")]
        target: NodeId,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let limit = Duration::from_secs(args.timeout);
    match tokio::time::timeout(limit, run(&args)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("error: not done within {} s (--timeout)", args.timeout);
            ExitCode::FAILURE
        }
    }
}

/// Resolves `host:port` strings (the first address of each).
async fn resolve(names: &[String]) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for name in names {
        match tokio::net::lookup_host(name.as_str()).await {
            Ok(mut addrs) => match addrs.next() {
                Some(a) => out.push(a),
                None => return Err(format!("{name}: no address")),
            },
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
    Ok(out)
}

async fn run(args: &Args) -> Result<(), String> {
    let joins = matches!(args.command, Cmd::GetPeers { .. } | Cmd::Announce { .. });
    let mut bootstrap = resolve(&args.bootstrap).await?;
    if joins && args.bootstrap.is_empty() {
        eprintln!("no --bootstrap: joining the public DHT through its routers");
        // Some routers may not resolve; use the ones that do.
        for r in PUBLIC_ROUTERS {
            if let Ok(mut a) = resolve(&[r.to_string()]).await {
                bootstrap.append(&mut a);
            }
        }
    }
    let target = match &args.command {
        Cmd::Ping { addr } | Cmd::Sample { addr, .. } => {
            Some(resolve(std::slice::from_ref(addr)).await?[0])
        }
        _ => None,
    };
    let state = match &args.state {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => {
                Some(RoutingState::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        },
        None => None,
    };
    let ipv6 = bootstrap.iter().chain(&target).any(|a| a.is_ipv6());
    let node = DhtNode::bind(DriverConfig {
        bind_v4: Some(args.bind),
        bind_v6: args
            .bind6
            .or_else(|| ipv6.then(|| SocketAddr::from(([0u16; 8], 0)))),
        state,
        ..DriverConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let local: Vec<String> = node.local_addrs().iter().map(|a| a.to_string()).collect();
    eprintln!("node {} on {}", node.initial_id(), local.join(", "));

    let result = command(args, &node, &bootstrap, target).await;
    if let Some(path) = &args.state {
        if let Ok(state) = node.routing_state().await {
            match std::fs::write(path, state.encode()) {
                Ok(()) => eprintln!("saved {} nodes to {}", state.nodes.len(), path.display()),
                Err(e) => eprintln!("error: {}: {e}", path.display()),
            }
        }
    }
    node.shutdown().await;
    result
}

async fn command(
    args: &Args,
    node: &DhtNode,
    bootstrap: &[SocketAddr],
    target: Option<SocketAddr>,
) -> Result<(), String> {
    let err = |e: Error| e.to_string();
    match &args.command {
        Cmd::Ping { .. } => {
            let addr = target.expect("resolved");
            let start = Instant::now();
            let pong = node.ping(addr).await.map_err(err)?;
            println!(
                "pong from {} ({}) in {:.1} ms",
                pong.addr,
                pong.id,
                start.elapsed().as_secs_f64() * 1000.0
            );
        }
        Cmd::Sample { target: near, .. } => {
            let addr = target.expect("resolved");
            let s = node.sample_infohashes(addr, *near).await.map_err(err)?;
            println!(
                "{} ({}) stores {} info hashes; sample again in {} s",
                s.node.addr,
                s.node.id,
                s.num.map_or("?".into(), |n| n.to_string()),
                s.interval.map_or("?".into(), |n| n.to_string()),
            );
            for h in &s.samples {
                println!("sample {h}");
            }
            for n in &s.nodes {
                println!("node {} {}", n.id, n.addr);
            }
        }
        Cmd::GetPeers { info_hash } => {
            join(node, bootstrap).await?;
            // Peers are printed as they arrive (events), the summary once
            // the lookup is done.
            let mut events = node.subscribe();
            let start = Instant::now();
            let lookup = node.get_peers(*info_hash);
            tokio::pin!(lookup);
            let found = loop {
                tokio::select! {
                    done = &mut lookup => break done.map_err(err)?,
                    e = events.recv() => {
                        if let Ok(Event::Peers { info_hash: h, peers, .. }) = e {
                            if h == *info_hash {
                                for p in peers {
                                    println!("peer {p}");
                                }
                            }
                        }
                    }
                }
            };
            println!(
                "{} peers in {:.2} s; {}",
                found.peers.len(),
                start.elapsed().as_secs_f64(),
                summary(&found.stats)
            );
        }
        Cmd::Announce {
            info_hash,
            port,
            implied_port,
            stay,
        } => {
            join(node, bootstrap).await?;
            let start = Instant::now();
            let done = node
                .announce(*info_hash, port.unwrap_or(0), *implied_port)
                .await
                .map_err(err)?;
            for p in &done.peers {
                println!("peer {p}");
            }
            println!(
                "announced to {} of {} nodes in {:.2} s; {} other peers; {}",
                done.stats.announces_acked,
                done.stats.announces_sent,
                start.elapsed().as_secs_f64(),
                done.peers.len(),
                summary(&done.stats)
            );
            if done.stats.announces_acked == 0 {
                return Err("no node accepted the announce".into());
            }
            if *stay {
                eprintln!("serving and re-announcing every 30 minutes; Ctrl-C to stop");
                let _ = tokio::signal::ctrl_c().await;
                let _ = node.stop_announce(*info_hash).await;
            }
        }
    }
    Ok(())
}

/// Bootstraps and reports the routing table.
async fn join(node: &DhtNode, bootstrap: &[SocketAddr]) -> Result<(), String> {
    let start = Instant::now();
    let stats = node
        .bootstrap(bootstrap.to_vec())
        .await
        .map_err(|e| e.to_string())?;
    let s = node.stats().await.map_err(|e| e.to_string())?;
    let nodes = s.table_v4.nodes + s.table_v6.nodes;
    eprintln!(
        "bootstrapped in {:.2} s: {nodes} nodes in the routing table; {}",
        start.elapsed().as_secs_f64(),
        summary(&stats)
    );
    if nodes == 0 {
        return Err("no DHT node answered the bootstrap".into());
    }
    Ok(())
}

fn summary(s: &LookupStats) -> String {
    format!(
        "{} hops, {} queries, {} responses, {} timeouts",
        s.hops, s.queries, s.responses, s.timeouts
    )
}
