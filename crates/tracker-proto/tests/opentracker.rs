//! Announce and scrape against real trackers on loopback: opentracker
//! (Debian's build, whitelist mode) over HTTP and UDP, and our own
//! in-memory tracker ([`RunningTracker`]) through the same checks.
//!
//! Without opentracker the opentracker tests print
//! `SKIPPED: opentracker not installed` and return, unless `CI=true`, when
//! they fail.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use seedbed_tracker_proto::client::{ClientOptions, TrackerClient};
use seedbed_tracker_proto::memory::MemoryTrackerConfig;
use seedbed_tracker_proto::server::RunningTracker;
use seedbed_tracker_proto::tier::Tiers;
use seedbed_tracker_proto::{AnnounceRequest, Error, Event, InfoHash, PeerId};

const OPENTRACKER: &str = "/usr/bin/opentracker";
const TEST_TIME: Duration = Duration::from_secs(60);

/// Kills and reaps the child, and removes its folder, when dropped.
struct Guard {
    child: Child,
    dir: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free for both TCP and UDP on 127.0.0.1.
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

fn opentracker_installed() -> bool {
    if Path::new(OPENTRACKER).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("opentracker not installed ({OPENTRACKER}) and CI=true");
    }
    println!("SKIPPED: opentracker not installed");
    false
}

