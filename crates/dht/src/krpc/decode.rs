//! Decoding KRPC messages in one forward pass over the datagram with
//! seedbed-bencode's pull [`Reader`]: no tape, no allocation. Keys are
//! matched as they come (any order, first occurrence wins, unknown keys
//! skipped); the fields are checked once the whole message has been read, so
//! an error about `a` still carries the transaction id that follows it
//! (`t` sorts after `a`).

use seedbed_bencode::{DecodeOptions, Item, Reader};

use super::{
    Body, ErrorCode, ErrorReply, Message, Query, Response, Samples, TransactionId, Values,
    ValuesRepr, Want, MAX_DEPTH, MAX_ITEMS,
};
use crate::compact::{decode_addr, CompactNodes, Family};
use crate::error::Error;
use crate::id::NodeId;

const OPTIONS: DecodeOptions = DecodeOptions::new()
    .max_depth(MAX_DEPTH)
    .max_items(MAX_ITEMS);

/// A value seen in the message, by what the decoder needs of it: its
/// offset, and its content when it is a scalar.
#[derive(Clone, Copy)]
enum Seen<'a> {
    Int(usize, i64),
    Bytes(usize, &'a [u8]),
    /// A list or dictionary that was not taken apart.
    Other(usize),
}

impl<'a> Seen<'a> {
    fn offset(&self) -> usize {
        match *self {
            Seen::Int(o, _) | Seen::Bytes(o, _) | Seen::Other(o) => o,
        }
    }

    fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Seen::Bytes(_, b) => Some(b),
            _ => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match *self {
            Seen::Int(_, i) => Some(i),
            _ => None,
        }
    }
}

/// Records `item` (at `at`) into `slot` unless a value was recorded there
/// already (the first occurrence of a key wins, as libtorrent reads), and
/// skips its contents if it is a container.
fn keep<'a>(
    r: &mut Reader<'a>,
    slot: &mut Option<Seen<'a>>,
    at: usize,
    item: Item<'a>,
) -> Result<(), Error> {
    let seen = match item {
        Item::Int(i) => Seen::Int(at, i),
        Item::Bytes(b) => Seen::Bytes(at, b),
        Item::List | Item::Dict => {
            r.skip(item)?;
            Seen::Other(at)
        }
    };
    if slot.is_none() {
        *slot = Some(seen);
    }
    Ok(())
}

/// A dictionary entry: its key, the value's offset, and the value.
type Entry<'a> = (&'a [u8], usize, Item<'a>);

/// The next key of the dictionary being read, and its value; `None` at the
/// dictionary's end.
fn entry<'a>(r: &mut Reader<'a>) -> Result<Option<Entry<'a>>, Error> {
    let Some((_, Item::Bytes(key))) = r.next()? else {
        return Ok(None);
    };
    // The reader only returns a key when a value follows (or fails).
    match r.next()? {
        Some((at, value)) => Ok(Some((key, at, value))),
        None => Ok(None),
    }
}

/// The arguments `a` of a query.
#[derive(Default)]
struct Args<'a> {
    /// Offset of `a`, and whether it was a dictionary.
    at: usize,
    is_dict: bool,
    id: Option<Seen<'a>>,
    target: Option<Seen<'a>>,
    info_hash: Option<Seen<'a>>,
    port: Option<Seen<'a>>,
    implied_port: Option<Seen<'a>>,
    token: Option<Seen<'a>>,
    want: Option<Want>,
    /// A `want` key was seen (only the first counts, list or not).
    want_seen: bool,
}

/// Reads `a` into `a` (filled in place: these records are large to move).
fn read_args<'a>(
    r: &mut Reader<'a>,
    a: &mut Args<'a>,
    at: usize,
    item: Item<'a>,
) -> Result<(), Error> {
    a.at = at;
    if item != Item::Dict {
        r.skip(item)?;
        return Ok(());
    }
    a.is_dict = true;
    while let Some((key, at, value)) = entry(r)? {
        let slot = match key {
            b"id" => &mut a.id,
            b"target" => &mut a.target,
            b"info_hash" => &mut a.info_hash,
            b"port" => &mut a.port,
            b"implied_port" => &mut a.implied_port,
            b"token" => &mut a.token,
            b"want" if !a.want_seen => {
                a.want_seen = true;
                if value == Item::List {
                    a.want = Some(read_want(r)?);
                } else {
                    r.skip(value)?;
                }
                continue;
            }
            _ => {
                r.skip(value)?;
                continue;
            }
        };
        keep(r, slot, at, value)?;
    }
    Ok(())
}

