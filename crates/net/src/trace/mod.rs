//! Per-request traces: what each hop of a request decided and why, handed to whoever keeps them.
//!
//! A component that serves a request fills one [`Segment`]: a few summary fields and a list of
//! [`KeptHop`]s, each a fixed 64-byte record (step, outcome and up to [`FIELDS`] field names as
//! [`Name`] numbers; values that are numbers, addresses, static text or an index into the
//! segment's notes). Nothing is formatted on the request path: text is built only when a trace
//! is read. What a ring keeps of a segment is packed ([`pack`]). The segment goes to the
//! [`Tracer`]'s sink once, when the request is done; the sink (the stack's ring) joins the
//! segments of one request by their [`TraceKey`], the root of the `X-Amzn-Trace-Id` the
//! gateway sends and the ALB keeps.
//!
//! Parts of a request's path that do not know which request they serve (the dial through the
//! VPC, the VPC link's stream) learn it from the task-local [`Scope`] that the component
//! serving the request sets around the work ([`scoped`]); they add a one-hop segment of their
//! own with [`note`]. A task without a scope pays one thread-local read. A scope costs a swap
//! on every poll of the work it wraps, so components set one only around the opening of a
//! connection (their pools' connectors), never around a whole request.
//!
//! Architecture invariant: this module knows hops and keys, not what a gateway or load
//! balancer decides; components choose their steps' names.

mod names;
pub mod pack;

pub use names::{Name, NameSite, UNNUMBERED};

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many named values a hop holds.
pub const FIELDS: usize = 4;

/// The root of an X-Ray trace id (`1-<8 hex epoch seconds>-<24 hex>`), packed into 128 bits:
/// it joins the segments of one request, copied without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub struct TraceKey([u64; 2]);

impl std::hash::Hash for TraceKey {
    /// The low word only: 64 of the id's random bits (or a local key's counter), enough to
    /// spread keys, in one hasher round rather than three (the ring hashes a key about four
    /// times per request). Equal keys have equal low words, as `Hash` requires.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[1]);
    }
}

impl TraceKey {
    /// The key of a 128-bit root. Kept as two halves: a `u128` would align every segment (and
    /// each allocation holding one) to 16 bytes, which the allocator serves on a slower path.
    fn of(bits: u128) -> TraceKey {
        TraceKey([(bits >> 64) as u64, bits as u64])
    }

    fn bits(self) -> u128 {
        (u128::from(self.0[0]) << 64) | u128::from(self.0[1])
    }
}

impl TraceKey {
    /// The `Root` field of an `X-Amzn-Trace-Id` value (or a bare `1-…-…` root); `None` when it
    /// has none of X-Ray's shape.
    pub fn from_header(value: &[u8]) -> Option<TraceKey> {
        // The shape airlock itself sends (`Root=1-…-…`, first), read without splitting text:
        // every traced request reads one or two.
        let (root, more) = match value.strip_prefix(b"Root=") {
            Some(root) => (root, true),
            None => (value, false),
        };
        if let Some(key) = root.get(..35).and_then(TraceKey::from_root)
            && (root.len() == 35 || (more && root[35] == b';'))
        {
            return Some(key);
        }
        TraceKey::from_fields(value)
    }

    /// `1-<8 hex>-<24 hex>`, exactly.
    fn from_root(root: &[u8]) -> Option<TraceKey> {
        if root.len() != 35 || !root.starts_with(b"1-") || root[10] != b'-' {
            return None;
        }
        let eight = |at: usize| root.get(at..at + 8)?.try_into().ok().and_then(hex8);
        let epoch = u128::from(eight(2)?);
        let high = u128::from(eight(11)?);
        let low = (u128::from(eight(19)?) << 32) | u128::from(eight(27)?);
        Some(TraceKey::of((epoch << 96) | (high << 64) | low))
    }

    /// Any other arrangement of the header's fields.
    fn from_fields(value: &[u8]) -> Option<TraceKey> {
        let text = std::str::from_utf8(value).ok()?;
        let root = text
            .split(';')
            .find_map(|f| f.trim().strip_prefix("Root="))
            .or_else(|| text.starts_with("1-").then_some(text))?;
        let rest = root.strip_prefix("1-")?;
        let (epoch, id) = rest.split_once('-')?;
        if epoch.len() != 8 || id.len() != 24 {
            return None;
        }
        let epoch = u32::from_str_radix(epoch, 16).ok()?;
        let id = u128::from_str_radix(id, 16).ok()?;
        Some(TraceKey::of((u128::from(epoch) << 96) | id))
    }

    /// The key of the root `1-<epoch as 8 hex>-<id as 24 hex>`, for a caller that has just
    /// made one and need not read it back.
    pub fn from_parts(epoch: u32, id: [u8; 12]) -> TraceKey {
        let mut wide = [0u8; 16];
        wide[4..].copy_from_slice(&id);
        TraceKey::of((u128::from(epoch) << 96) | u128::from_be_bytes(wide))
    }

