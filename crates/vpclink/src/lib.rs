//! airlock-vpclink: the VPC link, a mutual-TLS tunnel that only the API Gateway may use.
//!
//! In AWS a VPC link is a set of network interfaces that API Gateway places in your subnets; its
//! private-integration traffic leaves from those interfaces, subject to their security groups
//! (docs/aws-rules.md §HTTP-7, §HTTP-4.3). airlock models the hop between the gateway and those interfaces as one
//! pooled, multiplexed connection, the way Istio's HBONE carries mesh traffic:
//!
//! - [`LinkClient`] (the gateway's side) keeps ONE mutual-TLS HTTP/2 connection to the link
//!   endpoint, opened lazily and re-opened when it dies, and carries each
//!   [`LinkClient::open`] as an HTTP/2 `CONNECT` stream to a private `ip:port`.
//! - The endpoint ([`Endpoint`], [`serve`]) is the link's far side. It admits a client only if its
//!   certificate chains to airlock's CA *and* names the API Gateway identity of this link
//!   ([`authorize`]); anything else is refused with a logged [`Refusal`] before a byte is
//!   forwarded. Admitted tunnels are dialed from the link's own interfaces through the emulated
//!   network, so security groups apply exactly as for the real ENIs, and only to addresses inside
//!   the VPC while the link is [`LinkState::Available`].
//!
//! Architecture invariant: this crate moves bytes from the gateway to a private address, for the
//! gateway only. It does not know HTTP APIs, routes, integrations, load balancers or tasks: what
//! travels inside a tunnel is opaque to it, and where a tunnel goes is the caller's choice.

mod client;
mod endpoint;
mod policy;
mod stream;

pub use client::{ClientConfig, ClientSetupError, LinkClient, LinkError, LinkStream};
pub use endpoint::{Endpoint, EndpointConfig, EndpointError, LocalEndpoint, StatsSnapshot, serve};
pub use policy::{Refusal, TunnelError, authorize};

use std::fmt;

/// Response header by which the endpoint names why it did not open a tunnel (a
/// [`TunnelError::code`]), for the gateway's logs.
pub const LINK_ERROR_HEADER: &str = "x-airlock-link-error";

/// Request header by which the gateway's side tells the endpoint which request a `CONNECT`
/// serves (its trace root, `airlock_net::trace`), so the endpoint's dial joins that request's
/// trace. The link's wire protocol is airlock's own: AWS's is not observable.
pub const LINK_TRACE_HEADER: &str = "x-airlock-trace";

/// A VPC link's status, as `VpcLinkStatus` reports it (docs/aws-rules.md §HTTP-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// The link's interfaces are being created; nothing passes yet.
    Pending,
    /// The link carries traffic.
    Available,
    /// The link could not be created (invalid subnets or security groups).
    Failed,
    /// The link is being deleted.
    Deleting,
    /// The link's interfaces were removed after 60 idle days.
    Inactive,
}

impl LinkState {
    /// The status string AWS uses, e.g. `AVAILABLE`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Pending => "PENDING",
            LinkState::Available => "AVAILABLE",
            LinkState::Failed => "FAILED",
            LinkState::Deleting => "DELETING",
            LinkState::Inactive => "INACTIVE",
        }
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
