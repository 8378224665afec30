//! Encoding KRPC messages: canonical bencode (keys sorted as raw bytes,
//! minimal integers), written straight into a `BufMut`.

use bytes::BufMut;
use seedbed_bencode::{write_bytes, write_int};

use super::{Body, ErrorReply, Message, Query, Response, Want};
use crate::compact::{addr_len, encode_addr};

fn key<B: BufMut + ?Sized>(buf: &mut B, k: &[u8]) {
    write_bytes(buf, k);
}

fn write_want<B: BufMut + ?Sized>(buf: &mut B, want: Option<Want>) {
    if let Some(w) = want {
        key(buf, b"want");
        buf.put_u8(b'l');
        if w.n4 {
            write_bytes(buf, b"n4");
        }
        if w.n6 {
            write_bytes(buf, b"n6");
        }
        buf.put_u8(b'e');
    }
}

impl Message<'_> {
    /// Writes the canonical encoding (keys sorted) into `buf`.
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        buf.put_u8(b'd');
        match &self.body {
            Body::Query(q) => {
                key(buf, b"a");
                encode_args(q, buf);
            }
            Body::Error(e) => {
                key(buf, b"e");
                buf.put_u8(b'l');
                write_int(buf, e.code.code());
                write_bytes(buf, e.message);
                buf.put_u8(b'e');
            }
            Body::Response(_) => {}
        }
        if let Some(ip) = &self.ip {
            key(buf, b"ip");
            let mut a = [0u8; 18];
            let n = addr_len(ip);
            encode_addr(ip, &mut &mut a[..]);
            write_bytes(buf, &a[..n]);
        }
        if let Body::Query(q) = &self.body {
            key(buf, b"q");
            write_bytes(buf, q.method());
        }
        match &self.body {
            Body::Response(r) => {
                key(buf, b"r");
                encode_response(r, buf);
            }
            Body::Error(ErrorReply { id: Some(id), .. }) => {
                key(buf, b"r");
                buf.put_u8(b'd');
                key(buf, b"id");
                write_bytes(buf, &id.0);
                buf.put_u8(b'e');
            }
            _ => {}
        }
        if self.read_only {
            key(buf, b"ro");
            write_int(buf, 1);
        }
        key(buf, b"t");
        write_bytes(buf, self.transaction_id.as_bytes());
        if let Some(v) = self.version {
            key(buf, b"v");
            write_bytes(buf, v);
        }
        key(buf, b"y");
        write_bytes(
            buf,
            match self.body {
                Body::Query(_) => b"q",
                Body::Response(_) => b"r",
                Body::Error(_) => b"e",
            },
        );
        buf.put_u8(b'e');
    }

    /// The canonical encoding as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(128);
        self.encode(&mut v);
        v
    }
}

fn encode_args<B: BufMut + ?Sized>(q: &Query<'_>, buf: &mut B) {
    buf.put_u8(b'd');
    key(buf, b"id");
    write_bytes(buf, &q.id().0);
    match *q {
        Query::Ping { .. } | Query::Unknown { .. } => {}
        Query::FindNode { target, want, .. } | Query::SampleInfohashes { target, want, .. } => {
            key(buf, b"target");
            write_bytes(buf, &target.0);
            write_want(buf, want);
        }
        Query::GetPeers {
            info_hash, want, ..
        } => {
            key(buf, b"info_hash");
            write_bytes(buf, &info_hash.0);
            write_want(buf, want);
        }
        Query::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
            ..
        } => {
            if implied_port {
                key(buf, b"implied_port");
                write_int(buf, 1);
            }
            key(buf, b"info_hash");
            write_bytes(buf, &info_hash.0);
            key(buf, b"port");
            write_int(buf, i64::from(port));
            key(buf, b"token");
            write_bytes(buf, token);
        }
    }
    buf.put_u8(b'e');
}

fn encode_response<B: BufMut + ?Sized>(r: &Response<'_>, buf: &mut B) {
    buf.put_u8(b'd');
    key(buf, b"id");
    write_bytes(buf, &r.id.0);
    if let Some(i) = r.interval {
        key(buf, b"interval");
        write_int(buf, i);
    }
    if let Some(n) = &r.nodes {
        key(buf, b"nodes");
        write_bytes(buf, n.as_bytes());
    }
    if let Some(n) = &r.nodes6 {
        key(buf, b"nodes6");
        write_bytes(buf, n.as_bytes());
    }
    if let Some(n) = r.num {
        key(buf, b"num");
        write_int(buf, n);
    }
    if let Some(s) = &r.samples {
        key(buf, b"samples");
        write_bytes(buf, s.as_bytes());
    }
    if let Some(t) = r.token {
        key(buf, b"token");
        write_bytes(buf, t);
    }
    if let Some(values) = &r.values {
        key(buf, b"values");
        buf.put_u8(b'l');
        for a in values.iter() {
            let mut tmp = [0u8; 18];
            let n = addr_len(&a);
            encode_addr(&a, &mut &mut tmp[..]);
            write_bytes(buf, &tmp[..n]);
        }
        buf.put_u8(b'e');
    }
    buf.put_u8(b'e');
}
