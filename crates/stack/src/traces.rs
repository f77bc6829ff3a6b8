//! The stack's traces: every component's [`Segment`]s of a request joined into one entry, kept
//! in a bounded ring (the newest `capacity` requests), rendered as JSON only when read.
//!
//! Segments of one request share a [`TraceKey`] (the root of the `X-Amzn-Trace-Id` the gateway
//! sends). They arrive in any order: the VPC link's dial and the ALB's segment usually before
//! the gateway's, which is written when the response body has gone. An entry is announced to
//! subscribers (the admin endpoint's event stream) when its request is complete: when the
//! gateway's segment arrives, or, for a request that entered at the ALB (from a vantage point),
//! the ALB's.

use airlock_net::sync::lock;
#[cfg(test)]
use airlock_net::trace::Hop;
use airlock_net::trace::{Component, Kept, KeptHop, Segment, Sink, Text, TraceKey, pack};
use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The ring's size when nothing else is said.
pub const DEFAULT_CAPACITY: usize = 1000;

/// An evicted entry's buffer larger than this is freed rather than reused by the next
/// request: one long trace (an error's long message) does not pin its size in every slot.
const REUSE_LIMIT: usize = 4096;

/// A thread's packing room past this size is let go after use.
const SCRATCH_LIMIT: usize = 64 * 1024;

/// How many entries a listing copies at a time under the ring's lock: requests being traced
/// meanwhile wait for no more than this many copies.
const LIST_BATCH: usize = 32;

/// One request: what each component recorded of it, packed (`trace::pack`): a few hundred
/// bytes rather than the ~3 KB its segments take while the request runs. Each traced request
/// writes its entry into the slot of the one evicted a ring's length earlier, memory cold in
/// every cache: the fewer bytes written there, the less tracing costs (docs/PERFORMANCE.md,
/// "What tracing costs, third round").
#[derive(Clone)]
struct Entry {
    seq: u64,
    key: Option<TraceKey>,
    /// The gateway's request id, for reads by it without unpacking every entry.
    request_id: Option<Text>,
    /// The segments in the order they arrived, packed.
    packed: Vec<u8>,
    complete: bool,
}

impl Entry {
    /// The entry with its segments unpacked, for reading.
    fn open(&self) -> Opened<'_> {
        Opened {
            entry: self,
            segments: pack::unpack(&self.packed),
        }
    }
}

/// An entry with its segments unpacked.
struct Opened<'a> {
    entry: &'a Entry,
    segments: Vec<Segment>,
}

#[derive(Default)]
struct State {
    entries: VecDeque<Entry>,
    /// The sequence number of `entries[0]`.
    first: u64,
    next: u64,
    /// The entry of each trace key, for joining segments as they arrive (hashed with foldhash:
    /// the keys are airlock's own or checked X-Ray roots). Reads by request id scan instead:
    /// they are rare, and an index would cost every request an insertion.
    by_key: HashMap<TraceKey, u64, foldhash::fast::RandomState>,
}

/// The ring of recent requests' traces.
pub struct Ring {
    capacity: usize,
    state: Mutex<State>,
    /// Completed requests' summaries, for live subscribers.
    completed: broadcast::Sender<Arc<Value>>,
}

