#![no_main]
//! HTTP announce and scrape response parsing never panics; an accepted body
//! re-encodes canonically (compact and dictionary forms) and parses back to
//! the same response.

use libfuzzer_sys::fuzz_target;
use seedbed_tracker_proto::http::{parse_announce_response, parse_scrape_response};

fuzz_target!(|data: &[u8]| {
    if let Ok(resp) = parse_announce_response(data) {
        let mut dict = Vec::new();
        resp.encode_http(false, &mut dict);
        assert_eq!(
            parse_announce_response(&dict).expect("dictionary form parses"),
            resp
        );
        let mut compact = Vec::new();
        resp.encode_http(true, &mut compact);
        let back = parse_announce_response(&compact).expect("compact form parses");
        // Compact form drops peer ids and puts IPv4 peers before IPv6.
        let mut want: Vec<_> = resp.peers.iter().map(|p| p.addr).collect();
        want.sort_by_key(|a| a.is_ipv6());
        let got: Vec<_> = back.peers.iter().map(|p| p.addr).collect();
        assert_eq!(got, want);
        assert_eq!(
            (back.interval, back.complete, back.incomplete),
            (resp.interval, resp.complete, resp.incomplete)
        );
    }
    if let Ok(resp) = parse_scrape_response(data) {
        let mut out = Vec::new();
        resp.encode_http(&mut out);
        assert_eq!(parse_scrape_response(&out).expect("scrape parses"), resp);
    }
});
