//! Answering: a pure function from (data, view, query) to a response, shared by the wire
//! handler and the in-process lookup.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

use crate::data::{DnsData, DnsHandle, Node, ZoneIndex};
use crate::model::{DomainName, View};

/// Longest CNAME chain followed before answering with what was found, as resolvers bound it
/// to break loops.
const MAX_CNAME_HOPS: usize = 8;
/// Largest UDP payload offered to EDNS clients (docs/aws-rules.md §ALB-6.4: ≤4096 with EDNS0).
const MAX_EDNS_PAYLOAD: u16 = 4096;
/// RFC 1035 UDP limit without EDNS.
const MIN_PAYLOAD: u16 = 512;

/// Outcome of an in-process lookup ([`crate::DnsHandle::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// NOERROR with data: the answer section, CNAME records of a chain first.
    Answer(Vec<Record>),
    /// NOERROR without data: the name exists, but not with this type.
    NoData,
    /// The name does not exist (in the VPC view also: no zone and no public data knows it).
    NxDomain,
    /// Public view only: no zone here is authoritative for the name.
    Refused,
}

impl Lookup {
    /// The A and AAAA addresses in the answer, in answer order; empty for negative outcomes.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let Self::Answer(records) = self else {
            return Vec::new();
        };
        records
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect()
    }
}

/// Answers one DNS query message against `data` as seen from `view`.
///
/// Behaviour (docs/aws-rules.md §ALB-6):
/// - zone choice per docs/aws-rules.md §ALB-6.2: in [`View::Vpc`] the most specific private zone containing the name
///   answers alone (NXDOMAIN / NODATA without public fallback); otherwise public zones;
/// - a name in no zone: REFUSED in [`View::Public`] (an authoritative server asked about
///   someone else's zone); NXDOMAIN without SOA in [`View::Vpc`] (the resolver would recurse to
///   the internet, which airlock does not model, so the name does not exist);
/// - answers carry the queried name as owner (aliases and wildcards included); CNAME answers
///   every type and is followed through the view's data;
/// - NXDOMAIN and NODATA carry the zone's SOA in the authority section (docs/aws-rules.md §ALB-6.4); positive
///   public answers carry the zone's NS records there;
/// - AA in the public view, RA (and no AA) in the VPC view (docs/aws-rules.md §ALB-6.3);
/// - truncation is the transport's business: the wire handler lets hickory cut UDP responses at
///   512 bytes (or the EDNS size) and set TC.
pub fn answer(data: &DnsData, view: View, query: &Message) -> Message {
    respond(
        data,
        view,
        &query.metadata,
        &query.queries,
        query.edns.as_ref(),
    )
}

pub(crate) fn respond(
    data: &DnsData,
    view: View,
    request: &Metadata,
    queries: &[Query],
    edns: Option<&Edns>,
) -> Message {
    let mut response = Message::response(request.id, request.op_code);
    response.metadata = Metadata::response_from_request(request);
    response.metadata.recursion_available = view == View::Vpc;
    response.add_queries(queries.iter().cloned());

    if let Some(asked) = edns {
        let mut offered = Edns::new();
        offered.set_max_payload(asked.max_payload().clamp(MIN_PAYLOAD, MAX_EDNS_PAYLOAD));
        response.set_edns(offered);
        if asked.version() > 0 {
            response.metadata.response_code = ResponseCode::BADVERS;
            return response;
        }
    }

    let query = match (request.message_type, request.op_code, queries) {
        (MessageType::Query, OpCode::Query, [query]) => query,
        (MessageType::Query, OpCode::Query, _) | (MessageType::Response, _, _) => {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        }
        (MessageType::Query, _, _) => {
            response.metadata.response_code = ResponseCode::NotImp;
            return response;
        }
    };
    if query.query_class() != DNSClass::IN
        || matches!(query.query_type(), RecordType::AXFR | RecordType::IXFR)
    {
        response.metadata.response_code = ResponseCode::Refused;
        return response;
    }

    let Some(resolution) = resolve_name(data, view, query.name(), query.query_type()) else {
        response.metadata.response_code = match view {
            View::Public => ResponseCode::Refused,
            View::Vpc => ResponseCode::NXDomain,
        };
        return response;
    };
    response.metadata.response_code = resolution.rcode;
    response.metadata.authoritative = view == View::Public;
    if let Some(zone) = resolution.zone {
        if resolution.negative {
            response.add_authority(zone.soa.clone());
        } else if view == View::Public {
            response.add_authorities(zone.ns.iter().cloned());
        }
    }
    response.insert_answers(resolution.answers);
    response
}

