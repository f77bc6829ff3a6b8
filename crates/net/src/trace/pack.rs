//! Segments packed into bytes for keeping: what a ring of old traces holds.
//!
//! A [`Segment`] is laid out for the request path: fixed slots written in place, each hop
//! ~200 bytes whatever it holds (names as `&'static str`, four field slots, a value enum
//! wide enough for any of them). Kept that way, a ring of 1,000 requests held ~3 MiB, and
//! every traced request wrote ~3 KB into ring memory last touched a thousand requests
//! earlier: cold in every cache, which cost several times what tracing executes
//! (docs/PERFORMANCE.md, "What tracing costs, third round"). Packed, a request's trace is a
//! few hundred bytes: names become small numbers, numbers and times variable-length
//! integers, only set fields are written. The segment itself goes back to its thread for the
//! next request ([`super::recycle`]), warm.
//!
//! Names (`step`, `outcome`, field names, static values) are numbered in one process-wide
//! table the first time they are packed; a thread remembers the numbers of the names it has
//! packed by their address, so packing a name is a multiply and a compare or two. The table
//! grows with distinct names only, which are the components' literals and the names
//! [`super::intern`] keeps from the stacks' configurations.
//!
//! The layout (all integers LEB128 unless said; `name` is a table number, or 0 followed by
//! the text for a name the table could not number):
//!
//! ```text
//! segment := len  flags:u16le  component:u8  [key:16]  started_us  ended_us-started_us
//!            [request_id:text] [trace_id:text] [method:name] [host:text] [path:text]
//!            [status] [route:name] [target:addr] [produced_by:name] [tls_name:text]
//!            hops:len hop*  notes:len text*
//! hop     := head:u8 (component, field count, whether it has a length)
//!            zigzag(at_us-started_us) [took_us] step:name outcome:name field*
//! field   := name tag:u8 value     (tag: none, static text, note, number, no, yes, IPv4)
//! ```
//!
//! Unpacking (only when a trace is read) rebuilds the segment; bytes that do not read as a
//! segment end the reading rather than panic.

use super::{Component, FIELDS, Kept, KeptHop, Segment, Text};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};

/// Appends `segment`, packed, to `out`.
pub fn pack(segment: &Segment, out: &mut Vec<u8>) {
    let start = out.len();
    // Room for the body's length, written when it is known (a segment is rarely over
    // 16 KiB; a longer one moves its body up by the extra bytes).
    out.extend_from_slice(&[0, 0]);
    CACHE.with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => body(segment, out, &mut cache),
        // Only if packing re-entered itself on this thread, which it does not: pack without
        // the thread's memory of names.
        Err(_) => body(segment, out, &mut Cache::new()),
    });
    let len = out.len() - start - 2;
    if len < 1 << 14 {
        // Two bytes of LEB128 even for a length that fits one (a reader takes either).
        out[start] = (len as u8 & 0x7f) | 0x80;
        out[start + 1] = (len >> 7) as u8;
    } else {
        let mut head = Vec::with_capacity(3);
        varint(&mut head, len as u64);
        out.splice(start..start + 2, head);
    }
}

/// The segments packed in `bytes`, in the order they were packed.
pub fn unpack(bytes: &[u8]) -> Vec<Segment> {
    let names = names_snapshot();
    let mut r = Reader { bytes, at: 0 };
    let mut out = Vec::new();
    while r.at < bytes.len() {
        let Some(len) = r.len() else { break };
        let Some(body) = r.take(len) else { break };
        match read_segment(&mut Reader { bytes: body, at: 0 }, &names) {
            Some(segment) => out.push(segment),
            None => break,
        }
    }
    out
}

// Flags: which optional parts a packed segment has.
const KEY: u16 = 1;
const REQUEST_ID: u16 = 1 << 1;
const TRACE_ID: u16 = 1 << 2;
const METHOD: u16 = 1 << 3;
const HOST: u16 = 1 << 4;
const PATH: u16 = 1 << 5;
const STATUS: u16 = 1 << 6;
const ROUTE: u16 = 1 << 7;
const TARGET: u16 = 1 << 8;
const PRODUCED_BY: u16 = 1 << 9;
const TLS_NAME: u16 = 1 << 10;
const ENTRY: u16 = 1 << 11;

