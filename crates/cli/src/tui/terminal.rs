//! Taking the terminal over (raw mode, alternate screen, hidden cursor)
//! and giving it back on every way out: [`TerminalGuard`]'s `Drop` on a
//! normal return or an error, and a panic hook that restores before the
//! panic message prints.

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

/// The terminal in raw mode on the alternate screen; restored when
/// dropped.
#[derive(Debug)]
pub struct TerminalGuard {
    /// The ratatui terminal to draw on.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    /// Switches the terminal to raw mode and the alternate screen, and
    /// installs the panic hook (once per process).
    ///
    /// # Errors
    /// The terminal's error; the terminal is restored first.
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        TAKEN_OVER.store(true, Ordering::SeqCst);
        let entered = (|| {
            enable_raw_mode()?;
            execute!(io::stdout(), EnterAlternateScreen, Hide)?;
            Terminal::new(CrosstermBackend::new(io::stdout()))
        })();
        match entered {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Whether the terminal is taken over (so [`restore`] has work to do).
static TAKEN_OVER: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen and shows the cursor, once:
/// later calls do nothing (leaving the alternate screen a second time
/// would move the cursor back over what was printed since, such as a
/// panic message).
pub fn restore() {
    if !TAKEN_OVER.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
