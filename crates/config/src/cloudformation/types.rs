//! The resource types airlock knows: those it maps onto its stack model (with their properties
//! and `Fn::GetAtt` attributes, from the AWS CloudFormation resource reference, one page per
//! type), the plumbing it accepts without running, and SAM's types in a SAM template.

/// A resource type airlock maps, as the CloudFormation resource reference documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// The type name, e.g. `AWS::EC2::VPC`.
    pub name: &'static str,
    /// The resource reference page.
    pub doc: &'static str,
    /// The properties a template may set.
    pub properties: &'static [&'static str],
    /// The properties it must set.
    pub required: &'static [&'static str],
    /// The attributes `Fn::GetAtt` returns.
    pub attributes: &'static [&'static str],
}

/// How airlock treats a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Mapped onto airlock's stack model; properties and attributes are checked.
    Mapped(&'static ResourceType),
    /// Accepted, not run: plumbing a real deployment needs that the emulation does not
    /// (IAM, gateways, route tables, ...). Properties are not checked.
    Plumbing,
    /// A SAM type (`AWS::Serverless::*`) in a template with SAM's transform; the translation
    /// decides what becomes of it.
    Serverless,
    /// Anything else: reported as unsupported.
    Unsupported,
}

/// The plumbing types accepted without being run.
pub const PLUMBING: &[&str] = &[
    "AWS::CDK::Metadata",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::InstanceProfile",
    "AWS::IAM::ServiceLinkedRole",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::NatGateway",
    "AWS::EC2::EIP",
    "AWS::EC2::RouteTable",
    "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::VPCEndpoint",
    "AWS::EC2::NetworkAcl",
    "AWS::EC2::NetworkAclEntry",
    "AWS::EC2::SubnetNetworkAclAssociation",
    "AWS::EC2::VPCCidrBlock",
    "AWS::EC2::LaunchTemplate",
    "AWS::AutoScaling::AutoScalingGroup",
    "AWS::AutoScaling::LaunchConfiguration",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::ECS::ClusterCapacityProviderAssociations",
    "AWS::Logs::SubscriptionFilter",
    "AWS::CloudFormation::WaitConditionHandle",
];

/// The types airlock maps.
pub const MAPPED: &[ResourceType] = &[
    APIGW_API,
    APIGW_ROUTE,
    APIGW_INTEGRATION,
    APIGW_AUTHORIZER,
    APIGW_STAGE,
    APIGW_DEPLOYMENT,
    APIGW_VPC_LINK,
    APIGW_DOMAIN_NAME,
    APIGW_API_MAPPING,
    ELB_LOAD_BALANCER,
    ELB_LISTENER,
    ELB_LISTENER_RULE,
    ELB_LISTENER_CERTIFICATE,
    ELB_TARGET_GROUP,
    ECS_CLUSTER,
    ECS_TASK_DEFINITION,
    ECS_SERVICE,
    EC2_VPC,
    EC2_SUBNET,
    EC2_SECURITY_GROUP,
    EC2_SECURITY_GROUP_INGRESS,
    EC2_SECURITY_GROUP_EGRESS,
    ROUTE53_HOSTED_ZONE,
    ROUTE53_RECORD_SET,
    ROUTE53_RECORD_SET_GROUP,
    ACM_CERTIFICATE,
    COGNITO_USER_POOL,
    COGNITO_USER_POOL_CLIENT,
    LOGS_LOG_GROUP,
];

/// How airlock treats `type_name`; SAM types count only in a template with SAM's transform.
pub fn support(type_name: &str, serverless: bool) -> Support {
    if let Some(t) = MAPPED.iter().find(|t| t.name == type_name) {
        return Support::Mapped(t);
    }
    if PLUMBING.contains(&type_name) {
        return Support::Plumbing;
    }
    if serverless && type_name.starts_with("AWS::Serverless::") {
        return Support::Serverless;
    }
    Support::Unsupported
}