// A field's value.
const V_NONE: u8 = 0;
const V_STR: u8 = 1;
const V_NOTE: u8 = 2;
const V_NUM: u8 = 3;
const V_FALSE: u8 = 4;
const V_TRUE: u8 = 5;
const V_V4: u8 = 6;

/// A hop's head byte: a length follows (the hop is a span).
const HOP_TOOK: u8 = 1 << 7;

fn body(s: &Segment, out: &mut Vec<u8>, cache: &mut Cache) {
    let flag = |on: bool, bit: u16| if on { bit } else { 0 };
    let flags = flag(s.key.is_some(), KEY)
        | flag(s.request_id.is_some(), REQUEST_ID)
        | flag(s.trace_id.is_some(), TRACE_ID)
        | flag(s.method.is_some(), METHOD)
        | flag(s.host.is_some(), HOST)
        | flag(s.path.is_some(), PATH)
        | flag(s.status.is_some(), STATUS)
        | flag(s.route.is_some(), ROUTE)
        | flag(s.target.is_some(), TARGET)
        | flag(s.produced_by.is_some(), PRODUCED_BY)
        | flag(s.tls_name.is_some(), TLS_NAME)
        | flag(s.entry, ENTRY);
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(component_code(s.component));
    if let Some(key) = s.key {
        out.extend_from_slice(&key.0[0].to_le_bytes());
        out.extend_from_slice(&key.0[1].to_le_bytes());
    }
    varint(out, s.started_us);
    varint(out, s.ended_us.wrapping_sub(s.started_us));
    if let Some(id) = &s.request_id {
        text(out, id.as_bytes());
    }
    if let Some(id) = &s.trace_id {
        text(out, id);
    }
    if let Some(m) = s.method {
        cache.name(out, m);
    }
    if let Some(host) = &s.host {
        text(out, host.as_bytes());
    }
    if let Some(path) = &s.path {
        text(out, path.as_bytes());
    }
    if let Some(status) = s.status {
        varint(out, u64::from(status));
    }
    if let Some(route) = s.route {
        cache.name(out, route);
    }
    if let Some(target) = s.target {
        addr(out, target);
    }
    if let Some(by) = s.produced_by {
        cache.name(out, by);
    }
    if let Some(name) = &s.tls_name {
        text(out, name.as_bytes());
    }
    varint(out, s.hops.len() as u64);
    for h in &s.hops {
        let set = h.fields.iter().filter(|(n, _)| !n.is_empty()).count() as u8;
        let took = if h.took_us.is_some() { HOP_TOOK } else { 0 };
        out.push(component_code(h.component) | (set << 2) | took);
        varint(out, zigzag(h.at_us.wrapping_sub(s.started_us) as i64));
        if let Some(t) = h.took_us {
            varint(out, u64::from(t));
        }
        cache.name(out, h.step);
        cache.name(out, h.outcome);
        for (name, value) in h.fields.iter().filter(|(n, _)| !n.is_empty()) {
            cache.name(out, name);
            match *value {
                Kept::None => out.push(V_NONE),
                Kept::Str(t) => {
                    out.push(V_STR);
                    cache.name(out, t);
                }
                Kept::Note(i) => {
                    out.push(V_NOTE);
                    varint(out, u64::from(i));
                }
                Kept::Num(n) => {
                    out.push(V_NUM);
                    varint(out, n);
                }
                Kept::Bool(b) => out.push(if b { V_TRUE } else { V_FALSE }),
                Kept::V4(a) => {
                    out.push(V_V4);
                    out.extend_from_slice(&a.ip().octets());
                    out.extend_from_slice(&a.port().to_le_bytes());
                }
            }
        }
    }
    varint(out, s.notes.len() as u64);
    for note in &s.notes {
        text(out, note.as_bytes());
    }
}

