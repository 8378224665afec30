//! Drawing a frame from the [`App`] state and a [`Snapshot`]: the torrent
//! list, the detail pane and its tabs, the message and help lines, and the
//! prompt and removal dialogs on top.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Table, TableState, Tabs, Wrap};
use ratatui::Frame;

use super::app::{App, Focus, Mode, Tab};
use super::model::{Detail, PieceState, Snapshot};
use crate::format;

/// The keys, as the help line shows them.
pub const HELP: &str =
    "a add  p pause/resume  d remove  Tab pane  ←/→ tab  ↑/↓ row  1-4 tab  q quit";

/// Draws one frame.
pub fn draw(f: &mut Frame<'_>, app: &App, snap: &Snapshot) {
    let [title, list, detail, message, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(45),
        Constraint::Min(6),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_title(f, title, snap);
    draw_list(f, list, app, snap);
    draw_detail(f, detail, app, snap);
    let last = snap.messages.last().map_or("", String::as_str);
    f.render_widget(Paragraph::new(last).fg(Color::Yellow), message);
    f.render_widget(Paragraph::new(HELP).reversed(), help);
    match &app.mode {
        Mode::Normal => {}
        Mode::Prompt(text) => draw_prompt(f, text, snap),
        Mode::ConfirmRemove { name, .. } => draw_confirm(f, name),
    }
    if snap.shutting_down {
        let area = popup(f.area(), 60, 3);
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new("Shutting down: telling the trackers we stop…")
                .block(Block::bordered().title(" seedbed ")),
            area,
        );
    }
}

fn draw_title(f: &mut Frame<'_>, area: Rect, snap: &Snapshot) {
    let down: f64 = snap.torrents.iter().map(|t| t.down_rate).sum();
    let up: f64 = snap.torrents.iter().map(|t| t.up_rate).sum();
    let listen = snap.listen.map_or_else(
        || "not listening".to_owned(),
        |a| format!("listening on {a}"),
    );
    let text = format!(
        " seedbed  {} torrent(s)  ↓ {}  ↑ {}  {listen}",
        snap.torrents.len(),
        format::rate(down),
        format::rate(up),
    );
    f.render_widget(Paragraph::new(text).bold(), area);
}

fn pane(title: String, focused: bool) -> Block<'static> {
    let block = Block::bordered().title(title);
    if focused {
        block.border_style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD))
    } else {
        block
    }
}

fn draw_list(f: &mut Frame<'_>, area: Rect, app: &App, snap: &Snapshot) {
    let header = Row::new([
        "Name", "Size", "Progress", "State", "Down", "Up", "Peers", "ETA",
    ])
    .bold()
    .underlined();
    let rows = snap.torrents.iter().map(|t| {
        let eta = if t.have >= t.size && t.size > 0 {
            "-".to_owned()
        } else {
            t.eta().map_or_else(|| "∞".to_owned(), format::duration)
        };
        Row::new([
            t.name.clone(),
            if t.size == 0 {
                "?".to_owned()
            } else {
                format::bytes(t.size)
            },
            format::percent(t.have, t.size),
            t.state.clone(),
            format::rate(t.down_rate),
            format::rate(t.up_rate),
            t.peers.to_string(),
            eta,
        ])
    });
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(5),
        Constraint::Length(7),
    ];
    let title = format!(" Torrents ({}) ", snap.torrents.len());
    let table = Table::new(rows, widths)
        .header(header)
        .block(pane(title, app.focus == Focus::List))
        .row_highlight_style(Style::new().reversed());
    let mut state = TableState::default().with_selected(app.selected_index(snap));
    if snap.torrents.is_empty() {
        let empty =
            Paragraph::new("No torrents yet: press a to add a .torrent file or a magnet link.")
                .block(pane(" Torrents (0) ".into(), app.focus == Focus::List));
        f.render_widget(empty, area);
    } else {
        f.render_stateful_widget(table, area, &mut state);
    }
}

fn draw_detail(f: &mut Frame<'_>, area: Rect, app: &App, snap: &Snapshot) {
    let name = app
        .selected_index(snap)
        .map(|i| snap.torrents[i].name.clone());
    let title = match &name {
        Some(n) => format!(" {n} "),
        None => " Detail ".to_owned(),
    };
    let block = pane(title, app.focus == Focus::Detail);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    let titles = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{} {}", i + 1, t.title()));
    let selected = Tab::ALL.iter().position(|t| *t == app.tab).unwrap_or(0);
    f.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(Style::new().bold().reversed()),
        tabs_area,
    );
    let detail = snap
        .detail
        .as_ref()
        .filter(|d| d.info_hash.is_some() && d.info_hash == app.selected);
    let Some(d) = detail else {
        let text = if name.is_some() {
            "…"
        } else {
            "Select a torrent."
        };
        f.render_widget(Paragraph::new(text), body);
        return;
    };
    match app.tab {
        Tab::Peers => draw_peers(f, body, d, app.detail_scroll),
        Tab::Files => draw_files(f, body, d, app.detail_scroll),
        Tab::Trackers => draw_trackers(f, body, d, app.detail_scroll),
        Tab::Pieces => draw_pieces(f, body, d),
    }
}

fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".to_owned())
}

