//! The decoded, borrowed tree: a [`Document`] holds a flat tape of tokens
//! over the input; [`Value`], [`List`] and [`Dict`] are cheap views into it.

use std::fmt;
use std::ops::Range;

use crate::owned::OwnedValue;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Tag {
    Int,
    Bytes,
    List,
    Dict,
}

/// One value on the tape. Tokens are in pre-order; `next` is the index of
/// the first token after this value's subtree, so a container's children are
/// the tokens `idx + 1 .. next`, reached by hopping from `next` to `next`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) next: u32,
    pub(crate) tag: Tag,
    /// Int: the value's bits. Bytes: offset of the content's first byte.
    pub(crate) data: u64,
}

impl Token {
    pub(crate) fn new(tag: Tag, start: usize, end: usize, data: u64) -> Self {
        Token {
            start: start as u32,
            end: end as u32,
            next: 0,
            tag,
            data,
        }
    }
}

/// A decoded bencode document: the input it borrows and a flat tape of its
/// values. Get the root with [`Document::root`].
///
/// Memory: about 24 bytes per value, plus nothing per byte of string data.
pub struct Document<'a> {
    input: &'a [u8],
    tokens: Vec<Token>,
}

impl<'a> Document<'a> {
    pub(crate) fn from_parts(input: &'a [u8], tokens: Vec<Token>) -> Self {
        debug_assert!(!tokens.is_empty());
        Document { input, tokens }
    }

    /// The root value.
    pub fn root(&self) -> Value<'_, 'a> {
        Value { doc: self, idx: 0 }
    }

    /// The whole input that was decoded (including any allowed trailing
    /// bytes).
    pub fn input(&self) -> &'a [u8] {
        self.input
    }

    /// How many values the document holds (dictionary keys count).
    pub fn item_count(&self) -> usize {
        self.tokens.len()
    }
}

impl fmt::Debug for Document<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.root(), f)
    }
}

/// The type of a [`Value`], with its content.
#[derive(Clone, Copy, Debug)]
pub enum Kind<'d, 'a> {
    /// An integer, `i…e`, in `i64` range.
    Int(i64),
    /// A byte string, `len:bytes`, borrowed from the input.
    Bytes(&'a [u8]),
    /// A list, `l…e`.
    List(List<'d, 'a>),
    /// A dictionary, `d…e`, entries in source order.
    Dict(Dict<'d, 'a>),
}

/// A view of one decoded value. `Copy`; borrows the [`Document`] for `'d`
/// and the input for `'a`.
#[derive(Clone, Copy)]
pub struct Value<'d, 'a> {
    doc: &'d Document<'a>,
    idx: u32,
}

impl<'d, 'a> Value<'d, 'a> {
    fn token(&self) -> &'d Token {
        &self.doc.tokens[self.idx as usize]
    }

    /// The exact bytes of this value in the input (for a dictionary, from
    /// its `d` to its `e`). Hash `info` with these, never a re-encoding.
    pub fn raw(&self) -> &'a [u8] {
        let t = self.token();
        &self.doc.input[t.start as usize..t.end as usize]
    }

    /// The byte range of [`raw`](Self::raw) in the input.
    pub fn span(&self) -> Range<usize> {
        let t = self.token();
        t.start as usize..t.end as usize
    }

    /// The value's type and content.
    pub fn kind(&self) -> Kind<'d, 'a> {
        let t = self.token();
        match t.tag {
            Tag::Int => Kind::Int(t.data as i64),
            Tag::Bytes => Kind::Bytes(&self.doc.input[t.data as usize..t.end as usize]),
            Tag::List => Kind::List(List { value: *self }),
            Tag::Dict => Kind::Dict(Dict { value: *self }),
        }
    }

    /// `"integer"`, `"string"`, `"list"` or `"dictionary"`.
    pub fn type_name(&self) -> &'static str {
        match self.token().tag {
            Tag::Int => "integer",
            Tag::Bytes => "string",
            Tag::List => "list",
            Tag::Dict => "dictionary",
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind() {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The byte string's content, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind() {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string's content, if this is one and it is UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<List<'d, 'a>> {
        match self.kind() {
            Kind::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<Dict<'d, 'a>> {
        match self.kind() {
            Kind::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// A deep copy as an [`OwnedValue`]. Duplicate dictionary keys keep
    /// their first value (as [`Dict::get`] does).
    pub fn to_owned_value(&self) -> OwnedValue {
        OwnedValue::from_value(*self)
    }

    /// The tokens of this value's subtree, in pre-order.
    pub(crate) fn subtree(&self) -> &'d [Token] {
        let t = self.token();
        &self.doc.tokens[self.idx as usize..t.next as usize]
    }

    pub(crate) fn input(&self) -> &'a [u8] {
        self.doc.input
    }

    pub(crate) fn at(&self, idx: u32) -> Value<'d, 'a> {
        Value { doc: self.doc, idx }
    }

    pub(crate) fn index(&self) -> u32 {
        self.idx
    }

    pub(crate) fn next_index(&self) -> u32 {
        self.token().next
    }
}

/// Structural equality: same types, integers, string bytes, list items and
/// dictionary entries in the same order. Raw spans are not compared.
impl PartialEq for Value<'_, '_> {
    fn eq(&self, other: &Value<'_, '_>) -> bool {
        let (a, b) = (self.subtree(), other.subtree());
        if a.len() != b.len() {
            return false;
        }
        let (ia, ib) = (self.input(), other.input());
        let (ba, bb) = (self.idx, other.idx);
        a.iter().zip(b).all(|(x, y)| {
            x.tag == y.tag
                && match x.tag {
                    Tag::Int => x.data == y.data,
                    Tag::Bytes => {
                        ia[x.data as usize..x.end as usize] == ib[y.data as usize..y.end as usize]
                    }
                    // Equal subtree shapes: the same relative `next`.
                    Tag::List | Tag::Dict => x.next - ba == y.next - bb,
                }
        })
    }
}

impl Eq for Value<'_, '_> {}

impl PartialEq<OwnedValue> for Value<'_, '_> {
    fn eq(&self, other: &OwnedValue) -> bool {
        other == self
    }
}

impl fmt::Debug for Value<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_value(*self, f, 0)
    }
}

const DEBUG_DEPTH: usize = 32;

pub(crate) struct DebugBytes<'b>(pub(crate) &'b [u8]);

