//! Physical ids and attributes in AWS's shapes (`vpc-…`, `subnet-…`, ARNs with region and
//! account, a 10-character API id, `internal-NAME-ID.REGION.elb.amazonaws.com`), made up from
//! the stack name, region, account and logical id, so the same template gives the same ids on
//! every run. The shapes are those of each type's "Return values" section in the resource
//! reference (the pages named in [`super::types`]).

use crate::position::Location;

use super::node::{Node, Value};

/// How many Availability Zones `Fn::GetAZs` returns for a region. Real regions have from two to
/// six; three is what most regions have and what templates written for "any region" assume.
pub const AVAILABILITY_ZONES_PER_REGION: usize = 3;

const HEX: &[u8] = b"0123456789abcdef";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const MIXED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// What a resource is known by once created: the value `Ref` returns and the attributes
/// `Fn::GetAtt` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Physical {
    /// What `Ref` returns.
    pub id: String,
    /// Attribute name → value.
    pub attributes: Vec<(String, Value)>,
}

/// The seed of every made-up id: where the stack lives and what it is called.
#[derive(Debug, Clone)]
pub struct Ids {
    /// The stack's name.
    pub stack_name: String,
    /// The region.
    pub region: String,
    /// The 12-digit account id.
    pub account_id: String,
}