/// BEP 32 `want`: the list's `n4` and `n6` strings; anything else ignored.
fn read_want(r: &mut Reader<'_>) -> Result<Want, Error> {
    let mut w = Want::default();
    while let Some((_, item)) = r.next()? {
        match item {
            Item::Bytes(b"n4") => w.n4 = true,
            Item::Bytes(b"n6") => w.n6 = true,
            other => r.skip(other)?,
        }
    }
    Ok(w)
}

/// The return values `r` of a response (or the `r` = `{id}` of an error).
#[derive(Default)]
struct Ret<'a> {
    at: usize,
    is_dict: bool,
    id: Option<Seen<'a>>,
    nodes: Option<Seen<'a>>,
    nodes6: Option<Seen<'a>>,
    token: Option<Seen<'a>>,
    samples: Option<Seen<'a>>,
    num: Option<Seen<'a>>,
    interval: Option<Seen<'a>>,
    values: Option<ValuesSeen<'a>>,
}

/// `values`: the raw list, or why it cannot be one.
#[derive(Clone, Copy)]
enum ValuesSeen<'a> {
    /// `l…e`, every item a byte string.
    List(&'a [u8]),
    /// Not a list: the offset of the value.
    NotList(usize),
    /// A list with an item that is not a string: that item's offset.
    BadItem(usize),
}

/// Reads `r` into `ret` (filled in place).
fn read_ret<'a>(
    r: &mut Reader<'a>,
    ret: &mut Ret<'a>,
    input: &'a [u8],
    at: usize,
    item: Item<'a>,
) -> Result<(), Error> {
    ret.at = at;
    if item != Item::Dict {
        r.skip(item)?;
        return Ok(());
    }
    ret.is_dict = true;
    while let Some((key, at, value)) = entry(r)? {
        let slot = match key {
            b"id" => &mut ret.id,
            b"nodes" => &mut ret.nodes,
            b"nodes6" => &mut ret.nodes6,
            b"token" => &mut ret.token,
            b"samples" => &mut ret.samples,
            b"num" => &mut ret.num,
            b"interval" => &mut ret.interval,
            b"values" => {
                let seen = read_values(r, input, at, value)?;
                if ret.values.is_none() {
                    ret.values = Some(seen);
                }
                continue;
            }
            _ => {
                r.skip(value)?;
                continue;
            }
        };
        keep(r, slot, at, value)?;
    }
    Ok(())
}

fn read_values<'a>(
    r: &mut Reader<'a>,
    input: &'a [u8],
    at: usize,
    item: Item<'a>,
) -> Result<ValuesSeen<'a>, Error> {
    if item != Item::List {
        r.skip(item)?;
        return Ok(ValuesSeen::NotList(at));
    }
    let mut bad = None;
    while let Some((item_at, item)) = r.next()? {
        if !matches!(item, Item::Bytes(_)) {
            bad = bad.or(Some(item_at));
            r.skip(item)?;
        }
    }
    Ok(match bad {
        Some(o) => ValuesSeen::BadItem(o),
        None => ValuesSeen::List(&input[at..r.offset()]),
    })
}

/// The error list `e`: its code and message.
struct Err<'a> {
    at: usize,
    is_list: bool,
    code: Option<i64>,
    message: Option<&'a [u8]>,
}

fn read_err<'a>(r: &mut Reader<'a>, at: usize, item: Item<'a>) -> Result<Err<'a>, Error> {
    let mut e = Err {
        at,
        is_list: item == Item::List,
        code: None,
        message: None,
    };
    if !e.is_list {
        r.skip(item)?;
        return Ok(e);
    }
    let mut n = 0;
    while let Some((_, item)) = r.next()? {
        match (n, item) {
            (0, Item::Int(c)) => e.code = Some(c),
            (1, Item::Bytes(m)) => e.message = Some(m),
            _ => r.skip(item)?,
        }
        n += 1;
    }
    Ok(e)
}

/// Everything the top-level dictionary held that the decoder reads.
#[derive(Default)]
struct Top<'a> {
    t: Option<Seen<'a>>,
    y: Option<Seen<'a>>,
    q: Option<Seen<'a>>,
    v: Option<Seen<'a>>,
    ip: Option<Seen<'a>>,
    ro: Option<Seen<'a>>,
    /// `a`, `r`: filled in place; `has_a`, `has_r` say whether they were seen.
    a: Args<'a>,
    has_a: bool,
    r: Ret<'a>,
    has_r: bool,
    e: Option<Err<'a>>,
}

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