thread_local! {
    /// Where a thread packs a segment before taking the ring's lock to keep it (as long as the
    /// longest segment packed on this thread: a few KiB).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Ring {
    /// A ring keeping the newest `capacity` requests.
    pub fn new(capacity: usize) -> Arc<Ring> {
        Arc::new(Ring {
            capacity: capacity.max(1),
            state: Mutex::default(),
            completed: broadcast::channel(256).0,
        })
    }

    /// The ring's size.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Completed requests' summaries as they complete.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Value>> {
        self.completed.subscribe()
    }

    /// Summaries of the kept requests, newest first, that pass `filter`, at most `limit`;
    /// and how many requests the ring keeps. Entries are copied out a batch at a time and
    /// unpacked with the lock let go.
    pub fn list(&self, filter: &Filter, limit: usize) -> (Vec<Value>, usize) {
        let mut out = Vec::new();
        let mut before = u64::MAX;
        let kept = lock(&self.state).entries.len();
        while out.len() < limit {
            let batch: Vec<Entry> = {
                let state = lock(&self.state);
                state
                    .entries
                    .iter()
                    .rev()
                    .filter(|e| e.seq < before)
                    .take(LIST_BATCH)
                    .cloned()
                    .collect()
            };
            let Some(last) = batch.last() else { break };
            before = last.seq;
            out.extend(
                batch
                    .iter()
                    .map(|e| summary(&e.open()))
                    .filter(|s| filter.admits(s))
                    .take(limit - out.len()),
            );
        }
        (out, kept)
    }

    /// The bytes the kept traces hold (their buffers' room, as allocated).
    pub fn held_bytes(&self) -> usize {
        let state = lock(&self.state);
        state.entries.iter().map(|e| e.packed.capacity()).sum()
    }

    /// Whether a request newer than sequence number `after` has completed.
    pub fn has_newer(&self, after: u64) -> bool {
        let state = lock(&self.state);
        state
            .entries
            .iter()
            .rev()
            .take_while(|e| e.seq > after)
            .any(|e| e.complete)
    }

    /// One request's whole trace, by the gateway's request id or its trace id.
    pub fn get(&self, id: &str) -> Option<Value> {
        self.find(id).map(|(doc, _)| doc)
    }

    /// Like [`Ring::get`], and whether the request has completed.
    fn find(&self, id: &str) -> Option<(Value, bool)> {
        let entry = {
            let state = lock(&self.state);
            match TraceKey::from_header(id.as_bytes()) {
                Some(k) => state.entry(*state.by_key.get(&k)?)?,
                None => state
                    .entries
                    .iter()
                    .rev()
                    .find(|e| e.request_id.as_deref() == Some(id))?,
            }
            .clone()
        };
        Some((detail(&entry.open()), entry.complete))
    }

    /// One request's trace once it has completed, waiting up to `wait` for it: a client that
    /// has just read its response may ask before the gateway has finished the trace (it is
    /// written when the response body has gone). After `wait`, what there is.
    pub async fn get_completed(&self, id: &str, wait: std::time::Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut completed = self.subscribe();
            match self.find(id) {
                Some((doc, true)) => return Some(doc),
                found => {
                    let waited = tokio::time::timeout_at(deadline, completed.recv()).await;
                    if waited.is_err() {
                        return found.map(|(doc, _)| doc);
                    }
                }
            }
        }
    }

    /// Keeps one packed segment: joined to its request's entry, or the newest entry.
    fn keep(
        &self,
        key: Option<TraceKey>,
        request_id: Option<Text>,
        announces: bool,
        packed: &[u8],
    ) {
        let mut state = lock(&self.state);
        let existing = key.and_then(|k| state.by_key.get(&k).copied());
        let seq = match existing.filter(|&seq| state.entry(seq).is_some()) {
            Some(seq) => {
                if let Some(e) = state.entry_mut(seq) {
                    e.packed.reserve_exact(packed.len());
                    e.packed.extend_from_slice(packed);
                    if e.request_id.is_none() {
                        e.request_id = request_id;
                    }
                }
                seq
            }
            None => {
                let seq = state.next;
                state.next += 1;
                // The evicted entry's buffer holds this one: no allocation or free per request
                // once the ring is full.
                let mut buffer = Vec::new();
                if state.entries.len() >= self.capacity
                    && let Some(old) = state.entries.pop_front()
                {
                    state.first = old.seq + 1;
                    if let Some(k) = old.key
                        && let std::collections::hash_map::Entry::Occupied(e) =
                            state.by_key.entry(k)
                        && *e.get() == old.seq
                    {
                        e.remove();
                    }
                    if old.packed.capacity() <= REUSE_LIMIT {
                        buffer = old.packed;
                        buffer.clear();
                    }
                }
                if state.entries.is_empty() {
                    state.first = seq;
                }
                if let Some(k) = key {
                    state.by_key.insert(k, seq);
                }
                buffer.reserve_exact(packed.len());
                buffer.extend_from_slice(packed);
                state.entries.push_back(Entry {
                    seq,
                    key,
                    request_id,
                    packed: buffer,
                    complete: false,
                });
                seq
            }
        };
        let mut announce = None;
        if announces && let Some(e) = state.entry_mut(seq) {
            e.complete = true;
            if self.completed.receiver_count() > 0 {
                announce = Some(e.clone());
            }
        }
        drop(state);
        if let Some(e) = announce {
            let _ = self.completed.send(Arc::new(summary(&e.open())));
        }
    }
}