fn read_segment(r: &mut Reader<'_>, names: &[&'static str]) -> Option<Segment> {
    let flags = u16::from_le_bytes(r.array()?);
    let has = |bit: u16| flags & bit != 0;
    let mut s = Segment::new(component_of(r.byte()?)?);
    if has(KEY) {
        let [a, b]: [[u8; 8]; 2] = [r.array()?, r.array()?];
        s.key = Some(super::TraceKey([
            u64::from_le_bytes(a),
            u64::from_le_bytes(b),
        ]));
    }
    s.started_us = r.varint()?;
    s.ended_us = s.started_us.wrapping_add(r.varint()?);
    if has(REQUEST_ID) {
        s.request_id = Some(Text::from(r.text()?));
    }
    if has(TRACE_ID) {
        s.trace_id = Some(bytes::Bytes::copy_from_slice(r.bytes()?));
    }
    if has(METHOD) {
        s.method = Some(r.name(names)?);
    }
    if has(HOST) {
        s.host = Some(Text::from(r.text()?));
    }
    if has(PATH) {
        s.path = Some(Text::from(r.text()?));
    }
    if has(STATUS) {
        s.status = Some(u16::try_from(r.varint()?).ok()?);
    }
    if has(ROUTE) {
        s.route = Some(r.name(names)?);
    }
    if has(TARGET) {
        s.target = Some(r.addr()?);
    }
    if has(PRODUCED_BY) {
        s.produced_by = Some(r.name(names)?);
    }
    if has(TLS_NAME) {
        s.tls_name = Some(Arc::from(r.text()?));
    }
    s.entry = has(ENTRY);
    let hops = r.len()?;
    s.hops = Vec::with_capacity(hops.min(r.remaining()));
    for _ in 0..hops {
        let head = r.byte()?;
        let set = usize::from((head >> 2) & 0x1f);
        let at = unzigzag(r.varint()?);
        let took_us = if head & HOP_TOOK != 0 {
            Some(u32::try_from(r.varint()?).ok()?)
        } else {
            None
        };
        let mut hop = KeptHop {
            at_us: s.started_us.wrapping_add(at as u64),
            took_us,
            component: component_of(head & 3)?,
            step: r.name(names)?,
            outcome: r.name(names)?,
            fields: [("", Kept::None); FIELDS],
        };
        for i in 0..set {
            let name = r.name(names)?;
            let value = match r.byte()? {
                V_NONE => Kept::None,
                V_STR => Kept::Str(r.name(names)?),
                V_NOTE => Kept::Note(u16::try_from(r.varint()?).ok()?),
                V_NUM => Kept::Num(r.varint()?),
                V_FALSE => Kept::Bool(false),
                V_TRUE => Kept::Bool(true),
                V_V4 => {
                    let ip: [u8; 4] = r.array()?;
                    let port = u16::from_le_bytes(r.array()?);
                    Kept::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))
                }
                _ => return None,
            };
            if let Some(slot) = hop.fields.get_mut(i) {
                *slot = (name, value);
            }
        }
        s.hops.push(hop);
    }
    let notes = r.len()?;
    s.notes = Vec::with_capacity(notes.min(r.remaining()));
    for _ in 0..notes {
        s.notes.push(r.text()?.to_owned());
    }
    Some(s)
}

fn component_code(c: Component) -> u8 {
    match c {
        Component::Gateway => 0,
        Component::VpcLink => 1,
        Component::Alb => 2,
        Component::Task => 3,
    }
}

fn component_of(code: u8) -> Option<Component> {
    Some(match code {
        0 => Component::Gateway,
        1 => Component::VpcLink,
        2 => Component::Alb,
        3 => Component::Task,
        _ => return None,
    })
}

