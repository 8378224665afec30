//! What the uTP examples share: this process's CPU time, a hex info hash
//! argument, and the endpoint settings taken from the environment.

#![allow(dead_code)] // each example uses part of it

use std::time::Duration;

use seedbed_utp::EndpointConfig;

/// User plus system CPU time of this process (Linux; zero elsewhere).
pub(crate) fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which ends at the last ')').
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    // CLK_TCK is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// A 20-byte info hash from its 40 hex digits; panics on anything else.
pub(crate) fn parse_hex(s: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    assert_eq!(s.len(), 40, "INFO_HASH_HEX is 40 hex digits");
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex digit");
    }
    out
}

/// The endpoint settings, with overrides from the environment to compare
/// settings in one build: `UTP_SOCKET_BUFFER` (bytes, 0 for the system's),
/// `UTP_ACK_EVERY` (packets), `UTP_ACK_DELAY_MS`, `UTP_MIN_PROBE_MS`,
/// `UTP_RECV_BUFFER` (bytes), `UTP_MAX_WINDOW` (bytes), `UTP_MTU` (bytes).
pub(crate) fn config_from_env() -> EndpointConfig {
    let var = |name: &str| -> Option<u64> {
        let v = std::env::var(name).ok()?;
        Some(
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        )
    };
    let mut c = EndpointConfig::default();
    if let Some(v) = var("UTP_SOCKET_BUFFER") {
        c.socket_buffer = v as u32;
    }
    if let Some(v) = var("UTP_ACK_EVERY") {
        c.connection.ack_every = v as u16;
    }
    if let Some(v) = var("UTP_ACK_DELAY_MS") {
        c.connection.ack_delay = Duration::from_millis(v);
    }
    if let Some(v) = var("UTP_MIN_PROBE_MS") {
        c.connection.min_probe_timeout = Duration::from_millis(v);
    }
    if let Some(v) = var("UTP_RECV_BUFFER") {
        c.connection.recv_buffer = v as u32;
    }
    if let Some(v) = var("UTP_MAX_WINDOW") {
        c.connection.max_window = v as u32;
    }
    if let Some(v) = var("UTP_MTU") {
        c.connection.mtu = v as u16;
    }
    c.validate().expect("settings in range");
    c
}
