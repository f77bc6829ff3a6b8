//! airlock's split-horizon DNS: Route 53 hosted zones (public and private) served over UDP and
//! TCP with hickory-server, plus the same answers in-process.
//!
//! Role: given zones of record sets, answer queries as Route 53 would (docs/aws-rules.md §ALB-6):
//! public zones to everyone, private zones only in the VPC view, with Route 53's SOA, negative
//! answers and flags. The rest of airlock pushes new data through [`DnsHandle::update`] whenever
//! addresses change; answers follow without restart.
//!
//! Architecture invariant: this crate knows zones, records and views, nothing else. It does not
//! know load balancers, gateways, tasks or which addresses are inside the VPC: aliases arrive
//! already resolved into A/AAAA sets, and the caller's [`ViewSelector`] maps a source address
//! to a [`View`].
//!
//! ```
//! use airlock_dns::{DnsHandle, DomainName, Lookup, RecordData, RecordSet, View, Zone};
//! use hickory_proto::rr::RecordType;
//!
//! let name = |s: &str| DomainName::parse(s).expect("valid name");
//! let zone = Zone::new(name("example.com"), false, vec![RecordSet::new(
//!     name("www.example.com"),
//!     60,
//!     RecordData::A(vec![[10, 0, 100, 10].into()]),
//! )])?;
//! let dns = DnsHandle::new(vec![zone])?;
//! let found = dns.resolve(View::Public, &name("WWW.example.com"), RecordType::A);
//! assert_eq!(found.addresses(), vec![std::net::IpAddr::from([10, 0, 100, 10])]);
//! assert_eq!(dns.resolve(View::Public, &name("nope.example.com"), RecordType::A), Lookup::NxDomain);
//! # Ok::<(), airlock_dns::DnsError>(())
//! ```

mod data;
mod model;
mod resolve;
mod server;

/// Log filter directives for a subscriber that shows `info`: hickory-server reports every query
/// it answers at `info` (two lines a query; a million queries made hundreds of megabytes of
/// console output), which belongs at `debug`. This crate's own `dns answer` event carries the
/// same facts at `debug`; hickory's warnings and errors still show.
pub const LOG_DIRECTIVES: &str = "hickory_server::server=warn";

pub use data::{DnsData, DnsHandle};
pub use model::{DomainName, RecordData, RecordSet, View, Zone};
pub use resolve::{Lookup, answer};
pub use server::{DnsRequestHandler, Transport, ViewSelector, serve};

/// Re-exported so callers name record types and messages with the same hickory version.
pub use hickory_proto as proto;

/// Errors building DNS data or serving it.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A name is not a valid DNS name for airlock.
    #[error("invalid DNS name `{name}`: {reason}")]
    InvalidName {
        /// The text given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A record set's name is not inside its zone.
    #[error("record `{record}` is not inside zone `{zone}`")]
    RecordOutsideZone {
        /// The record set's name.
        record: String,
        /// The zone apex.
        zone: String,
    },
    /// Two record sets share a name and a type; Route 53 keeps one set per name and type.
    #[error("two {rtype} record sets for `{name}`; merge their values into one set")]
    DuplicateRecordSet {
        /// The shared name.
        name: String,
        /// The shared type.
        rtype: String,
    },
    /// A CNAME at the zone apex, which DNS forbids (use an alias A record instead).
    #[error("zone `{zone}` has a CNAME at its apex; use an alias (A) record instead")]
    CnameAtApex {
        /// The zone apex.
        zone: String,
    },
    /// A CNAME beside other records of the same name.
    #[error("`{name}` has a CNAME and other records; a CNAME must be alone at its name")]
    CnameConflict {
        /// The name.
        name: String,
    },
    /// Two zones of the same visibility with the same name.
    #[error("two {} zones named `{name}`", if *private { "private" } else { "public" })]
    DuplicateZone {
        /// The zone name.
        name: String,
        /// Whether both are private.
        private: bool,
    },
    /// The server's sockets failed.
    #[error("DNS server failed: {0}")]
    Serve(#[source] hickory_server::net::NetError),
}