impl State {
    fn entry(&self, seq: u64) -> Option<&Entry> {
        let i = seq.checked_sub(self.first)?;
        self.entries.get(usize::try_from(i).ok()?)
    }

    fn entry_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        let i = seq.checked_sub(self.first)?;
        self.entries.get_mut(usize::try_from(i).ok()?)
    }
}

impl Sink for Ring {
    fn segment(&self, segment: Segment) {
        self.boxed(Box::new(segment));
    }

    fn boxed(&self, segment: Box<Segment>) {
        // Announced once, with the segment that completes the request: the gateway's own (the
        // one that says who produced the status), not a note made on its behalf (a new link
        // stream or dial, which arrives first).
        let announces = match segment.component {
            Component::Gateway => segment.produced_by.is_some(),
            Component::Alb => segment.entry && !segment.hops.is_empty(),
            _ => false,
        };
        let key = segment.key;
        let request_id = match segment.component {
            Component::Gateway => segment.request_id.clone(),
            _ => None,
        };
        let keep = |scratch: &mut Vec<u8>| {
            let len = pack::pack_into(&segment, scratch);
            self.keep(
                key,
                request_id,
                announces,
                scratch.get(..len).unwrap_or_default(),
            );
            if scratch.len() > SCRATCH_LIMIT {
                // A rare long segment (a long error message) does not stay on the thread.
                *scratch = Vec::new();
            }
        };
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => keep(&mut scratch),
            Err(_) => keep(&mut Vec::new()),
        });
        // Packed and kept: the segment goes back to this thread, still warm, for its next
        // request.
        airlock_net::trace::recycle(segment);
    }
}

/// What `GET /requests` may be narrowed to.
#[derive(Debug, Default)]
pub struct Filter {
    /// `404`, or a class: `4xx`.
    pub status: Option<String>,
    /// A substring of the route key (`GET /pets`).
    pub route: Option<String>,
    /// A substring of the target's `ip:port`.
    pub task: Option<String>,
    /// Only requests completed after the one with this sequence number.
    pub after: Option<u64>,
}

impl Filter {
    fn admits(&self, s: &Value) -> bool {
        if let Some(after) = self.after
            && (s["seq"].as_u64().is_none_or(|seq| seq <= after) || s["complete"] != true)
        {
            return false;
        }
        if let Some(want) = &self.status {
            let status = s["status"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or_default();
            let ok = match want.strip_suffix("xx") {
                Some(class) => status.starts_with(class),
                None => &status == want,
            };
            if !ok {
                return false;
            }
        }
        let has = |field: &str, want: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| s[field].as_str().is_some_and(|v| v.contains(w.as_str())))
        };
        has("route", &self.route) && has("task", &self.task)
    }
}

fn find<'a>(opened: &'a Opened<'_>, c: Component) -> Option<&'a Segment> {
    opened
        .segments
        .iter()
        .find(|s| s.component == c && s.hops.len() > 1)
}

