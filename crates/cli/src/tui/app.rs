//! The UI's own state (selection, focus, tab, prompt, dialog) and what
//! each key does to it. Pure: keys in, [`Command`]s out, no session and
//! no terminal, so tests drive it directly.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use seedbed::metainfo::InfoHash;

use super::engine::Command;
use super::model::Snapshot;

/// Which pane arrow keys move in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The torrent list: Up/Down choose a torrent.
    List,
    /// The detail pane: Left/Right choose a tab, Up/Down scroll it.
    Detail,
}

/// The detail pane's tabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Connected peers.
    Peers,
    /// Files and their progress.
    Files,
    /// Trackers and their status.
    Trackers,
    /// The piece map.
    Pieces,
}

impl Tab {
    /// Every tab, in order.
    pub const ALL: [Tab; 4] = [Tab::Peers, Tab::Files, Tab::Trackers, Tab::Pieces];

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Peers => "Peers",
            Tab::Files => "Files",
            Tab::Trackers => "Trackers",
            Tab::Pieces => "Pieces",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    fn step(self, by: isize) -> Tab {
        let n = Tab::ALL.len() as isize;
        Tab::ALL[(self.index() as isize + by).rem_euclid(n) as usize]
    }
}

/// What keys are for right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Moving around; the help line's keys.
    Normal,
    /// Typing a .torrent path or a magnet link (after `a`).
    Prompt(String),
    /// Asking how to remove a torrent (after `d`).
    ConfirmRemove {
        /// Which torrent.
        info_hash: InfoHash,
        /// Its name, for the question.
        name: String,
    },
}

/// The UI's state.
#[derive(Clone, Debug)]
pub struct App {
    /// The selected torrent (kept by info hash as rows come and go).
    pub selected: Option<InfoHash>,
    /// The pane arrow keys move in.
    pub focus: Focus,
    /// The detail pane's tab.
    pub tab: Tab,
    /// First row shown in the detail pane's list.
    pub detail_scroll: usize,
    /// What keys do now.
    pub mode: Mode,
    /// `q` was pressed: the UI is quitting.
    pub quit: bool,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// Nothing selected, the list focused, the peers tab.
    pub fn new() -> App {
        App {
            selected: None,
            focus: Focus::List,
            tab: Tab::Peers,
            detail_scroll: 0,
            mode: Mode::Normal,
            quit: false,
        }
    }

    /// The selected row's index in `snap`, choosing the first row when the
    /// selection is gone.
    pub fn selected_index(&self, snap: &Snapshot) -> Option<usize> {
        if snap.torrents.is_empty() {
            return None;
        }
        Some(
            self.selected
                .and_then(|h| snap.torrents.iter().position(|t| t.info_hash == h))
                .unwrap_or(0),
        )
    }

    /// Keeps the selection on an existing row of `snap`; returns the
    /// command that tells the engine if it changed.
    pub fn sync(&mut self, snap: &Snapshot) -> Option<Command> {
        let now = self
            .selected_index(snap)
            .map(|i| snap.torrents[i].info_hash);
        (now != self.selected).then(|| {
            self.selected = now;
            self.detail_scroll = 0;
            Command::Select(now)
        })
    }

    fn select(&mut self, snap: &Snapshot, by: isize) -> Option<Command> {
        let i = self.selected_index(snap)?;
        let n = snap.torrents.len() as isize;
        let j = (i as isize + by).clamp(0, n - 1) as usize;
        let h = snap.torrents[j].info_hash;
        (Some(h) != self.selected).then(|| {
            self.selected = Some(h);
            self.detail_scroll = 0;
            Command::Select(Some(h))
        })
    }