/// Starts opentracker in whitelist mode for `hashes` on a free port.
/// Returns the guard and the port (same for TCP and UDP).
fn start_opentracker(hashes: &[InfoHash]) -> (Guard, u16) {
    use std::os::unix::fs::PermissionsExt;
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "seedbed-opentracker-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // It chroots into the folder and runs as `nobody`: world-readable.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let list: String = hashes.iter().map(|h| format!("{h}\n")).collect();
    let wl = dir.join("whitelist.txt");
    std::fs::write(&wl, list).unwrap();
    std::fs::set_permissions(&wl, std::fs::Permissions::from_mode(0o644)).unwrap();
    let port = free_port();
    let conf = dir.join("opentracker.conf");
    std::fs::write(
        &conf,
        format!(
            "listen.tcp 127.0.0.1:{port}\nlisten.udp 127.0.0.1:{port}\ntracker.rootdir {}\naccess.whitelist /whitelist.txt\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new(OPENTRACKER)
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn opentracker");
    let guard = Guard { child, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "opentracker did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (guard, port)
}

fn client() -> TrackerClient {
    TrackerClient::new(ClientOptions {
        timeout: Duration::from_secs(10),
        udp_retransmit: Duration::from_secs(2),
        ..ClientOptions::default()
    })
    .unwrap()
}

fn announce(hash: InfoHash, id: u8, port: u16, left: u64, event: Event) -> AnnounceRequest {
    let mut r = AnnounceRequest::new(hash, PeerId([id; 20]), port);
    r.left = left;
    r.event = event;
    r.numwant = Some(50);
    r
}

fn addrs(r: &seedbed_tracker_proto::AnnounceResponse) -> Vec<SocketAddr> {
    r.peers.iter().map(|p| p.addr).collect()
}

/// Two peers (a leecher on port `base`, a seeder on `base + 1`) see each
/// other; scrape counts one of each; `stopped` removes the seeder.
async fn two_peers(client: &TrackerClient, url: &str, hash: InfoHash, base: u16) {
    let a: SocketAddr = ([127, 0, 0, 1], base).into();
    let b: SocketAddr = ([127, 0, 0, 1], base + 1).into();
    client
        .announce(url, &announce(hash, 1, base, 1000, Event::Started))
        .await
        .unwrap();
    let rb = client
        .announce(url, &announce(hash, 2, base + 1, 0, Event::Started))
        .await
        .unwrap();
    assert!(addrs(&rb).contains(&a), "{url}: B should see A: {rb:?}");
    let ra = client
        .announce(url, &announce(hash, 1, base, 1000, Event::None))
        .await
        .unwrap();
    assert!(addrs(&ra).contains(&b), "{url}: A should see B: {ra:?}");
    assert_eq!((ra.complete, ra.incomplete), (Some(1), Some(1)), "{url}");

    let s = client.scrape(url, &[hash]).await.unwrap();
    let st = s.files[&hash];
    assert_eq!((st.complete, st.incomplete), (1, 1), "{url}: {s:?}");

    client
        .announce(url, &announce(hash, 2, base + 1, 0, Event::Stopped))
        .await
        .unwrap();
    let ra = client
        .announce(url, &announce(hash, 1, base, 1000, Event::None))
        .await
        .unwrap();
    assert!(!addrs(&ra).contains(&b), "{url}: B stopped: {ra:?}");
    let s = client.scrape(url, &[hash]).await.unwrap();
    let st = s.files[&hash];
    assert_eq!((st.complete, st.incomplete), (0, 1), "{url}: {s:?}");
}

fn hash(b: u8) -> InfoHash {
    InfoHash([b; 20])
}

#[tokio::test]
async fn opentracker_http_and_udp() {
    if !opentracker_installed() {
        return;
    }
    let (guard, port) = start_opentracker(&[hash(0xa1), hash(0xa2)]);
    let c = client();
    tokio::time::timeout(TEST_TIME, async {
        two_peers(
            &c,
            &format!("http://127.0.0.1:{port}/announce"),
            hash(0xa1),
            41000,
        )
        .await;
        two_peers(&c, &format!("udp://127.0.0.1:{port}"), hash(0xa2), 42000).await;
        // Not whitelisted: a failure reason over HTTP, naming the tracker.
        let url = format!("http://127.0.0.1:{port}/announce");
        let e = c
            .announce(&url, &announce(hash(0xee), 1, 1, 1, Event::Started))
            .await
            .unwrap_err();
        assert!(
            e.failure_reason().unwrap().contains("not authorized"),
            "{e}"
        );
        assert!(e.to_string().contains(&url), "{e}");
        // Over UDP opentracker drops announces for unlisted torrents
        // without an answer: the client gives up after its timeout.
        let url = format!("udp://127.0.0.1:{port}");
        let quick = TrackerClient::new(ClientOptions {
            timeout: Duration::from_millis(1500),
            ..ClientOptions::default()
        })
        .unwrap();
        let e = quick
            .announce(&url, &announce(hash(0xee), 1, 1, 1, Event::Started))
            .await
            .unwrap_err();
        assert!(e.to_string().contains(&url), "{e}");
    })
    .await
    .expect("opentracker test took too long");
    drop(guard);
}

#[tokio::test]
async fn memory_tracker_http_and_udp() {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let t = RunningTracker::start(
        Some(loopback),
        Some(loopback),
        MemoryTrackerConfig::default(),
    )
    .await
    .unwrap();
    let c = client();
    let http = t.http_announce_url().unwrap();
    let udp = t.udp_announce_url().unwrap();
    tokio::time::timeout(TEST_TIME, async {
        two_peers(&c, &http, hash(0xb1), 43000).await;
        two_peers(&c, &udp, hash(0xb2), 44000).await;
        // HTTP and UDP share the swarm.
        let r = c
            .announce(&udp, &announce(hash(0xb1), 9, 45000, 5, Event::Started))
            .await
            .unwrap();
        assert!(addrs(&r).contains(&([127, 0, 0, 1], 43000).into()));
        // Private-tracker style URL: the passkey query is kept and ignored.
        let r = c
            .scrape(&format!("{http}?passkey=x"), &[hash(0xb1)])
            .await
            .unwrap();
        assert_eq!(r.files[&hash(0xb1)].incomplete, 2);
        // An invalid query gets a failure reason.
        let e = c
            .announce(&http, &announce(hash(0xb3), 1, 0, 0, Event::Started))
            .await;
        assert!(e.is_ok(), "port 0 is allowed: {e:?}");
    })
    .await
    .expect("memory tracker test took too long");
}

#[tokio::test]
async fn memory_tracker_udp_over_ipv6() {
    // BEP 15 over IPv6: 18-byte peers in announce responses.
    let Ok(probe) = UdpSocket::bind("[::1]:0") else {
        println!("SKIPPED: no IPv6 loopback");
        return;
    };
    drop(probe);
    let t = RunningTracker::start(
        None,
        Some("[::1]:0".parse().unwrap()),
        MemoryTrackerConfig::default(),
    )
    .await
    .unwrap();
    let url = t.udp_announce_url().unwrap();
    assert!(url.starts_with("udp://[::1]:"), "{url}");
    let c = client();
    tokio::time::timeout(TEST_TIME, async {
        let h = hash(0xc1);
        c.announce(&url, &announce(h, 1, 46000, 5, Event::Started))
            .await
            .unwrap();
        let r = c
            .announce(&url, &announce(h, 2, 46001, 0, Event::Started))
            .await
            .unwrap();
        assert_eq!(
            addrs(&r),
            vec!["[::1]:46000".parse::<SocketAddr>().unwrap()]
        );
        let s = c.scrape(&url, &[h]).await.unwrap();
        assert_eq!((s.files[&h].complete, s.files[&h].incomplete), (1, 1));
    })
    .await
    .expect("IPv6 test took too long");
}

/// Serves one canned HTTP response per connection, in order, and sends
/// each request head it read back on the channel.
async fn canned_server(
    responses: Vec<(&'static str, Vec<u8>)>,
) -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
    tokio::task::JoinHandle<()>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        for (status, body) in responses {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
        }
    });
    (addr, rx, task)
}

#[tokio::test]
async fn http_client_options_limits_and_errors() {
    const LIMIT: usize = 1024;
    // A valid body of exactly LIMIT bytes: interval, then a padding key.
    let mut at_limit = b"d8:intervali60e3:pad".to_vec();
    let pad = LIMIT - at_limit.len() - 4 - 1; // "NNN:" and the final e
    at_limit.extend_from_slice(format!("{pad}:").as_bytes());
    at_limit.resize(LIMIT - 1, b'x');
    at_limit.push(b'e');
    assert_eq!(at_limit.len(), LIMIT);
    let mut past_limit = at_limit.clone();
    past_limit.insert(0, b' ');
    let (addr, mut heads, server) = canned_server(vec![
        ("200 OK", at_limit),
        ("200 OK", past_limit),
        ("500 Oops", b"xxxxx".to_vec()),
        ("403 Forbidden", b"d14:failure reason6:bannede".to_vec()),
    ])
    .await;
    let c = TrackerClient::new(ClientOptions {
        timeout: Duration::from_secs(5),
        max_response_bytes: LIMIT,
        user_agent: "seedbed-test/1".into(),
        headers: vec![("X-Seedbed".into(), "1".into())],
        ..ClientOptions::default()
    })
    .unwrap();
    let url = format!("http://{addr}/announce?passkey=k");
    let req = announce(hash(1), 1, 1, 1, Event::None);
    tokio::time::timeout(TEST_TIME, async {
        // At the limit: accepted; user agent, extra header and passkey sent.
        let r = c.announce(&url, &req).await.unwrap();
        assert_eq!(r.interval, 60);
        let head = heads.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("get /announce?passkey=k&info_hash="), "{head}");
        assert!(head.contains("user-agent: seedbed-test/1"), "{head}");
        assert!(head.contains("x-seedbed: 1"), "{head}");
        // One byte past it: a transport error naming the tracker.
        let e = c.announce(&url, &req).await.unwrap_err();
        assert!(
            matches!(&e, Error::Tracker { source, .. } if matches!(**source, Error::Transport { .. })),
            "{e}"
        );
        assert!(e.to_string().contains(&url) && e.to_string().contains("larger than 1024"), "{e}");
        // A 500 with a non-bencode body: the status.
        let e = c.announce(&url, &req).await.unwrap_err();
        assert!(e.to_string().contains(&url) && e.to_string().contains("500"), "{e}");
        // A 403 with a failure reason: the reason.
        let e = c.announce(&url, &req).await.unwrap_err();
        assert_eq!(e.failure_reason(), Some("banned"), "{e}");
    })
    .await
    .unwrap();
    server.abort();
}

