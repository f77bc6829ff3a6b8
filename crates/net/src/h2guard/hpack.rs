//! A mirror of the server's HPACK decoder (RFC 7541) that decides, field by field, whether the
//! h2 crate's decoder would refuse a header block, and rewrites a refused block into one that h2
//! decodes into the same dynamic table, plus a field that makes h2 reset only that stream.
//!
//! The mirror keeps no header bytes: each dynamic table entry is its size (which drives eviction,
//! RFC 7541 §4.1), the kind of its name (what a later literal that names it by index must carry
//! as its value), how h2 sees it when referenced whole, and whether the client's entry is one h2
//! never saw (a *bad* entry: h2 holds a stand-in of the same size in its place).
//!
//! What h2 0.4 refuses while decoding (`hpack::Header::new` and `Name::into_entry`, with the
//! `http` crate's parsers): a pseudo-header other than `:authority`, `:method`, `:scheme`,
//! `:path`, `:protocol` and `:status`; an empty name; a name with a byte outside the lower-case
//! token set (`HeaderName::from_lowercase`, which also admits `"`) or longer than 65,535 bytes; a
//! value with a control byte other than tab, or DEL (`HeaderValue::from_bytes`); a `:method`
//! that is not a non-empty token (`Method::from_bytes`); an `:authority`, `:scheme`, `:path` or
//! `:protocol` that is not UTF-8; a `:status` that is not three digits from 100.
//!
//! What h2 finds after decoding, as a stream error, is left to h2: connection-specific fields,
//! `te` other than `trailers`, pseudo-headers out of place (RFC 9113 §8.2.2 and RFC 9113 §8.3). The mirror
//! only follows them (see [`H2View`]) to know where a rewritten block may be split into frames.

use super::huffman;
use std::collections::VecDeque;

/// The static table, RFC 7541 Appendix A (index 1 first).
pub(super) const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The longest header name the `http` crate accepts.
const MAX_NAME_LEN: usize = (1 << 16) - 1;

/// The field appended to a rewritten block: a literal without indexing, its name a literal,
/// `connection: x`. h2 decodes it and then refuses the request as malformed (a
/// connection-specific field, RFC 9113 §8.2.2): `RST_STREAM(PROTOCOL_ERROR)` for that stream.
pub(super) const MARKER: &[u8] = b"\x00\x0aconnection\x01x";

/// What a name is, as far as h2's checks go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Name {
    /// A pseudo-header h2 knows; the bit is its place in [`H2View::pseudo`].
    Pseudo(Pseudo),
    /// A field name h2 takes as it is.
    Regular,
    /// `connection`, `transfer-encoding`, `upgrade`, `keep-alive`, `proxy-connection`.
    ConnectionSpecific,
    /// `te`: h2 refuses any value but `trailers`.
    Te,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pseudo {
    Authority = 1,
    Method = 2,
    Scheme = 4,
    Path = 8,
    Protocol = 16,
    Status = 32,
}

/// How h2, having decoded a field, files it (`frame::headers::HeaderBlock::load`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filed {
    Pseudo(Pseudo),
    Regular,
    /// Makes the request malformed whatever comes before or after.
    Malformed,
}

/// A dynamic table entry.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Name length + value length + 32 (RFC 7541 §4.1).
    size: usize,
    name: Name,
    name_len: usize,
    /// How h2 files the entry when a field references it whole.
    filed: Filed,
    /// The client's entry is one h2 refuses: h2's table holds a valid stand-in of the same size.
    bad: bool,
}

/// The dynamic table as the client's encoder and h2's decoder both have it (RFC 7541 §2.3.2).
pub(super) struct Mirror {
    /// Newest first.
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// The largest size an update may set: h2's `SETTINGS_HEADER_TABLE_SIZE`.
    limit: usize,
}

/// What a header block came to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// h2 decodes it without error: pass it on unchanged.
    Fine,
    /// h2 would refuse it mid-block; the rewritten block is in the work buffer, and h2's first
    /// malformed field in it (at the latest the marker) starts at this offset.
    Rewritten { first_malformed: usize },
    /// Not a valid HPACK block, or one the mirror cannot rewrite: h2 must see it as it is (and
    /// will end the connection); the mirror's state is no longer known.
    Unknown,
}

