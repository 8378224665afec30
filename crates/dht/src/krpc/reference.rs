//! The first KRPC decoder, on seedbed-bencode's `Document` (a tape of every
//! value): kept as the reference the pull-reader decoder is tested against
//! (same message, same error, for any input).

use seedbed_bencode::{decode_with, Dict, Value};

use super::*;
use crate::compact::{decode_addr, CompactNodes, Family};
use crate::error::Error;

const OPTIONS: seedbed_bencode::DecodeOptions = seedbed_bencode::DecodeOptions::new()
    .max_depth(MAX_DEPTH)
    .max_items(MAX_ITEMS);

struct Ctx {
    transaction_id: Option<TransactionId>,
    query: bool,
}

impl Ctx {
    fn err(&self, offset: usize, reason: &'static str) -> Error {
        Error::Message {
            offset,
            reason,
            transaction_id: self.transaction_id,
            query: self.query,
        }
    }
}

fn id_of(
    ctx: &Ctx,
    v: Option<Value<'_, '_>>,
    dict: &Dict<'_, '_>,
    what: &'static str,
) -> Result<NodeId, Error> {
    let v = v.ok_or_else(|| ctx.err(dict.as_value().span().start, what))?;
    v.as_bytes()
        .and_then(NodeId::from_slice)
        .ok_or_else(|| ctx.err(v.span().start, what))
}

fn want_of(v: Option<Value<'_, '_>>) -> Option<Want> {
    let list = v?.as_list()?;
    let mut w = Want::default();
    for item in list.iter() {
        match item.as_bytes() {
            Some(b"n4") => w.n4 = true,
            Some(b"n6") => w.n6 = true,
            _ => {}
        }
    }
    Some(w)
}

/// The reference decoder.
pub(super) struct Reference;

impl Reference {
    /// Decodes one KRPC message (one UDP datagram's payload).
    ///
    /// # Errors
    /// [`Error::Bencode`] when the datagram is not bencode (or breaks
    /// [`MAX_DEPTH`] / [`MAX_ITEMS`]); [`Error::Message`] with the byte
    /// offset when a required key is missing or has the wrong type or
    /// length (a node id that is not 20 bytes, a port out of range). The
    /// error keeps the transaction id when it was readable.
    pub(super) fn decode<'a>(input: &'a [u8]) -> Result<Message<'a>, Error> {
        let doc = decode_with(input, &OPTIONS)?;
        let mut ctx = Ctx {
            transaction_id: None,
            query: false,
        };
        let root = doc
            .root()
            .as_dict()
            .ok_or_else(|| ctx.err(0, "message is not a dictionary"))?;
        let (mut t, mut y, mut q, mut a, mut r, mut e, mut v, mut ip, mut ro) =
            (None, None, None, None, None, None, None, None, None);
        for (k, val) in root.iter() {
            let slot = match k {
                b"t" => &mut t,
                b"y" => &mut y,
                b"q" => &mut q,
                b"a" => &mut a,
                b"r" => &mut r,
                b"e" => &mut e,
                b"v" => &mut v,
                b"ip" => &mut ip,
                b"ro" => &mut ro,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(val);
            }
        }
        let t: Value<'_, 'a> = t.ok_or_else(|| ctx.err(0, "missing transaction id `t`"))?;
        let tid = t.as_bytes().and_then(TransactionId::new).ok_or_else(|| {
            ctx.err(
                t.span().start,
                "transaction id `t` is not a string of at most 16 bytes",
            )
        })?;
        ctx.transaction_id = Some(tid);
        let y = y.ok_or_else(|| ctx.err(0, "missing message type `y`"))?;
        let kind = y.as_bytes().unwrap_or_default();
        ctx.query = kind == b"q";
        let version = v.and_then(|v| v.as_bytes());
        let ip = ip.and_then(|v| v.as_bytes()).and_then(decode_addr);
        let read_only = ro.and_then(|v| v.as_int()).is_some_and(|i| i != 0);
        let body = match kind {
            b"q" => Body::Query(decode_query(&ctx, q, a)?),
            b"r" => {
                let r = r.ok_or_else(|| ctx.err(0, "missing response `r`"))?;
                Body::Response(decode_response(&ctx, r)?)
            }
            b"e" => Body::Error(decode_error(&ctx, e, r)?),
            _ => return Err(ctx.err(y.span().start, "message type `y` is not q, r or e")),
        };
        Ok(Message {
            transaction_id: tid,
            version,
            ip,
            read_only,
            body,
        })
    }
}