fn table<'a>(
    f: &mut Frame<'_>,
    area: Rect,
    header: &'a [&'a str],
    widths: &[Constraint],
    rows: Vec<Vec<String>>,
    scroll: usize,
    empty: &str,
) {
    if rows.is_empty() {
        f.render_widget(Paragraph::new(empty.to_owned()), area);
        return;
    }
    let skip = scroll.min(rows.len().saturating_sub(1));
    let rows = rows.into_iter().skip(skip).map(Row::new);
    f.render_widget(
        Table::new(rows, widths.to_vec()).header(Row::new(header.to_vec()).bold()),
        area,
    );
}

fn draw_peers(f: &mut Frame<'_>, area: Rect, d: &Detail, scroll: usize) {
    let rows = d
        .peers
        .iter()
        .map(|p| {
            vec![
                p.addr.to_string(),
                or_dash(p.client.clone()),
                if p.flags.is_empty() {
                    "-".to_owned()
                } else {
                    p.flags.clone()
                },
                or_dash(p.down_rate.map(format::rate)),
                or_dash(p.up_rate.map(format::rate)),
                or_dash(p.progress.map(|pm| format!("{:.1} %", pm as f64 / 10.0))),
            ]
        })
        .collect();
    let widths = [
        Constraint::Length(22),
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(9),
    ];
    table(
        f,
        area,
        &["Address", "Client", "Flags", "Down", "Up", "Has"],
        &widths,
        rows,
        scroll,
        "No peers connected.",
    );
}

fn draw_files(f: &mut Frame<'_>, area: Rect, d: &Detail, scroll: usize) {
    let rows = d
        .files
        .iter()
        .map(|file| {
            vec![
                file.index.to_string(),
                file.path.clone(),
                format::bytes(file.length),
                format::percent(file.have, file.length.max(1).max(file.have)),
                file.priority.clone(),
            ]
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Fill(1),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(8),
    ];
    table(
        f,
        area,
        &["#", "Path", "Size", "Progress", "Priority"],
        &widths,
        rows,
        scroll,
        "The file list comes with the metadata.",
    );
}

fn draw_trackers(f: &mut Frame<'_>, area: Rect, d: &Detail, scroll: usize) {
    let rows = d
        .trackers
        .iter()
        .map(|t| {
            vec![
                t.tier.to_string(),
                t.url.clone(),
                t.status.clone(),
                or_dash(t.next_announce.map(format::duration)),
                or_dash(t.peers.map(|n| n.to_string())),
            ]
        })
        .collect();
    let widths = [
        Constraint::Length(4),
        Constraint::Fill(2),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(5),
    ];
    table(
        f,
        area,
        &["Tier", "URL", "Status", "Next", "Peers"],
        &widths,
        rows,
        scroll,
        "No trackers.",
    );
}

fn draw_pieces(f: &mut Frame<'_>, area: Rect, d: &Detail) {
    let n = d.pieces.pieces.len();
    if n == 0 {
        f.render_widget(
            Paragraph::new("The piece map comes with the metadata."),
            area,
        );
        return;
    }
    let count = |s: PieceState| d.pieces.pieces.iter().filter(|p| **p == s).count();
    let summary = format!(
        "{n} pieces: {} have, {} partial, {} missing   █ have  ▒ partial  · missing",
        count(PieceState::Have),
        count(PieceState::Partial),
        count(PieceState::Missing),
    );
    let width = area.width.max(1) as usize;
    let height = area.height.saturating_sub(1) as usize;
    let cells = d.pieces.cells(width * height);
    let mut lines = vec![Line::from(summary)];
    for chunk in cells.chunks(width) {
        let spans: Vec<Span<'_>> = chunk
            .iter()
            .map(|c| match c {
                PieceState::Have => Span::styled("█", Style::new().fg(Color::Green)),
                PieceState::Partial => Span::styled("▒", Style::new().fg(Color::Yellow)),
                PieceState::Missing => Span::styled("·", Style::new().fg(Color::DarkGray)),
            })
            .collect();
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines), area);
}

/// A rectangle `percent_x` % as wide as `area` and `height` rows tall, in
/// its middle.
fn popup(area: Rect, percent_x: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Percentage(percent_x)])
        .flex(Flex::Center)
        .areas(v);
    h
}

fn draw_prompt(f: &mut Frame<'_>, text: &str, snap: &Snapshot) {
    let area = popup(f.area(), 80, 4);
    f.render_widget(Clear, area);
    let block = Block::bordered()
        .title(" Add: a .torrent path or a magnet link (Enter adds, Esc cancels) ")
        .border_style(Style::new().fg(Color::Cyan));
    let lines = vec![
        Line::from(format!("> {text}▏")),
        Line::from(format!("saving into {}", snap.output_dir.display())).dim(),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn draw_confirm(f: &mut Frame<'_>, name: &str) {
    let area = popup(f.area(), 70, 5);
    f.render_widget(Clear, area);
    let block = Block::bordered()
        .title(" Remove ")
        .border_style(Style::new().fg(Color::Red));
    let lines = vec![
        Line::from(format!("Remove {name}?")),
        Line::from("y: remove and delete its data   n: remove, keep the data   Esc: cancel"),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