/// Buffers a block's decoding reuses from one block to the next.
#[derive(Default)]
pub(super) struct Work {
    /// Huffman-decoded strings of the current field.
    strings: Vec<u8>,
    /// The rewritten block.
    pub(super) block: Vec<u8>,
}

/// h2's view of the decoded fields: where the request first becomes malformed to h2.
#[derive(Default)]
struct H2View {
    regular: bool,
    pseudo: u8,
    first_malformed: Option<usize>,
}

impl H2View {
    fn file(&mut self, filed: Filed, at: usize) {
        match filed {
            Filed::Malformed => {
                self.first_malformed.get_or_insert(at);
            }
            Filed::Pseudo(p) => {
                if self.regular || self.pseudo & p as u8 != 0 {
                    self.first_malformed.get_or_insert(at);
                } else {
                    self.pseudo |= p as u8;
                }
            }
            Filed::Regular => self.regular = true,
        }
    }
}

/// A field as the decoder read it, for tests.
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Decoded {
    pub(super) name: Vec<u8>,
    pub(super) value: Vec<u8>,
    pub(super) bad: bool,
}

/// A string of the block: raw at `block[start..end]`, or Huffman-decoded at
/// `work.strings[start..end]`.
#[derive(Clone, Copy)]
enum Str {
    Raw(usize, usize),
    Decoded(usize, usize),
}

impl Str {
    fn len(self) -> usize {
        match self {
            Str::Raw(a, b) | Str::Decoded(a, b) => b - a,
        }
    }

    fn get<'a>(self, block: &'a [u8], strings: &'a [u8]) -> &'a [u8] {
        match self {
            Str::Raw(a, b) => &block[a..b],
            Str::Decoded(a, b) => &strings[a..b],
        }
    }
}

/// The block ends inside a field, or breaks a rule of RFC 7541 that h2 enforces.
struct Invalid;

impl Mirror {
    /// An empty table that size updates may grow to `limit` bytes.
    pub(super) fn new(limit: usize) -> Mirror {
        Mirror {
            // Grown as the client adds entries (a few dozen at most for most clients), so that
            // a connection that adds none holds no table.
            entries: VecDeque::new(),
            size: 0,
            max_size: limit,
            limit,
        }
    }

    /// Decodes one complete header block, updating the table as the server's decoder will, and
    /// says whether h2 accepts it; a block it would refuse is rewritten into `work.block`.
    pub(super) fn screen(&mut self, block: &[u8], work: &mut Work) -> Verdict {
        self.screen_with(block, work, |_| {})
    }