/// `AWS::ApiGatewayV2::Api` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-api.html).
pub const APIGW_API: ResourceType = ResourceType {
    name: "AWS::ApiGatewayV2::Api",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-api.html",
    properties: &[
        "ApiKeySelectionExpression",
        "BasePath",
        "Body",
        "BodyS3Location",
        "CorsConfiguration",
        "CredentialsArn",
        "Description",
        "DisableExecuteApiEndpoint",
        "DisableSchemaValidation",
        "FailOnWarnings",
        "IpAddressType",
        "Name",
        "ProtocolType",
        "RouteKey",
        "RouteSelectionExpression",
        "Tags",
        "Target",
        "Version",
    ],
    required: &[],
    attributes: &["ApiEndpoint", "ApiId"],
};

/// `AWS::ApiGatewayV2::Route` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-route.html).
pub const APIGW_ROUTE: ResourceType = ResourceType {
    name: "AWS::ApiGatewayV2::Route",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-route.html",
    properties: &[
        "ApiId",
        "ApiKeyRequired",
        "AuthorizationScopes",
        "AuthorizationType",
        "AuthorizerId",
        "ModelSelectionExpression",
        "OperationName",
        "RequestModels",
        "RequestParameters",
        "RouteKey",
        "RouteResponseSelectionExpression",
        "Target",
    ],
    required: &["RouteKey", "ApiId"],
    attributes: &["RouteId"],
};

/// `AWS::ApiGatewayV2::Integration` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-integration.html).
pub const APIGW_INTEGRATION: ResourceType = ResourceType {
    name: "AWS::ApiGatewayV2::Integration",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-integration.html",
    properties: &[
        "ApiId",
        "ConnectionId",
        "ConnectionType",
        "ContentHandlingStrategy",
        "CredentialsArn",
        "Description",
        "IntegrationMethod",
        "IntegrationSubtype",
        "IntegrationType",
        "IntegrationUri",
        "PassthroughBehavior",
        "PayloadFormatVersion",
        "RequestParameters",
        "RequestTemplates",
        "ResponseParameters",
        "TemplateSelectionExpression",
        "TimeoutInMillis",
        "TlsConfig",
    ],
    required: &["ApiId", "IntegrationType"],
    attributes: &["IntegrationId"],
};

/// `AWS::ApiGatewayV2::Authorizer` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-authorizer.html).
pub const APIGW_AUTHORIZER: ResourceType = ResourceType {
    name: "AWS::ApiGatewayV2::Authorizer",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-authorizer.html",
    properties: &[
        "ApiId",
        "AuthorizerCredentialsArn",
        "AuthorizerPayloadFormatVersion",
        "AuthorizerResultTtlInSeconds",
        "AuthorizerType",
        "AuthorizerUri",
        "EnableSimpleResponses",
        "IdentitySource",
        "IdentityValidationExpression",
        "JwtConfiguration",
        "Name",
    ],
    required: &["AuthorizerType", "ApiId", "Name"],
    attributes: &["AuthorizerId"],
};

/// `AWS::ApiGatewayV2::Stage` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-stage.html).
pub const APIGW_STAGE: ResourceType = ResourceType {
    name: "AWS::ApiGatewayV2::Stage",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-stage.html",
    properties: &[
        "AccessLogSettings",
        "ApiId",
        "AutoDeploy",
        "ClientCertificateId",
        "DefaultRouteSettings",
        "DeploymentId",
        "Description",
        "RouteSettings",
        "StageName",
        "StageVariables",
        "Tags",
    ],
    required: &["StageName", "ApiId"],
    attributes: &["Id"],
};

/// `AWS::ApiGatewayV2::Deployment` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-deployment.html).
pub const APIGW_DEPLOYMENT: ResourceType = ResourceType {
    name: "AWS::ApiGatewayV2::Deployment",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-deployment.html",
    properties: &["ApiId", "Description", "StageName"],
    required: &["ApiId"],
    attributes: &["DeploymentId"],
};

/// `AWS::ApiGatewayV2::VpcLink` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-vpclink.html).
pub const APIGW_VPC_LINK: ResourceType = ResourceType {
    name: "AWS::ApiGatewayV2::VpcLink",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-vpclink.html",
    properties: &["Name", "SecurityGroupIds", "SubnetIds", "Tags"],
    required: &["SubnetIds", "Name"],
    attributes: &["VpcLinkId"],
};