    /// A key for a request that carries no trace id (answered before one was made), unique in
    /// this process: the epoch field holds the time, the id field a counter.
    pub fn local() -> TraceKey {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()) as u32;
        // `a1` marks the id as airlock's own, so it never equals an X-Ray id from a client.
        TraceKey::of((u128::from(secs) << 96) | (0xa1 << 88) | u128::from(n))
    }
}

/// Eight hex digits (either case) as a number, or `None` if any byte is not one: all eight
/// at once in a 64-bit word (a traced request reads one or two roots, 32 digits each).
fn hex8(digits: [u8; 8]) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_be_bytes(digits);
    if x & HIGH != 0 {
        return None;
    }
    // Per byte (each below 0x80, so no carry crosses bytes): its high bit set iff byte >= a.
    let at_least = |v: u64, a: u8| (v + ONES * u64::from(0x80 - a)) & HIGH;
    // Letters folded to lower case; only 'A'..='F' and 'a'..='f' fold into 'a'..='f'.
    let folded = x | 0x2020_2020_2020_2020;
    let digit = at_least(x, b'0') & !at_least(x, b'9' + 1);
    let letter = at_least(folded, b'a') & !at_least(folded, b'f' + 1);
    if digit | letter != HIGH {
        return None;
    }
    // Each byte's value: a digit's low nibble, a letter's low nibble + 9.
    let nibbles = (folded & 0x0f0f_0f0f_0f0f_0f0f) + (letter >> 7) * 9;
    // Eight nibbles, one per byte, packed into 32 bits: pairs, then quads, then all.
    let v = (nibbles | (nibbles >> 4)) & 0x00ff_00ff_00ff_00ff;
    let v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    let v = (v | (v >> 16)) & 0x0000_0000_ffff_ffff;
    u32::try_from(v).ok()
}

impl fmt::Display for TraceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.bits();
        let epoch = (bits >> 96) as u32;
        let id = bits & ((1u128 << 96) - 1);
        write!(f, "1-{epoch:08x}-{id:024x}")
    }
}

/// `text` as a `&'static str`, for the names a component's configuration gives (an API id, a
/// route key, a rule's conditions): interned once when the component is built, so a hop holds a
/// plain pointer. A shared, reference-counted string would cost every request two atomic
/// operations on a counter all cores touch, and its trace a destructor to run. The set only
/// grows, by the distinct names of the stacks this process has run.
pub fn intern(text: &str) -> &'static str {
    static INTERNED: std::sync::Mutex<Option<std::collections::HashSet<&'static str>>> =
        std::sync::Mutex::new(None);
    let mut set = crate::sync::lock(&INTERNED);
    let set = set.get_or_insert_with(Default::default);
    match set.get(text) {
        Some(s) => s,
        None => {
            let s: &'static str = Box::leak(text.to_owned().into_boxed_str());
            set.insert(s);
            s
        }
    }
}

/// A request method's name without copying it: the standard methods by name, any other as
/// `extension`.
pub fn method_name(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("extension")
}

/// Which part of the chain recorded a hop.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Component {
    /// API Gateway.
    Gateway,
    /// The VPC link (its client in the gateway and its endpoint in the VPC).
    VpcLink,
    /// The Application Load Balancer.
    Alb,
    /// The target: an ECS task.
    Task,
}

impl Component {
    /// The name traces use.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Gateway => "gateway",
            Component::VpcLink => "vpc-link",
            Component::Alb => "alb",
            Component::Task => "task",
        }
    }
}

/// A value of a hop's field: small, and never formatted while the request runs.
#[derive(Clone, Debug, Default)]
pub enum Val {
    /// Unset.
    #[default]
    None,
    /// Static text.
    Str(&'static str),
    /// Text shared with the component's configuration (a route key, a rule's conditions).
    Shared(Arc<str>),
    /// Text made for this request; used on paths that already made it (an error's message).
    Text(String),
    /// A number.
    Num(u64),
    /// A yes or no.
    Bool(bool),
    /// An address.
    Addr(SocketAddr),
}

/// One decision at one hop, built whole before it is added ([`Segment::hop`]): for work that
/// makes a one-hop segment of its own ([`note`]). A component filling its own segment records
/// in place instead ([`Segment::record`]). The rare text made for the request (an error's
/// message) waits in `notes` until the hop is added.
#[derive(Clone, Debug)]
pub struct Hop {
    /// When, in microseconds since the Unix epoch.
    pub at_us: u64,
    /// How long the step took, when it is a span rather than a moment.
    pub took_us: Option<u64>,
    /// Who decided.
    pub component: Component,
    /// The step, e.g. `route`, `authorize`, `rule`, `dial`.
    pub step: &'static str,
    /// What it decided, e.g. `matched`, `denied`.
    pub outcome: &'static str,
    /// Named values: why, and with what. A `Kept::Note(i)` is `notes[i]` of this hop.
    pub fields: [(Name, Kept); FIELDS],
    /// Text made for this request that the fields name; usually empty (no allocation).
    pub notes: Vec<String>,
}

impl Hop {
    /// A hop at this moment.
    #[inline(always)]
    pub fn new(component: Component, step: &'static str, outcome: &'static str) -> Hop {
        Hop::at(component, step, outcome, now_us())
    }

