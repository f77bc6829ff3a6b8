//! Segments packed into bytes for keeping: what a ring of old traces holds.
//!
//! A [`Segment`] is laid out for the request path: fixed slots written in place (text inline
//! in 40-byte slots, a vector of hops with room to spare). A ring of 1,000 requests kept that
//! way held ~3 MiB, and every traced request wrote ~3 KB into ring memory last touched a
//! thousand requests earlier: cold in every cache, which cost several times what tracing
//! executes (docs/PERFORMANCE.md, "What tracing costs, third round"). Packed, a request's
//! trace is a few hundred bytes, and the segment goes back to its thread for the next
//! request ([`super::recycle`]), warm.
//!
//! The layout (integers little-endian; `len` LEB128; `text` a `len` and its bytes; `name` a
//! [`Name`]'s number, u16):
//!
//! ```text
//! segment := len:u32  flags:u16  component:u8  [key:16]  started_us:u64  ended_us-started_us:u32
//!            [request_id:text] [trace_id:text] [method:name] [host:text] [path:text]
//!            [status:u16] [route:name] [target:addr] [produced_by:name] [tls_name:text]
//!            hops:len hop*  notes:len text*
//! hop     := head:u8 (component, field count)  step:name  outcome:name
//!            at_us-started_us:i32  took_us:u32  field*
//! field   := name  tag:u8  value:u64
//! ```
//!
//! Hops are fixed-width pieces at fixed places (a hop keeps its names as numbers already,
//! [`KeptHop`]): packing one is a few stores, no branch on what it holds. Unpacking (only
//! when a trace is read) rebuilds the segment; bytes that do not read as a segment end the
//! reading rather than panic.

use super::{Component, FIELDS, KeptHop, Name, Segment, Tag, Text};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Appends `segment`, packed, to `out`.
pub fn pack(segment: &Segment, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + 4 + bound(segment), 0);
    let len = write(segment, &mut out[start..]);
    out.truncate(start + len);
}

/// Packs `segment` at the start of `room`, which keeps its length between calls (it only
/// grows, so the room is not cleared for every segment); returns how many bytes of it the
/// packed segment takes.
pub fn pack_into(segment: &Segment, room: &mut Vec<u8>) -> usize {
    let need = 4 + bound(segment);
    if room.len() < need {
        room.resize(need, 0);
    }
    write(segment, room)
}

/// Packs `segment` at the start of `buf`, which has room for it ([`bound`]).
fn write(segment: &Segment, buf: &mut [u8]) -> usize {
    // Written through a cursor: one length check per piece, and no call per piece to grow a
    // vector.
    let Some((head, rest)) = buf.split_first_chunk_mut::<4>() else {
        return 0;
    };
    let mut w = Writer { buf: rest, at: 0 };
    body(segment, &mut w);
    *head = (w.at as u32).to_le_bytes();
    4 + w.at
}

/// The most bytes `s` packs into (its length's four aside).
fn bound(s: &Segment) -> usize {
    let text = |t: Option<&[u8]>| t.map_or(0, |t| 10 + t.len());
    64 + text(s.request_id.as_ref().map(Text::as_bytes))
        + text(s.trace_id.as_deref())
        + text(s.host.as_ref().map(Text::as_bytes))
        + text(s.path.as_ref().map(Text::as_bytes))
        + text(s.tls_name.as_deref().map(str::as_bytes))
        + s.hops.len() * HOP_ROOM
        + s.notes.iter().map(|n| 10 + n.len()).sum::<usize>()
}