/// `AWS::ApiGatewayV2::DomainName` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-domainname.html).
pub const APIGW_DOMAIN_NAME: ResourceType = ResourceType {
    name: "AWS::ApiGatewayV2::DomainName",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-domainname.html",
    properties: &[
        "DomainName",
        "DomainNameConfigurations",
        "MutualTlsAuthentication",
        "RoutingMode",
        "Tags",
    ],
    required: &["DomainName"],
    attributes: &[
        "DomainNameArn",
        "RegionalDomainName",
        "RegionalHostedZoneId",
    ],
};

/// `AWS::ApiGatewayV2::ApiMapping` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-apimapping.html).
pub const APIGW_API_MAPPING: ResourceType = ResourceType {
    name: "AWS::ApiGatewayV2::ApiMapping",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-apimapping.html",
    properties: &["ApiId", "ApiMappingKey", "DomainName", "Stage"],
    required: &["DomainName", "Stage", "ApiId"],
    attributes: &["ApiMappingId"],
};

/// `AWS::ElasticLoadBalancingV2::LoadBalancer` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-loadbalancer.html).
pub const ELB_LOAD_BALANCER: ResourceType = ResourceType {
    name: "AWS::ElasticLoadBalancingV2::LoadBalancer",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-loadbalancer.html",
    properties: &[
        "EnableCapacityReservationProvisionStabilize",
        "EnablePrefixForIpv6SourceNat",
        "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic",
        "IpAddressType",
        "Ipv4IpamPoolId",
        "LoadBalancerAttributes",
        "MinimumLoadBalancerCapacity",
        "Name",
        "Scheme",
        "SecurityGroups",
        "SubnetMappings",
        "Subnets",
        "Tags",
        "Type",
    ],
    required: &[],
    attributes: &[
        "CanonicalHostedZoneID",
        "DNSName",
        "LoadBalancerArn",
        "LoadBalancerFullName",
        "LoadBalancerName",
        "SecurityGroups",
    ],
};

/// `AWS::ElasticLoadBalancingV2::Listener` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-listener.html).
pub const ELB_LISTENER: ResourceType = ResourceType {
    name: "AWS::ElasticLoadBalancingV2::Listener",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-listener.html",
    properties: &[
        "AlpnPolicy",
        "Certificates",
        "DefaultActions",
        "ListenerAttributes",
        "LoadBalancerArn",
        "MutualAuthentication",
        "Port",
        "Protocol",
        "SslPolicy",
    ],
    required: &["LoadBalancerArn", "DefaultActions"],
    attributes: &["ListenerArn"],
};

/// `AWS::ElasticLoadBalancingV2::ListenerRule` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-listenerrule.html).
pub const ELB_LISTENER_RULE: ResourceType = ResourceType {
    name: "AWS::ElasticLoadBalancingV2::ListenerRule",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-listenerrule.html",
    properties: &[
        "Actions",
        "Conditions",
        "ListenerArn",
        "Priority",
        "Transforms",
    ],
    required: &["Actions", "Priority", "Conditions"],
    attributes: &["IsDefault", "RuleArn"],
};

/// `AWS::ElasticLoadBalancingV2::ListenerCertificate` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-listenercertificate.html).
pub const ELB_LISTENER_CERTIFICATE: ResourceType = ResourceType {
    name: "AWS::ElasticLoadBalancingV2::ListenerCertificate",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-listenercertificate.html",
    properties: &["Certificates", "ListenerArn"],
    required: &["ListenerArn", "Certificates"],
    attributes: &["Id"],
};