/// The request's list row: who, what, where it went, how it ended.
fn summary(opened: &Opened<'_>) -> Value {
    let gw = find(opened, Component::Gateway);
    let alb = find(opened, Component::Alb);
    let front = gw.or(alb).or(opened.segments.first());
    let entry = opened.entry;
    let started = opened
        .segments
        .iter()
        .map(|s| s.started_us)
        .min()
        .unwrap_or(0);
    let ended = front.map_or(0, |s| s.ended_us);
    let produced_by = match (gw.and_then(|g| g.produced_by), alb) {
        (Some("integration"), Some(a)) => a.produced_by.unwrap_or("integration"),
        (Some(by), _) => by,
        (None, Some(a)) => a.produced_by.unwrap_or("alb"),
        (None, None) => "unknown",
    };
    let text = |v: Option<&str>| v.map_or(Value::Null, |v| Value::String(v.to_owned()));
    json!({
        "seq": entry.seq,
        "id": gw.and_then(|g| g.request_id.as_deref()).map_or_else(
            || entry.key.map_or(Value::Null, |k| Value::String(k.to_string())),
            |id| Value::String(id.to_owned()),
        ),
        "request_id": text(gw.and_then(|g| g.request_id.as_deref())),
        "trace_id": entry.key.map(|k| k.to_string()),
        "alb_trace_id": text(alb.and_then(|a| a.trace_id_text())),
        "entered_at": if gw.is_some() { "gateway" } else { "alb" },
        "method": text(front.and_then(|s| s.method)),
        "host": text(front.and_then(|s| s.host.as_deref())),
        "tls_name": text(front.and_then(|s| s.tls_name.as_deref())),
        "path": text(front.and_then(|s| s.path.as_deref())),
        "status": front.and_then(|s| s.status),
        "route": text(gw.and_then(|g| g.route)),
        "task": alb.and_then(|a| a.target).map(|t| t.to_string()),
        "produced_by": produced_by,
        "complete": entry.complete,
        "started_ms": started / 1000,
        "duration_ms": (ended.saturating_sub(started)) as f64 / 1000.0,
    })
}

/// The request's whole story: the summary and every hop in time order, with the hops that
/// nothing recorded because nothing happened (a pooled connection reused) said plainly.
fn detail(opened: &Opened<'_>) -> Value {
    let mut out = summary(opened);
    let start = opened
        .segments
        .iter()
        .map(|s| s.started_us)
        .min()
        .unwrap_or(0);
    let mut hops: Vec<(&KeptHop, &Segment)> = opened
        .segments
        .iter()
        .flat_map(|s| s.hops.iter().map(move |h| (h, s)))
        .collect();
    hops.sort_by_key(|(h, _)| h.at_us);
    let mut rendered: Vec<Value> = Vec::with_capacity(hops.len() + 2);
    let any = |c: Component, step: &str| {
        hops.iter()
            .any(|(h, _)| h.component == c && h.step.as_str() == step)
    };
    let link_stream = any(Component::VpcLink, "stream");
    let alb_dial = any(Component::Alb, "dial");
    for (h, seg) in &hops {
        if h.component == Component::Gateway
            && h.step.as_str() == "integration"
            && !link_stream
            && h.set_fields()
                .any(|(n, v)| n == "type" && matches!(v, Kept::Str(t) if t.starts_with("private")))
        {
            rendered.push(synthetic(
                h.at_us,
                start,
                Component::VpcLink,
                "stream",
                "reused",
                "the gateway's pooled connection already had its tunnel stream: no new dial",
            ));
        }
        rendered.push(hop_json(h, seg, start));
        if h.component == Component::Alb
            && h.step.as_str() == "target"
            && h.outcome.as_str() == "chosen"
            && !alb_dial
        {
            rendered.push(synthetic(
                h.at_us,
                start,
                Component::Alb,
                "dial",
                "reused",
                "the node's pooled connection to this target was reused: no new dial",
            ));
        }
    }
    out["hops"] = Value::Array(rendered);
    out
}

fn synthetic(at_us: u64, start: u64, c: Component, step: &str, outcome: &str, why: &str) -> Value {
    json!({
        "component": c.as_str(),
        "step": step,
        "outcome": outcome,
        "at_ms": at_us.saturating_sub(start) as f64 / 1000.0,
        "took_ms": null,
        "fields": { "why": why },
    })
}

