//! Progress display on stderr with indicatif: hashing (`create`) and
//! downloading (`download`).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar for hashing content: `hashing [====>   ] 12 MiB/40 MiB 300 MiB/s
/// eta 1s`. Hidden when `quiet`. Its length is set by the first progress
/// report.
pub fn hashing_bar(quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(style(
        "{spinner} hashing [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ));
    bar
}

/// A bar for a download of `total` bytes, its message the peer count:
/// `3 peers [====>   ] 12 MiB/40 MiB 4 MiB/s eta 7s`.
pub fn download_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(style(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    ));
    bar
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the templates above are valid")
        .progress_chars("=> ")
}