    /// A hop at `at_us` (a moment the caller has just read, such as its segment's start).
    #[inline(always)]
    pub fn at(component: Component, step: &'static str, outcome: &'static str, at_us: u64) -> Hop {
        Hop {
            at_us,
            ..Hop::new_unstamped(component, step, outcome)
        }
    }

    #[inline(always)]
    fn new_unstamped(component: Component, step: &'static str, outcome: &'static str) -> Hop {
        Hop {
            at_us: 0,
            took_us: None,
            component,
            step,
            outcome,
            fields: [(Name::NONE, Kept::None); FIELDS],
            notes: Vec::new(),
        }
    }

    /// Adds a field (one past [`FIELDS`] is dropped: hops stay fixed in size).
    ///
    /// Always inlined, like [`Hop::new`]: a hop is a few hundred bytes, and a call per field
    /// would copy it in and out each time; inlined, the chain of calls builds it in place.
    #[inline(always)]
    pub fn with(mut self, name: impl Into<Name>, value: Val) -> Hop {
        if matches!(value, Val::None) {
            return self;
        }
        if let Some(i) = self.fields.iter().position(|(n, _)| n.is_none()) {
            let kept = match value {
                Val::None => Kept::None,
                Val::Str(s) => Kept::Str(s),
                Val::Num(n) => Kept::Num(n),
                Val::Bool(b) => Kept::Bool(b),
                Val::Addr(SocketAddr::V4(a)) => Kept::V4(a),
                Val::Shared(s) => self.note(s.to_string()),
                Val::Text(s) => self.note(s),
                Val::Addr(a) => self.note(a.to_string()),
            };
            self.fields[i] = (name.into(), kept);
        }
        self
    }

    /// Keeps text made for the request with the hop.
    #[cold]
    fn note(&mut self, text: String) -> Kept {
        self.notes.push(text);
        Kept::Note(u16::try_from(self.notes.len() - 1).unwrap_or(u16::MAX))
    }

    /// Marks the hop as a span that started `took` before it was made.
    #[inline(always)]
    pub fn took(mut self, took: Duration) -> Hop {
        let us = took.as_micros() as u64;
        self.took_us = Some(us);
        self.at_us = self.at_us.saturating_sub(us);
        self
    }

    /// The named fields that are set.
    pub fn set_fields(&self) -> impl Iterator<Item = &(Name, Kept)> {
        self.fields.iter().filter(|(n, _)| !n.is_none())
    }
}

/// A field's value as it is read back: plain data. Text made for the request lives in its
/// segment's `notes`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Kept {
    /// Unset.
    #[default]
    None,
    /// Static text.
    Str(&'static str),
    /// The segment's note of this index.
    Note(u16),
    /// A number.
    Num(u64),
    /// A yes or no.
    Bool(bool),
    /// An IPv4 address and port (port 0: an interface's address).
    V4(std::net::SocketAddrV4),
}

/// A value's kind as a [`KeptHop`] holds it, beside its 64 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// Unset.
    #[default]
    None = 0,
    /// A [`Name`]'s number: static text.
    Str = 1,
    /// A note's index.
    Note = 2,
    /// A number.
    Num = 3,
    /// No (0) or yes (1).
    Bool = 4,
    /// An IPv4 address (high 32 bits) and port (low 16).
    V4 = 5,
}

impl Tag {
    /// The tag of a packed byte.
    pub fn from_bits(bits: u8) -> Option<Tag> {
        Some(match bits {
            0 => Tag::None,
            1 => Tag::Str,
            2 => Tag::Note,
            3 => Tag::Num,
            4 => Tag::Bool,
            5 => Tag::V4,
            _ => return None,
        })
    }
}

/// A value as a hop keeps it: its tag and 64 bits.
#[inline(always)]
fn to_kept(value: Kept) -> (Tag, u64) {
    match value {
        Kept::None => (Tag::None, 0),
        Kept::Str(s) => (Tag::Str, u64::from(Name::of(s).to_bits())),
        Kept::Note(i) => (Tag::Note, u64::from(i)),
        Kept::Num(n) => (Tag::Num, n),
        Kept::Bool(b) => (Tag::Bool, u64::from(b)),
        Kept::V4(a) => (
            Tag::V4,
            (u64::from(u32::from(*a.ip())) << 16) | u64::from(a.port()),
        ),
    }
}

fn from_kept(tag: Tag, v: u64) -> Kept {
    match tag {
        Tag::None => Kept::None,
        Tag::Str => Kept::Str(Name::from_bits(v as u16).as_str()),
        Tag::Note => Kept::Note(v as u16),
        Tag::Num => Kept::Num(v),
        Tag::Bool => Kept::Bool(v != 0),
        Tag::V4 => Kept::V4(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::from((v >> 16) as u32),
            v as u16,
        )),
    }
}