/// The segments packed in `bytes`, in the order they were packed.
pub fn unpack(bytes: &[u8]) -> Vec<Segment> {
    let mut r = Reader { bytes, at: 0 };
    let mut out = Vec::new();
    while r.at < bytes.len() {
        let Some(len) = r.array().map(u32::from_le_bytes) else {
            break;
        };
        let Some(body) = r.take(len as usize) else {
            break;
        };
        match read_segment(&mut Reader { bytes: body, at: 0 }) {
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

/// A segment's length in place of its end: it has none.
const NOT_ENDED: u32 = u32::MAX;

fn body(s: &Segment, out: &mut Writer<'_>) {
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
    out.put(flags.to_le_bytes());
    out.put([component_code(s.component)]);
    if let Some(key) = s.key {
        out.put(key.0[0].to_le_bytes());
        out.put(key.0[1].to_le_bytes());
    }
    out.put(s.started_us.to_le_bytes());
    // `NOT_ENDED` for a segment not stamped with its end (0), which reads back so.
    let took = match s.ended_us.checked_sub(s.started_us) {
        Some(t) => u32::try_from(t).unwrap_or(NOT_ENDED - 1).min(NOT_ENDED - 1),
        None => NOT_ENDED,
    };
    out.put(took.to_le_bytes());
    if let Some(id) = &s.request_id {
        out.text(id.as_bytes());
    }
    if let Some(id) = &s.trace_id {
        out.text(id);
    }
    if let Some(m) = s.method {
        out.put(Name::of(m).to_bits().to_le_bytes());
    }
    if let Some(host) = &s.host {
        out.text(host.as_bytes());
    }
    if let Some(path) = &s.path {
        out.text(path.as_bytes());
    }
    if let Some(status) = s.status {
        out.put(status.to_le_bytes());
    }
    if let Some(route) = s.route {
        out.put(Name::of(route).to_bits().to_le_bytes());
    }
    if let Some(target) = s.target {
        out.addr(target);
    }
    if let Some(by) = s.produced_by {
        out.put(Name::of(by).to_bits().to_le_bytes());
    }
    if let Some(name) = &s.tls_name {
        out.text(name.as_bytes());
    }
    out.varint(s.hops.len() as u64);
    for h in &s.hops {
        hop(h, s.started_us, out);
    }
    out.varint(s.notes.len() as u64);
    for note in &s.notes {
        out.text(note.as_bytes());
    }
}

/// A packed field's bytes: name, tag and value.
const FIELD_ROOM: usize = 2 + 1 + 8;

/// A packed hop's head: component and field count, step, outcome, time and length.
const HOP_HEAD: usize = 13;

/// The most a packed hop takes.
const HOP_ROOM: usize = HOP_HEAD + FIELDS * FIELD_ROOM;

/// A cursor over room made for a segment ([`bound`]).
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    #[inline(always)]
    fn put<const N: usize>(&mut self, piece: [u8; N]) {
        // Never out of room (`bound` counts the most each part takes); checked all the same.
        if let Some(to) = self.buf.get_mut(self.at..self.at + N) {
            to.copy_from_slice(&piece);
            self.at += N;
        }
    }

    #[inline]
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.put([(n as u8) | 0x80]);
            n >>= 7;
        }
        self.put([n as u8]);
    }

    fn text(&mut self, bytes: &[u8]) {
        self.varint(bytes.len() as u64);
        if let Some(to) = self.buf.get_mut(self.at..self.at + bytes.len()) {
            to.copy_from_slice(bytes);
            self.at += bytes.len();
        }
    }

    fn addr(&mut self, a: SocketAddr) {
        match a.ip() {
            IpAddr::V4(ip) => {
                self.put([4]);
                self.put(ip.octets());
            }
            IpAddr::V6(ip) => {
                self.put([6]);
                self.put(ip.octets());
            }
        }
        self.put(a.port().to_le_bytes());
    }
}

/// Packs one hop into room made for its widest form.
#[inline]
fn hop(h: &KeptHop, started_us: u64, w: &mut Writer<'_>) {
    let Some(room) = w
        .buf
        .get_mut(w.at..w.at + HOP_ROOM)
        .and_then(|r| <&mut [u8; HOP_ROOM]>::try_from(r).ok())
    else {
        return;
    };
    let set = h.field_count();
    room[0] = component_code(h.component) | ((set as u8) << 2);
    room[1..3].copy_from_slice(&h.step.to_bits().to_le_bytes());
    room[3..5].copy_from_slice(&h.outcome.to_bits().to_le_bytes());
    let at = h.at_us.wrapping_sub(started_us) as i64;
    let at = at.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    room[5..9].copy_from_slice(&at.to_le_bytes());
    room[9..13].copy_from_slice(&h.took.to_le_bytes());
    // All four fields, at fixed places, whether set or not: straight-line stores; the cursor
    // then moves past the set ones only, and the next piece writes over the rest.
    for i in 0..FIELDS {
        let at = HOP_HEAD + i * FIELD_ROOM;
        room[at..at + 2].copy_from_slice(&h.names[i].to_bits().to_le_bytes());
        room[at + 2] = h.tags[i] as u8;
        room[at + 3..at + FIELD_ROOM].copy_from_slice(&h.values[i].to_le_bytes());
    }
    w.at += HOP_HEAD + set.min(FIELDS) * FIELD_ROOM;
}