    /// What `key` does, given what is on screen (`snap`): the state
    /// changes, and the commands for the engine.
    pub fn on_key(&mut self, key: KeyEvent, snap: &Snapshot) -> Vec<Command> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            self.quit = true;
            return vec![Command::Quit];
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Prompt(mut text) => {
                match key.code {
                    KeyCode::Enter => {
                        let t = text.trim().to_owned();
                        return if t.is_empty() {
                            Vec::new()
                        } else {
                            vec![Command::Add(t)]
                        };
                    }
                    KeyCode::Esc => {}
                    KeyCode::Backspace => {
                        text.pop();
                        self.mode = Mode::Prompt(text);
                    }
                    KeyCode::Char('u') if ctrl => self.mode = Mode::Prompt(String::new()),
                    KeyCode::Char(c) if !ctrl => {
                        text.push(c);
                        self.mode = Mode::Prompt(text);
                    }
                    _ => self.mode = Mode::Prompt(text),
                }
                Vec::new()
            }
            Mode::ConfirmRemove { info_hash, name } => match key.code {
                KeyCode::Char('y' | 'Y') => vec![Command::Remove {
                    info_hash,
                    delete_data: true,
                }],
                KeyCode::Char('n' | 'N') => vec![Command::Remove {
                    info_hash,
                    delete_data: false,
                }],
                KeyCode::Esc | KeyCode::Char('c' | 'q') => Vec::new(),
                _ => {
                    self.mode = Mode::ConfirmRemove { info_hash, name };
                    Vec::new()
                }
            },
            Mode::Normal => self.normal_key(key, snap),
        }
    }

    fn normal_key(&mut self, key: KeyEvent, snap: &Snapshot) -> Vec<Command> {
        let selected = self.selected_index(snap).map(|i| &snap.torrents[i]);
        let one = |c: Option<Command>| c.into_iter().collect();
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                vec![Command::Quit]
            }
            KeyCode::Char('a') => {
                self.mode = Mode::Prompt(String::new());
                Vec::new()
            }
            KeyCode::Char('p') => one(selected.map(|t| Command::TogglePause(t.info_hash))),
            KeyCode::Char('d') => {
                if let Some(t) = selected {
                    self.mode = Mode::ConfirmRemove {
                        info_hash: t.info_hash,
                        name: t.name.clone(),
                    };
                }
                Vec::new()
            }
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::List => Focus::Detail,
                    Focus::Detail => Focus::List,
                };
                Vec::new()
            }
            KeyCode::Char(c @ '1'..='4') => {
                self.tab = Tab::ALL[c as usize - '1' as usize];
                self.detail_scroll = 0;
                Vec::new()
            }
            code => match (self.focus, code) {
                (Focus::List, KeyCode::Up | KeyCode::Char('k')) => one(self.select(snap, -1)),
                (Focus::List, KeyCode::Down | KeyCode::Char('j')) => one(self.select(snap, 1)),
                (Focus::List, KeyCode::PageUp) => one(self.select(snap, -10)),
                (Focus::List, KeyCode::PageDown) => one(self.select(snap, 10)),
                (Focus::List, KeyCode::Home) => one(self.select(snap, isize::MIN / 2)),
                (Focus::List, KeyCode::End) => one(self.select(snap, isize::MAX / 2)),
                (_, KeyCode::Left | KeyCode::Char('h')) => {
                    self.tab = self.tab.step(-1);
                    self.detail_scroll = 0;
                    Vec::new()
                }
                (_, KeyCode::Right | KeyCode::Char('l')) => {
                    self.tab = self.tab.step(1);
                    self.detail_scroll = 0;
                    Vec::new()
                }
                (Focus::Detail, KeyCode::Up | KeyCode::Char('k')) => {
                    self.detail_scroll = self.detail_scroll.saturating_sub(1);
                    Vec::new()
                }
                (Focus::Detail, KeyCode::Down | KeyCode::Char('j')) => {
                    self.detail_scroll = self.detail_scroll.saturating_add(1);
                    Vec::new()
                }
                (Focus::Detail, KeyCode::PageDown) => {
                    self.detail_scroll = self.detail_scroll.saturating_add(10);
                    Vec::new()
                }
                (Focus::Detail, KeyCode::PageUp) => {
                    self.detail_scroll = self.detail_scroll.saturating_sub(10);
                    Vec::new()
                }
                _ => Vec::new(),
            },
        }
    }
}