/// A hop as a segment keeps it: names as [`Name`] numbers and each value as a tag and 64
/// bits, 64 bytes in all (a hop with `&'static str` names and an enum per value took 216,
/// and each traced request writes a dozen).
#[derive(Clone, Copy, Debug)]
pub struct KeptHop {
    /// When, in microseconds since the Unix epoch.
    pub at_us: u64,
    /// How long the step took in microseconds ([`NOT_A_SPAN`] for a moment).
    pub took: u32,
    /// Who decided.
    pub component: Component,
    /// The step.
    pub step: Name,
    /// What it decided.
    pub outcome: Name,
    /// The fields' names, set ones first.
    pub names: [Name; FIELDS],
    /// The fields' values' kinds.
    pub tags: [Tag; FIELDS],
    /// The fields' values.
    pub values: [u64; FIELDS],
}

/// [`KeptHop::took`] of a hop that is a moment, not a span.
pub const NOT_A_SPAN: u32 = u32::MAX;

impl KeptHop {
    /// A hop with no fields.
    #[inline(always)]
    pub fn new(component: Component, step: Name, outcome: Name, at_us: u64) -> KeptHop {
        KeptHop {
            at_us,
            took: NOT_A_SPAN,
            component,
            step,
            outcome,
            names: [Name::NONE; FIELDS],
            tags: [Tag::None; FIELDS],
            values: [0; FIELDS],
        }
    }

    /// How long the step took in microseconds, when it is a span.
    pub fn took_us(&self) -> Option<u32> {
        (self.took != NOT_A_SPAN).then_some(self.took)
    }

    /// The named fields that are set, names and values read back.
    pub fn set_fields(&self) -> impl Iterator<Item = (&'static str, Kept)> + '_ {
        (0..FIELDS).filter(|&i| !self.names[i].is_none()).map(|i| {
            (
                self.names[i].as_str(),
                from_kept(self.tags[i], self.values[i]),
            )
        })
    }

    /// How many fields are set.
    pub fn field_count(&self) -> usize {
        self.names.iter().filter(|n| !n.is_none()).count()
    }

    /// Sets field `i`.
    #[inline(always)]
    fn set(&mut self, i: usize, name: Name, value: Kept) {
        if i < FIELDS {
            let (tag, v) = to_kept(value);
            self.names[i] = name;
            self.tags[i] = tag;
            self.values[i] = v;
        }
    }

    /// Sets the field named `name`, or the first free one.
    fn set_named(&mut self, name: Name, value: Kept) {
        let at = self
            .names
            .iter()
            .position(|n| *n == name)
            .or_else(|| self.names.iter().position(|n| n.is_none()));
        if let Some(i) = at {
            self.set(i, name, value);
        }
    }
}

/// The current time in microseconds since the Unix epoch.
///
/// One `clock_gettime` read straight into microseconds: `SystemTime::now()` and its checked
/// `duration_since(UNIX_EPOCH)` cost a traced request (about twelve reads) more instructions
/// than the clock reads themselves (docs/PERFORMANCE.md, "What tracing costs").
#[inline]
pub fn now_us() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    // A clock before the epoch reads as the epoch, as `SystemTime` would have it here.
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let micros = u64::try_from(t.tv_nsec).unwrap_or(0) / 1_000;
    secs * 1_000_000 + micros
}

/// Text a segment copies from its request (the request id, host, path, trace id): kept in
/// place when short, as most are, so that recording it costs no allocation (and no free when
/// the ring lets the trace go).
#[derive(Clone, PartialEq, Eq)]
pub struct Text(TextRepr);

/// Bytes of text a [`Text`] holds in place: a request id (16), most hosts and paths.
const TEXT_INLINE: usize = 38;

#[derive(Clone, PartialEq, Eq)]
enum TextRepr {
    Inline { len: u8, bytes: [u8; TEXT_INLINE] },
    Heap(Box<str>),
}

impl From<&str> for Text {
    #[inline]
    fn from(text: &str) -> Text {
        Text(match u8::try_from(text.len()) {
            Ok(len) if text.len() <= TEXT_INLINE => {
                let mut bytes = [0u8; TEXT_INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                TextRepr::Inline { len, bytes }
            }
            _ => TextRepr::Heap(text.into()),
        })
    }
}

impl Text {
    /// The text's bytes, without checking them again (packing a trace reads three or four
    /// per request).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            TextRepr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            TextRepr::Heap(text) => text.as_bytes(),
        }
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            // Always whole UTF-8: the bytes were copied from a `&str`, all of it.
            TextRepr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            TextRepr::Heap(text) => text,
        }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// What one component saw of one request.
