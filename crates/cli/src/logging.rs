//! Log lines on stderr (tracing), filtered by `RUST_LOG`.

/// Sends `tracing` events to stderr, filtered by `RUST_LOG` or, when it is
/// unset or invalid, by `default` (`"info"`, `"warn"`, ...). Does nothing
/// if a subscriber is already set.
pub fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