impl<'a> Message<'a> {
    /// Decodes one KRPC message (one UDP datagram's payload), in one pass
    /// and without allocating.
    ///
    /// # Errors
    /// [`Error::Bencode`] when the datagram is not bencode (or breaks
    /// [`MAX_DEPTH`] / [`MAX_ITEMS`]); [`Error::Message`] with the byte
    /// offset when a required key is missing or has the wrong type or
    /// length (a node id that is not 20 bytes, a port out of range). The
    /// error keeps the transaction id when it was readable.
    pub fn decode(input: &'a [u8]) -> Result<Message<'a>, Error> {
        let mut r = Reader::new(input, &OPTIONS);
        let mut ctx = Ctx {
            transaction_id: None,
            query: false,
        };
        let (_, root) = r.next()?.ok_or(Error::Message {
            offset: 0,
            reason: "message is not a dictionary",
            transaction_id: None,
            query: false,
        })?;
        if root != Item::Dict {
            r.skip(root)?;
            r.finish()?;
            return Err(ctx.err(0, "message is not a dictionary"));
        }
        let mut top = Top::default();
        while let Some((key, at, value)) = entry(&mut r)? {
            let slot = match key {
                b"t" => &mut top.t,
                b"y" => &mut top.y,
                b"q" => &mut top.q,
                b"v" => &mut top.v,
                b"ip" => &mut top.ip,
                b"ro" => &mut top.ro,
                b"a" if !top.has_a => {
                    top.has_a = true;
                    read_args(&mut r, &mut top.a, at, value)?;
                    continue;
                }
                b"r" if !top.has_r => {
                    top.has_r = true;
                    read_ret(&mut r, &mut top.r, input, at, value)?;
                    continue;
                }
                b"e" if top.e.is_none() => {
                    top.e = Some(read_err(&mut r, at, value)?);
                    continue;
                }
                _ => {
                    r.skip(value)?;
                    continue;
                }
            };
            keep(&mut r, slot, at, value)?;
        }
        r.finish()?;

        let t = top
            .t
            .ok_or_else(|| ctx.err(0, "missing transaction id `t`"))?;
        let tid = t.bytes().and_then(TransactionId::new).ok_or_else(|| {
            ctx.err(
                t.offset(),
                "transaction id `t` is not a string of at most 16 bytes",
            )
        })?;
        ctx.transaction_id = Some(tid);
        let y = top
            .y
            .ok_or_else(|| ctx.err(0, "missing message type `y`"))?;
        let kind = y.bytes().unwrap_or_default();
        ctx.query = kind == b"q";
        let version = top.v.and_then(|v| v.bytes());
        let ip = top.ip.and_then(|v| v.bytes()).and_then(decode_addr);
        let read_only = top.ro.and_then(|v| v.int()).is_some_and(|i| i != 0);
        let body = match kind {
            b"q" => Body::Query(query(&ctx, top.q, top.has_a.then_some(&top.a))?),
            b"r" => {
                if !top.has_r {
                    return Err(ctx.err(0, "missing response `r`"));
                }
                let ret = &top.r;
                Body::Response(response(&ctx, ret)?)
            }
            b"e" => Body::Error(error(&ctx, top.e, top.has_r.then_some(&top.r))?),
            _ => return Err(ctx.err(y.offset(), "message type `y` is not q, r or e")),
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

/// A 20-byte id from `v`; missing: an error at `dict_at`, the dictionary.
fn id_of(
    ctx: &Ctx,
    v: Option<Seen<'_>>,
    dict_at: usize,
    what: &'static str,
) -> Result<NodeId, Error> {
    let v = v.ok_or_else(|| ctx.err(dict_at, what))?;
    v.bytes()
        .and_then(NodeId::from_slice)
        .ok_or_else(|| ctx.err(v.offset(), what))
}

fn query<'a>(ctx: &Ctx, q: Option<Seen<'a>>, a: Option<&Args<'a>>) -> Result<Query<'a>, Error> {
    let q = q.ok_or_else(|| ctx.err(0, "missing method `q`"))?;
    let method = q
        .bytes()
        .ok_or_else(|| ctx.err(q.offset(), "method `q` is not a string"))?;
    let a = a.ok_or_else(|| ctx.err(0, "missing arguments `a`"))?;
    if !a.is_dict {
        return Err(ctx.err(a.at, "arguments `a` are not a dictionary"));
    }
    let id = id_of(ctx, a.id, a.at, "argument `id` is not a 20-byte node id")?;
    let want = a.want;
    let target = |what| id_of(ctx, a.target, a.at, what);
    let info_hash = || {
        id_of(
            ctx,
            a.info_hash,
            a.at,
            "argument `info_hash` is not 20 bytes",
        )
        .map(Into::into)
    };
    Ok(match method {
        b"ping" => Query::Ping { id },
        b"find_node" => Query::FindNode {
            id,
            target: target("argument `target` is not a 20-byte id")?,
            want,
        },
        b"get_peers" => Query::GetPeers {
            id,
            info_hash: info_hash()?,
            want,
        },
        b"sample_infohashes" => Query::SampleInfohashes {
            id,
            target: target("argument `target` is not a 20-byte id")?,
            want,
        },
        b"announce_peer" => {
            let info_hash = info_hash()?;
            let implied_port = a.implied_port.and_then(|v| v.int()).is_some_and(|i| i != 0);
            let port = match a.port {
                Some(p) => match p.int().map(u16::try_from) {
                    Some(Ok(p)) => p,
                    _ if implied_port => 0,
                    _ => return Err(ctx.err(p.offset(), "argument `port` is not 0..=65535")),
                },
                None if implied_port => 0,
                None => return Err(ctx.err(a.at, "missing argument `port`")),
            };
            let token = a
                .token
                .ok_or_else(|| ctx.err(a.at, "missing argument `token`"))?;
            let token = token
                .bytes()
                .ok_or_else(|| ctx.err(token.offset(), "argument `token` is not a string"))?;
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

fn response<'a>(ctx: &Ctx, ret: &Ret<'a>) -> Result<Response<'a>, Error> {
    if !ret.is_dict {
        return Err(ctx.err(ret.at, "response `r` is not a dictionary"));
    }
    let id = id_of(
        ctx,
        ret.id,
        ret.at,
        "response `id` is not a 20-byte node id",
    )?;
    let bytes = |v: Option<Seen<'a>>, what: &'static str| -> Result<Option<&'a [u8]>, Error> {
        match v {
            None => Ok(None),
            Some(v) => v.bytes().map(Some).ok_or_else(|| ctx.err(v.offset(), what)),
        }
    };
    let int = |v: Option<Seen<'a>>, what: &'static str| -> Result<Option<i64>, Error> {
        match v {
            None => Ok(None),
            Some(v) => v.int().map(Some).ok_or_else(|| ctx.err(v.offset(), what)),
        }
    };
    let values = match ret.values {
        None => None,
        Some(ValuesSeen::NotList(at)) => return Err(ctx.err(at, "`values` is not a list")),
        Some(ValuesSeen::BadItem(at)) => return Err(ctx.err(at, "`values` item is not a string")),
        Some(ValuesSeen::List(raw)) => Some(Values(ValuesRepr::Encoded(raw))),
    };
    Ok(Response {
        id,
        nodes: bytes(ret.nodes, "`nodes` is not a string")?
            .map(|b| CompactNodes::new(b, Family::V4)),
        nodes6: bytes(ret.nodes6, "`nodes6` is not a string")?
            .map(|b| CompactNodes::new(b, Family::V6)),
        token: bytes(ret.token, "`token` is not a string")?,
        values,
        samples: bytes(ret.samples, "`samples` is not a string")?.map(Samples::new),
        num: int(ret.num, "`num` is not an integer")?,
        interval: int(ret.interval, "`interval` is not an integer")?,
    })
}

fn error<'a>(ctx: &Ctx, e: Option<Err<'a>>, r: Option<&Ret<'a>>) -> Result<ErrorReply<'a>, Error> {
    let e = e.ok_or_else(|| ctx.err(0, "missing error `e`"))?;
    if !e.is_list {
        return Err(ctx.err(e.at, "error `e` is not a list"));
    }
    let code = e
        .code
        .ok_or_else(|| ctx.err(e.at, "error `e` does not start with an integer code"))?;
    let id = r
        .and_then(|r| r.id)
        .and_then(|v| v.bytes())
        .and_then(NodeId::from_slice);
    Ok(ErrorReply {
        code: ErrorCode::from_code(code),
        message: e.message.unwrap_or_default(),
        id,
    })
}
