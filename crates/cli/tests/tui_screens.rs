//! Every screen of `seedbed tui`, drawn into ratatui's `TestBackend` from
//! made-up snapshots, and the keys that lead to them: the list, each
//! detail tab, the add prompt, the removal dialog, the shutdown notice.

use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use seedbed::metainfo::InfoHash;
use seedbed_cli::tui::app::{App, Focus, Mode, Tab};
use seedbed_cli::tui::engine::Command;
use seedbed_cli::tui::model::{
    Detail, FileRow, PeerRow, PieceMap, PieceState, Snapshot, TorrentRow, TrackerRow,
};
use seedbed_cli::tui::view;

fn hash(n: u8) -> InfoHash {
    InfoHash([n; 20])
}

fn row(n: u8, name: &str, size: u64, have: u64, state: &str) -> TorrentRow {
    TorrentRow {
        info_hash: hash(n),
        name: name.into(),
        size,
        have,
        state: state.into(),
        paused: state == "paused",
        down_rate: if have < size { 2.0 * 1048576.0 } else { 0.0 },
        up_rate: 512.0 * 1024.0,
        peers: 3,
    }
}

fn detail(n: u8) -> Detail {
    Detail {
        info_hash: Some(hash(n)),
        peers: vec![
            PeerRow {
                addr: "127.0.0.1:6881".parse().unwrap(),
                client: Some("libtorrent (Rasterbar) 2.0.8.0".into()),
                flags: "DUI".into(),
                down_rate: Some(1048576.0),
                up_rate: Some(0.0),
                progress: Some(1000),
            },
            PeerRow {
                addr: "127.0.0.2:51413".parse().unwrap(),
                client: None,
                flags: String::new(),
                down_rate: None,
                up_rate: None,
                progress: None,
            },
        ],
        files: vec![
            FileRow {
                index: 0,
                path: "ubuntu/disk.iso".into(),
                length: 4 << 30,
                have: 1 << 30,
                priority: "normal".into(),
            },
            FileRow {
                index: 1,
                path: "ubuntu/SHA256SUMS".into(),
                length: 300,
                have: 300,
                priority: "high".into(),
            },
        ],
        trackers: vec![
            TrackerRow {
                url: "udp://127.0.0.1:6969".into(),
                tier: 0,
                status: "working".into(),
                next_announce: Some(Duration::from_secs(1795)),
                peers: Some(42),
            },
            TrackerRow {
                url: "http://127.0.0.1:1/announce".into(),
                tier: 1,
                status: "error: connection refused".into(),
                next_announce: None,
                peers: None,
            },
        ],
        pieces: PieceMap {
            pieces: (0..200)
                .map(|i| match i % 4 {
                    0 | 1 => PieceState::Have,
                    2 => PieceState::Partial,
                    _ => PieceState::Missing,
                })
                .collect(),
            availability: Vec::new(),
        },
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        torrents: vec![
            row(1, "ubuntu-24.04", 4 << 30, 1 << 30, "downloading"),
            row(2, "debian-12", 700 << 20, 700 << 20, "seeding"),
            row(3, "paused-one", 10 << 20, 5 << 20, "paused"),
        ],
        detail: Some(detail(1)),
        messages: vec!["added ubuntu-24.04".into()],
        shutting_down: false,
        listen: Some("127.0.0.1:6881".parse().unwrap()),
        output_dir: "/tmp/downloads".into(),
    }
}