    /// [`Mirror::screen`], handing each literal field to `seen` (tests).
    fn screen_with(
        &mut self,
        block: &[u8],
        work: &mut Work,
        mut seen: impl FnMut(FieldSeen<'_>),
    ) -> Verdict {
        match self.decode(block, work, &mut seen) {
            Ok(v) => v,
            Err(Invalid) => Verdict::Unknown,
        }
    }

    fn decode(
        &mut self,
        block: &[u8],
        work: &mut Work,
        seen: &mut impl FnMut(FieldSeen<'_>),
    ) -> Result<Verdict, Invalid> {
        let mut p = 0;
        let mut fields = false;
        let mut rewriting = false;
        let mut view = H2View::default();
        while p < block.len() {
            let start = p;
            let first = block[p];
            // Where the field starts in what h2 will decode.
            let at = if rewriting { work.block.len() } else { start };
            if first & 0x80 != 0 {
                fields = true;
                let index = integer(block, &mut p, 7)?;
                let (filed, bad) = self.whole(index)?;
                seen(FieldSeen::Indexed { index, bad });
                if bad && !rewriting {
                    rewriting = true;
                    work.block.clear();
                    work.block.extend_from_slice(&block[..start]);
                }
                if rewriting {
                    work.block.extend_from_slice(&block[start..p]);
                }
                // h2 resolves the index to its stand-in, a regular field.
                view.file(if bad { Filed::Regular } else { filed }, at);
            } else if first & 0xe0 == 0x20 {
                // A dynamic table size update: only before the block's first field (h2's
                // `can_resize`; RFC 7541 §4.2), and never above the settings' size.
                if fields {
                    return Err(Invalid);
                }
                let size = integer(block, &mut p, 5)?;
                if size > self.limit {
                    return Err(Invalid);
                }
                self.max_size = size;
                self.evict(0);
            } else {
                fields = true;
                let insert = first & 0x40 != 0;
                let prefix = if insert { 6 } else { 4 };
                let index = integer(block, &mut p, prefix)?;
                work.strings.clear();
                let (name, name_len, entry_bad, name_str) = if index == 0 {
                    let s = string(block, &mut p, &mut work.strings)?;
                    let bytes = s.get(block, &work.strings);
                    (classify(bytes), s.len(), false, Some(s))
                } else {
                    let (name, name_len, bad) = self.name(index)?;
                    (name, name_len, bad, None)
                };
                let value = string(block, &mut p, &mut work.strings)?;
                let value_bytes = value.get(block, &work.strings);
                let verdict = match name_str {
                    Some(s) => check_literal(s.get(block, &work.strings), name, value_bytes),
                    None if entry_bad => None,
                    None => check_value(name, value_bytes),
                };
                let bad = verdict.is_none();
                seen(FieldSeen::Literal {
                    index,
                    name: name_str.map(|s| s.get(block, &work.strings)),
                    value: value_bytes,
                    bad,
                });
                let filed = verdict.unwrap_or(Filed::Regular);
                if insert {
                    self.insert(Entry {
                        size: name_len + value.len() + 32,
                        name,
                        name_len,
                        filed,
                        bad,
                    });
                }
                if bad {
                    if !rewriting {
                        rewriting = true;
                        work.block.clear();
                        work.block.extend_from_slice(&block[..start]);
                    }
                    stand_in(&mut work.block, first, insert, name_len, value.len())?;
                } else if rewriting {
                    work.block.extend_from_slice(&block[start..p]);
                }
                view.file(filed, at);
            }
        }
        if !rewriting {
            return Ok(Verdict::Fine);
        }
        let at = work.block.len();
        work.block.extend_from_slice(MARKER);
        view.file(Filed::Malformed, at);
        Ok(Verdict::Rewritten {
            first_malformed: view.first_malformed.unwrap_or(at),
        })
    }

    /// How h2 files the entry at `index` (static or dynamic) referenced whole, and whether it is
    /// bad.
    fn whole(&self, index: usize) -> Result<(Filed, bool), Invalid> {
        match index {
            0 => Err(Invalid),
            1..=61 => Ok((
                match static_name(index) {
                    Name::Pseudo(p) => Filed::Pseudo(p),
                    Name::ConnectionSpecific => Filed::Malformed,
                    // `te` is not in the static table.
                    Name::Regular | Name::Te => Filed::Regular,
                },
                false,
            )),
            _ => {
                let e = self.entries.get(index - 62).ok_or(Invalid)?;
                Ok((e.filed, e.bad))
            }
        }
    }

    /// The name at `index`: its kind, its length, and whether the entry is bad.
    fn name(&self, index: usize) -> Result<(Name, usize, bool), Invalid> {
        match index {
            0 => Err(Invalid),
            1..=61 => Ok((static_name(index), STATIC[index - 1].0.len(), false)),
            _ => {
                let e = self.entries.get(index - 62).ok_or(Invalid)?;
                Ok((e.name, e.name_len, e.bad))
            }
        }
    }

    /// RFC 7541 §4.4: evict until the entry fits; an entry larger than the table empties it and
    /// is not added.
    fn insert(&mut self, entry: Entry) {
        self.evict(entry.size);
        if self.size + entry.size <= self.max_size {
            self.size += entry.size;
            self.entries.push_front(entry);
        }
    }

    /// Evicts the oldest entries until `room` more bytes fit (RFC 7541 §4.3 and RFC 7541 §4.4).
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            match self.entries.pop_back() {
                Some(e) => self.size -= e.size,
                None => break,
            }
        }
    }