#[inline]
fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn text(out: &mut Vec<u8>, bytes: &[u8]) {
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn addr(out: &mut Vec<u8>, a: SocketAddr) {
    match a.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&a.port().to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let got = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(got)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    fn name(&mut self, names: &[&'static str]) -> Option<&'static str> {
        match self.len()? {
            0 => Some(super::intern(self.text()?)),
            id => names.get(id - 1).copied(),
        }
    }

    fn addr(&mut self) -> Option<SocketAddr> {
        let ip = match self.byte()? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>()?)),
            _ => return None,
        };
        Some(SocketAddr::new(ip, u16::from_le_bytes(self.array()?)))
    }
}

/// The process's numbered names: number `i + 1` is `list[i]`.
#[derive(Default)]
struct Names {
    list: Vec<&'static str>,
    numbers: HashMap<&'static str, u32>,
}

/// How many names the table numbers at most; past it, names are packed as text (a stack
/// would need tens of thousands of routes and rules to get there).
const MAX_NAMES: usize = 1 << 16;

static NAMES: Mutex<Option<Names>> = Mutex::new(None);

/// The number of `name`, numbering it if it is new; `None` when the table is full.
#[cold]
fn number(name: &'static str) -> Option<u32> {
    let mut names = crate::sync::lock(&NAMES);
    let names = names.get_or_insert_with(Names::default);
    if let Some(&n) = names.numbers.get(name) {
        return Some(n);
    }
    if names.list.len() >= MAX_NAMES {
        return None;
    }
    names.list.push(name);
    let n = names.list.len() as u32;
    names.numbers.insert(name, n);
    Some(n)
}

/// The names numbered so far, for a reader (numbers only ever get added).
fn names_snapshot() -> Vec<&'static str> {
    crate::sync::lock(&NAMES)
        .as_ref()
        .map(|n| n.list.clone())
        .unwrap_or_default()
}

/// Slots in a thread's memory of name numbers (a power of two).
const CACHE_SLOTS: usize = 512;

/// A thread's memory of the numbers of names it has packed, by the name's address and
/// length: two places a name may sit (two hashes of its address), so that the hundred or so
/// names a stack's requests use rarely push one another out.
struct Cache {
    slots: Box<[(usize, u32, u32); CACHE_SLOTS]>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::new());
}

impl Cache {
    fn new() -> Cache {
        Cache {
            slots: Box::new([(0, 0, 0); CACHE_SLOTS]),
        }
    }

