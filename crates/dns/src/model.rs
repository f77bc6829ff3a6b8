//! The data callers hand to the DNS server: zones of record sets, and the two views.
//!
//! Everything here is parsed on construction ([`DomainName::parse`], [`Zone::new`]) so the
//! answering code never meets a malformed name, a record outside its zone or a CNAME that
//! shares its name with other data.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use hickory_proto::rr::{LowerName, Name, RecordType};

use crate::DnsError;

/// Which side of the VPC boundary a query comes from (docs/aws-rules.md §ALB-6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// The internet: only public zones answer, as Route 53's authoritative servers do.
    Public,
    /// Inside the VPC, at the Route 53 Resolver (VPC base + 2): private zones first, then public.
    Vpc,
}

/// A fully qualified, lowercase DNS name.
///
/// Route 53 stores names lowercase (docs/aws-rules.md §ALB-6.1), so equality here is case-insensitive by
/// construction. A `*` label is allowed only as the whole leftmost label (a wildcard).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(LowerName);

impl DomainName {
    /// Parses `example.com` or `example.com.` (the trailing dot is optional).
    pub fn parse(text: &str) -> Result<Self, DnsError> {
        let invalid = |reason: &str| DnsError::InvalidName {
            name: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        if trimmed.is_empty() {
            return Err(invalid(
                "the name is empty (the root zone is not supported)",
            ));
        }
        let mut name = Name::from_ascii(trimmed).map_err(|e| invalid(&e.to_string()))?;
        name.set_fqdn(true);
        if name.iter().skip(1).any(|label| label == b"*") {
            return Err(invalid(
                "`*` is only allowed as the whole leftmost label (a wildcard)",
            ));
        }
        Ok(Self(LowerName::new(&name)))
    }

    /// True for `*.something`.
    pub fn is_wildcard(&self) -> bool {
        self.0.is_wildcard()
    }

    /// True when `self` equals `other` or is one of its parents.
    pub fn is_zone_of(&self, other: &Self) -> bool {
        self.0.zone_of(&other.0)
    }

    /// The hickory form of the name (lowercase, fully qualified).
    pub fn to_name(&self) -> Name {
        Name::from(&self.0)
    }

    pub(crate) fn lower(&self) -> &LowerName {
        &self.0
    }
}

impl FromStr for DomainName {
    type Err = DnsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainName({})", self.0)
    }
}

/// The values of one record set; the variant is the record type.
///
/// One enum rather than a type tag beside a list of values, so an `A` set holding a CNAME
/// target cannot be built. Alias records arrive here already resolved by the caller, as
/// `A`/`AAAA` sets with TTL 60 (docs/aws-rules.md §ALB-6.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordData {
    /// IPv4 addresses.
    A(Vec<Ipv4Addr>),
    /// IPv6 addresses.
    Aaaa(Vec<Ipv6Addr>),
    /// A canonical name; answers queries of every type (docs/aws-rules.md §ALB-6.3).
    Cname(DomainName),
    /// Text values, one per record; values longer than 255 bytes are sent as several
    /// character-strings of one record, as RFC 1035 requires.
    Txt(Vec<String>),
}

impl RecordData {
    /// The DNS record type of these values.
    pub fn rtype(&self) -> RecordType {
        match self {
            Self::A(_) => RecordType::A,
            Self::Aaaa(_) => RecordType::AAAA,
            Self::Cname(_) => RecordType::CNAME,
            Self::Txt(_) => RecordType::TXT,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::A(v) => v.is_empty(),
            Self::Aaaa(v) => v.is_empty(),
            Self::Cname(_) => false,
            Self::Txt(v) => v.is_empty(),
        }
    }
}

/// All records of one name and one type, as a Route 53 resource record set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSet {
    /// Owner name; must lie inside the zone. May be a wildcard (`*.example.com`).
    pub name: DomainName,
    /// Time to live in seconds.
    pub ttl: u32,
    /// The values, typed.
    pub data: RecordData,
}

impl RecordSet {
    /// A record set; see the field docs.
    pub fn new(name: DomainName, ttl: u32, data: RecordData) -> Self {
        Self { name, ttl, data }
    }