/// `AWS::ElasticLoadBalancingV2::TargetGroup` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-targetgroup.html).
pub const ELB_TARGET_GROUP: ResourceType = ResourceType {
    name: "AWS::ElasticLoadBalancingV2::TargetGroup",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticloadbalancingv2-targetgroup.html",
    properties: &[
        "HealthCheckEnabled",
        "HealthCheckIntervalSeconds",
        "HealthCheckPath",
        "HealthCheckPort",
        "HealthCheckProtocol",
        "HealthCheckTimeoutSeconds",
        "HealthyThresholdCount",
        "IpAddressType",
        "Matcher",
        "Name",
        "Port",
        "Protocol",
        "ProtocolVersion",
        "Tags",
        "TargetControlPort",
        "TargetGroupAttributes",
        "TargetType",
        "Targets",
        "UnhealthyThresholdCount",
        "VpcId",
    ],
    required: &[],
    attributes: &[
        "LoadBalancerArns",
        "TargetGroupArn",
        "TargetGroupFullName",
        "TargetGroupName",
    ],
};

/// `AWS::ECS::Cluster` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ecs-cluster.html).
pub const ECS_CLUSTER: ResourceType = ResourceType {
    name: "AWS::ECS::Cluster",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ecs-cluster.html",
    properties: &[
        "CapacityProviders",
        "ClusterName",
        "ClusterSettings",
        "Configuration",
        "DefaultCapacityProviderStrategy",
        "ServiceConnectDefaults",
        "Tags",
    ],
    required: &[],
    attributes: &["Arn"],
};

/// `AWS::ECS::TaskDefinition` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ecs-taskdefinition.html).
pub const ECS_TASK_DEFINITION: ResourceType = ResourceType {
    name: "AWS::ECS::TaskDefinition",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ecs-taskdefinition.html",
    properties: &[
        "ContainerDefinitions",
        "Cpu",
        "EnableFaultInjection",
        "EphemeralStorage",
        "ExecutionRoleArn",
        "Family",
        "InferenceAccelerators",
        "IpcMode",
        "Memory",
        "NetworkMode",
        "PidMode",
        "PlacementConstraints",
        "ProxyConfiguration",
        "RequiresCompatibilities",
        "RuntimePlatform",
        "Tags",
        "TaskRoleArn",
        "Volumes",
    ],
    required: &[],
    attributes: &["TaskDefinitionArn"],
};

/// `AWS::ECS::Service` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ecs-service.html).
pub const ECS_SERVICE: ResourceType = ResourceType {
    name: "AWS::ECS::Service",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ecs-service.html",
    properties: &[
        "AvailabilityZoneRebalancing",
        "CapacityProviderStrategy",
        "Cluster",
        "DeploymentConfiguration",
        "DeploymentController",
        "DesiredCount",
        "EnableECSManagedTags",
        "EnableExecuteCommand",
        "ForceNewDeployment",
        "HealthCheckGracePeriodSeconds",
        "LaunchType",
        "LoadBalancers",
        "NetworkConfiguration",
        "PlacementConstraints",
        "PlacementStrategies",
        "PlatformVersion",
        "PropagateTags",
        "Role",
        "SchedulingStrategy",
        "ServiceConnectConfiguration",
        "ServiceName",
        "ServiceRegistries",
        "Tags",
        "TaskDefinition",
        "VolumeConfigurations",
        "VpcLatticeConfigurations",
    ],
    required: &[],
    attributes: &["Name", "ServiceArn"],
};

/// `AWS::EC2::VPC` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-vpc.html).
pub const EC2_VPC: ResourceType = ResourceType {
    name: "AWS::EC2::VPC",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-vpc.html",
    properties: &[
        "CidrBlock",
        "EnableDnsHostnames",
        "EnableDnsSupport",
        "InstanceTenancy",
        "Ipv4IpamPoolId",
        "Ipv4NetmaskLength",
        "Tags",
    ],
    required: &[],
    attributes: &[
        "CidrBlock",
        "CidrBlockAssociations",
        "DefaultNetworkAcl",
        "DefaultSecurityGroup",
        "Ipv6CidrBlocks",
        "VpcId",
    ],
};