    /// Writes `name`'s number (or, with the table full, 0 and its text).
    #[inline]
    fn name(&mut self, out: &mut Vec<u8>, name: &'static str) {
        let addr = name.as_ptr() as usize;
        let len = name.len() as u32;
        let h = (addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let first = (h >> 55) as usize % CACHE_SLOTS;
        let second = (h >> 37) as usize % CACHE_SLOTS;
        for at in [first, second] {
            let (a, l, n) = self.slots[at];
            if a == addr && l == len {
                varint(out, u64::from(n));
                return;
            }
        }
        self.miss(out, name, addr, len, [first, second]);
    }

    #[cold]
    fn miss(
        &mut self,
        out: &mut Vec<u8>,
        name: &'static str,
        addr: usize,
        len: u32,
        at: [usize; 2],
    ) {
        match number(name) {
            Some(n) => {
                // The empty place of the two, else the first.
                let slot = if self.slots[at[0]].0 == 0 {
                    at[0]
                } else if self.slots[at[1]].0 == 0 {
                    at[1]
                } else {
                    at[0]
                };
                self.slots[slot] = (addr, len, n);
                varint(out, u64::from(n));
            }
            None => {
                out.push(0);
                text(out, name.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::trace::{Hop, TraceKey, Val};

    fn full_segment() -> Segment {
        let mut s = Segment::new(Component::Gateway);
        s.key = Some(TraceKey::local());
        s.request_id = Some(Text::from("Mc7UVioPPHcEKPA="));
        s.trace_id = Some(bytes::Bytes::from_static(
            b"Root=1-5759e988-bd862e3fe1be46a994272793",
        ));
        s.method = Some("POST");
        s.host = Some(Text::from("private-integration.example.com"));
        s.path = Some(Text::from(&*"/pets/".repeat(20)));
        s.status = Some(503);
        s.route = Some(crate::trace::intern("POST /pets/{id}"));
        s.target = Some("[fd00::5]:8443".parse().unwrap());
        s.produced_by = Some("alb");
        s.entry = true;
        s.tls_name = Some(Arc::from("private-integration.example.com"));
        s.ended_us = s.started_us + 1234;
        s.hop(
            Hop::new(Component::Gateway, "route", "matched")
                .with("key", Val::Str("POST /pets/{id}"))
                .with("why", Val::Text("a reason made now".into()))
                .with("n", Val::Num(u64::MAX))
                .with("tls", Val::Bool(true)),
        );
        s.record_since(Component::VpcLink, "dial", "admitted", s.started_us - 50)
            .with("to", Val::Addr("10.0.1.5:443".parse().unwrap()))
            .with("v6", Val::Addr("[::1]:80".parse().unwrap()))
            .with("no", Val::Bool(false));
        s.record(Component::Alb, "rule", "default")
            .with("unset", Val::Str(""));
        s.hops[2].fields[1] = ("named but empty", Kept::None);
        s
    }

    fn same(a: &Segment, b: &Segment) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn a_segment_reads_back_as_it_was_packed() {
        let a = full_segment();
        let b = Segment::new(Component::Task);
        let mut bytes = Vec::new();
        pack(&a, &mut bytes);
        pack(&b, &mut bytes);
        let back = unpack(&bytes);
        assert_eq!(back.len(), 2);
        same(&a, &back[0]);
        // Segments that only differ in their vectors' spare room print alike.
        same(&b, &back[1]);
        // Far smaller than the segments as they are kept while their request runs.
        let held = |s: &Segment| {
            std::mem::size_of::<Segment>()
                + s.hops.capacity() * std::mem::size_of::<KeptHop>()
                + s.notes.iter().map(String::capacity).sum::<usize>()
        };
        let (packed, held) = (bytes.len(), held(&a) + held(&b));
        assert!(packed * 3 < held, "{packed} bytes packed, {held} held");
    }

    #[test]
    fn a_long_segment_moves_its_body_for_its_length() {
        let mut s = full_segment();
        s.notes.push("z".repeat(20_000));
        let mut bytes = vec![9];
        pack(&s, &mut bytes);
        let back = unpack(&bytes[1..]);
        same(&s, &back[0]);
    }

    #[test]
    fn bytes_that_are_not_a_segment_end_the_reading() {
        let mut bytes = Vec::new();
        pack(&full_segment(), &mut bytes);
        for cut in 0..bytes.len() {
            let _ = unpack(&bytes[..cut]);
            let mut changed = bytes.clone();
            changed[cut] ^= 0xa5;
            let _ = unpack(&changed);
        }
        assert!(unpack(&bytes[..bytes.len() - 1]).is_empty());
    }

    #[test]
    fn names_are_numbered_once_whatever_their_address() {
        let owned = String::from("a name made at run time");
        let leaked: &'static str = Box::leak(owned.into_boxed_str());
        let a = number(leaked).unwrap();
        assert_eq!(number("a name made at run time"), Some(a));
        let mut out = Vec::new();
        let mut cache = Cache::new();
        cache.name(&mut out, leaked);
        cache.name(&mut out, leaked);
        let names = names_snapshot();
        let mut r = Reader { bytes: &out, at: 0 };
        assert_eq!(r.name(&names), Some("a name made at run time"));
        assert_eq!(r.name(&names), Some("a name made at run time"));
        // A name given as text (the table was full) reads back too.
        let mut out = vec![0];
        text(&mut out, b"spelled out");
        assert_eq!(
            Reader { bytes: &out, at: 0 }.name(&names),
            Some("spelled out")
        );
    }

    #[test]
    fn integers_round_trip() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            varint(&mut out, n);
            assert_eq!(Reader { bytes: &out, at: 0 }.varint(), Some(n));
        }
        for n in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(n)), n);
        }
    }
}