    /// The record type of this set.
    pub fn rtype(&self) -> RecordType {
        self.data.rtype()
    }

    /// True when the set holds no values. Such a set makes its name exist (queries for it get
    /// NODATA rather than NXDOMAIN) but answers nothing; an alias to a load balancer that has
    /// momentarily no node address is the case this exists for.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A hosted zone: its apex name, whether it is private (VPC-only) and its record sets.
///
/// The SOA and NS records are synthesised (docs/aws-rules.md §ALB-6.1); callers do not supply them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    name: DomainName,
    private: bool,
    records: Vec<RecordSet>,
}

impl Zone {
    /// Checks the zone as Route 53 would refuse a change batch: every record inside the zone,
    /// one set per name and type, no CNAME at the apex, no CNAME beside other data.
    pub fn new(name: DomainName, private: bool, records: Vec<RecordSet>) -> Result<Self, DnsError> {
        if name.is_wildcard() {
            return Err(DnsError::InvalidName {
                name: name.to_string(),
                reason: "a zone name cannot be a wildcard".to_owned(),
            });
        }
        for (i, set) in records.iter().enumerate() {
            if !name.is_zone_of(&set.name) {
                return Err(DnsError::RecordOutsideZone {
                    record: set.name.to_string(),
                    zone: name.to_string(),
                });
            }
            if set.rtype() == RecordType::CNAME && set.name == name {
                return Err(DnsError::CnameAtApex {
                    zone: name.to_string(),
                });
            }
            for other in &records[..i] {
                if other.name != set.name {
                    continue;
                }
                if other.rtype() == set.rtype() {
                    return Err(DnsError::DuplicateRecordSet {
                        name: set.name.to_string(),
                        rtype: set.rtype().to_string(),
                    });
                }
                if other.rtype() == RecordType::CNAME || set.rtype() == RecordType::CNAME {
                    return Err(DnsError::CnameConflict {
                        name: set.name.to_string(),
                    });
                }
            }
        }
        Ok(Self {
            name,
            private,
            records,
        })
    }

    /// The zone apex.
    pub fn name(&self) -> &DomainName {
        &self.name
    }

    /// True for a private hosted zone (answered only in [`View::Vpc`]).
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// The record sets, as given (without the synthesised SOA and NS).
    pub fn records(&self) -> &[RecordSet] {
        &self.records
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn n(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    #[test]
    fn names_are_case_insensitive_and_trailing_dot_optional() {
        assert_eq!(n("Example.COM"), n("example.com."));
        assert_eq!(n("Example.COM").to_string(), "example.com.");
    }

    #[test]
    fn wildcard_only_leftmost() {
        assert!(n("*.example.com").is_wildcard());
        assert!(DomainName::parse("a.*.example.com").is_err());
        assert!(DomainName::parse("").is_err());
        assert!(DomainName::parse(".").is_err());
    }

    #[test]
    fn zone_refuses_inconsistent_data() {
        let a = |name: &str| RecordSet::new(n(name), 60, RecordData::A(vec![Ipv4Addr::LOCALHOST]));
        let cname = |name: &str| RecordSet::new(n(name), 60, RecordData::Cname(n("x.example.org")));
        let zone = |records| Zone::new(n("example.com"), false, records);
        assert!(matches!(
            zone(vec![a("www.example.org")]),
            Err(DnsError::RecordOutsideZone { .. })
        ));
        assert!(matches!(
            zone(vec![a("www.example.com"), a("WWW.example.com")]),
            Err(DnsError::DuplicateRecordSet { .. })
        ));
        assert!(matches!(
            zone(vec![cname("example.com")]),
            Err(DnsError::CnameAtApex { .. })
        ));
        assert!(matches!(
            zone(vec![a("w.example.com"), cname("w.example.com")]),
            Err(DnsError::CnameConflict { .. })
        ));
        assert!(
            zone(vec![
                a("example.com"),
                a("*.example.com"),
                cname("w.example.com")
            ])
            .is_ok()
        );
    }
}