impl fmt::Debug for DebugBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) if self.0.len() <= 256 => fmt::Debug::fmt(s, f),
            _ if self.0.len() <= 64 => write!(f, "b\"{}\"", self.0.escape_ascii()),
            _ => write!(f, "<{} bytes>", self.0.len()),
        }
    }
}

fn debug_value(v: Value<'_, '_>, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
    if depth >= DEBUG_DEPTH {
        return f.write_str("…");
    }
    struct Nested<'d, 'a>(Value<'d, 'a>, usize);
    impl fmt::Debug for Nested<'_, '_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            debug_value(self.0, f, self.1)
        }
    }
    match v.kind() {
        Kind::Int(i) => write!(f, "{i}"),
        Kind::Bytes(b) => fmt::Debug::fmt(&DebugBytes(b), f),
        Kind::List(l) => f
            .debug_list()
            .entries(l.iter().map(|x| Nested(x, depth + 1)))
            .finish(),
        Kind::Dict(d) => f
            .debug_map()
            .entries(d.iter().map(|(k, x)| (DebugBytes(k), Nested(x, depth + 1))))
            .finish(),
    }
}

/// A view of a decoded list.
#[derive(Clone, Copy)]
pub struct List<'d, 'a> {
    value: Value<'d, 'a>,
}

impl<'d, 'a> List<'d, 'a> {
    /// The list as a [`Value`] (for its raw span).
    pub fn as_value(&self) -> Value<'d, 'a> {
        self.value
    }

    /// The items, in order.
    pub fn iter(&self) -> Items<'d, 'a> {
        Items {
            value: self.value,
            cur: self.value.index() + 1,
            end: self.value.next_index(),
        }
    }

    /// The number of items. Walks the list: O(items).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the list has no items.
    pub fn is_empty(&self) -> bool {
        self.value.index() + 1 == self.value.next_index()
    }

    /// The item at `index`. Walks the list: O(index).
    pub fn get(&self, index: usize) -> Option<Value<'d, 'a>> {
        self.iter().nth(index)
    }
}

impl<'d, 'a> IntoIterator for List<'d, 'a> {
    type Item = Value<'d, 'a>;
    type IntoIter = Items<'d, 'a>;
    fn into_iter(self) -> Items<'d, 'a> {
        self.iter()
    }
}

impl fmt::Debug for List<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value, f)
    }
}

/// Iterator over the items of a [`List`].
#[derive(Clone, Debug)]
pub struct Items<'d, 'a> {
    value: Value<'d, 'a>,
    cur: u32,
    end: u32,
}

impl<'d, 'a> Iterator for Items<'d, 'a> {
    type Item = Value<'d, 'a>;
    fn next(&mut self) -> Option<Value<'d, 'a>> {
        if self.cur >= self.end {
            return None;
        }
        let v = self.value.at(self.cur);
        self.cur = v.next_index();
        Some(v)
    }
}

/// A view of a decoded dictionary. Entries are in source order; in lenient
/// mode keys may be unsorted or repeated.
#[derive(Clone, Copy)]
pub struct Dict<'d, 'a> {
    value: Value<'d, 'a>,
}

impl<'d, 'a> Dict<'d, 'a> {
    /// The dictionary as a [`Value`] (for its raw span).
    pub fn as_value(&self) -> Value<'d, 'a> {
        self.value
    }

    /// The entries `(key, value)`, in source order.
    pub fn iter(&self) -> Entries<'d, 'a> {
        Entries {
            items: self.value.as_list_items(),
        }
    }

    /// The number of entries (duplicates included). O(entries).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the dictionary has no entries.
    pub fn is_empty(&self) -> bool {
        self.value.index() + 1 == self.value.next_index()
    }

    /// The value of the first entry whose key is `key`. O(entries).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<Value<'d, 'a>> {
        let key = key.as_ref();
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The values of every entry whose key is `key`, in source order.
    pub fn get_all<'k>(&self, key: &'k [u8]) -> impl Iterator<Item = Value<'d, 'a>> + 'k
    where
        'd: 'k,
        'a: 'k,
    {
        self.iter().filter(move |(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl<'d, 'a> Value<'d, 'a> {
    fn as_list_items(&self) -> Items<'d, 'a> {
        Items {
            value: *self,
            cur: self.idx + 1,
            end: self.next_index(),
        }
    }
}

impl<'d, 'a> IntoIterator for Dict<'d, 'a> {
    type Item = (&'a [u8], Value<'d, 'a>);
    type IntoIter = Entries<'d, 'a>;
    fn into_iter(self) -> Entries<'d, 'a> {
        self.iter()
    }
}

impl fmt::Debug for Dict<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.value, f)
    }
}

/// Iterator over the entries of a [`Dict`].
#[derive(Clone, Debug)]
pub struct Entries<'d, 'a> {
    items: Items<'d, 'a>,
}

impl<'d, 'a> Iterator for Entries<'d, 'a> {
    type Item = (&'a [u8], Value<'d, 'a>);
    fn next(&mut self) -> Option<Self::Item> {
        let k = self.items.next()?;
        let v = self.items.next()?;
        Some((k.as_bytes().unwrap_or_default(), v))
    }
}