fn read_segment(r: &mut Reader<'_>) -> Option<Segment> {
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
    s.started_us = u64::from_le_bytes(r.array()?);
    s.ended_us = match u32::from_le_bytes(r.array()?) {
        NOT_ENDED => 0,
        took => s.started_us.wrapping_add(u64::from(took)),
    };
    if has(REQUEST_ID) {
        s.request_id = Some(Text::from(r.text()?));
    }
    if has(TRACE_ID) {
        s.trace_id = Some(bytes::Bytes::copy_from_slice(r.bytes()?));
    }
    if has(METHOD) {
        s.method = Some(r.name()?.as_str());
    }
    if has(HOST) {
        s.host = Some(Text::from(r.text()?));
    }
    if has(PATH) {
        s.path = Some(Text::from(r.text()?));
    }
    if has(STATUS) {
        s.status = Some(u16::from_le_bytes(r.array()?));
    }
    if has(ROUTE) {
        s.route = Some(r.name()?.as_str());
    }
    if has(TARGET) {
        s.target = Some(r.addr()?);
    }
    if has(PRODUCED_BY) {
        s.produced_by = Some(r.name()?.as_str());
    }
    if has(TLS_NAME) {
        s.tls_name = Some(Arc::from(r.text()?));
    }
    s.entry = has(ENTRY);
    let hops = r.len()?;
    s.hops = Vec::with_capacity(hops.min(r.remaining()));
    for _ in 0..hops {
        let head = r.byte()?;
        let set = usize::from(head >> 2);
        let mut hop = KeptHop::new(component_of(head & 3)?, r.name()?, r.name()?, 0);
        let at = i32::from_le_bytes(r.array()?);
        hop.at_us = s.started_us.wrapping_add_signed(i64::from(at));
        hop.took = u32::from_le_bytes(r.array()?);
        for i in 0..set {
            let name = r.name()?;
            let tag = Tag::from_bits(r.byte()?)?;
            let value = u64::from_le_bytes(r.array()?);
            if i < FIELDS {
                hop.names[i] = name;
                hop.tags[i] = tag;
                hop.values[i] = value;
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

    fn name(&mut self) -> Option<Name> {
        Some(Name::from_bits(u16::from_le_bytes(self.array()?)))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::trace::KeptHop;
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
        s.hops[2].names[1] = Name::of("named but empty");
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
    fn a_long_segment_reads_back_whole() {
        let mut s = full_segment();
        s.notes.push("z".repeat(20_000));
        let mut bytes = vec![9];
        pack(&s, &mut bytes);
        assert_eq!(bytes[0], 9, "appended");
        let back = unpack(&bytes[1..]);
        same(&s, &back[0]);
    }

    #[test]
    fn room_reused_for_a_shorter_segment_holds_just_it() {
        let long = full_segment();
        let short = Segment::new(Component::Alb);
        let mut room = Vec::new();
        let n = pack_into(&long, &mut room);
        same(&unpack(&room[..n])[0], &long);
        let n = pack_into(&short, &mut room);
        let back = unpack(&room[..n]);
        assert_eq!(back.len(), 1);
        same(&back[0], &short);
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
    fn lengths_round_trip() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = [0; 10];
            let mut w = Writer {
                buf: &mut out,
                at: 0,
            };
            w.varint(n);
            assert_eq!(Reader { bytes: &out, at: 0 }.varint(), Some(n));
        }
    }
}