    /// The sizes of the dynamic entries, newest first (tests).
    #[cfg(test)]
    pub(super) fn sizes(&self) -> Vec<usize> {
        self.entries.iter().map(|e| e.size).collect()
    }

    /// The table's size (tests).
    #[cfg(test)]
    pub(super) fn size(&self) -> usize {
        self.size
    }

    /// Decodes `block`, collecting its literal fields (tests).
    #[cfg(test)]
    pub(super) fn decode_fields(&mut self, block: &[u8]) -> (Verdict, Vec<Decoded>, Work) {
        let mut out = Vec::new();
        let mut work = Work::default();
        let verdict = self.screen_with(block, &mut work, |f| match f {
            FieldSeen::Indexed { index, bad } => {
                let (name, value) = if index <= 61 {
                    STATIC[index - 1]
                } else {
                    ("", "")
                };
                out.push(Decoded {
                    name: name.as_bytes().to_vec(),
                    value: value.as_bytes().to_vec(),
                    bad,
                })
            }
            FieldSeen::Literal {
                index,
                name,
                value,
                bad,
            } => {
                let name = match name {
                    Some(n) => n.to_vec(),
                    None if index <= 61 => STATIC[index - 1].0.as_bytes().to_vec(),
                    None => Vec::new(),
                };
                out.push(Decoded {
                    name,
                    value: value.to_vec(),
                    bad,
                })
            }
        });
        (verdict, out, work)
    }
}

/// A field as decoded, for [`Mirror::screen_with`]'s observer.
#[cfg_attr(not(test), allow(dead_code))]
enum FieldSeen<'a> {
    Indexed {
        index: usize,
        bad: bool,
    },
    Literal {
        index: usize,
        name: Option<&'a [u8]>,
        value: &'a [u8],
        bad: bool,
    },
}

/// Writes a stand-in for a refused field: the same representation, a literal name of `x`s and a
/// value of `x`s, raw. For a field added to the table the two lengths add up to the client's
/// (so the entry has the client's size); a name must be 1 to 65,535 bytes long.
fn stand_in(
    out: &mut Vec<u8>,
    first: u8,
    insert: bool,
    name_len: usize,
    value_len: usize,
) -> Result<(), Invalid> {
    let name = name_len.clamp(1, MAX_NAME_LEN);
    let value = if insert {
        (name_len + value_len).checked_sub(name).ok_or(Invalid)?
    } else {
        value_len
    };
    // With indexing: 01000000; without: 0000 0000; never indexed: 0001 0000 (RFC 7541 §6.2).
    out.push(if insert { 0x40 } else { first & 0xf0 });
    put_integer(out, 0, 7, name);
    out.resize(out.len() + name, b'x');
    put_integer(out, 0, 7, value);
    out.resize(out.len() + value, b'x');
    Ok(())
}