fn hop_json(h: &KeptHop, seg: &Segment, start: u64) -> Value {
    let mut fields = Map::new();
    for (name, v) in h.set_fields() {
        fields.insert(name.to_owned(), val_json(v, seg));
    }
    json!({
        "component": h.component.as_str(),
        "step": h.step.as_str(),
        "outcome": h.outcome.as_str(),
        "at_ms": h.at_us.saturating_sub(start) as f64 / 1000.0,
        "took_ms": h.took_us().map(|t| f64::from(t) / 1000.0),
        "fields": fields,
    })
}

fn val_json(v: Kept, seg: &Segment) -> Value {
    match v {
        Kept::None => Value::Null,
        Kept::Str(_) | Kept::Note(_) => seg
            .text_of(v)
            .map_or(Value::Null, |t| Value::String(t.to_owned())),
        Kept::Num(n) => json!(n),
        Kept::Bool(b) => json!(b),
        // An address with port 0 is an interface's, not a socket's.
        Kept::V4(a) if a.port() == 0 => Value::String(a.ip().to_string()),
        Kept::V4(a) => Value::String(a.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn gateway_segment(id: &str, key: TraceKey) -> Segment {
        let mut s = Segment::new(Component::Gateway);
        s.key = Some(key);
        s.request_id = Some(id.into());
        s.status = Some(200);
        s.hop(Hop::new(Component::Gateway, "api", "selected"));
        s.hop(Hop::new(Component::Gateway, "route", "matched"));
        s.produced_by = Some("task");
        s
    }

    /// A note made on the gateway's behalf while its request runs (a new link stream) arrives
    /// before the request's own segment; the request is announced, and counts as complete,
    /// only with the latter, whole.
    #[test]
    fn a_note_does_not_complete_its_request() {
        let ring = Ring::new(10);
        let mut events = ring.subscribe();
        let key = TraceKey::local();
        let mut note = Segment::new(Component::Gateway);
        note.key = Some(key);
        note.hop(Hop::new(Component::VpcLink, "stream", "new tunnel stream"));
        ring.segment(note);
        assert!(events.try_recv().is_err(), "announced on a note");
        let (list, _) = ring.list(&Filter::default(), 10);
        assert_eq!(list[0]["complete"], false, "complete on a note: {list:?}");
        ring.segment(gateway_segment("req-1", key));
        let announced = events.try_recv().unwrap();
        assert_eq!(announced["id"], "req-1");
        assert_eq!(announced["produced_by"], "task");
        assert!(events.try_recv().is_err(), "announced twice");
    }

    #[test]
    fn segments_join_by_key_in_any_order_and_the_ring_stays_bounded() {
        let ring = Ring::new(3);
        let key = TraceKey::local();
        let mut alb = Segment::new(Component::Alb);
        alb.key = Some(key);
        alb.target = Some("10.0.1.5:8080".parse().unwrap());
        alb.hop(Hop::new(Component::Alb, "listener", "accepted"));
        alb.hop(Hop::new(Component::Alb, "target", "chosen"));
        ring.segment(alb);
        ring.segment(gateway_segment("req-1", key));
        let got = ring.get("req-1").unwrap();
        assert_eq!(got["task"], "10.0.1.5:8080");
        assert_eq!(got["hops"].as_array().unwrap().len(), 5, "{got}");
        assert_eq!(ring.get(&key.to_string()).unwrap()["id"], "req-1");
        for i in 0..10 {
            ring.segment(gateway_segment(&format!("more-{i}"), TraceKey::local()));
        }
        let (list, kept) = ring.list(&Filter::default(), 100);
        assert_eq!(kept, 3);
        assert_eq!(list.len(), 3);
        assert_eq!(list[0]["id"], "more-9");
        assert!(ring.get("req-1").is_none());
        let state = lock(&ring.state);
        assert_eq!(state.by_key.len(), 3);
    }
}