#[derive(Clone, Debug)]
pub struct Segment {
    /// The request's trace root, joining it to the other components' segments.
    pub key: Option<TraceKey>,
    /// Who wrote it.
    pub component: Component,
    /// The gateway's request id (`apigw-requestid`).
    pub request_id: Option<Text>,
    /// `X-Amzn-Trace-Id` as the ALB forwarded it: the header value's own bytes, shared with
    /// it rather than copied and checked again (text when read, `trace_id_text`).
    pub trace_id: Option<bytes::Bytes>,
    /// When the component received the request, in microseconds since the epoch.
    pub started_us: u64,
    /// When it finished (the response's end), in microseconds since the epoch.
    pub ended_us: u64,
    /// The method (see [`method_name`]).
    pub method: Option<&'static str>,
    /// The host the client named.
    pub host: Option<Text>,
    /// The path the client sent.
    pub path: Option<Text>,
    /// The status this component answered.
    pub status: Option<u16>,
    /// The route (gateway) that matched.
    pub route: Option<&'static str>,
    /// The target chosen (ALB).
    pub target: Option<SocketAddr>,
    /// Which part produced the status: `gateway`, `alb` or `task`.
    pub produced_by: Option<&'static str>,
    /// The request entered the chain here (the ALB, from a vantage point): no gateway segment
    /// will follow.
    pub entry: bool,
    /// The decisions, in order.
    pub hops: Vec<KeptHop>,
    /// Text made for this request that its hops name (`Kept::Note`); usually empty.
    pub notes: Vec<String>,
    /// The TLS server name the client sent, shared with its connection.
    pub tls_name: Option<Arc<str>>,
}

/// Segments a thread keeps for reuse at most ([`recycle`]).
const SPARE_SEGMENTS: usize = 64;

/// A segment whose hops' vector grew past this many is not kept for reuse.
const SPARE_HOPS: usize = 16;

thread_local! {
    /// Segments the ring let go of on this thread, for this thread's next requests. Boxed:
    /// each is handed out as the box a component keeps while its request runs.
    #[allow(clippy::vec_box)]
    static SPARE: std::cell::RefCell<Vec<Box<Segment>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keeps a segment nobody reads any more (one the ring let go of) for [`Segment::boxed`] to
/// reuse on this thread: a steady stream of traced requests then allocates and frees neither
/// segments nor their hops' vectors (four allocations per request). A few are kept; the rest
/// are freed.
pub fn recycle(segment: Box<Segment>) {
    if segment.hops.capacity() > SPARE_HOPS {
        return;
    }
    let _ = SPARE.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut()
            && spare.len() < SPARE_SEGMENTS
        {
            spare.push(segment);
        }
    });
}

impl Segment {
    /// An empty segment, room made for a typical request's hops.
    pub fn new(component: Component) -> Segment {
        // A typical request's hops at one component: about five.
        Segment::with_storage(component, Vec::with_capacity(6), Vec::new())
    }

    /// An empty segment on the heap, for a component that keeps it boxed while its request
    /// runs: one this thread has for reuse ([`recycle`]) when there is one.
    pub fn boxed(component: Component) -> Box<Segment> {
        let spare = SPARE
            .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        match spare {
            Some(mut seg) => {
                seg.reset(component);
                seg
            }
            None => Box::new(Segment::new(component)),
        }
    }

    /// Empties a segment for reuse, field by field in place (a new value assigned whole would
    /// be built aside and copied in). Destructured so that a field added later cannot be
    /// forgotten here.
    fn reset(&mut self, component: Component) {
        let Segment {
            key,
            component: who,
            request_id,
            trace_id,
            started_us,
            ended_us,
            method,
            host,
            path,
            status,
            route,
            target,
            produced_by,
            entry,
            hops,
            notes,
            tls_name,
        } = self;
        *key = None;
        *who = component;
        *request_id = None;
        *trace_id = None;
        *started_us = now_us();
        *ended_us = 0;
        *method = None;
        *host = None;
        *path = None;
        *status = None;
        *route = None;
        *target = None;
        *produced_by = None;
        *entry = false;
        hops.clear();
        notes.clear();
        *tls_name = None;
    }

    fn with_storage(component: Component, hops: Vec<KeptHop>, notes: Vec<String>) -> Segment {
        Segment {
            key: None,
            component,
            request_id: None,
            trace_id: None,
            started_us: now_us(),
            ended_us: 0,
            method: None,
            host: None,
            path: None,
            status: None,
            route: None,
            target: None,
            produced_by: None,
            entry: false,
            hops,
            notes,
            tls_name: None,
        }
    }

    /// Appends a hop.
    #[inline(always)]
    pub fn hop(&mut self, hop: Hop) {
        let mut kept = KeptHop::new(
            hop.component,
            Name::of(hop.step),
            Name::of(hop.outcome),
            hop.at_us,
        );
        if let Some(t) = hop.took_us {
            kept.took = span(t);
        }
        let base = self.notes.len();
        for (i, (name, value)) in hop.set_fields().enumerate() {
            let value = match *value {
                // The hop's own notes follow the segment's.
                Kept::Note(n) => {
                    Kept::Note(u16::try_from(base + usize::from(n)).unwrap_or(u16::MAX))
                }
                other => other,
            };
            kept.set(i, *name, value);
        }
        self.notes.extend(hop.notes);
        self.hops.push(kept);
    }