// Lookups are this module's; the data they read is `data`'s, which knows nothing of them.
impl DnsData {
    /// Looks a name up without the wire; see [`DnsHandle::resolve`].
    pub fn resolve(&self, view: View, name: &DomainName, rtype: RecordType) -> Lookup {
        lookup(self, view, name, rtype)
    }
}

impl DnsHandle {
    /// In-process lookup for airlock components that resolve names inside the emulated network
    /// (vantage points, the VPC link's far side) without a socket. Same answers as the wire.
    pub fn resolve(&self, view: View, name: &DomainName, rtype: RecordType) -> Lookup {
        lookup(&self.snapshot(), view, name, rtype)
    }
}

/// Looks a name up in-process, mapping the response to a [`Lookup`].
pub(crate) fn lookup(data: &DnsData, view: View, name: &DomainName, rtype: RecordType) -> Lookup {
    match resolve_name(data, view, &name.to_name(), rtype) {
        None if view == View::Public => Lookup::Refused,
        None => Lookup::NxDomain,
        Some(r) if r.rcode == ResponseCode::NXDomain => Lookup::NxDomain,
        Some(r) if r.answers.is_empty() => Lookup::NoData,
        Some(r) => Lookup::Answer(r.answers),
    }
}

struct Resolution<'a> {
    rcode: ResponseCode,
    answers: Vec<Record>,
    /// The zone whose SOA or NS go to the authority section; `None` when a CNAME chain
    /// leads out of airlock's data.
    zone: Option<&'a ZoneIndex>,
    /// NXDOMAIN or NODATA: the SOA goes to the authority section.
    negative: bool,
}

/// What one zone says about one name.
enum Hit<'z> {
    Records(Vec<&'z Record>),
    Cname(&'z Record),
    NoData,
    NxDomain,
}

/// `None` when no zone of the view contains `qname`.
fn resolve_name<'a>(
    data: &'a DnsData,
    view: View,
    qname: &Name,
    qtype: RecordType,
) -> Option<Resolution<'a>> {
    let mut answers = Vec::new();
    let mut owner = qname.clone();
    for _ in 0..=MAX_CNAME_HOPS {
        let lower = LowerName::new(&owner);
        let Some(zone) = data.zone_for(view, &lower) else {
            if answers.is_empty() {
                return None;
            }
            return Some(Resolution {
                rcode: ResponseCode::NoError,
                answers,
                zone: None,
                negative: false,
            });
        };
        let (rcode, negative) = match zone_lookup(zone, &lower, qtype) {
            Hit::Records(records) => {
                answers.extend(records.into_iter().map(|r| with_owner(r, &owner)));
                (ResponseCode::NoError, false)
            }
            Hit::Cname(record) => {
                answers.push(with_owner(record, &owner));
                if let RData::CNAME(target) = &record.data {
                    owner = target.0.clone();
                    continue;
                }
                (ResponseCode::NoError, false)
            }
            Hit::NoData => (ResponseCode::NoError, true),
            // RFC 6604: after a CNAME chain the rcode describes the last name.
            Hit::NxDomain => (ResponseCode::NXDomain, true),
        };
        return Some(Resolution {
            rcode,
            answers,
            zone: Some(zone),
            negative,
        });
    }
    // Chain too long (or a loop): answer what was followed, as a resolver gives up.
    Some(Resolution {
        rcode: ResponseCode::NoError,
        answers,
        zone: None,
        negative: false,
    })
}

/// Finds `name` (inside `zone`) or, when it does not exist, the wildcard at its closest
/// encloser (RFC 4592): an existing name, even an empty non-terminal, beats the wildcard.
fn zone_lookup<'z>(zone: &'z ZoneIndex, name: &LowerName, qtype: RecordType) -> Hit<'z> {
    if let Some(node) = zone.nodes.get(name) {
        return node_hit(node, qtype);
    }
    let mut encloser = name.base_name();
    while !zone.nodes.contains_key(&encloser) {
        if encloser == zone.apex || encloser.is_root() {
            return Hit::NxDomain;
        }
        encloser = encloser.base_name();
    }
    let Ok(wildcard) = encloser.prepend_label("*") else {
        return Hit::NxDomain;
    };
    match zone.nodes.get(&LowerName::new(&wildcard)) {
        Some(node) => node_hit(node, qtype),
        None => Hit::NxDomain,
    }
}