fn decode_query<'a>(
    ctx: &Ctx,
    q: Option<Value<'_, 'a>>,
    a: Option<Value<'_, 'a>>,
) -> Result<Query<'a>, Error> {
    let q = q.ok_or_else(|| ctx.err(0, "missing method `q`"))?;
    let method = q
        .as_bytes()
        .ok_or_else(|| ctx.err(q.span().start, "method `q` is not a string"))?;
    let a = a.ok_or_else(|| ctx.err(0, "missing arguments `a`"))?;
    let args = a
        .as_dict()
        .ok_or_else(|| ctx.err(a.span().start, "arguments `a` are not a dictionary"))?;
    let (mut id, mut target, mut info_hash, mut port, mut implied, mut token, mut want) =
        (None, None, None, None, None, None, None);
    for (k, val) in args.iter() {
        let slot = match k {
            b"id" => &mut id,
            b"target" => &mut target,
            b"info_hash" => &mut info_hash,
            b"port" => &mut port,
            b"implied_port" => &mut implied,
            b"token" => &mut token,
            b"want" => &mut want,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(val);
        }
    }
    let id = id_of(ctx, id, &args, "argument `id` is not a 20-byte node id")?;
    let want = want_of(want);
    Ok(match method {
        b"ping" => Query::Ping { id },
        b"find_node" => Query::FindNode {
            id,
            target: id_of(ctx, target, &args, "argument `target` is not a 20-byte id")?,
            want,
        },
        b"get_peers" => Query::GetPeers {
            id,
            info_hash: id_of(
                ctx,
                info_hash,
                &args,
                "argument `info_hash` is not 20 bytes",
            )?
            .into(),
            want,
        },
        b"sample_infohashes" => Query::SampleInfohashes {
            id,
            target: id_of(ctx, target, &args, "argument `target` is not a 20-byte id")?,
            want,
        },
        b"announce_peer" => {
            let info_hash = id_of(
                ctx,
                info_hash,
                &args,
                "argument `info_hash` is not 20 bytes",
            )?
            .into();
            let implied_port = implied.and_then(|v| v.as_int()).is_some_and(|i| i != 0);
            let port = match port {
                Some(p) => match p.as_int().map(u16::try_from) {
                    Some(Ok(p)) => p,
                    _ if implied_port => 0,
                    _ => return Err(ctx.err(p.span().start, "argument `port` is not 0..=65535")),
                },
                None if implied_port => 0,
                None => {
                    return Err(ctx.err(args.as_value().span().start, "missing argument `port`"))
                }
            };
            let token = token
                .ok_or_else(|| ctx.err(args.as_value().span().start, "missing argument `token`"))?;
            let token = token
                .as_bytes()
                .ok_or_else(|| ctx.err(token.span().start, "argument `token` is not a string"))?;
            Query::AnnouncePeer {
                id,
                info_hash,
                port,
                implied_port,
                token,
            }
        }
        _ => Query::Unknown { id, method },
    })
}

fn decode_response<'a>(ctx: &Ctx, r: Value<'_, 'a>) -> Result<Response<'a>, Error> {
    let dict = r
        .as_dict()
        .ok_or_else(|| ctx.err(r.span().start, "response `r` is not a dictionary"))?;
    let (mut id, mut nodes, mut nodes6, mut token, mut values, mut samples, mut num, mut interval) =
        (None, None, None, None, None, None, None, None);
    for (k, val) in dict.iter() {
        let slot = match k {
            b"id" => &mut id,
            b"nodes" => &mut nodes,
            b"nodes6" => &mut nodes6,
            b"token" => &mut token,
            b"values" => &mut values,
            b"samples" => &mut samples,
            b"num" => &mut num,
            b"interval" => &mut interval,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(val);
        }
    }
    let id = id_of(ctx, id, &dict, "response `id` is not a 20-byte node id")?;
    let bytes = |v: Option<Value<'_, 'a>>, what: &'static str| -> Result<Option<&'a [u8]>, Error> {
        match v {
            None => Ok(None),
            Some(v) => v
                .as_bytes()
                .map(Some)
                .ok_or_else(|| ctx.err(v.span().start, what)),
        }
    };
    let int = |v: Option<Value<'_, 'a>>, what: &'static str| -> Result<Option<i64>, Error> {
        match v {
            None => Ok(None),
            Some(v) => v
                .as_int()
                .map(Some)
                .ok_or_else(|| ctx.err(v.span().start, what)),
        }
    };
    let values = match values {
        None => None,
        Some(v) => {
            let list = v
                .as_list()
                .ok_or_else(|| ctx.err(v.span().start, "`values` is not a list"))?;
            if let Some(bad) = list.iter().find(|i| i.as_bytes().is_none()) {
                return Err(ctx.err(bad.span().start, "`values` item is not a string"));
            }
            Some(Values(ValuesRepr::Encoded(v.raw())))
        }
    };
    Ok(Response {
        id,
        nodes: bytes(nodes, "`nodes` is not a string")?.map(|b| CompactNodes::new(b, Family::V4)),
        nodes6: bytes(nodes6, "`nodes6` is not a string")?
            .map(|b| CompactNodes::new(b, Family::V6)),
        token: bytes(token, "`token` is not a string")?,
        values,
        samples: bytes(samples, "`samples` is not a string")?.map(Samples::new),
        num: int(num, "`num` is not an integer")?,
        interval: int(interval, "`interval` is not an integer")?,
    })
}

fn decode_error<'a>(
    ctx: &Ctx,
    e: Option<Value<'_, 'a>>,
    r: Option<Value<'_, 'a>>,
) -> Result<ErrorReply<'a>, Error> {
    let e = e.ok_or_else(|| ctx.err(0, "missing error `e`"))?;
    let list = e
        .as_list()
        .ok_or_else(|| ctx.err(e.span().start, "error `e` is not a list"))?;
    let mut items = list.iter();
    let code = items.next().and_then(|v| v.as_int()).ok_or_else(|| {
        ctx.err(
            e.span().start,
            "error `e` does not start with an integer code",
        )
    })?;
    let message = items.next().and_then(|v| v.as_bytes()).unwrap_or_default();
    let id = r
        .and_then(|r| r.as_dict())
        .and_then(|d| d.get(b"id"))
        .and_then(|v| v.as_bytes())
        .and_then(NodeId::from_slice);
    Ok(ErrorReply {
        code: ErrorCode::from_code(code),
        message,
        id,
    })
}
