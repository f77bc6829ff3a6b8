//! The whole stack file: one region of one account, one VPC and everything in it, and lookups
//! across services. Values of these types have passed every check in `validate`; code that
//! receives a [`Stack`] from [`crate::parse`] may rely on every reference resolving.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::apigateway::*;
use crate::cognito::*;
use crate::dns::*;
use crate::ecs::*;
use crate::elb::*;
use crate::network::*;
use crate::scalars::{AccountId, Region};

/// A whole stack: one region of one account, one VPC, and everything that runs in it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// The region, e.g. `us-east-1`; appears in generated DNS names.
    pub region: Region,
    /// The 12-digit account id (quote it in YAML).
    pub account_id: AccountId,
    /// The one VPC everything private lives in.
    pub vpc: Vpc,
    /// Places a user or a test can stand inside the cloud.
    #[serde(default)]
    pub vantage_points: VantagePoints,
    /// TLS certificates (ACM stand-ins), issued by airlock's local CA.
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    /// Route 53 hosted zones.
    #[serde(default)]
    pub hosted_zones: Vec<HostedZone>,
    /// API Gateway HTTP APIs.
    #[serde(default)]
    pub http_apis: Vec<HttpApi>,
    /// airlock extension: credentials for `AWS_IAM` routes.
    #[serde(default)]
    pub iam_credentials: Vec<IamCredential>,
    /// airlock extension: Cognito user pools standing in as JWT issuers (see [`UserPool`]).
    #[serde(default)]
    pub user_pools: Vec<UserPool>,
    /// API Gateway custom domain names.
    #[serde(default)]
    pub domain_names: Vec<DomainName>,
    /// API Gateway VPC links (V2).
    #[serde(default)]
    pub vpc_links: Vec<VpcLink>,
    /// Application load balancers.
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancer>,
    /// ALB target groups.
    #[serde(default)]
    pub target_groups: Vec<TargetGroup>,
    /// ECS clusters.
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    /// ECS task definitions (one revision each).
    #[serde(default)]
    pub task_definitions: Vec<TaskDefinition>,
    /// ECS services.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Redirects container images (e.g. an ECR URI of a task definition kept in a repository) to
    /// a built-in app, a local command or a local image, so the task definition runs unchanged.
    /// Keys are image names; a key without a tag or digest matches every tag of that repository.
    #[serde(default)]
    pub image_map: BTreeMap<String, ImageTarget>,
}

impl Stack {
    /// The subnet named `name`.
    pub fn subnet(&self, name: &str) -> Option<&Subnet> {
        self.vpc.subnets.iter().find(|s| s.name == name)
    }

    /// The security group named `name`.
    pub fn security_group(&self, name: &str) -> Option<&SecurityGroup> {
        self.vpc
            .security_groups
            .iter()
            .find(|g| g.group_name == name)
    }

    /// The certificate named `name`.
    pub fn certificate(&self, name: &str) -> Option<&Certificate> {
        self.certificates.iter().find(|c| c.name == name)
    }

    /// The user pool named `name`.
    pub fn user_pool(&self, name: &str) -> Option<&UserPool> {
        self.user_pools.iter().find(|p| p.name == name)
    }

    /// The user pool whose tokens carry `issuer` as `iss`.
    pub fn user_pool_by_issuer(&self, issuer: &str) -> Option<&UserPool> {
        let (account, region) = (self.account_id.as_str(), self.region.as_str());
        self.user_pools
            .iter()
            .find(|p| p.issuer(account, region) == issuer)
    }

    /// The HTTP API named `name`.
    pub fn http_api(&self, name: &str) -> Option<&HttpApi> {
        self.http_apis.iter().find(|a| a.name == name)
    }

    /// The custom domain named `domain_name` (case-insensitive).
    pub fn domain_name(&self, domain_name: &str) -> Option<&DomainName> {
        self.domain_names
            .iter()
            .find(|d| d.domain_name.eq_ignore_ascii_case(domain_name))
    }

    /// The VPC link named `name`.
    pub fn vpc_link(&self, name: &str) -> Option<&VpcLink> {
        self.vpc_links.iter().find(|l| l.name == name)
    }

    /// The load balancer named `name`.
    pub fn load_balancer(&self, name: &str) -> Option<&LoadBalancer> {
        self.load_balancers.iter().find(|l| l.name == name)
    }

    /// The listener a private integration points at.
    pub fn listener(&self, target: &crate::ListenerRef) -> Option<&Listener> {
        self.load_balancer(&target.load_balancer)?
            .listener(target.port)
    }

    /// The target group named `name`.
    pub fn target_group(&self, name: &str) -> Option<&TargetGroup> {
        self.target_groups.iter().find(|t| t.name == name)
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.cluster_name == name)
    }

    /// The task definition of family `family`.
    pub fn task_definition(&self, family: &str) -> Option<&TaskDefinition> {
        self.task_definitions.iter().find(|t| t.family == family)
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.service_name == name)
    }

    /// The hosted zone named `name` with the given visibility.
    pub fn hosted_zone(&self, name: &str, private_zone: bool) -> Option<&HostedZone> {
        self.hosted_zones.iter().find(|z| {
            z.private_zone == private_zone
                && z.name
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(name.trim_end_matches('.'))
        })
    }

    /// The services whose tasks register in target group `name`, with the attachment.
    pub fn services_in_target_group<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a Service, &'a ServiceLoadBalancer)> + 'a {
        self.services.iter().flat_map(move |s| {
            s.load_balancers
                .iter()
                .filter(move |lb| lb.target_group == name)
                .map(move |lb| (s, lb))
        })
    }
}
