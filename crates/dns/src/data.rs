//! The compiled, immutable answer data and the handle that swaps it at run time.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, RwLock};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use crate::DnsError;
use crate::model::{DomainName, RecordData, View, Zone};

/// SOA timers and TTL of every zone, as Route 53 creates them (docs/aws-rules.md §ALB-6.1):
/// `ns-2048.awsdns-64.net. hostmaster.<zone>. 1 7200 900 1209600 86400`, TTL 900.
const SOA_MNAME: &str = "ns-2048.awsdns-64.net.";
const SOA_SERIAL: u32 = 1;
const SOA_REFRESH: i32 = 7200;
const SOA_RETRY: i32 = 900;
const SOA_EXPIRE: i32 = 1_209_600;
const SOA_MINIMUM: u32 = 86_400;
const SOA_TTL: u32 = 900;
/// Route 53's default TTL for the NS record set of a hosted zone.
const NS_TTL: u32 = 172_800;
/// Name servers Route 53 shows for a public zone (one per TLD, docs/aws-rules.md §ALB-6.1).
const PUBLIC_NS: [&str; 4] = [
    "ns-2048.awsdns-64.com.",
    "ns-2048.awsdns-64.net.",
    "ns-2048.awsdns-64.org.",
    "ns-2048.awsdns-64.co.uk.",
];
/// Name servers Route 53 shows for a private zone (docs/aws-rules.md §ALB-6.1).
const PRIVATE_NS: [&str; 4] = [
    "ns-0.awsdns-00.com.",
    "ns-512.awsdns-00.net.",
    "ns-1024.awsdns-00.org.",
    "ns-1536.awsdns-00.co.uk.",
];
/// RFC 1035 limit of one character-string.
const TXT_CHUNK: usize = 255;

/// One name in a zone: its record sets, or none at all for an empty non-terminal (a name that
/// exists only because names below it do, which answers NODATA rather than NXDOMAIN).
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub(crate) rrsets: Vec<(RecordType, Vec<Record>)>,
}

impl Node {
    pub(crate) fn get(&self, rtype: RecordType) -> Option<&[Record]> {
        self.rrsets
            .iter()
            .find(|(t, _)| *t == rtype)
            .map(|(_, records)| records.as_slice())
    }
}

/// A zone compiled for lookups.
#[derive(Debug)]
pub(crate) struct ZoneIndex {
    pub(crate) apex: LowerName,
    pub(crate) soa: Record,
    pub(crate) ns: Vec<Record>,
    pub(crate) nodes: HashMap<LowerName, Node>,
}

impl ZoneIndex {
    fn compile(zone: &Zone) -> Result<Self, DnsError> {
        let apex_name = zone.name().to_name();
        let apex = zone.name().lower().clone();
        let soa = Record::from_rdata(apex_name.clone(), SOA_TTL, RData::SOA(soa_for(zone)?));
        let ns_hosts = if zone.is_private() {
            PRIVATE_NS
        } else {
            PUBLIC_NS
        };
        let ns = ns_hosts
            .iter()
            .map(|host| {
                Ok(Record::from_rdata(
                    apex_name.clone(),
                    NS_TTL,
                    RData::NS(NS(constant_name(host)?)),
                ))
            })
            .collect::<Result<Vec<_>, DnsError>>()?;

        let mut nodes: HashMap<LowerName, Node> = HashMap::new();
        nodes.entry(apex.clone()).or_default().rrsets.extend([
            (RecordType::SOA, vec![soa.clone()]),
            (RecordType::NS, ns.clone()),
        ]);
        for set in zone.records() {
            let owner = set.name.to_name();
            let records: Vec<Record> = match &set.data {
                RecordData::A(ips) => ips
                    .iter()
                    .map(|ip| Record::from_rdata(owner.clone(), set.ttl, RData::A(A(*ip))))
                    .collect(),
                RecordData::Aaaa(ips) => ips
                    .iter()
                    .map(|ip| Record::from_rdata(owner.clone(), set.ttl, RData::AAAA(AAAA(*ip))))
                    .collect(),
                RecordData::Cname(target) => vec![Record::from_rdata(
                    owner.clone(),
                    set.ttl,
                    RData::CNAME(CNAME(target.to_name())),
                )],
                RecordData::Txt(values) => values
                    .iter()
                    .map(|v| Record::from_rdata(owner.clone(), set.ttl, RData::TXT(txt(v))))
                    .collect(),
            };
            let node = nodes.entry(set.name.lower().clone()).or_default();
            if !records.is_empty() {
                node.rrsets.push((set.rtype(), records));
            }
            // Every ancestor up to the apex exists too (empty non-terminals, RFC 4592 §2.2.2).
            let mut parent = set.name.lower().base_name();
            while parent != apex && apex.zone_of(&parent) {
                nodes.entry(parent.clone()).or_default();
                parent = parent.base_name();
            }
        }
        Ok(Self {
            apex,
            soa,
            ns,
            nodes,
        })
    }
}