    /// Appends a hop at this moment and returns it to fill in: the hop is written where the
    /// segment keeps it, never built elsewhere and copied.
    #[inline(always)]
    pub fn record(
        &mut self,
        component: Component,
        step: impl Into<Name>,
        outcome: impl Into<Name>,
    ) -> HopMut<'_> {
        self.record_at(component, step, outcome, now_us())
    }

    /// Like [`Segment::record`], at `at_us` (a moment the caller has just read).
    #[inline(always)]
    pub fn record_at(
        &mut self,
        component: Component,
        step: impl Into<Name>,
        outcome: impl Into<Name>,
        at_us: u64,
    ) -> HopMut<'_> {
        self.hops
            .push(KeptHop::new(component, step.into(), outcome.into(), at_us));
        let hop = self.hops.len() - 1;
        HopMut {
            seg: self,
            hop,
            next: 0,
        }
    }

    /// Appends a span that began at `since_us` (a moment the caller read with [`now_us`]) and
    /// ends now: one clock read for both its time and its length.
    #[inline(always)]
    pub fn record_since(
        &mut self,
        component: Component,
        step: impl Into<Name>,
        outcome: impl Into<Name>,
        since_us: u64,
    ) -> HopMut<'_> {
        let took = now_us().saturating_sub(since_us);
        let hop = self.record_at(component, step, outcome, since_us);
        hop.seg.hops[hop.hop].took = span(took);
        hop
    }

    /// A value as the segment keeps it: text made for the request becomes a note.
    #[inline(always)]
    fn keep(&mut self, value: Val) -> Kept {
        match value {
            Val::None => Kept::None,
            Val::Str(s) => Kept::Str(s),
            Val::Num(n) => Kept::Num(n),
            Val::Bool(b) => Kept::Bool(b),
            Val::Addr(SocketAddr::V4(a)) => Kept::V4(a),
            other => self.keep_text(other),
        }
    }

    #[cold]
    fn keep_text(&mut self, value: Val) -> Kept {
        let text = match value {
            Val::Shared(s) => s.to_string(),
            Val::Text(s) => s,
            Val::Addr(a) => a.to_string(),
            _ => return Kept::None,
        };
        self.notes.push(text);
        Kept::Note(u16::try_from(self.notes.len() - 1).unwrap_or(u16::MAX))
    }

    /// `trace_id` as text (it is visible ASCII: it was a header value).
    pub fn trace_id_text(&self) -> Option<&str> {
        std::str::from_utf8(self.trace_id.as_ref()?).ok()
    }

    /// The text of a kept value (a note's, or static text), if it is text.
    pub fn text_of(&self, value: Kept) -> Option<&str> {
        match value {
            Kept::Str(s) => Some(s),
            Kept::Note(i) => self.notes.get(usize::from(i)).map(String::as_str),
            _ => None,
        }
    }

    /// Sets a field of the last hop of `step` (a value known only later, such as the bytes a
    /// response body carried), rather than adding a hop for it.
    pub fn amend(&mut self, step: &'static str, name: &'static str, value: Val) {
        let value = self.keep(value);
        let step = Name::of(step);
        if let Some(hop) = self.hops.iter_mut().rev().find(|h| h.step == step) {
            hop.set_named(Name::of(name), value);
        }
    }

    /// Sets a field of the hop at `hop` ([`HopMut::index`]), like [`Segment::amend`] without
    /// looking for the hop by its step.
    #[inline(always)]
    pub fn amend_at(&mut self, hop: usize, name: impl Into<Name>, value: Val) {
        let value = self.keep(value);
        if let Some(hop) = self.hops.get_mut(hop) {
            hop.set_named(name.into(), value);
        }
    }

    /// Changes the outcome of the last hop of `step`.
    pub fn set_outcome(&mut self, step: &'static str, outcome: &'static str) {
        let step = Name::of(step);
        if let Some(hop) = self.hops.iter_mut().rev().find(|h| h.step == step) {
            hop.outcome = Name::of(outcome);
        }
    }
}

/// A span's length as a hop keeps it (never [`NOT_A_SPAN`]).
#[inline(always)]
fn span(us: u64) -> u32 {
    u32::try_from(us)
        .unwrap_or(NOT_A_SPAN - 1)
        .min(NOT_A_SPAN - 1)
}

/// A hop just appended to a segment ([`Segment::record`]), filled in place.
pub struct HopMut<'a> {
    seg: &'a mut Segment,
    hop: usize,
    /// The first field not yet set: fields fill in order, so none is searched for.
    next: usize,
}

impl HopMut<'_> {
    /// Adds a field (one past [`FIELDS`] is dropped, as [`Hop::with`] does).
    #[inline(always)]
    pub fn with(mut self, name: impl Into<Name>, value: Val) -> Self {
        if matches!(value, Val::None) || self.next >= FIELDS {
            return self;
        }
        let kept = self.seg.keep(value);
        if let Some(hop) = self.seg.hops.get_mut(self.hop) {
            hop.set(self.next, name.into(), kept);
        }
        self.next += 1;
        self
    }

    /// The hop's place in its segment, for [`Segment::amend_at`].
    pub fn index(&self) -> usize {
        self.hop
    }

    /// Marks the hop as a span that started `took` before it was made.
    #[inline(always)]
    pub fn took(self, took: Duration) -> Self {
        let us = took.as_micros() as u64;
        let hop = &mut self.seg.hops[self.hop];
        hop.took = span(us);
        hop.at_us = hop.at_us.saturating_sub(us);
        self
    }
}