impl Ids {
    /// The partition of the region ("Pseudo parameters reference", `AWS::Partition`).
    pub fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    /// The domain suffix of the region ("Pseudo parameters reference", `AWS::URLSuffix`).
    pub fn url_suffix(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        }
    }

    /// `AWS::StackId`: `arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID`.
    pub fn stack_id(&self) -> String {
        format!(
            "arn:{}:cloudformation:{}:{}:stack/{}/{}",
            self.partition(),
            self.region,
            self.account_id,
            self.stack_name,
            self.uuid("stack")
        )
    }

    /// The region's Availability Zones, as `Fn::GetAZs` returns them (`us-east-1a`, …).
    pub fn zones(&self) -> Vec<String> {
        (0..AVAILABILITY_ZONES_PER_REGION)
            .map(|i| format!("{}{}", self.region, char::from(b'a' + i as u8)))
            .collect()
    }

    /// The zone id of `zone` (`use1-az1` for `us-east-1a`).
    fn zone_id(&self, zone: &str) -> String {
        let letter = zone.chars().last().unwrap_or('a');
        let n = u32::from(letter).saturating_sub(u32::from('a')) + 1;
        let mut short = String::new();
        for part in self.region.split('-') {
            match part {
                "northeast" => short.push_str("ne"),
                "southeast" => short.push_str("se"),
                "northwest" => short.push_str("nw"),
                "southwest" => short.push_str("sw"),
                p if p.chars().all(|c| c.is_ascii_digit()) => short.push_str(p),
                p if short.is_empty() => short.push_str(p),
                p => short.extend(p.chars().next()),
            }
        }
        format!("{short}-az{n}")
    }

    /// A made-up id for an AWS-specific parameter given no value (`vpc-…` for
    /// `AWS::EC2::VPC::Id`); `index` tells list items apart.
    pub fn parameter_id(&self, parameter: &str, type_name: &str, index: usize) -> String {
        let seed = format!("parameter/{parameter}/{index}");
        match type_name {
            "AWS::EC2::VPC::Id" => format!("vpc-{}", self.draw(&seed, HEX, 17)),
            "AWS::EC2::Subnet::Id" => format!("subnet-{}", self.draw(&seed, HEX, 17)),
            "AWS::EC2::SecurityGroup::Id" => format!("sg-{}", self.draw(&seed, HEX, 17)),
            "AWS::EC2::Image::Id" => format!("ami-{}", self.draw(&seed, HEX, 17)),
            "AWS::EC2::Instance::Id" => format!("i-{}", self.draw(&seed, HEX, 17)),
            "AWS::EC2::Volume::Id" => format!("vol-{}", self.draw(&seed, HEX, 17)),
            "AWS::Route53::HostedZone::Id" => format!("Z{}", self.draw(&seed, UPPER, 20)),
            "AWS::EC2::AvailabilityZone::Name" => {
                let zones = self.zones();
                zones[index % zones.len()].clone()
            }
            _ => format!("{parameter}-{}", self.draw(&seed, LOWER, 8)),
        }
    }

    /// `n` characters of `alphabet`, drawn from a stream seeded by the stack and `seed`.
    fn draw(&self, seed: &str, alphabet: &[u8], n: usize) -> String {
        let mut state = fnv1a(&[&self.stack_name, &self.region, &self.account_id, seed]);
        (0..n)
            .map(|_| {
                state = splitmix64(state);
                char::from(alphabet[(state % alphabet.len() as u64) as usize])
            })
            .collect()
    }

    fn uuid(&self, seed: &str) -> String {
        let h = self.draw(seed, HEX, 32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    /// A name CloudFormation would generate: `STACK-LOGICALID-SUFFIX`, the first two parts
    /// shortened to fit `max` characters.
    fn generated_name(&self, logical_id: &str, max: usize, suffix_len: usize) -> String {
        let suffix = self.draw(&format!("{logical_id}/name"), UPPER, suffix_len);
        let budget = max.saturating_sub(suffix_len + 2);
        let stack: String = self.stack_name.chars().take(budget / 2).collect();
        let logical: String = logical_id
            .chars()
            .take(budget - stack.chars().count())
            .collect();
        format!("{stack}-{logical}-{suffix}")
    }

    /// The name of an HTTP API (`AWS::ApiGatewayV2::Api` or SAM's `AWS::Serverless::HttpApi`):
    /// its `Name`, or the one CloudFormation generates. The API id is made from it, and the
    /// translation names the stack's API with it, so the two agree.
    pub(crate) fn api_name(&self, logical_id: &str, name: Option<String>) -> String {
        name.unwrap_or_else(|| self.generated_name(logical_id, 128, 13))
    }

    fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{rest}",
            self.partition(),
            self.region,
            self.account_id
        )
    }

    /// The physical id and attributes of resource `logical_id` of `type_name`, whose resolved
    /// properties are `props`.
    pub fn physical(&self, logical_id: &str, type_name: &str, props: Option<&Node>) -> Physical {
        let prop = |key: &str| props.and_then(|p| p.get(key)).and_then(Node::scalar_text);
        let hex17 = |what: &str| self.draw(&format!("{logical_id}/{what}"), HEX, 17);
        let draw = |what: &str, alphabet: &[u8], n: usize| {
            self.draw(&format!("{logical_id}/{what}"), alphabet, n)
        };
        let (region, suffix) = (&self.region, self.url_suffix());
        let mut attributes: Vec<(&str, Value)> = Vec::new();
        let id = match type_name {
            "AWS::EC2::VPC" => {
                let id = format!("vpc-{}", hex17("id"));
                attributes = vec![
                    ("VpcId", text(&id)),
                    ("CidrBlock", text(&prop("CidrBlock").unwrap_or_default())),
                    (
                        "CidrBlockAssociations",
                        list(vec![format!("vpc-cidr-assoc-{}", hex17("assoc"))]),
                    ),
                    ("DefaultNetworkAcl", text(&format!("acl-{}", hex17("acl")))),
                    ("DefaultSecurityGroup", text(&format!("sg-{}", hex17("sg")))),
                    ("Ipv6CidrBlocks", list(Vec::new())),
                ];
                id
            }
            "AWS::EC2::Subnet" => {
                let id = format!("subnet-{}", hex17("id"));
                let zone = prop("AvailabilityZone").unwrap_or_else(|| self.zones()[0].clone());
                attributes = vec![
                    ("SubnetId", text(&id)),
                    ("AvailabilityZoneId", text(&self.zone_id(&zone))),
                    ("AvailabilityZone", text(&zone)),
                    ("CidrBlock", text(&prop("CidrBlock").unwrap_or_default())),
                    ("Ipv6CidrBlocks", list(Vec::new())),
                    (
                        "NetworkAclAssociationId",
                        text(&format!("aclassoc-{}", hex17("acl"))),
                    ),
                    ("OutpostArn", text("")),
                    ("VpcId", text(&prop("VpcId").unwrap_or_default())),
                ];
                id
            }
            "AWS::EC2::SecurityGroup" => {
                let group_id = format!("sg-{}", hex17("id"));
                let name =
                    prop("GroupName").unwrap_or_else(|| self.generated_name(logical_id, 255, 13));
                attributes = vec![
                    ("GroupId", text(&group_id)),
                    ("Id", text(&group_id)),
                    ("VpcId", text(&prop("VpcId").unwrap_or_default())),
                ];
                // A group outside any VPC is referred to by name ("Return values", Ref).
                if prop("VpcId").is_some() {
                    group_id
                } else {
                    name
                }
            }
            "AWS::EC2::SecurityGroupIngress" | "AWS::EC2::SecurityGroupEgress" => {
                let id = format!("sgr-{}", hex17("id"));
                attributes = vec![("Id", text(&id))];
                id
            }
            "AWS::ApiGatewayV2::Api" => {
                // The id airlock's runtime gives an API of this name, so that the converted
                // stack serves the id the template's outputs show.
                let name = self.api_name(logical_id, prop("Name"));
                let id = crate::ids::api_id(&self.account_id, &name);
                let scheme = if prop("ProtocolType").as_deref() == Some("WEBSOCKET") {
                    "wss"
                } else {
                    "https"
                };
                attributes = vec![
                    ("ApiId", text(&id)),
                    (
                        "ApiEndpoint",
                        text(&format!("{scheme}://{id}.execute-api.{region}.{suffix}")),
                    ),
                ];
                id
            }
            "AWS::ApiGatewayV2::Route" => self.short_id(logical_id, "RouteId", 7, &mut attributes),
            "AWS::ApiGatewayV2::Integration" => {
                self.short_id(logical_id, "IntegrationId", 7, &mut attributes)
            }
            "AWS::ApiGatewayV2::Authorizer" => {
                self.short_id(logical_id, "AuthorizerId", 7, &mut attributes)
            }
            "AWS::ApiGatewayV2::Deployment" => {
                self.short_id(logical_id, "DeploymentId", 7, &mut attributes)
            }
            "AWS::ApiGatewayV2::VpcLink" => {
                self.short_id(logical_id, "VpcLinkId", 6, &mut attributes)
            }
            "AWS::ApiGatewayV2::ApiMapping" => {
                self.short_id(logical_id, "ApiMappingId", 6, &mut attributes)
            }
            "AWS::ApiGatewayV2::Stage" => {
                let name = prop("StageName").unwrap_or_else(|| "$default".to_owned());
                attributes = vec![("Id", text(&name))];
                name
            }
            "AWS::ApiGatewayV2::DomainName" => {
                // Required; a generated name stands in only when evaluation failed before it.
                let name = prop("DomainName")
                    .unwrap_or_else(|| self.generated_name(logical_id, 253, 13).to_lowercase());
                attributes = vec![
                    (
                        "RegionalDomainName",
                        text(&format!(
                            "d-{}.execute-api.{region}.{suffix}",
                            draw("regional", LOWER, 10)
                        )),
                    ),
                    (
                        "RegionalHostedZoneId",
                        text(&self.service_zone("execute-api")),
                    ),
                    (
                        "DomainNameArn",
                        text(&format!(
                            "arn:{}:apigateway:{region}::/domainnames/{name}",
                            self.partition()
                        )),
                    ),
                ];
                name
            }
            "AWS::ElasticLoadBalancingV2::LoadBalancer" => {
                let name = prop("Name").unwrap_or_else(|| self.generated_name(logical_id, 32, 12));
                let kind = match prop("Type").as_deref() {
                    Some("network") => "net",
                    Some("gateway") => "gwy",
                    _ => "app",
                };
                // The id and DNS digits airlock's runtime gives a load balancer of this name.
                let full = format!(
                    "{kind}/{name}/{}",
                    crate::ids::load_balancer_id(&self.account_id, &name)
                );
                let arn = self.arn("elasticloadbalancing", &format!("loadbalancer/{full}"));
                let internal = if prop("Scheme").as_deref() == Some("internal") {
                    "internal-"
                } else {
                    ""
                };
                let dns = if kind == "app" {
                    // Application Load Balancers: NAME-DIGITS.REGION.elb.amazonaws.com.
                    let digits = crate::ids::load_balancer_number(&self.account_id, &name);
                    format!("{internal}{name}-{digits}.{region}.elb.{suffix}")
                } else {
                    format!(
                        "{internal}{name}-{}.elb.{region}.{suffix}",
                        draw("dns", HEX, 16)
                    )
                };
                let groups = props
                    .and_then(|p| p.get("SecurityGroups"))
                    .and_then(Node::as_list)
                    .map(|l| l.iter().filter_map(Node::scalar_text).collect())
                    .unwrap_or_default();
                attributes = vec![
                    ("LoadBalancerArn", text(&arn)),
                    ("LoadBalancerFullName", text(&full)),
                    ("LoadBalancerName", text(&name)),
                    ("DNSName", text(&dns)),
                    ("CanonicalHostedZoneID", text(&self.service_zone("elb"))),
                    ("SecurityGroups", list(groups)),
                ];
                arn
            }
            "AWS::ElasticLoadBalancingV2::Listener" => {
                let balancer = prop("LoadBalancerArn")
                    .and_then(|a| {
                        a.split_once(":loadbalancer/")
                            .map(|(_, rest)| rest.to_owned())
                    })
                    .unwrap_or_else(|| "app/unknown/0000000000000000".to_owned());
                let arn = self.arn(
                    "elasticloadbalancing",
                    &format!("listener/{balancer}/{}", draw("id", HEX, 16)),
                );
                attributes = vec![("ListenerArn", text(&arn))];
                arn
            }
            "AWS::ElasticLoadBalancingV2::ListenerRule" => {
                let listener = prop("ListenerArn")
                    .and_then(|a| a.split_once(":listener/").map(|(_, rest)| rest.to_owned()))
                    .unwrap_or_else(|| "app/unknown/0000000000000000/0000000000000000".to_owned());
                let arn = self.arn(
                    "elasticloadbalancing",
                    &format!("listener-rule/{listener}/{}", draw("id", HEX, 16)),
                );
                attributes = vec![("RuleArn", text(&arn)), ("IsDefault", Value::Bool(false))];
                arn
            }
            "AWS::ElasticLoadBalancingV2::ListenerCertificate" => {
                let id = format!("listener-certificate-{}", hex17("id"));
                attributes = vec![("Id", text(&id))];
                id
            }
            "AWS::ElasticLoadBalancingV2::TargetGroup" => {
                let name = prop("Name").unwrap_or_else(|| self.generated_name(logical_id, 32, 12));
                let full = format!("targetgroup/{name}/{}", draw("id", HEX, 16));
                let arn = self.arn("elasticloadbalancing", &full);
                attributes = vec![
                    ("TargetGroupArn", text(&arn)),
                    ("TargetGroupFullName", text(&full)),
                    ("TargetGroupName", text(&name)),
                    ("LoadBalancerArns", list(Vec::new())),
                ];
                arn
            }
            "AWS::ECS::Cluster" => {
                let name =
                    prop("ClusterName").unwrap_or_else(|| self.generated_name(logical_id, 255, 12));
                attributes = vec![("Arn", text(&self.arn("ecs", &format!("cluster/{name}"))))];
                name
            }
            "AWS::ECS::TaskDefinition" => {
                let family =
                    prop("Family").unwrap_or_else(|| self.generated_name(logical_id, 255, 12));
                let arn = self.arn("ecs", &format!("task-definition/{family}:1"));
                attributes = vec![("TaskDefinitionArn", text(&arn))];
                arn
            }
            "AWS::ECS::Service" => {
                let name =
                    prop("ServiceName").unwrap_or_else(|| self.generated_name(logical_id, 255, 12));
                let cluster = prop("Cluster")
                    .map(|c| {
                        c.rsplit_once("cluster/")
                            .map_or(c.clone(), |(_, n)| n.to_owned())
                    })
                    .unwrap_or_else(|| "default".to_owned());
                let arn = self.arn("ecs", &format!("service/{cluster}/{name}"));
                attributes = vec![("ServiceArn", text(&arn)), ("Name", text(&name))];
                arn
            }
            "AWS::Route53::HostedZone" => {
                let id = format!("Z{}", draw("id", UPPER, 20));
                let servers = [".com", ".net", ".org", ".co.uk"]
                    .iter()
                    .enumerate()
                    .map(|(i, tld)| {
                        let n = u64::from_str_radix(&draw(&format!("ns{i}"), HEX, 4), 16)
                            .unwrap_or(0)
                            % 2048;
                        format!("ns-{n}.awsdns-{:02}{tld}", n % 64)
                    })
                    .collect();
                attributes = vec![("Id", text(&id)), ("NameServers", list(servers))];
                id
            }
            "AWS::Route53::RecordSet" => {
                let name = prop("Name")
                    .unwrap_or_else(|| self.generated_name(logical_id, 253, 13).to_lowercase());
                attributes = vec![("Id", text(&name))];
                name
            }
            "AWS::Route53::RecordSetGroup" => {
                let id = self.generated_name(logical_id, 255, 13);
                attributes = vec![("Id", text(&id))];
                id
            }
            "AWS::CertificateManager::Certificate" => {
                let arn = self.arn(
                    "acm",
                    &format!("certificate/{}", self.uuid(&format!("{logical_id}/id"))),
                );
                attributes = vec![("Id", text(&arn))];
                arn
            }
            "AWS::Cognito::UserPool" => {
                let id = format!("{region}_{}", draw("id", MIXED, 9));
                attributes = vec![
                    ("UserPoolId", text(&id)),
                    (
                        "Arn",
                        text(&self.arn("cognito-idp", &format!("userpool/{id}"))),
                    ),
                    (
                        "ProviderName",
                        text(&format!("cognito-idp.{region}.{suffix}/{id}")),
                    ),
                    (
                        "ProviderURL",
                        text(&format!("https://cognito-idp.{region}.{suffix}/{id}")),
                    ),
                ];
                id
            }
            "AWS::Cognito::UserPoolClient" => {
                let id = draw("id", LOWER, 26);
                let secret = if prop("GenerateSecret").as_deref() == Some("true") {
                    draw("secret", LOWER, 51)
                } else {
                    String::new()
                };
                attributes = vec![
                    ("ClientId", text(&id)),
                    ("ClientSecret", text(&secret)),
                    ("Name", text(&prop("ClientName").unwrap_or_default())),
                ];
                id
            }
            "AWS::Logs::LogGroup" => {
                let name = prop("LogGroupName")
                    .unwrap_or_else(|| self.generated_name(logical_id, 512, 12));
                attributes = vec![(
                    "Arn",
                    text(&self.arn("logs", &format!("log-group:{name}:*"))),
                )];
                name
            }
            "AWS::IAM::Role" => {
                let name =
                    prop("RoleName").unwrap_or_else(|| self.generated_name(logical_id, 64, 12));
                attributes = vec![
                    (
                        "Arn",
                        text(&format!(
                            "arn:{}:iam::{}:role/{name}",
                            self.partition(),
                            self.account_id
                        )),
                    ),
                    (
                        "RoleId",
                        text(&format!("AROA{}", draw("roleid", UPPER, 17))),
                    ),
                ];
                name
            }
            "AWS::IAM::InstanceProfile" => {
                let name = prop("InstanceProfileName")
                    .unwrap_or_else(|| self.generated_name(logical_id, 128, 12));
                attributes = vec![(
                    "Arn",
                    text(&format!(
                        "arn:{}:iam::{}:instance-profile/{name}",
                        self.partition(),
                        self.account_id
                    )),
                )];
                name
            }
            "AWS::IAM::ManagedPolicy" => {
                let name = prop("ManagedPolicyName")
                    .unwrap_or_else(|| self.generated_name(logical_id, 128, 12));
                format!(
                    "arn:{}:iam::{}:policy/{name}",
                    self.partition(),
                    self.account_id
                )
            }
            "AWS::EC2::InternetGateway" => {
                self.prefixed("igw-", logical_id, "InternetGatewayId", &mut attributes)
            }
            "AWS::EC2::NatGateway" => {
                self.prefixed("nat-", logical_id, "NatGatewayId", &mut attributes)
            }
            "AWS::EC2::RouteTable" => {
                self.prefixed("rtb-", logical_id, "RouteTableId", &mut attributes)
            }
            "AWS::EC2::SubnetRouteTableAssociation" => {
                self.prefixed("rtbassoc-", logical_id, "Id", &mut attributes)
            }
            "AWS::EC2::VPCEndpoint" => self.prefixed("vpce-", logical_id, "Id", &mut attributes),
            "AWS::EC2::NetworkAcl" => self.prefixed("acl-", logical_id, "Id", &mut attributes),
            "AWS::EC2::LaunchTemplate" => {
                self.prefixed("lt-", logical_id, "LaunchTemplateId", &mut attributes)
            }
            "AWS::EC2::EIP" => {
                // Addresses from TEST-NET-3 (RFC 5737): documentation-only, never routable.
                let host = u64::from_str_radix(&draw("ip", HEX, 4), 16).unwrap_or(0) % 254 + 1;
                let ip = format!("203.0.113.{host}");
                attributes = vec![
                    (
                        "AllocationId",
                        text(&format!("eipalloc-{}", hex17("alloc"))),
                    ),
                    ("PublicIp", text(&ip)),
                ];
                ip
            }
            "AWS::Serverless::HttpApi" => {
                // SAM makes an `AWS::ApiGatewayV2::Api`: the same id scheme as one written out.
                let id =
                    crate::ids::api_id(&self.account_id, &self.api_name(logical_id, prop("Name")));
                attributes = vec![(
                    "ApiEndpoint",
                    text(&format!("https://{id}.execute-api.{region}.{suffix}")),
                )];
                id
            }
            "AWS::Serverless::Api" => {
                let id = draw("id", LOWER, 10);
                attributes = vec![(
                    "ApiEndpoint",
                    text(&format!("https://{id}.execute-api.{region}.{suffix}")),
                )];
                id
            }
            _ => self.generated_name(logical_id, 255, 13),
        };
        Physical {
            id,
            attributes: attributes
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        }
    }

    /// The value of attribute `attribute` of a resource whose type airlock does not map (no
    /// documented list to check against): an ARN for `…Arn`, otherwise a made-up id.
    pub fn unchecked_attribute(&self, logical_id: &str, type_name: &str, attribute: &str) -> Value {
        let seed = format!("{logical_id}/attribute/{attribute}");
        if attribute == "Arn" || attribute.ends_with("Arn") {
            let service = type_name
                .split("::")
                .nth(1)
                .unwrap_or("unknown")
                .to_lowercase();
            return text(&self.arn(
                &service,
                &format!("{logical_id}/{}", self.draw(&seed, LOWER, 12)),
            ));
        }
        text(&format!(
            "{}-{}",
            attribute.to_lowercase(),
            self.draw(&seed, HEX, 17)
        ))
    }

    /// A made-up hosted zone id for a service's regional endpoints (AWS publishes one per
    /// service and region; airlock's is stable per region).
    fn service_zone(&self, service: &str) -> String {
        format!("Z{}", self.draw(&format!("zone/{service}"), UPPER, 13))
    }

    fn short_id(
        &self,
        logical_id: &str,
        attribute: &'static str,
        n: usize,
        attributes: &mut Vec<(&str, Value)>,
    ) -> String {
        let id = self.draw(&format!("{logical_id}/id"), LOWER, n);
        attributes.push((attribute, text(&id)));
        id
    }

    fn prefixed(
        &self,
        prefix: &str,
        logical_id: &str,
        attribute: &'static str,
        attributes: &mut Vec<(&str, Value)>,
    ) -> String {
        let id = format!(
            "{prefix}{}",
            self.draw(&format!("{logical_id}/id"), HEX, 17)
        );
        attributes.push((attribute, text(&id)));
        id
    }
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn list(items: Vec<String>) -> Value {
    Value::List(
        items
            .into_iter()
            .map(|s| Node::new(Value::String(s), Location::START, String::new()))
            .collect(),
    )
}

fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudformation::types::MAPPED;

    #[test]
    fn every_documented_attribute_of_a_mapped_type_has_a_value() {
        let ids = Ids {
            stack_name: "s".into(),
            region: "eu-west-1".into(),
            account_id: "111122223333".into(),
        };
        for t in MAPPED {
            let physical = ids.physical("Thing", t.name, None);
            assert!(!physical.id.is_empty(), "{}", t.name);
            for attribute in t.attributes {
                assert!(
                    physical.attributes.iter().any(|(k, _)| k == attribute),
                    "{}.{attribute} has no value",
                    t.name
                );
            }
        }
    }

    #[test]
    fn zone_ids_follow_the_region_abbreviations() {
        let ids = |region: &str| Ids {
            stack_name: "s".into(),
            region: region.into(),
            account_id: "111122223333".into(),
        };
        assert_eq!(ids("us-east-1").zone_id("us-east-1c"), "use1-az3");
        assert_eq!(
            ids("ap-southeast-2").zone_id("ap-southeast-2a"),
            "apse2-az1"
        );
        assert_eq!(ids("eu-central-1").zone_id("eu-central-1b"), "euc1-az2");
    }
}