fn soa_for(zone: &Zone) -> Result<SOA, DnsError> {
    let rname = zone
        .name()
        .to_name()
        .prepend_label("hostmaster")
        .map_err(|e| DnsError::InvalidName {
            name: format!("hostmaster.{}", zone.name()),
            reason: e.to_string(),
        })?;
    Ok(SOA::new(
        constant_name(SOA_MNAME)?,
        rname,
        SOA_SERIAL,
        SOA_REFRESH,
        SOA_RETRY,
        SOA_EXPIRE,
        SOA_MINIMUM,
    ))
}

fn constant_name(text: &str) -> Result<Name, DnsError> {
    Ok(DomainName::parse(text)?.to_name())
}

fn txt(value: &str) -> TXT {
    let chunks: Vec<&[u8]> = if value.is_empty() {
        vec![b""]
    } else {
        value.as_bytes().chunks(TXT_CHUNK).collect()
    };
    TXT::from_bytes(chunks)
}

/// Every zone airlock serves, compiled for answering. Immutable: updates build a new one.
#[derive(Debug, Default)]
pub struct DnsData {
    zones: Vec<Zone>,
    public: HashMap<LowerName, ZoneIndex>,
    private: HashMap<LowerName, ZoneIndex>,
}

impl DnsData {
    /// Compiles `zones`. Two public (or two private) zones with the same name are refused:
    /// Route 53 allows them, but only one can be delegated, so the second would never answer.
    pub fn new(zones: Vec<Zone>) -> Result<Self, DnsError> {
        let mut public = HashMap::new();
        let mut private = HashMap::new();
        for zone in &zones {
            let map = if zone.is_private() {
                &mut private
            } else {
                &mut public
            };
            match map.entry(zone.name().lower().clone()) {
                Entry::Occupied(_) => {
                    return Err(DnsError::DuplicateZone {
                        name: zone.name().to_string(),
                        private: zone.is_private(),
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(ZoneIndex::compile(zone)?);
                }
            }
        }
        Ok(Self {
            zones,
            public,
            private,
        })
    }

    /// The zones as given, for status pages.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// The zone that answers `name` in `view` (docs/aws-rules.md §ALB-6.2): in the VPC, the most specific private
    /// zone that equals or contains the name, and only it; otherwise the most specific public one.
    pub(crate) fn zone_for(&self, view: View, name: &LowerName) -> Option<&ZoneIndex> {
        if view == View::Vpc
            && let Some(zone) = most_specific(&self.private, name)
        {
            return Some(zone);
        }
        most_specific(&self.public, name)
    }
}

fn most_specific<'a>(
    zones: &'a HashMap<LowerName, ZoneIndex>,
    name: &LowerName,
) -> Option<&'a ZoneIndex> {
    if zones.is_empty() {
        return None;
    }
    let mut candidate = name.clone();
    loop {
        if let Some(zone) = zones.get(&candidate) {
            return Some(zone);
        }
        if candidate.is_root() {
            return None;
        }
        candidate = candidate.base_name();
    }
}

/// A cheap, clonable handle on the live DNS data.
///
/// Readers take an `Arc` snapshot under a lock held only for the pointer copy (never across an
/// await); [`DnsHandle::update`] swaps in a new snapshot atomically, so each query sees either
/// the old data or the new, never a mix, and no restart is needed.
#[derive(Clone, Debug, Default)]
pub struct DnsHandle {
    current: Arc<RwLock<Arc<DnsData>>>,
}

impl DnsHandle {
    /// A handle serving `zones`.
    pub fn new(zones: Vec<Zone>) -> Result<Self, DnsError> {
        Ok(Self {
            current: Arc::new(RwLock::new(Arc::new(DnsData::new(zones)?))),
        })
    }

    /// Replaces all zones at once. On error the previous data keeps answering.
    pub fn update(&self, zones: Vec<Zone>) -> Result<(), DnsError> {
        let data = Arc::new(DnsData::new(zones)?);
        // A poisoned lock only means a writer panicked between two pointer writes; the Arc
        // inside is still a complete snapshot, so keep going.
        let mut slot = self.current.write().unwrap_or_else(|e| e.into_inner());
        *slot = data;
        Ok(())
    }

    /// The data as of now.
    pub fn snapshot(&self) -> Arc<DnsData> {
        let slot = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&slot)
    }
}