/// Where finished segments go.
pub trait Sink: Send + Sync + 'static {
    /// Takes one segment; called once per component per request, so it must be quick.
    fn segment(&self, segment: Segment);

    /// Takes one segment already on the heap (the components keep theirs boxed while the
    /// request runs); a sink that keeps segments boxed takes it without copying.
    fn boxed(&self, segment: Box<Segment>) {
        self.segment(*segment);
    }
}

/// A handle on the sink; off (the default) records nothing and costs a branch.
#[derive(Clone, Default)]
pub struct Tracer(Option<Arc<dyn Sink>>);

impl Tracer {
    /// A tracer that hands segments to `sink`.
    pub fn new(sink: Arc<dyn Sink>) -> Tracer {
        Tracer(Some(sink))
    }

    /// Whether segments are recorded at all.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Like [`Tracer::emit`], for a boxed segment: no copy on the way to the sink.
    pub fn emit_boxed(&self, mut segment: Box<Segment>) {
        if let Some(sink) = &self.0 {
            if segment.ended_us == 0 {
                segment.ended_us = now_us();
            }
            sink.boxed(segment);
        }
    }

    /// Hands `segment` to the sink, stamping its end.
    pub fn emit(&self, mut segment: Segment) {
        if let Some(sink) = &self.0 {
            if segment.ended_us == 0 {
                segment.ended_us = now_us();
            }
            sink.segment(segment);
        }
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_on() {
            "Tracer(on)"
        } else {
            "Tracer(off)"
        })
    }
}

/// The request a task is working for, as far down the chain as its work goes.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The request's trace root.
    pub key: TraceKey,
    /// Where notes go.
    pub tracer: Tracer,
    /// Who is working: notes are attributed to it.
    pub component: Component,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `work` with `scope` as the current request (nothing set when `None`).
pub async fn scoped<F: Future>(scope: Option<Scope>, work: F) -> F::Output {
    match scope {
        Some(scope) => SCOPE.scope(scope, work).await,
        None => work.await,
    }
}

/// The current request's key, if the task works for one.
pub fn current_key() -> Option<TraceKey> {
    SCOPE.try_with(|s| s.key).ok()
}