/// RFC 7541 §5.1, written with `flags` in the bits above the prefix.
pub(super) fn put_integer(out: &mut Vec<u8>, flags: u8, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// RFC 7541 §5.1, as h2 reads it: at most four bytes after the prefix.
fn integer(block: &[u8], p: &mut usize, prefix: u32) -> Result<usize, Invalid> {
    let max = (1usize << prefix) - 1;
    let first = *block.get(*p).ok_or(Invalid)?;
    *p += 1;
    let mut value = usize::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0;
    for n in 0..4 {
        let b = *block.get(*p).ok_or(Invalid)?;
        *p += 1;
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        if n == 3 {
            break;
        }
    }
    Err(Invalid)
}

/// RFC 7541 §5.2: a string, Huffman-decoded into `strings` when it is coded.
fn string(block: &[u8], p: &mut usize, strings: &mut Vec<u8>) -> Result<Str, Invalid> {
    let huffman = *block.get(*p).ok_or(Invalid)? & 0x80 != 0;
    let len = integer(block, p, 7)?;
    let start = *p;
    let end = start.checked_add(len).ok_or(Invalid)?;
    let raw = block.get(start..end).ok_or(Invalid)?;
    *p = end;
    if huffman {
        let from = strings.len();
        huffman::decode(raw, strings).map_err(|()| Invalid)?;
        Ok(Str::Decoded(from, strings.len()))
    } else {
        Ok(Str::Raw(start, end))
    }
}

/// The kind of the static table's name at `index` (1 to 61), as [`classify`] has it.
pub(super) fn static_name(index: usize) -> Name {
    match index {
        1 => Name::Pseudo(Pseudo::Authority),
        2 | 3 => Name::Pseudo(Pseudo::Method),
        4 | 5 => Name::Pseudo(Pseudo::Path),
        6 | 7 => Name::Pseudo(Pseudo::Scheme),
        8..=14 => Name::Pseudo(Pseudo::Status),
        57 => Name::ConnectionSpecific,
        _ => Name::Regular,
    }
}

/// The kind of a literal name (its validity is checked apart).
pub(super) fn classify(name: &[u8]) -> Name {
    match name {
        b":authority" => Name::Pseudo(Pseudo::Authority),
        b":method" => Name::Pseudo(Pseudo::Method),
        b":scheme" => Name::Pseudo(Pseudo::Scheme),
        b":path" => Name::Pseudo(Pseudo::Path),
        b":protocol" => Name::Pseudo(Pseudo::Protocol),
        b":status" => Name::Pseudo(Pseudo::Status),
        b"connection" | b"transfer-encoding" | b"upgrade" | b"keep-alive" | b"proxy-connection" => {
            Name::ConnectionSpecific
        }
        b"te" => Name::Te,
        _ => Name::Regular,
    }
}

/// h2's `Header::new` for a literal name: `None` if it refuses the field, else how it files it.
fn check_literal(name: &[u8], kind: Name, value: &[u8]) -> Option<Filed> {
    if name.first() == Some(&b':') {
        // An unknown pseudo-header is classified `Regular`: refuse it here.
        if !matches!(kind, Name::Pseudo(_)) {
            return None;
        }
    } else if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name.iter().all(|&b| NAME_BYTES[usize::from(b)])
    {
        return None;
    }
    check_value(kind, value)
}

/// h2's checks of a value under a name it accepted: `None` if it refuses the field.
fn check_value(kind: Name, value: &[u8]) -> Option<Filed> {
    match kind {
        Name::Pseudo(p) => {
            let ok = match p {
                Pseudo::Method => !value.is_empty() && value.iter().all(|&b| is_token(b)),
                Pseudo::Status => {
                    value.len() == 3
                        && (b'1'..=b'9').contains(&value[0])
                        && value[1..].iter().all(u8::is_ascii_digit)
                }
                Pseudo::Authority | Pseudo::Scheme | Pseudo::Path | Pseudo::Protocol => {
                    std::str::from_utf8(value).is_ok()
                }
            };
            ok.then_some(Filed::Pseudo(p))
        }
        _ => {
            // `HeaderValue::from_bytes`: visible ASCII, space, tab and obs-text.
            if !value.iter().all(|&b| VALUE_BYTES[usize::from(b)]) {
                return None;
            }
            Some(match kind {
                Name::ConnectionSpecific => Filed::Malformed,
                Name::Te if value != b"trailers" => Filed::Malformed,
                _ => Filed::Regular,
            })
        }
    }
}

/// RFC 9110 §5.6.2 `tchar`, which is what `Method::from_bytes` accepts.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The bytes `HeaderValue::from_bytes` accepts: visible ASCII, space, tab and obs-text.
const VALUE_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b >= 0x20 && b != 0x7f) || b == 0x09;
        b += 1;
    }
    t
};

/// The bytes `HeaderName::from_lowercase` accepts in an HTTP/2 name: lower-case `tchar`, and
/// (as the `http` crate's table has it) `"`.
const NAME_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(
                c,
                b'!' | b'"'
                    | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};