/// The screen's text, row by row.
fn screen(app: &App, snap: &Snapshot) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 36)).unwrap();
    t.draw(|f| view::draw(f, app, snap)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn app_on(snap: &Snapshot) -> App {
    let mut app = App::new();
    assert_eq!(app.sync(snap), Some(Command::Select(Some(hash(1)))));
    app
}

#[test]
fn list_shows_every_column_and_the_help_line() {
    let snap = snapshot();
    let s = screen(&app_on(&snap), &snap);
    for word in [
        "Name", "Size", "Progress", "State", "Down", "Up", "Peers", "ETA",
    ] {
        assert!(s.contains(word), "{word} missing:\n{s}");
    }
    let ubuntu = s.lines().find(|l| l.contains("ubuntu-24.04")).unwrap();
    for cell in [
        "4.00 GiB",
        "25.0 %",
        "downloading",
        "2.00 MiB/s",
        "512 KiB/s",
        " 3 ",
        "25m36s",
    ] {
        assert!(ubuntu.contains(cell), "{cell} missing: {ubuntu}");
    }
    let debian = s.lines().find(|l| l.contains("debian-12")).unwrap();
    assert!(
        debian.contains("100.0 %") && debian.contains("seeding"),
        "{debian}"
    );
    assert!(s.contains("paused-one"));
    assert!(s.contains("3 torrent(s)") && s.contains("listening on 127.0.0.1:6881"));
    assert!(s.contains("added ubuntu-24.04"), "the last message");
    assert!(
        s.contains("a add  p pause/resume  d remove  Tab pane"),
        "{s}"
    );
    assert!(s.contains("q quit"));
}

#[test]
fn an_empty_list_says_how_to_add() {
    let snap = Snapshot::default();
    let s = screen(&App::new(), &snap);
    assert!(s.contains("No torrents yet: press a"), "{s}");
    assert!(s.contains("Select a torrent."));
}

#[test]
fn peers_tab() {
    let snap = snapshot();
    let s = screen(&app_on(&snap), &snap);
    assert!(s.contains("1 Peers") && s.contains("4 Pieces"));
    let lt = s.lines().find(|l| l.contains("│127.0.0.1:6881")).unwrap();
    for cell in [
        "libtorrent (Rasterbar) 2.0.8.0",
        "DUI",
        "1.00 MiB/s",
        "100.0 %",
    ] {
        assert!(lt.contains(cell), "{cell} missing: {lt}");
    }
    let unknown = s.lines().find(|l| l.contains("127.0.0.2:51413")).unwrap();
    assert!(unknown.contains(" - "), "unknown fields show -: {unknown}");
}

#[test]
fn files_tab() {
    let snap = snapshot();
    let mut app = app_on(&snap);
    app.on_key(key(KeyCode::Right), &snap);
    assert_eq!(app.tab, Tab::Files);
    let s = screen(&app, &snap);
    let iso = s.lines().find(|l| l.contains("ubuntu/disk.iso")).unwrap();
    assert!(
        iso.contains("4.00 GiB") && iso.contains("25.0 %") && iso.contains("normal"),
        "{iso}"
    );
    let sums = s.lines().find(|l| l.contains("SHA256SUMS")).unwrap();
    assert!(sums.contains("100.0 %") && sums.contains("high"), "{sums}");
}

#[test]
fn trackers_tab() {
    let snap = snapshot();
    let mut app = app_on(&snap);
    app.on_key(key(KeyCode::Char('3')), &snap);
    let s = screen(&app, &snap);
    let udp = s
        .lines()
        .find(|l| l.contains("udp://127.0.0.1:6969"))
        .unwrap();
    assert!(
        udp.contains("working") && udp.contains("29m55s") && udp.contains("42"),
        "{udp}"
    );
    let bad = s
        .lines()
        .find(|l| l.contains("http://127.0.0.1:1/announce"))
        .unwrap();
    assert!(bad.contains("error: connection refused"), "{bad}");
}

#[test]
fn pieces_tab() {
    let snap = snapshot();
    let mut app = app_on(&snap);
    app.on_key(key(KeyCode::Left), &snap);
    assert_eq!(app.tab, Tab::Pieces, "Left wraps around");
    let s = screen(&app, &snap);
    assert!(
        s.contains("200 pieces: 100 have, 50 partial, 50 missing"),
        "{s}"
    );
    assert!(s.contains("█") && s.contains("▒") && s.contains("·"));
}

#[test]
fn prompt_adds_what_is_typed() {
    let snap = snapshot();
    let mut app = app_on(&snap);
    assert!(app.on_key(key(KeyCode::Char('a')), &snap).is_empty());
    for c in "/tmp/x.torrentt".chars() {
        app.on_key(key(KeyCode::Char(c)), &snap);
    }
    app.on_key(key(KeyCode::Backspace), &snap);
    assert_eq!(app.mode, Mode::Prompt("/tmp/x.torrent".into()));
    // Keys that mean something elsewhere are text here.
    let s = screen(&app, &snap);
    assert!(s.contains("Add: a .torrent path or a magnet link"), "{s}");
    assert!(s.contains("> /tmp/x.torrent"));
    assert!(s.contains("saving into /tmp/downloads"));
    let cmds = app.on_key(key(KeyCode::Enter), &snap);
    assert_eq!(cmds, vec![Command::Add("/tmp/x.torrent".into())]);
    assert_eq!(app.mode, Mode::Normal);
    // Esc cancels; q typed in the prompt does not quit.
    app.on_key(key(KeyCode::Char('a')), &snap);
    app.on_key(key(KeyCode::Char('q')), &snap);
    assert!(!app.quit);
    assert!(app.on_key(key(KeyCode::Esc), &snap).is_empty());
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn remove_asks_about_the_data() {
    let snap = snapshot();
    let mut app = app_on(&snap);
    app.on_key(key(KeyCode::Down), &snap);
    assert_eq!(app.selected, Some(hash(2)));
    app.on_key(key(KeyCode::Char('d')), &snap);
    let s = screen(&app, &snap);
    assert!(s.contains("Remove debian-12?"), "{s}");
    assert!(s.contains("y: remove and delete its data"));
    assert!(
        app.on_key(key(KeyCode::Esc), &snap).is_empty(),
        "Esc cancels"
    );
    app.on_key(key(KeyCode::Char('d')), &snap);
    assert_eq!(
        app.on_key(key(KeyCode::Char('n')), &snap),
        vec![Command::Remove {
            info_hash: hash(2),
            delete_data: false
        }]
    );
    app.on_key(key(KeyCode::Char('d')), &snap);
    assert_eq!(
        app.on_key(key(KeyCode::Char('y')), &snap),
        vec![Command::Remove {
            info_hash: hash(2),
            delete_data: true
        }]
    );
}

#[test]
fn keys_move_between_panes_rows_and_pause() {
    let snap = snapshot();
    let mut app = app_on(&snap);
    assert_eq!(
        app.on_key(key(KeyCode::Char('p')), &snap),
        vec![Command::TogglePause(hash(1))]
    );
    assert_eq!(app.on_key(key(KeyCode::Up), &snap), vec![], "already first");
    assert_eq!(
        app.on_key(key(KeyCode::End), &snap),
        vec![Command::Select(Some(hash(3)))]
    );
    app.on_key(key(KeyCode::Tab), &snap);
    assert_eq!(app.focus, Focus::Detail);
    // In the detail pane Up/Down scroll and leave the selection alone.
    assert!(app.on_key(key(KeyCode::Down), &snap).is_empty());
    assert_eq!(app.detail_scroll, 1);
    assert_eq!(app.selected, Some(hash(3)));
    app.on_key(key(KeyCode::Tab), &snap);
    assert_eq!(app.focus, Focus::List);
    // The selected torrent goes away: the first row is chosen.
    let mut fewer = snap.clone();
    fewer.torrents.pop();
    assert_eq!(app.sync(&fewer), Some(Command::Select(Some(hash(1)))));
    assert_eq!(
        app.on_key(key(KeyCode::Char('q')), &snap),
        vec![Command::Quit]
    );
    assert!(app.quit);
    let mut app = App::new();
    app.on_key(
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        &snap,
    );
    assert!(app.quit, "Ctrl-C quits too");
}

#[test]
fn shutting_down_is_shown() {
    let mut snap = snapshot();
    snap.shutting_down = true;
    let s = screen(&app_on(&snap), &snap);
    assert!(
        s.contains("Shutting down: telling the trackers we stop"),
        "{s}"
    );
}

#[test]
fn a_small_terminal_does_not_break_drawing() {
    let snap = snapshot();
    let app = app_on(&snap);
    for (w, h) in [(20, 5), (1, 1), (80, 10), (300, 100)] {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view::draw(f, &app, &snap)).unwrap();
    }
}