fn node_hit(node: &Node, qtype: RecordType) -> Hit<'_> {
    if qtype == RecordType::ANY {
        let all: Vec<&Record> = node.rrsets.iter().flat_map(|(_, r)| r).collect();
        return if all.is_empty() {
            Hit::NoData
        } else {
            Hit::Records(all)
        };
    }
    if let Some(records) = node.get(qtype) {
        return Hit::Records(records.iter().collect());
    }
    if let Some([cname, ..]) = node.get(RecordType::CNAME) {
        return Hit::Cname(cname);
    }
    Hit::NoData
}

fn with_owner(record: &Record, owner: &Name) -> Record {
    let mut record = record.clone();
    record.name = owner.clone();
    record
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::model::{RecordData, RecordSet, Zone};

    fn n(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    fn a(owner: &str, last: u8) -> RecordSet {
        RecordSet::new(
            n(owner),
            60,
            RecordData::A(vec![Ipv4Addr::new(10, 0, 0, last)]),
        )
    }

    fn cname(owner: &str, target: &str) -> RecordSet {
        RecordSet::new(n(owner), 300, RecordData::Cname(n(target)))
    }

    fn data() -> DnsData {
        DnsData::new(vec![
            Zone::new(
                n("example.com"),
                false,
                vec![
                    a("www.example.com", 1),
                    cname("alias.example.com", "www.example.com"),
                    cname("out.example.com", "elsewhere.example.org"),
                    cname("dangling.example.com", "gone.deep.example.com"),
                    cname("loop1.example.com", "loop2.example.com"),
                    cname("loop2.example.com", "loop1.example.com"),
                    a("*.example.com", 9),
                    a("x.deep.example.com", 3),
                ],
            )
            .unwrap(),
            Zone::new(n("example.com"), true, vec![a("db.example.com", 5)]).unwrap(),
            Zone::new(
                n("corp.example.com"),
                true,
                vec![a("git.corp.example.com", 6)],
            )
            .unwrap(),
        ])
        .unwrap()
    }

    fn ask(view: View, qname: &str, qtype: RecordType) -> Message {
        let mut query = Message::query();
        query.add_query(Query::query(n(qname).to_name(), qtype));
        answer(&data(), view, &query)
    }

    #[test]
    fn cname_answers_every_type_and_is_followed() {
        let response = ask(View::Public, "alias.example.com", RecordType::A);
        let types: Vec<_> = response.answers.iter().map(Record::record_type).collect();
        assert_eq!(types, [RecordType::CNAME, RecordType::A]);
        assert_eq!(response.answers[1].name, n("www.example.com").to_name());

        let txt = ask(View::Public, "alias.example.com", RecordType::TXT);
        assert_eq!(txt.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            txt.answers.len(),
            1,
            "the CNAME alone, then NODATA at the target"
        );
        assert_eq!(txt.authorities[0].record_type(), RecordType::SOA);

        let own = ask(View::Public, "alias.example.com", RecordType::CNAME);
        assert_eq!(own.answers.len(), 1);
    }

    #[test]
    fn cname_chain_edge_cases() {
        // RFC 6604: the rcode is the last name's.
        let dangling = ask(View::Public, "dangling.example.com", RecordType::A);
        assert_eq!(dangling.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(dangling.answers.len(), 1);
        // Leaving airlock's data: the CNAME alone, no authority.
        let out = ask(View::Public, "out.example.com", RecordType::A);
        assert_eq!(out.metadata.response_code, ResponseCode::NoError);
        assert_eq!(out.answers.len(), 1);
        assert!(out.authorities.is_empty());
        // A loop ends after a bounded number of hops.
        let looped = ask(View::Public, "loop1.example.com", RecordType::A);
        assert_eq!(looped.metadata.response_code, ResponseCode::NoError);
        assert_eq!(looped.answers.len(), MAX_CNAME_HOPS + 1);
    }

    #[test]
    fn wildcard_yields_to_existing_names_including_empty_non_terminals() {
        let wild = ask(View::Public, "anything.example.com", RecordType::A);
        assert_eq!(
            Lookup::Answer(wild.answers).addresses(),
            [IpAddr::from([10, 0, 0, 9])]
        );
        // `deep.example.com` exists (empty non-terminal): NODATA, not the wildcard.
        let ent = ask(View::Public, "deep.example.com", RecordType::A);
        assert_eq!(ent.metadata.response_code, ResponseCode::NoError);
        assert!(ent.answers.is_empty());
        // Below it, the closest encloser is `deep.example.com`, which has no wildcard.
        let below = ask(View::Public, "y.deep.example.com", RecordType::A);
        assert_eq!(below.metadata.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn most_specific_private_zone_wins_in_the_vpc() {
        let git = ask(View::Vpc, "git.corp.example.com", RecordType::A);
        assert_eq!(
            Lookup::Answer(git.answers).addresses(),
            [IpAddr::from([10, 0, 0, 6])]
        );
        // Inside corp.example.com only that zone answers: the public wildcard does not leak in.
        let miss = ask(View::Vpc, "wiki.corp.example.com", RecordType::A);
        assert_eq!(miss.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(miss.authorities[0].name, n("corp.example.com").to_name());
        // Publicly the wildcard answers it.
        let public = ask(View::Public, "wiki.corp.example.com", RecordType::A);
        assert_eq!(public.metadata.response_code, ResponseCode::NoError);
        // The private db name is invisible publicly (wildcard answers instead).
        let db = ask(View::Public, "db.example.com", RecordType::A);
        assert_eq!(
            Lookup::Answer(db.answers).addresses(),
            [IpAddr::from([10, 0, 0, 9])]
        );
    }

    #[test]
    fn apex_answers_soa_ns_and_any() {
        let soa = ask(View::Public, "example.com", RecordType::SOA);
        assert_eq!(soa.answers.len(), 1);
        let ns = ask(View::Vpc, "example.com", RecordType::NS);
        let hosts: Vec<String> = ns.answers.iter().map(|r| r.data.to_string()).collect();
        assert!(
            hosts.contains(&"ns-0.awsdns-00.com.".to_owned()),
            "{hosts:?}"
        );
        let any = ask(View::Public, "www.example.com", RecordType::ANY);
        assert_eq!(any.answers.len(), 1);
    }

    #[test]
    fn malformed_queries() {
        let data = data();
        let mut two = Message::query();
        two.add_query(Query::query(n("www.example.com").to_name(), RecordType::A));
        two.add_query(Query::query(n("www.example.com").to_name(), RecordType::A));
        assert_eq!(
            answer(&data, View::Public, &two).metadata.response_code,
            ResponseCode::FormErr
        );

        let mut notify = Message::new(7, MessageType::Query, OpCode::Notify);
        notify.add_query(Query::query(n("example.com").to_name(), RecordType::SOA));
        assert_eq!(
            answer(&data, View::Public, &notify).metadata.response_code,
            ResponseCode::NotImp
        );

        let mut future = Message::query();
        future.add_query(Query::query(n("www.example.com").to_name(), RecordType::A));
        let mut edns = Edns::new();
        edns.set_version(1);
        future.set_edns(edns);
        let response = answer(&data, View::Public, &future);
        assert_eq!(response.metadata.response_code, ResponseCode::BADVERS);
        assert!(response.edns.is_some());

        let axfr = ask(View::Public, "example.com", RecordType::AXFR);
        assert_eq!(axfr.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn lookup_outcomes() {
        let data = data();
        let get = |view, name: &str, rtype| data.resolve(view, &n(name), rtype);
        assert_eq!(
            get(View::Public, "www.example.com", RecordType::AAAA),
            Lookup::NoData
        );
        assert_eq!(
            get(View::Vpc, "nope.example.com", RecordType::A),
            Lookup::NxDomain
        );
        assert_eq!(
            get(View::Public, "example.net", RecordType::A),
            Lookup::Refused
        );
        assert_eq!(
            get(View::Vpc, "example.net", RecordType::A),
            Lookup::NxDomain
        );
        let via_cname = get(View::Public, "alias.example.com", RecordType::A);
        assert_eq!(via_cname.addresses(), [IpAddr::from([10, 0, 0, 1])]);
    }
}
