//! Tests of the network, load balancing and ECS translation (`ec2`, `elb`, `ecs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use super::super::{EvalOptions, evaluate_source};
use super::{Conversion, TranslateOptions, translate};
use crate::error::{ConfigError, Diagnostic};
use crate::{Action, IpProtocol, Scheme};

/// Evaluates and translates `source` with made-up ids for id parameters, as `airlock up` does.
fn convert_with(source: &str, ignore_unsupported: bool) -> Result<Conversion, ConfigError> {
    let file = Path::new("t.yaml");
    let eval = EvalOptions {
        made_up_ids: true,
        ..EvalOptions::default()
    };
    let ev = evaluate_source(source, file, &eval)?;
    let options = TranslateOptions {
        ignore_unsupported,
        ..TranslateOptions::default()
    };
    translate(&ev, file, &eval, &options)
}

fn convert(source: &str) -> Conversion {
    match convert_with(source, false) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn errors(source: &str) -> Vec<Diagnostic> {
    match convert_with(source, false) {
        Ok(c) => panic!("expected errors, got:\n{}", c.yaml),
        Err(ConfigError::Invalid(d)) => d.as_slice().to_vec(),
        Err(e) => panic!("{e}"),
    }
}

/// The 1-based line of the first line of `source` containing `needle`.
fn line_of(source: &str, needle: &str) -> usize {
    source.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cloudformation")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// A VPC with two private subnets in two zones, to which tests append resources.
const NETWORK: &str = r#"Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.1.0.0/16
  SubnetA:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      CidrBlock: 10.1.1.0/24
      AvailabilityZone: !Select [0, !GetAZs ""]
  SubnetB:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      CidrBlock: 10.1.2.0/24
      AvailabilityZone: !Select [1, !GetAZs ""]
"#;

/// An internal ALB with an HTTP listener on 80 forwarding to a target group, on [`NETWORK`].
const ALB: &str = r#"  Alb:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Name: web-alb
      Scheme: internal
      Subnets: [!Ref SubnetA, !Ref SubnetB]
  Tg:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      Name: web-tg
      TargetType: ip
      Protocol: HTTP
      Port: 8080
      VpcId: !Ref Vpc
  Listener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref Alb
      Port: 80
      Protocol: HTTP
      DefaultActions:
        - Type: forward
          TargetGroupArn: !Ref Tg
"#;

// ---------------------------------------------------------------------------------------------
// The network.

/// The VPC's CIDR, the subnets (named by logical id, zones from `Fn::GetAZs`), and inline
/// rules of every protocol: `-1` drops its ports, peers are CIDRs or other groups by name.
#[test]
fn vpc_subnets_and_inline_rules_map_onto_the_stack() {
    let source = format!(
        "{NETWORK}{}",
        r#"  Web:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web
      VpcId: !Ref Vpc
      SecurityGroupIngress:
        - {IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: 10.1.0.0/16, Description: https}
        - {IpProtocol: "-1", FromPort: 0, ToPort: 65535, SourceSecurityGroupId: !GetAtt Admin.GroupId}
        - {IpProtocol: icmp, FromPort: 8, ToPort: -1, CidrIp: 10.1.1.0/24}
      SecurityGroupEgress:
        - {IpProtocol: udp, FromPort: 53, ToPort: 53, CidrIp: 10.1.0.2/32}
  Admin:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: admins
      GroupName: admin-hosts
      VpcId: !Ref Vpc
"#
    );
    let stack = convert(&source).stack;
    assert_eq!(stack.vpc.cidr_block.to_string(), "10.1.0.0/16");
    let a = stack.subnet("SubnetA").unwrap();
    assert_eq!(
        (
            a.cidr_block.to_string().as_str(),
            a.availability_zone.as_str()
        ),
        ("10.1.1.0/24", "us-east-1a")
    );
    assert_eq!(
        stack.subnet("SubnetB").unwrap().availability_zone,
        "us-east-1b"
    );
    let web = stack.security_group("Web").unwrap();
    assert_eq!(web.ingress.len(), 3);
    assert_eq!(web.ingress[0].ports(), Some(443..=443));
    assert_eq!(web.ingress[0].description.as_deref(), Some("https"));
    assert_eq!(web.ingress[1].ip_protocol, IpProtocol::All);
    assert_eq!(
        (web.ingress[1].from_port, web.ingress[1].to_port),
        (None, None)
    );
    assert_eq!(
        web.ingress[1].source_security_group.as_deref(),
        Some("admin-hosts")
    );
    assert_eq!(web.ingress[2].ip_protocol, IpProtocol::Icmp);
    let egress = web.egress.as_ref().unwrap();
    assert_eq!(egress.len(), 1, "inline egress replaces the default rule");
    assert_eq!(egress[0].ip_protocol, IpProtocol::Udp);
    let admin = stack.security_group("admin-hosts").unwrap();
    assert!(admin.ingress.is_empty());
    assert_eq!(
        admin.egress, None,
        "no inline egress: AWS's allow-all default"
    );
}

/// Standalone rules add to their group: ingress to the inline ingress; egress next to the
/// default allow-all rule of a group with no inline egress, and to the inline rules of one
/// that has them.
#[test]
fn standalone_ingress_and_egress_add_to_their_group() {
    let source = format!(
        "{NETWORK}{}",
        r#"  Open:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: default egress
      VpcId: !Ref Vpc
  Narrow:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: inline egress
      VpcId: !Ref Vpc
      SecurityGroupEgress:
        - {IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: 10.1.0.0/16}
  OpenIn:
    Type: AWS::EC2::SecurityGroupIngress
    Properties:
      GroupId: !GetAtt Open.GroupId
      IpProtocol: tcp
      FromPort: 8080
      ToPort: 8080
      SourceSecurityGroupId: !Ref Narrow
  OpenOut:
    Type: AWS::EC2::SecurityGroupEgress
    Properties:
      GroupId: !GetAtt Open.GroupId
      IpProtocol: tcp
      FromPort: 5432
      ToPort: 5432
      DestinationSecurityGroupId: !GetAtt Narrow.GroupId
  NarrowOut:
    Type: AWS::EC2::SecurityGroupEgress
    Properties:
      GroupId: !Ref Narrow
      IpProtocol: tcp
      FromPort: 80
      ToPort: 80
      DestinationSecurityGroupId: !Ref Open
"#
    );
    let c = convert(&source);
    let open = c.stack.security_group("Open").unwrap();
    assert_eq!(open.ingress.len(), 1);
    assert_eq!(
        open.ingress[0].source_security_group.as_deref(),
        Some("Narrow")
    );
    let egress = open.egress.as_ref().unwrap();
    assert_eq!(egress.len(), 2, "{egress:?}");
    assert_eq!(egress[0].ip_protocol, IpProtocol::All);
    assert_eq!(egress[0].cidr_ip.unwrap().to_string(), "0.0.0.0/0");
    assert_eq!(egress[1].ports(), Some(5432..=5432));
    assert_eq!(
        egress[1].destination_security_group.as_deref(),
        Some("Narrow")
    );
    let narrow = c
        .stack
        .security_group("Narrow")
        .unwrap()
        .egress
        .as_ref()
        .unwrap();
    assert_eq!(narrow.len(), 2);
    assert_eq!(narrow[0].ports(), Some(443..=443));
    assert_eq!(
        narrow[1].destination_security_group.as_deref(),
        Some("Open")
    );
    assert!(
        c.accepted.is_empty(),
        "the rule resources are translated, not accepted"
    );
}

/// A second VPC is an error at its declaration, with a hint.
#[test]
fn a_second_vpc_is_an_error_with_a_hint() {
    let source = format!(
        "{NETWORK}{}",
        "  Other:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.2.0.0/16\n"
    );
    let ds = errors(&source);
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert_eq!(ds[0].path, "Resources.Other");
    // A resource is located where its mapping starts, the line after its logical id.
    assert_eq!(ds[0].location.line, line_of(&source, "  Other:") + 1);
    assert!(ds[0].message.contains("second VPC"), "{}", ds[0].message);
    assert!(!ds[0].hint.is_empty());
}

/// A template that takes its VPC and subnets as parameters and gets none runs on a made-up
/// VPC: two private subnets in two zones, each parameter subnet id one of them, said in the
/// notes; the `vpc` vantage point stands in the first with the default group.
#[test]
fn subnet_id_parameters_get_a_made_up_vpc() {
    let source = r#"Parameters:
  VpcId:
    Type: AWS::EC2::VPC::Id
  SubnetIds:
    Type: List<AWS::EC2::Subnet::Id>
Resources:
  Group:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: g
      VpcId: !Ref VpcId
  Alb:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Scheme: internal
      Subnets: !Ref SubnetIds
      SecurityGroups: [!Ref Group]
"#;
    let c = convert(source);
    let s = &c.stack;
    assert_eq!(s.vpc.cidr_block.to_string(), "10.0.0.0/16");
    assert_eq!(s.vpc.subnets.len(), 2);
    let zones: Vec<&str> = s
        .vpc
        .subnets
        .iter()
        .map(|n| n.availability_zone.as_str())
        .collect();
    assert_eq!(zones, ["us-east-1a", "us-east-1b"]);
    let names: Vec<&str> = s.vpc.subnets.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(s.load_balancers[0].subnets, names);
    assert!(c.yaml.contains("made one up (10.0.0.0/16)"), "{}", c.yaml);
    assert!(
        c.yaml.contains("of parameter SubnetIds is private-1"),
        "{}",
        c.yaml
    );
    let v = s.vantage_points.vpc.as_ref().unwrap();
    assert_eq!(v.subnet, "private-1");
    assert_eq!(v.security_groups, ["default"]);
    assert!(
        c.yaml.contains("carries the VPC's default security group"),
        "{}",
        c.yaml
    );
}

/// A template with no network at all still gets a VPC with two private subnets and a place
/// to stand in it.
#[test]
fn a_template_without_a_network_gets_a_made_up_vpc() {
    let c = convert("Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n");
    assert_eq!(c.stack.vpc.subnets.len(), 2);
    assert_eq!(
        c.stack.vantage_points.vpc.as_ref().unwrap().subnet,
        "private-1"
    );
}

/// The default group admits its own members and allows all egress; an interface created
/// without groups (an ALB without `SecurityGroups`, a service whose awsvpc configuration
/// has none) carries it, and `VPC.DefaultSecurityGroup` refers to it.
#[test]
fn interfaces_without_groups_get_the_vpcs_default_group() {
    let source = format!(
        "{NETWORK}{}",
        r#"  Alb:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Scheme: internal
      Subnets: [!Ref SubnetA, !Ref SubnetB]
  FromDefault:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: admits the default group
      VpcId: !Ref Vpc
      SecurityGroupIngress:
        - {IpProtocol: tcp, FromPort: 80, ToPort: 80, SourceSecurityGroupId: !GetAtt Vpc.DefaultSecurityGroup}
  Cluster:
    Type: AWS::ECS::Cluster
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: app
      Cpu: "256"
      Memory: "512"
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      ContainerDefinitions:
        - {Name: app, Image: "example/app:1"}
  Service:
    Type: AWS::ECS::Service
    Properties:
      Cluster: !Ref Cluster
      TaskDefinition: !Ref Task
      NetworkConfiguration:
        AwsvpcConfiguration:
          Subnets: [!Ref SubnetA]
"#
    );
    let s = convert(&source).stack;
    let default = s.security_group("default").unwrap();
    assert_eq!(default.ingress.len(), 1);
    assert_eq!(default.ingress[0].ip_protocol, IpProtocol::All);
    assert_eq!(
        default.ingress[0].source_security_group.as_deref(),
        Some("default")
    );
    assert_eq!(default.egress, None);
    assert_eq!(s.load_balancers[0].security_groups, ["default"]);
    assert_eq!(
        s.services[0].network_configuration.security_groups,
        ["default"]
    );
    let from = s.security_group("FromDefault").unwrap();
    assert_eq!(
        from.ingress[0].source_security_group.as_deref(),
        Some("default")
    );
}

// ---------------------------------------------------------------------------------------------
// Load balancing.

/// The balancer and target group take their physical names; the listener is named
/// `"<lb>:<port>"`, which rules and certificates attach to; conditions in both forms,
/// weighted forwards with stickiness, fixed responses and redirects; flat health check
/// properties and target group attributes.
#[test]
fn load_balancer_listener_rules_and_target_groups_map_onto_the_stack() {
    let source = format!(
        "{NETWORK}{ALB}{}",
        r#"  Blue:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      Name: blue
      TargetType: ip
      Protocol: HTTP
      Port: 9000
      HealthCheckPath: /ready
      HealthCheckPort: "9001"
      HealthCheckIntervalSeconds: 10
      HealthCheckTimeoutSeconds: 4
      HealthyThresholdCount: 2
      UnhealthyThresholdCount: 3
      Matcher: {HttpCode: "200-299"}
      TargetGroupAttributes:
        - {Key: deregistration_delay.timeout_seconds, Value: "30"}
        - {Key: stickiness.enabled, Value: "true"}
        - {Key: stickiness.type, Value: lb_cookie}
        - {Key: stickiness.lb_cookie.duration_seconds, Value: "600"}
        - {Key: load_balancing.algorithm.type, Value: least_outstanding_requests}
        - {Key: load_balancing.cross_zone.enabled, Value: "true"}
  Paths:
    Type: AWS::ElasticLoadBalancingV2::ListenerRule
    Properties:
      ListenerArn: !Ref Listener
      Priority: 10
      Conditions:
        - {Field: path-pattern, Values: [/api/*]}
        - Field: http-header
          HttpHeaderConfig: {HttpHeaderName: X-Env, Values: [blue]}
        - Field: query-string
          QueryStringConfig:
            Values: [{Key: v, Value: "2"}, {Value: beta}]
      Actions:
        - Type: forward
          ForwardConfig:
            TargetGroups:
              - {TargetGroupArn: !Ref Tg, Weight: 80}
              - {TargetGroupArn: !Ref Blue, Weight: 20}
            TargetGroupStickinessConfig: {Enabled: true, DurationSeconds: 300}
  Methods:
    Type: AWS::ElasticLoadBalancingV2::ListenerRule
    Properties:
      ListenerArn: !GetAtt Listener.ListenerArn
      Priority: 20
      Conditions:
        - Field: host-header
          HostHeaderConfig: {Values: [old.example.com]}
        - Field: http-request-method
          HttpRequestMethodConfig: {Values: [GET, HEAD]}
        - Field: source-ip
          SourceIpConfig: {Values: [10.1.0.0/16]}
      Actions:
        - Type: redirect
          RedirectConfig: {Host: new.example.com, StatusCode: HTTP_301}
  Teapot:
    Type: AWS::ElasticLoadBalancingV2::ListenerRule
    Properties:
      ListenerArn: !Ref Listener
      Priority: 30
      Conditions: [{Field: path-pattern, PathPatternConfig: {Values: [/tea]}}]
      Actions:
        - Type: fixed-response
          FixedResponseConfig: {StatusCode: "418", ContentType: text/plain, MessageBody: short and stout}
"#
    );
    let c = convert(&source);
    let s = &c.stack;
    let lb = s.load_balancer("web-alb").unwrap();
    assert_eq!(lb.scheme, Scheme::Internal);
    assert_eq!(lb.subnets, ["SubnetA", "SubnetB"]);
    let listener = lb.listener(80).unwrap();
    assert_eq!(listener.default_actions[0].target_group(), Some("web-tg"));
    assert_eq!(listener.rules.len(), 3);
    let paths = &listener.rules[0];
    assert_eq!(paths.priority, 10);
    assert_eq!(paths.conditions[0].values, ["/api/*"]);
    assert_eq!(
        paths.conditions[1].http_header_name.as_deref(),
        Some("X-Env")
    );
    assert_eq!(paths.conditions[2].values, ["v=2", "beta"]);
    let Action::WeightedForward(f) = &paths.actions[0] else {
        panic!("{:?}", paths.actions[0]);
    };
    assert_eq!(f.target_groups[1].target_group, "blue");
    assert_eq!(f.target_groups[1].weight, 20);
    assert_eq!(
        f.target_group_stickiness_config.unwrap().duration_seconds,
        Some(300)
    );
    let methods = &listener.rules[1];
    assert_eq!(methods.conditions[0].values, ["old.example.com"]);
    assert_eq!(methods.conditions[1].values, ["GET", "HEAD"]);
    assert_eq!(methods.conditions[2].values, ["10.1.0.0/16"]);
    assert!(
        matches!(&methods.actions[0], Action::Redirect(r) if r.host.as_deref() == Some("new.example.com"))
    );
    assert!(
        matches!(&listener.rules[2].actions[0], Action::FixedResponse(f) if f.status_code == 418)
    );
    let blue = s.target_group("blue").unwrap();
    let hc = blue.health_check.as_ref().unwrap();
    assert_eq!(hc.path, "/ready");
    assert_eq!(hc.port, crate::scalars::HealthCheckPort::Port(9001));
    assert_eq!(
        (
            hc.interval_seconds,
            hc.timeout_seconds,
            hc.healthy_threshold_count,
            hc.unhealthy_threshold_count
        ),
        (10, 4, 2, 3)
    );
    assert!(hc.matcher.http_code.contains(204));
    assert_eq!(blue.deregistration_delay_timeout_seconds, 30);
    assert_eq!(blue.stickiness.as_ref().unwrap().duration_seconds, 600);
    assert_eq!(
        blue.load_balancing_algorithm_type,
        crate::LoadBalancingAlgorithm::LeastOutstandingRequests
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("load_balancing.cross_zone.enabled")),
        "{:?}",
        c.warnings
    );
}

/// A listener whose default action forwards to a target group the template does not create
/// is an error at that line.
#[test]
fn a_forward_to_a_target_group_outside_the_template_is_located() {
    let source = format!("{NETWORK}{ALB}").replace(
        "          TargetGroupArn: !Ref Tg\n",
        "          TargetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/elsewhere/0123456789abcdef\n",
    );
    let ds = errors(&source);
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert_eq!(
        ds[0].location.line,
        line_of(&source, "targetgroup/elsewhere")
    );
    assert_eq!(
        ds[0].path,
        "Resources.Listener.Properties.DefaultActions[0].TargetGroupArn"
    );
}

/// A Network Load Balancer and a Lambda target group are errors at their `Type`/`TargetType`
/// lines, with hints.
#[test]
fn network_load_balancers_and_lambda_targets_are_located_errors() {
    let source = format!("{NETWORK}{ALB}")
        .replace(
            "      Scheme: internal\n",
            "      Scheme: internal\n      Type: network\n",
        )
        .replace("      TargetType: ip\n", "      TargetType: lambda\n");
    let ds = errors(&source);
    let nlb = ds
        .iter()
        .find(|d| d.message.contains("network load balancer"))
        .unwrap();
    assert_eq!(nlb.location.line, line_of(&source, "Type: network"));
    assert!(nlb.hint.contains("Type: application"), "{}", nlb.hint);
    let lambda = ds.iter().find(|d| d.message.contains("lambda")).unwrap();
    assert_eq!(lambda.location.line, line_of(&source, "TargetType: lambda"));
    assert!(lambda.hint.contains("Lambda"), "{}", lambda.hint);
}

// ---------------------------------------------------------------------------------------------
// ECS.

/// A task definition as CloudFormation writes it, with everything the stack format has; a
/// property it lacks that changes nothing is a warning, an unknown one an error with the
/// nearest name; `RequiresCompatibilities: [EC2]` runs like Fargate with a warning; a
/// service without `Cluster` runs in `default`; the log group's name is the awslogs group.
#[test]
fn task_definitions_and_services_map_onto_the_stack() {
    let source = format!(
        "{NETWORK}{ALB}{}",
        r#"  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: /ecs/web
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: web
      Cpu: "512"
      Memory: "1024"
      NetworkMode: awsvpc
      RequiresCompatibilities: [EC2]
      ContainerDefinitions:
        - Name: app
          Image: example/web:1.2
          Essential: true
          Command: [serve, --port, "8080"]
          EntryPoint: [/bin/app]
          PortMappings: [{ContainerPort: 8080, HostPort: 8080, Protocol: tcp}]
          Environment: [{Name: MODE, Value: prod}, {Name: WORKERS, Value: 4}]
          HealthCheck: {Command: [CMD-SHELL, "true"], Interval: 10, Retries: 2}
          DependsOn: [{ContainerName: init, Condition: SUCCESS}]
          Secrets: [{Name: TOKEN, ValueFrom: arn:aws:ssm:us-east-1:123456789012:parameter/t}]
          LogConfiguration:
            LogDriver: awslogs
            Options: {awslogs-group: !Ref Logs, awslogs-stream-prefix: web}
        - Name: init
          Image: example/init:1
          Essential: false
  Service:
    Type: AWS::ECS::Service
    DependsOn: Listener
    Properties:
      ServiceName: web
      TaskDefinition: !Ref Task
      DesiredCount: 3
      LaunchType: EC2
      HealthCheckGracePeriodSeconds: 30
      DeploymentConfiguration: {MaximumPercent: 150, MinimumHealthyPercent: 50}
      NetworkConfiguration:
        AwsvpcConfiguration:
          Subnets: [!Ref SubnetA, !Ref SubnetB]
      LoadBalancers:
        - {TargetGroupArn: !Ref Tg, ContainerName: app, ContainerPort: 8080}
"#
    );
    let c = convert(&source);
    let s = &c.stack;
    let td = s.task_definition("web").unwrap();
    assert_eq!((td.cpu.0, td.memory.0), (512, 1024));
    let app = td.container("app").unwrap();
    assert_eq!(app.image.as_deref(), Some("example/web:1.2"));
    assert_eq!(app.command.as_deref().unwrap(), ["serve", "--port", "8080"]);
    assert_eq!(app.entry_point.as_deref().unwrap(), ["/bin/app"]);
    assert_eq!(app.port_mappings[0].container_port, 8080);
    assert_eq!(app.environment[1].value, "4");
    let hc = app.health_check.as_ref().unwrap();
    assert_eq!((hc.interval, hc.retries, hc.timeout), (10, 2, 5));
    assert_eq!(app.depends_on[0].container_name, "init");
    let logs = app.log_configuration.as_ref().unwrap();
    assert_eq!(logs.options["awslogs-group"], "/ecs/web");
    assert!(!td.container("init").unwrap().essential);
    let svc = s.service("web").unwrap();
    assert_eq!(svc.cluster, "default");
    assert!(s.cluster("default").is_some());
    assert_eq!(svc.desired_count, 3);
    assert_eq!(svc.health_check_grace_period_seconds, 30);
    assert_eq!(svc.deployment_configuration.maximum_percent, 150);
    assert_eq!(svc.load_balancers[0].target_group, "web-tg");
    for expected in ["Secrets", "requires EC2", "EC2 launch type"] {
        assert!(
            c.warnings.iter().any(|w| w.contains(expected)),
            "no warning about {expected}: {:?}",
            c.warnings
        );
    }
}

/// An unknown container property is an error at its line with the nearest name.
#[test]
fn an_unknown_container_property_is_located_with_a_hint() {
    let source = format!(
        "{NETWORK}{}",
        r#"  Task:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Cpu: "256"
      Memory: "512"
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      ContainerDefinitions:
        - Name: app
          Image: example/app:1
          PortMapings: [{ContainerPort: 80}]
"#
    );
    let ds = errors(&source);
    assert_eq!(ds.len(), 1, "{ds:?}");
    assert_eq!(ds[0].location.line, line_of(&source, "PortMapings"));
    assert!(ds[0].hint.contains("PortMappings"), "{}", ds[0].hint);
}

// ---------------------------------------------------------------------------------------------
// The fixtures (their API parts are translated by the API modules; here they are skipped).

/// The SAM template runs on the made-up VPC: its ALB, target group, service and groups are
/// on the made-up subnets.
#[test]
fn the_sam_fixtures_network_and_service_translate() {
    let c = convert_with(&fixture("sam-private-api.yaml"), true).unwrap();
    let s = &c.stack;
    assert_eq!(s.vpc.subnets.len(), 2);
    let lb = &s.load_balancers[0];
    assert_eq!(lb.scheme, Scheme::Internal);
    assert_eq!(lb.subnets, ["private-1", "private-2"]);
    assert_eq!(lb.security_groups, ["AlbSecurityGroup"]);
    assert_eq!(lb.listener(80).unwrap().default_actions.len(), 1);
    let svc = &s.services[0];
    assert_eq!(
        svc.network_configuration.security_groups,
        ["TaskSecurityGroup"]
    );
    let tasks = s.security_group("TaskSecurityGroup").unwrap();
    assert_eq!(tasks.ingress[0].ports(), Some(8080..=8080));
    assert_eq!(
        tasks.ingress[0].source_security_group.as_deref(),
        Some("AlbSecurityGroup")
    );
    let td = s.task_definition(&svc.task_definition).unwrap();
    let logs = td.container_definitions[0]
        .log_configuration
        .as_ref()
        .unwrap();
    assert_eq!(logs.options["awslogs-group"], "/ecs/airlock");
}

/// The `cdk synth` template's VPC, subnets (public ones left out of the vantage point), the
/// standalone ingress and the service translate.
#[test]
fn the_cdk_fixtures_network_and_service_translate() {
    let c = convert(&fixture("cdk-vpc-service.template.json"));
    let s = &c.stack;
    assert_eq!(s.vpc.subnets.len(), 4);
    assert_eq!(
        s.vantage_points.vpc.as_ref().unwrap().subnet,
        "VpcPrivateSubnet1Subnet"
    );
    let svc = s.security_group("ServiceSecurityGroupC96ED6A7").unwrap();
    assert_eq!(
        svc.ingress[0].source_security_group.as_deref(),
        Some("LBSecurityGroup8A41EA2B")
    );
    assert_eq!(
        s.services[0]
            .deployment_configuration
            .minimum_healthy_percent,
        50
    );
    assert!(
        c.accepted
            .iter()
            .any(|a| a.type_name == "AWS::EC2::NatGateway")
    );
}