/// `AWS::EC2::Subnet` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-subnet.html).
pub const EC2_SUBNET: ResourceType = ResourceType {
    name: "AWS::EC2::Subnet",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-subnet.html",
    properties: &[
        "AssignIpv6AddressOnCreation",
        "AvailabilityZone",
        "AvailabilityZoneId",
        "CidrBlock",
        "EnableDns64",
        "EnableLniAtDeviceIndex",
        "Ipv4IpamPoolId",
        "Ipv4NetmaskLength",
        "Ipv6CidrBlock",
        "Ipv6IpamPoolId",
        "Ipv6Native",
        "Ipv6NetmaskLength",
        "MapPublicIpOnLaunch",
        "OutpostArn",
        "PrivateDnsNameOptionsOnLaunch",
        "Tags",
        "VpcId",
    ],
    required: &["VpcId"],
    attributes: &[
        "AvailabilityZone",
        "AvailabilityZoneId",
        "CidrBlock",
        "Ipv6CidrBlocks",
        "NetworkAclAssociationId",
        "OutpostArn",
        "SubnetId",
        "VpcId",
    ],
};

/// `AWS::EC2::SecurityGroup` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroup.html).
pub const EC2_SECURITY_GROUP: ResourceType = ResourceType {
    name: "AWS::EC2::SecurityGroup",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroup.html",
    properties: &[
        "GroupDescription",
        "GroupName",
        "SecurityGroupEgress",
        "SecurityGroupIngress",
        "Tags",
        "VpcId",
    ],
    required: &["GroupDescription"],
    attributes: &["GroupId", "Id", "VpcId"],
};

/// `AWS::EC2::SecurityGroupIngress` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroupingress.html).
pub const EC2_SECURITY_GROUP_INGRESS: ResourceType = ResourceType {
    name: "AWS::EC2::SecurityGroupIngress",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroupingress.html",
    properties: &[
        "CidrIp",
        "CidrIpv6",
        "Description",
        "FromPort",
        "GroupId",
        "GroupName",
        "IpProtocol",
        "SourcePrefixListId",
        "SourceSecurityGroupId",
        "SourceSecurityGroupName",
        "SourceSecurityGroupOwnerId",
        "ToPort",
    ],
    required: &["IpProtocol"],
    attributes: &["Id"],
};

/// `AWS::EC2::SecurityGroupEgress` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroupegress.html).
pub const EC2_SECURITY_GROUP_EGRESS: ResourceType = ResourceType {
    name: "AWS::EC2::SecurityGroupEgress",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroupegress.html",
    properties: &[
        "CidrIp",
        "CidrIpv6",
        "Description",
        "DestinationPrefixListId",
        "DestinationSecurityGroupId",
        "FromPort",
        "GroupId",
        "IpProtocol",
        "ToPort",
    ],
    required: &["IpProtocol", "GroupId"],
    attributes: &["Id"],
};

/// `AWS::Route53::HostedZone` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-route53-hostedzone.html).
pub const ROUTE53_HOSTED_ZONE: ResourceType = ResourceType {
    name: "AWS::Route53::HostedZone",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-route53-hostedzone.html",
    properties: &[
        "HostedZoneConfig",
        "HostedZoneFeatures",
        "HostedZoneTags",
        "Name",
        "QueryLoggingConfig",
        "VPCs",
    ],
    required: &[],
    attributes: &["Id", "NameServers"],
};

/// `AWS::Route53::RecordSet` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-route53-recordset.html).
pub const ROUTE53_RECORD_SET: ResourceType = ResourceType {
    name: "AWS::Route53::RecordSet",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-route53-recordset.html",
    properties: &[
        "AliasTarget",
        "CidrRoutingConfig",
        "Comment",
        "Failover",
        "GeoLocation",
        "GeoProximityLocation",
        "HealthCheckId",
        "HostedZoneId",
        "HostedZoneName",
        "MultiValueAnswer",
        "Name",
        "Region",
        "ResourceRecords",
        "SetIdentifier",
        "TTL",
        "Type",
        "Weight",
    ],
    required: &["Type", "Name"],
    attributes: &["Id"],
};

