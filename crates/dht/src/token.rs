//! Write tokens (BEP 5, "get_peers" and "announce_peer"): a `get_peers`
//! reply carries a token bound to the asker's IP address; `announce_peer`
//! must bring it back from the same IP.
//!
//! As in the BitTorrent implementation BEP 5 describes, a token is the
//! SHA-1 of a secret and the IP address (here its first 8 bytes); the
//! secret changes every 5 minutes and the previous one is still accepted,
//! so a token is valid for 5 to 10 minutes. The secrets come from outside
//! ([`Tokens::rotate`]): nothing here draws random numbers.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

/// How long a secret is used before the next one: 5 minutes (BEP 5).
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);

/// Length of the tokens this node hands out: 8 bytes.
pub const TOKEN_LEN: usize = 8;

/// The current and previous token secrets.
#[derive(Clone)]
pub struct Tokens {
    current: [u8; 20],
    previous: [u8; 20],
    rotated_at: Instant,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets.
        f.debug_struct("Tokens")
            .field("rotated_at", &self.rotated_at)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Starts with `secret` (20 random bytes from the caller) at `now`.
    pub fn new(secret: [u8; 20], now: Instant) -> Self {
        Tokens {
            current: secret,
            previous: secret,
            rotated_at: now,
        }
    }

    /// When the secret should next be rotated ([`ROTATE_EVERY`] after the
    /// last rotation).
    pub fn next_rotation(&self) -> Instant {
        self.rotated_at + ROTATE_EVERY
    }

    /// Makes `secret` current; the current one becomes the previous one
    /// (still accepted), the previous one is forgotten.
    pub fn rotate(&mut self, secret: [u8; 20], now: Instant) {
        self.previous = self.current;
        self.current = secret;
        self.rotated_at = now;
    }

    /// The token for `ip`, [`TOKEN_LEN`] bytes.
    pub fn issue(&self, ip: IpAddr) -> [u8; TOKEN_LEN] {
        token(&self.current, ip)
    }

    /// Whether `token` was issued to `ip` with the current or the previous
    /// secret.
    pub fn verify(&self, ip: IpAddr, token: &[u8]) -> bool {
        token.len() == TOKEN_LEN
            && (token == self.issue(ip) || token == self::token(&self.previous, ip))
    }
}

fn token(secret: &[u8; 20], ip: IpAddr) -> [u8; TOKEN_LEN] {
    let mut h = Sha1::new();
    h.update(secret);
    match crate::compact::canonical(std::net::SocketAddr::new(ip, 0)).ip() {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
    let d = h.finalize();
    let mut out = [0u8; TOKEN_LEN];
    out.copy_from_slice(&d[..TOKEN_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_for_two_periods_and_bound_to_the_ip() {
        let now = Instant::now();
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        let other: IpAddr = "1.2.3.5".parse().unwrap();
        let mut t = Tokens::new([1; 20], now);
        let tok = t.issue(ip);
        assert!(t.verify(ip, &tok));
        assert!(!t.verify(other, &tok));
        assert!(!t.verify(ip, &tok[..4]));
        assert_eq!(t.next_rotation(), now + ROTATE_EVERY);
        t.rotate([2; 20], now + ROTATE_EVERY);
        assert!(t.verify(ip, &tok), "previous secret still accepted");
        t.rotate([3; 20], now + 2 * ROTATE_EVERY);
        assert!(!t.verify(ip, &tok), "two rotations later it is refused");
        // IPv4-mapped IPv6 is the same address.
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(t.issue(ip), t.issue(mapped));
    }
}
