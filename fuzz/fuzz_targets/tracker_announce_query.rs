#![no_main]
//! Announce and scrape query parsing (tracker side) never panics; an
//! accepted query re-encodes to a query that parses to the same request.

use libfuzzer_sys::fuzz_target;
use seedbed_tracker_proto::http::MAX_QUERY_LEN;
use seedbed_tracker_proto::{AnnounceRequest, ScrapeRequest};

fuzz_target!(|data: &[u8]| {
    match AnnounceRequest::from_query(data) {
        Ok(req) => {
            let q = req.to_query();
            // Percent-encoding may grow a query past the limit.
            if q.len() > MAX_QUERY_LEN {
                return;
            }
            assert_eq!(
                AnnounceRequest::from_query(q.as_bytes()).expect("re-encoded query parses"),
                req
            );
        }
        Err(e) => assert!(e.offset().is_some_and(|o| o <= data.len())),
    }
    if let Ok(req) = ScrapeRequest::from_query(data) {
        let q = req.to_query();
        if q.len() > MAX_QUERY_LEN {
            return;
        }
        assert_eq!(
            ScrapeRequest::from_query(q.as_bytes()).expect("scrape query parses"),
            req
        );
    }
});