/// `AWS::Route53::RecordSetGroup` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-route53-recordsetgroup.html).
pub const ROUTE53_RECORD_SET_GROUP: ResourceType = ResourceType {
    name: "AWS::Route53::RecordSetGroup",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-route53-recordsetgroup.html",
    properties: &["Comment", "HostedZoneId", "HostedZoneName", "RecordSets"],
    required: &[],
    attributes: &["Id"],
};

/// `AWS::CertificateManager::Certificate` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-certificatemanager-certificate.html).
pub const ACM_CERTIFICATE: ResourceType = ResourceType {
    name: "AWS::CertificateManager::Certificate",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-certificatemanager-certificate.html",
    properties: &[
        "CertificateAuthorityArn",
        "CertificateExport",
        "CertificateTransparencyLoggingPreference",
        "DomainName",
        "DomainValidationOptions",
        "KeyAlgorithm",
        "SubjectAlternativeNames",
        "Tags",
        "ValidationMethod",
    ],
    required: &["DomainName"],
    attributes: &["Id"],
};

/// `AWS::Cognito::UserPool` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cognito-userpool.html).
pub const COGNITO_USER_POOL: ResourceType = ResourceType {
    name: "AWS::Cognito::UserPool",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cognito-userpool.html",
    properties: &[
        "AccountRecoverySetting",
        "AdminCreateUserConfig",
        "AliasAttributes",
        "AutoVerifiedAttributes",
        "DeletionProtection",
        "DeviceConfiguration",
        "EmailAuthenticationMessage",
        "EmailAuthenticationSubject",
        "EmailConfiguration",
        "EmailVerificationMessage",
        "EmailVerificationSubject",
        "EnabledMfas",
        "LambdaConfig",
        "MfaConfiguration",
        "Policies",
        "Schema",
        "SmsAuthenticationMessage",
        "SmsConfiguration",
        "SmsVerificationMessage",
        "UserAttributeUpdateSettings",
        "UserPoolAddOns",
        "UserPoolName",
        "UserPoolTags",
        "UserPoolTier",
        "UsernameAttributes",
        "UsernameConfiguration",
        "VerificationMessageTemplate",
        "WebAuthnFactorConfiguration",
        "WebAuthnRelyingPartyID",
        "WebAuthnUserVerification",
    ],
    required: &[],
    attributes: &["Arn", "ProviderName", "ProviderURL", "UserPoolId"],
};

/// `AWS::Cognito::UserPoolClient` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cognito-userpoolclient.html).
pub const COGNITO_USER_POOL_CLIENT: ResourceType = ResourceType {
    name: "AWS::Cognito::UserPoolClient",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cognito-userpoolclient.html",
    properties: &[
        "AccessTokenValidity",
        "AllowedOAuthFlows",
        "AllowedOAuthFlowsUserPoolClient",
        "AllowedOAuthScopes",
        "AnalyticsConfiguration",
        "AuthSessionValidity",
        "CallbackURLs",
        "ClientName",
        "DefaultRedirectURI",
        "EnablePropagateAdditionalUserContextData",
        "EnableTokenRevocation",
        "ExplicitAuthFlows",
        "GenerateSecret",
        "IdTokenValidity",
        "LogoutURLs",
        "PreventUserExistenceErrors",
        "ReadAttributes",
        "RefreshTokenRotation",
        "RefreshTokenValidity",
        "SupportedIdentityProviders",
        "TokenValidityUnits",
        "UserPoolId",
        "WriteAttributes",
    ],
    required: &["UserPoolId"],
    attributes: &["ClientId", "ClientSecret", "Name"],
};

/// `AWS::Logs::LogGroup` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-logs-loggroup.html).
pub const LOGS_LOG_GROUP: ResourceType = ResourceType {
    name: "AWS::Logs::LogGroup",
    doc: "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-logs-loggroup.html",
    properties: &[
        "BearerTokenAuthenticationEnabled",
        "DataProtectionPolicy",
        "DeletionProtectionEnabled",
        "FieldIndexPolicies",
        "KmsKeyId",
        "LogGroupClass",
        "LogGroupName",
        "ResourcePolicyDocument",
        "RetentionInDays",
        "Tags",
    ],
    required: &[],
    attributes: &["Arn"],
};