#[tokio::test]
async fn tiers_fall_back_and_promote() {
    // Tier 0: a dead UDP port and the live tracker; tier 1: another dead
    // port. The live one answers and moves to the front of tier 0.
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let t = RunningTracker::start(None, Some(loopback), MemoryTrackerConfig::default())
        .await
        .unwrap();
    let live = t.udp_announce_url().unwrap();
    let dead_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = format!("udp://{}", dead_sock.local_addr().unwrap());
    let mut tiers = Tiers::new(
        vec![vec![dead.clone(), live.clone()], vec![dead.clone()]],
        &mut |n| n - 1, // keep the given order
    );
    let c = TrackerClient::new(ClientOptions {
        timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    })
    .unwrap();
    let req = announce(hash(0xd1), 1, 47000, 1, Event::Started);
    tokio::time::timeout(TEST_TIME, async {
        let (url, _) = c.announce_tiers(&mut tiers, &req).await.unwrap();
        assert_eq!(url, live);
        assert_eq!(tiers.tiers()[0], vec![live.clone(), dead.clone()]);
        // Next time the live tracker is tried first: no timeout to wait.
        let start = std::time::Instant::now();
        c.announce_tiers(&mut tiers, &req).await.unwrap();
        assert!(start.elapsed() < Duration::from_millis(400));
        // Nothing answers: the last error, naming the last tracker.
        let mut none = Tiers::single(dead.clone());
        let e = c.announce_tiers(&mut none, &req).await.unwrap_err();
        assert!(e.to_string().contains(&dead), "{e}");
    })
    .await
    .unwrap();
}
