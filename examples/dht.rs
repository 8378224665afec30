//! A Mainline DHT node (BEP 5) on the command line, with seedbed-dht's tokio
//! driver (`seedbed dht`): ping a node, look up the peers of a torrent,
//! announce one, ask a node for a sample of its info hashes (BEP 51), or
//! serve as a node.
//!
//! ```text
//! cargo run --release --example dht -- ping ADDR [--bootstrap ADDR...]
//! cargo run --release --example dht -- get-peers HASH --bootstrap ADDR...
//! cargo run --release --example dht -- announce HASH --port P [--implied-port] [--stay] --bootstrap ADDR...
//! cargo run --release --example dht -- sample ADDR [--target HEX]
//! cargo run --release --example dht -- serve --bind 127.0.0.1:6881 [--bootstrap ADDR...]
//! ```
//!
//! `ADDR` is `host:port`. `get-peers` and `announce` without
//! `--bootstrap` join the public DHT through the well-known routers
//! (`serve` without it joins nothing: others join it); tests and demos
//! always pass loopback nodes. `--state FILE` keeps the routing
//! table between runs (BEP 5), so the next run bootstraps from the nodes
//! it knew. `--json` prints one JSON object. `RUST_LOG=seedbed_dht=debug`
//! shows what the node does.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use seedbed::dht::driver::{DhtNode, DriverConfig};
use seedbed::dht::{Event, RoutingState};
use seedbed::session::DEFAULT_DHT_BOOTSTRAP;
use seedbed_cli::dht::{
    lookup_summary, render_announce, render_peers, render_pong, render_sample, render_served,
    render_serving, DhtArgs, DhtCommand,
};
use seedbed_cli::Error;

#[tokio::main]
async fn main() -> ExitCode {
    seedbed_cli::exit(run(DhtArgs::parse()).await)
}

pub(crate) async fn run(args: DhtArgs) -> Result<(), Error> {
    seedbed_cli::logging::init("warn");
    // `serve` and `announce --stay` run until interrupted.
    let endless = matches!(
        args.command,
        DhtCommand::Serve | DhtCommand::Announce { stay: true, .. }
    );
    if endless {
        return node_run(&args).await;
    }
    match tokio::time::timeout(Duration::from_secs(args.timeout), node_run(&args)).await {
        Ok(r) => r,
        Err(_) => Err(Error::failed(format!(
            "not done within {} s (--timeout)",
            args.timeout
        ))),
    }
}

/// Resolves `host:port` strings (the first address of each).
async fn resolve(names: &[String]) -> Result<Vec<SocketAddr>, Error> {
    let mut out = Vec::new();
    for name in names {
        match tokio::net::lookup_host(name.as_str()).await {
            Ok(mut addrs) => match addrs.next() {
                Some(a) => out.push(a),
                None => return Err(Error::failed(format!("{name}: no address"))),
            },
            Err(e) => return Err(Error::failed(format!("{name}: {e}"))),
        }
    }
    Ok(out)
}