/// Records one hop for the current request, as a segment of its own (for work that happens
/// once per connection rather than per request: a dial, a new stream). `hop` is only called
/// when there is a current request.
pub fn note(hop: impl FnOnce(Component) -> Hop) {
    let _ = SCOPE.try_with(|s| {
        let mut segment = Segment::new(s.component);
        segment.key = Some(s.key);
        segment.hop(hop(s.component));
        s.tracer.emit(segment);
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_round_trip_through_the_header_form() {
        let v = b"Root=1-5759e988-bd862e3fe1be46a994272793;Self=1-67891234-12456789abcdef012345678";
        let key = TraceKey::from_header(v).unwrap();
        assert_eq!(key.to_string(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(TraceKey::from_header(key.to_string().as_bytes()), Some(key));
        assert_eq!(TraceKey::from_header(b"Root=nonsense"), None);
        assert_ne!(TraceKey::local(), TraceKey::local());
    }

    #[test]
    fn the_quick_read_of_a_root_agrees_with_the_general_one() {
        let root = "1-5759e988-bd862e3fe1be46a994272793";
        for value in [
            format!("Root={root}"),
            format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=1"),
            format!("Sampled=1;Root={root}"),
            root.to_owned(),
            root.to_uppercase(),
            format!("{root};Parent=1"),
            format!("Root={root}x"),
            format!("Root={}", root.replace('b', "g")),
            format!("Root=+{}", &root[1..]),
            "Root=1-5759e988-bd862e3fe1be46a99427279".to_owned(),
        ] {
            assert_eq!(
                TraceKey::from_header(value.as_bytes()),
                TraceKey::from_fields(value.as_bytes()),
                "{value}"
            );
        }
        assert_eq!(
            TraceKey::from_parts(
                0x5759e988,
                [
                    0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93
                ]
            ),
            TraceKey::from_header(root.as_bytes()).unwrap()
        );
    }

    #[test]
    fn text_made_for_a_hop_becomes_its_segments_note() {
        let mut seg = Segment::new(Component::VpcLink);
        seg.hop(Hop::new(Component::VpcLink, "a", "b").with("why", Val::Text("first".into())));
        seg.hop(
            Hop::new(Component::VpcLink, "c", "d")
                .with("n", Val::Num(3))
                .with("why", Val::Text("second".into()))
                .with("to", Val::Addr("[::1]:80".parse().unwrap())),
        );
        let texts: Vec<_> = seg
            .hops
            .iter()
            .flat_map(|h| h.set_fields().filter_map(|(_, v)| seg.text_of(v)))
            .collect();
        assert_eq!(texts, ["first", "second", "[::1]:80"]);
    }

    #[test]
    fn eight_hex_digits_read_as_the_standard_parser_reads_them() {
        let reference = |d: [u8; 8]| {
            std::str::from_utf8(&d)
                .ok()
                .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|t| u32::from_str_radix(t, 16).ok())
        };
        for base in [
            *b"5759e988",
            *b"BD862E3F",
            *b"00000000",
            *b"ffffffff",
            *b"0a1B2c3D",
        ] {
            assert_eq!(hex8(base), reference(base));
            // Every byte value at every place: only hex digits read as digits.
            for place in 0..8 {
                for byte in 0..=255u8 {
                    let mut d = base;
                    d[place] = byte;
                    assert_eq!(hex8(d), reference(d), "{d:?}");
                }
            }
        }
    }

    #[test]
    fn a_recycled_segment_comes_back_empty() {
        let mut seg = Segment::boxed(Component::Alb);
        seg.key = Some(TraceKey::local());
        seg.host = Some("x".repeat(100).as_str().into());
        seg.status = Some(200);
        seg.record(Component::Alb, "rule", "matched")
            .with("why", Val::Text("because".into()));
        let kept = &*seg as *const Segment;
        recycle(seg);
        let again = Segment::boxed(Component::Gateway);
        assert_eq!(&*again as *const Segment, kept, "the spare was reused");
        assert_eq!(again.component, Component::Gateway);
        assert!(again.key.is_none() && again.host.is_none() && again.status.is_none());
        assert!(again.hops.is_empty() && again.notes.is_empty());
        assert!(again.started_us > 0);
    }

    #[test]
    fn text_reads_back_as_it_was_given_short_or_long() {
        for text in [
            "",
            "/pets",
            "Mc7UVioPPHcEKPA=",
            &"x".repeat(38),
            &"y".repeat(39),
            "ünï",
        ] {
            assert_eq!(&*Text::from(text), text);
        }
        assert_eq!(Text::from("a"), Text::from("a"));
        assert_ne!(Text::from("a"), Text::from("b"));
    }

    #[test]
    fn a_kept_hop_is_a_cache_line() {
        assert!(std::mem::size_of::<KeptHop>() <= 64);
    }

    #[test]
    fn values_read_back_as_they_were_kept() {
        let mut seg = Segment::new(Component::Alb);
        seg.record(Component::Alb, "target", "chosen")
            .with("to", Val::Addr("10.0.1.5:8080".parse().unwrap()))
            .with("ip", Val::Addr("10.0.1.6:0".parse().unwrap()))
            .with("n", Val::Num(u64::MAX))
            .with("why", Val::Str("healthy"));
        seg.record(Component::Alb, "x", "y")
            .with("yes", Val::Bool(true))
            .with("no", Val::Bool(false))
            .with("text", Val::Text("made now".into()))
            .with("none", Val::None);
        seg.amend("target", "n", Val::Num(7));
        seg.set_outcome("target", "refused");
        let fields: Vec<_> = seg.hops.iter().flat_map(KeptHop::set_fields).collect();
        assert_eq!(
            fields,
            [
                ("to", Kept::V4("10.0.1.5:8080".parse().unwrap())),
                ("ip", Kept::V4("10.0.1.6:0".parse().unwrap())),
                ("n", Kept::Num(7)),
                ("why", Kept::Str("healthy")),
                ("yes", Kept::Bool(true)),
                ("no", Kept::Bool(false)),
                ("text", Kept::Note(0)),
            ]
        );
        assert_eq!(seg.hops[0].outcome.as_str(), "refused");
        assert_eq!(seg.text_of(Kept::Note(0)), Some("made now"));
    }

    #[test]
    fn hops_keep_a_fixed_number_of_fields() {
        let mut hop = Hop::new(Component::Alb, "rule", "matched");
        for _ in 0..FIELDS + 2 {
            hop = hop.with("n", Val::Num(1));
        }
        assert_eq!(hop.set_fields().count(), FIELDS);
        let hop = Hop::new(Component::Alb, "x", "y").with("none", Val::None);
        assert_eq!(hop.set_fields().count(), 0);
    }

    #[tokio::test]
    async fn notes_reach_the_sink_only_inside_a_scope() {
        struct Keep(std::sync::Mutex<Vec<Segment>>);
        impl Sink for Keep {
            fn segment(&self, segment: Segment) {
                self.0.lock().unwrap().push(segment);
            }
        }
        let keep = Arc::new(Keep(Default::default()));
        let tracer = Tracer::new(keep.clone());
        note(|c| Hop::new(c, "dial", "outside"));
        let key = TraceKey::local();
        let scope = Scope {
            key,
            tracer,
            component: Component::VpcLink,
        };
        scoped(Some(scope), async {
            assert_eq!(current_key(), Some(key));
            note(|c| Hop::new(c, "dial", "admitted"));
        })
        .await;
        let got = keep.0.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].key, Some(key));
        assert_eq!(got[0].hops[0].outcome.as_str(), "admitted");
        assert_eq!(got[0].component, Component::VpcLink);
    }
}