async fn node_run(args: &DhtArgs) -> Result<(), Error> {
    let joins = matches!(
        args.command,
        DhtCommand::GetPeers { .. } | DhtCommand::Announce { .. } | DhtCommand::Serve
    );
    let mut bootstrap = resolve(&args.bootstrap).await?;
    if joins && args.bootstrap.is_empty() && !matches!(args.command, DhtCommand::Serve) {
        eprintln!("no --bootstrap: joining the public DHT through its routers");
        // Some routers may not resolve; use the ones that do.
        for r in DEFAULT_DHT_BOOTSTRAP {
            if let Ok(mut a) = resolve(&[r.to_string()]).await {
                bootstrap.append(&mut a);
            }
        }
    }
    let target = match &args.command {
        DhtCommand::Ping { addr } | DhtCommand::Sample { addr, .. } => {
            Some(resolve(std::slice::from_ref(addr)).await?[0])
        }
        _ => None,
    };
    let state = match &args.state {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some(
                RoutingState::decode(&bytes)
                    .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(Error::Read {
                    path: path.clone(),
                    source,
                })
            }
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
    .await?;
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
    args: &DhtArgs,
    node: &DhtNode,
    bootstrap: &[SocketAddr],
    target: Option<SocketAddr>,
) -> Result<(), Error> {
    let json = args.json;
    match &args.command {
        DhtCommand::Ping { .. } => {
            let addr = target.expect("resolved");
            let start = Instant::now();
            let pong = node.ping(addr).await?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            print!("{}", render_pong(&pong, ms, json));
        }
        DhtCommand::Sample { target: near, .. } => {
            let addr = target.expect("resolved");
            let s = node.sample_infohashes(addr, *near).await?;
            print!("{}", render_sample(&s, json));
        }
        DhtCommand::GetPeers { info_hash } => {
            join(node, bootstrap).await?;
            // Text: peers are printed as they arrive (events), the summary
            // once the lookup is done.
            let mut events = node.subscribe();
            let start = Instant::now();
            let lookup = node.get_peers(*info_hash);
            tokio::pin!(lookup);
            let found = loop {
                tokio::select! {
                    done = &mut lookup => break done?,
                    e = events.recv() => {
                        if let Ok(Event::Peers { info_hash: h, peers, .. }) = e {
                            if h == *info_hash && !json {
                                for p in peers {
                                    println!("peer {p}");
                                }
                            }
                        }
                    }
                }
            };
            let secs = start.elapsed().as_secs_f64();
            print!(
                "{}",
                render_peers(*info_hash, &found.peers, secs, &found.stats, json)
            );
        }
        DhtCommand::Announce {
            info_hash,
            port,
            implied_port,
            stay,
        } => {
            join(node, bootstrap).await?;
            let start = Instant::now();
            let done = node
                .announce(*info_hash, port.unwrap_or(0), *implied_port)
                .await?;
            let secs = start.elapsed().as_secs_f64();
            let port = if *implied_port { None } else { *port };
            print!(
                "{}",
                render_announce(*info_hash, port, &done.peers, secs, &done.stats, json)
            );
            if done.stats.announces_acked == 0 {
                return Err(Error::failed("no node accepted the announce"));
            }
            if *stay {
                let _ = std::io::stdout().flush();
                eprintln!("serving and re-announcing every 30 minutes; Ctrl-C to stop");
                let _ = tokio::signal::ctrl_c().await;
                let _ = node.stop_announce(*info_hash).await;
            }
        }
        DhtCommand::Serve => {
            if !bootstrap.is_empty() {
                join(node, bootstrap).await?;
            }
            print!(
                "{}",
                render_serving(node.initial_id(), node.local_addrs(), json)
            );
            // Scripts wait for this line; stdout may be a pipe.
            let _ = std::io::stdout().flush();
            let _ = tokio::signal::ctrl_c().await;
            let s = node.stats().await?;
            print!(
                "{}",
                render_served(
                    s.queries_received,
                    s.table_v4.nodes + s.table_v6.nodes,
                    s.storage.info_hashes,
                    s.storage.peers,
                    json
                )
            );
        }
    }
    Ok(())
}

/// Bootstraps and reports the routing table.
async fn join(node: &DhtNode, bootstrap: &[SocketAddr]) -> Result<(), Error> {
    let start = Instant::now();
    let stats = node.bootstrap(bootstrap.to_vec()).await?;
    let s = node.stats().await?;
    let nodes = s.table_v4.nodes + s.table_v6.nodes;
    eprintln!(
        "bootstrapped in {:.2} s: {nodes} nodes in the routing table; {}",
        start.elapsed().as_secs_f64(),
        lookup_summary(&stats)
    );
    if nodes == 0 {
        return Err(Error::failed("no DHT node answered the bootstrap"));
    }
    Ok(())
}
