//! Whole-template evaluation: resource order, physical ids, rules, and each kind of error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use super::*;

fn run(source: &str) -> Result<Evaluated, ConfigError> {
    evaluate_source(source, Path::new("t.yaml"), &EvalOptions::default())
}

fn diagnostics(source: &str) -> Vec<Diagnostic> {
    match run(source) {
        Ok(_) => panic!("accepted:\n{source}"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

const CHAIN: &str = r#"
Resources:
  Listener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref Alb
      Port: 80
      Protocol: HTTP
      DefaultActions:
        - Type: forward
          TargetGroupArn: !Ref Targets
  Alb:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Name: web
      Scheme: internal
      Subnets: [subnet-1, subnet-2]
  Targets:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties: {Name: app, Port: 8080, Protocol: HTTP, TargetType: ip, VpcId: vpc-1}
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: api, ProtocolType: HTTP}
  Link:
    Type: AWS::ApiGatewayV2::VpcLink
    Properties: {Name: link, SubnetIds: [subnet-1]}
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: HTTP_PROXY
      IntegrationMethod: ANY
      ConnectionType: VPC_LINK
      ConnectionId: !Ref Link
      IntegrationUri: !Ref Listener
      PayloadFormatVersion: "1.0"
  Route:
    Type: AWS::ApiGatewayV2::Route
    DependsOn: Stage
    Properties:
      ApiId: !Ref Api
      RouteKey: ANY /{proxy+}
      Target: !Join [/, [integrations, !Ref Integration]]
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Api, StageName: $default, AutoDeploy: true}
Outputs:
  Endpoint: {Value: !GetAtt Api.ApiEndpoint}
  AlbDns: {Value: !GetAtt Alb.DNSName}
"#;

#[test]
fn resources_come_in_dependency_order_with_their_dependencies() {
    let evaluated = run(CHAIN).unwrap();
    let order: Vec<&str> = evaluated
        .resources
        .iter()
        .map(|r| r.logical_id.as_str())
        .collect();
    let pos = |id: &str| order.iter().position(|o| *o == id).unwrap();
    assert!(
        pos("Alb") < pos("Listener") && pos("Targets") < pos("Listener"),
        "{order:?}"
    );
    assert!(
        pos("Listener") < pos("Integration") && pos("Link") < pos("Integration"),
        "{order:?}"
    );
    assert!(
        pos("Stage") < pos("Route") && pos("Integration") < pos("Route"),
        "{order:?}"
    );
    // Template order where nothing constrains it.
    assert!(
        pos("Alb") < pos("Targets") && pos("Api") < pos("Link"),
        "{order:?}"
    );
    let route = evaluated.resource("Route").unwrap();
    assert_eq!(route.depends_on, ["Stage"]);
    let mut dependencies = route.dependencies.clone();
    dependencies.sort();
    assert_eq!(dependencies, ["Api", "Integration", "Stage"]);
}

#[test]
fn physical_ids_have_aws_shapes_and_are_stable() {
    let a = run(CHAIN).unwrap();
    let b = run(CHAIN).unwrap();
    let api = a.resource("Api").unwrap();
    assert_eq!(api.physical_id.len(), 10);
    assert!(
        api.physical_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    assert_eq!(
        a.outputs[0].value.as_str().unwrap(),
        format!(
            "https://{}.execute-api.us-east-1.amazonaws.com",
            api.physical_id
        )
    );
    let alb = a.resource("Alb").unwrap();
    let arn = &alb.physical_id;
    assert!(
        arn.starts_with(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/"
        ),
        "{arn}"
    );
    let full = alb.attribute("LoadBalancerFullName").unwrap();
    assert_eq!(
        Some(arn.split_once("loadbalancer/").unwrap().1),
        match full {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    );
    let dns = a.outputs[1].value.as_str().unwrap();
    let rest = dns.strip_prefix("internal-web-").unwrap();
    let (digits, domain) = rest.split_once('.').unwrap();
    assert!(
        digits.len() == 10 && digits.chars().all(|c| c.is_ascii_digit()),
        "{dns}"
    );
    assert_eq!(domain, "us-east-1.elb.amazonaws.com");
    let listener = &a.resource("Listener").unwrap().physical_id;
    assert!(
        listener.starts_with(&format!("{}/", arn.replace(":loadbalancer/", ":listener/"))),
        "{listener}"
    );
    let tg = a.resource("Targets").unwrap();
    assert!(
        matches!(tg.attribute("TargetGroupFullName"), Some(Value::String(s)) if s.starts_with("targetgroup/app/") && s.len() == "targetgroup/app/".len() + 16)
    );
    assert_eq!(a.resource("Route").unwrap().physical_id.len(), 7);
    for (x, y) in a.resources.iter().zip(&b.resources) {
        assert_eq!(
            (&x.physical_id, &x.attributes),
            (&y.physical_id, &y.attributes),
            "ids are the same on every run"
        );
    }
    let other = evaluate_source(
        CHAIN,
        Path::new("t.yaml"),
        &EvalOptions {
            account_id: "210987654321".into(),
            ..EvalOptions::default()
        },
    )
    .unwrap();
    // An API's id is the one airlock's runtime gives an API of its name in its account
    // (airlock_config::ids), so the converted stack serves the id the outputs show.
    assert_ne!(other.resource("Api").unwrap().physical_id, api.physical_id);
    assert_eq!(
        api.physical_id,
        crate::ids::api_id(&EvalOptions::default().account_id, "api")
    );
}

#[test]
fn references_built_from_ids_resolve_to_their_resource() {
    let evaluated = run(CHAIN).unwrap();
    let route = evaluated.resource("Route").unwrap();
    let target = route.properties.get("Target").unwrap().as_str().unwrap();
    let (found, attribute) = evaluated.resolve_reference(target).unwrap();
    assert_eq!(
        (found.logical_id.as_str(), attribute),
        ("Integration", None)
    );
    let dns = evaluated.outputs[1].value.as_str().unwrap();
    let (found, attribute) = evaluated.resolve_reference(dns).unwrap();
    assert_eq!(
        (found.logical_id.as_str(), attribute),
        ("Alb", Some("DNSName"))
    );
    assert!(
        evaluated
            .resolve_reference("integrations/nothing")
            .is_none()
    );
}

#[test]
fn resolved_properties_keep_their_positions() {
    let evaluated = run(CHAIN).unwrap();
    let listener = evaluated.resource("Listener").unwrap();
    let action = &listener
        .properties
        .get("DefaultActions")
        .unwrap()
        .as_list()
        .unwrap()[0];
    assert_eq!(
        action.path,
        "Resources.Listener.Properties.DefaultActions[0]"
    );
    let target = action.get("TargetGroupArn").unwrap();
    assert_eq!((target.at.line, target.at.column), (11, 27));
    assert_eq!(
        target.as_str(),
        Some(evaluated.resource("Targets").unwrap().physical_id.as_str())
    );
}

#[test]
fn a_circular_dependency_is_named() {
    let source = r#"
Resources:
  A: {Type: AWS::EC2::SecurityGroup, Properties: {GroupDescription: !Ref B}}
  B: {Type: AWS::EC2::SecurityGroup, DependsOn: C, Properties: {GroupDescription: b}}
  C: {Type: AWS::EC2::SecurityGroup, Properties: {GroupDescription: !GetAtt A.GroupId}}
  D: {Type: AWS::EC2::SecurityGroup, Properties: {GroupDescription: d}}
"#;
    let d = diagnostics(source);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].message, "circular dependency: A -> B -> C -> A");
    assert_eq!(
        (d[0].location.line, d[0].path.as_str(), d[0].kind),
        (3, "Resources.A", DiagnosticKind::Conflict)
    );
}

#[test]
fn unknown_references_are_reported_with_the_nearest_name() {
    let source = r#"
Parameters:
  VpcCidr: {Type: String, Default: 10.0.0.0/16}
Resources:
  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: !Ref VpcCidrr}}
  Group:
    Type: AWS::EC2::SecurityGroup
    DependsOn: Vcp
    Properties:
      GroupDescription: !Sub "${Vpc.CidrBlock} in ${Nothing}"
      VpcId: !If [Never, !Ref Missing, !Ref Vpc]
Conditions:
  Never: !Equals [a, b]
"#;
    let d = diagnostics(source);
    let find = |needle: &str| {
        d.iter()
            .find(|x| x.message.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {d:?}"))
    };
    let r = find("named `VpcCidrr`");
    assert_eq!(
        (r.location.line, r.path.as_str(), r.hint.as_str()),
        (
            5,
            "Resources.Vpc.Properties.CidrBlock",
            "did you mean `VpcCidr`?"
        )
    );
    assert!(find("`DependsOn` names `Vcp`").hint.contains("`Vpc`"));
    assert_eq!(
        find("named `Nothing`").path,
        "Resources.Group.Properties.GroupDescription"
    );
    // Even on the branch not taken.
    assert_eq!(find("named `Missing`").location.line, 11);
    assert!(
        d.iter()
            .all(|x| x.kind == DiagnosticKind::UnknownReference && x.file == Path::new("t.yaml"))
    );
}

#[test]
fn get_att_of_an_attribute_the_type_lacks() {
    let source = "Resources:\n  Alb:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: !GetAtt Alb.DnsName\n";
    let d = diagnostics(source);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d[0].message,
        "`Alb` (AWS::ElasticLoadBalancingV2::LoadBalancer) has no attribute `DnsName`"
    );
    assert!(
        d[0].hint.starts_with("did you mean `DNSName`?"),
        "{}",
        d[0].hint
    );
    assert!(
        d[0].hint
            .contains("aws-resource-elasticloadbalancingv2-loadbalancer.html")
    );
    assert_eq!((d[0].location.line, d[0].location.column), (7, 21));
}

#[test]
fn a_property_the_type_lacks_and_a_missing_required_one() {
    let source = "Resources:\n  Listener:\n    Type: AWS::ElasticLoadBalancingV2::Listener\n    Properties:\n      LoadBalancerArn: arn\n      DefaultAction: []\n";
    let d = diagnostics(source);
    let unknown = d
        .iter()
        .find(|x| x.message.contains("no property `DefaultAction`"))
        .unwrap();
    assert_eq!(unknown.path, "Resources.Listener.Properties.DefaultAction");
    assert_eq!(unknown.location.line, 6);
    assert!(
        unknown.hint.starts_with("did you mean `DefaultActions`?"),
        "{}",
        unknown.hint
    );
    assert!(
        d.iter()
            .any(|x| x.message.contains("requires the property `DefaultActions`")),
        "{d:?}"
    );
}

#[test]
fn unsupported_types_are_errors_unless_allowed_and_plumbing_is_accepted() {
    let source = "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties: {Anything: 1}\n  Bucket:\n    Type: AWS::S3::Bucket\n  Fn:\n    Type: AWS::Serverless::Function\nOutputs:\n  B: {Value: !GetAtt Bucket.Arn}\n  R: {Value: !GetAtt Role.Arn}\n";
    let d = diagnostics(source);
    let lines: Vec<usize> = d.iter().map(|x| x.location.line).collect();
    assert_eq!(lines, [6, 8], "{d:?}");
    assert!(
        d[0].message
            .contains("`AWS::S3::Bucket` is a resource type airlock does not run")
    );
    assert!(
        d[1].hint.contains("Transform: AWS::Serverless-2016-10-31"),
        "{}",
        d[1].hint
    );
    let allowed = EvalOptions {
        allow_unsupported: true,
        ..EvalOptions::default()
    };
    let evaluated = evaluate_source(source, Path::new("t.yaml"), &allowed).unwrap();
    let names: Vec<&str> = evaluated
        .unsupported
        .iter()
        .map(|u| u.logical_id.as_str())
        .collect();
    assert_eq!(names, ["Bucket", "Fn"]);
    assert_eq!(
        evaluated.resource("Role").unwrap().support,
        Support::Plumbing
    );
    assert!(
        evaluated.outputs[0]
            .value
            .as_str()
            .unwrap()
            .starts_with("arn:aws:s3:us-east-1:123456789012:")
    );
    let role = evaluated.outputs[1].value.as_str().unwrap();
    assert!(
        role.starts_with("arn:aws:iam::123456789012:role/airlock-Role-"),
        "{role}"
    );
}

#[test]
fn sam_templates_are_recorded_and_their_types_accepted() {
    let source = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {Handler: x}\n";
    let evaluated = run(source).unwrap();
    assert_eq!(evaluated.transforms, [SERVERLESS_TRANSFORM]);
    assert_eq!(
        evaluated.resource("Fn").unwrap().support,
        Support::Serverless
    );
}

#[test]
fn a_resource_whose_condition_is_false_does_not_exist() {
    let source = r#"
Parameters:
  WithLogs: {Type: String, Default: "no", AllowedValues: ["yes", "no"]}
Conditions:
  Logging: !Equals [!Ref WithLogs, "yes"]
Resources:
  Logs: {Type: AWS::Logs::LogGroup, Condition: Logging}
  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
Outputs:
  Guarded: {Value: !If [Logging, !Ref Logs, none]}
  Only: {Condition: Logging, Value: !GetAtt Logs.Arn}
"#;
    let evaluated = run(source).unwrap();
    assert!(evaluated.resource("Logs").is_none());
    assert_eq!(evaluated.absent[0].logical_id, "Logs");
    assert_eq!(evaluated.absent[0].condition.as_deref(), Some("Logging"));
    assert_eq!(evaluated.outputs.len(), 1);
    assert_eq!(evaluated.outputs[0].value.as_str(), Some("none"));
    let broken = source.replace("!If [Logging, !Ref Logs, none]", "!Ref Logs");
    let d = diagnostics(&broken);
    assert!(
        d[0].message
            .contains("`Logs` does not exist: its condition `Logging` is false"),
        "{d:?}"
    );
}

#[test]
fn rules_assert_where_their_inputs_are_known() {
    let source = r#"
Parameters:
  Env: {Type: String, Default: prod}
  Size: {Type: String, Default: large}
  BootstrapVersion: {Type: "AWS::SSM::Parameter::Value<String>", Default: /cdk-bootstrap/hnb659fds/version}
Rules:
  ProdIsLarge:
    RuleCondition: !Equals [!Ref Env, prod]
    Assertions:
      - Assert: !Contains [[large, xlarge], !Ref Size]
        AssertDescription: production needs a large size
  CheckBootstrapVersion:
    Assertions:
      - Assert: {"Fn::Not": [{"Fn::Contains": [["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}]}
        AssertDescription: CDK bootstrap stack version 6 required.
  KnownOnlyToAws:
    Assertions:
      - Assert: !EachMemberEquals [!ValueOf [Env, Tag], x]
Resources:
  Logs: {Type: AWS::Logs::LogGroup}
"#;
    run(source).unwrap();
    let small = EvalOptions {
        parameters: vec![("Size".into(), "small".into())],
        ..EvalOptions::default()
    };
    let err = evaluate_source(source, Path::new("t.yaml"), &small).unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!(
        d.message,
        "rule `ProdIsLarge` fails: production needs a large size"
    );
    assert_eq!(
        (d.location.line, d.path.as_str()),
        (10, "Rules.ProdIsLarge.Assertions[0].Assert")
    );
    let dev = EvalOptions {
        parameters: vec![
            ("Size".into(), "small".into()),
            ("Env".into(), "dev".into()),
        ],
        ..EvalOptions::default()
    };
    evaluate_source(source, Path::new("t.yaml"), &dev).unwrap();
}

#[test]
fn all_problems_come_at_once_in_file_order() {
    let source = r#"
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Port: {Type: Number, Default: http}
Resoruces: {}
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Propertes: {}
  Group:
    Type: AWS::EC2::SecurityGroup
    Properties: {GroupDescription: x, VpcId: !Ref Vpcc, GroupNmae: y}
Outputs:
  Out: {Value: !GetAtt Vpc.Nothing}
"#;
    let d = diagnostics(source);
    let lines: Vec<usize> = d.iter().map(|x| x.location.line).collect();
    assert_eq!(lines, [4, 5, 9, 12, 12, 14], "{d:#?}");
    assert!(
        d[1].hint.contains("did you mean `Resources`?"),
        "{:?}",
        d[1]
    );
    assert!(d[2].hint.contains("`Properties`"), "{:?}", d[2]);
    let shown = ConfigError::Invalid(Diagnostics(d.clone())).to_string();
    assert!(shown.lines().all(|l| l.starts_with("t.yaml:")), "{shown}");
}

#[test]
fn json_templates_as_cdk_writes_them() {
    let source = r#"{
 "Resources": {
  "Vpc8378EB38": {
   "Type": "AWS::EC2::VPC",
   "Properties": {"CidrBlock": "10.0.0.0/16", "Tags": [{"Key": "Name", "Value": {"Fn::Join": ["", [{"Ref": "AWS::StackName"}, "/Vpc"]]}}]}
  },
  "SubnetA": {
   "Type": "AWS::EC2::Subnet",
   "Properties": {"VpcId": {"Ref": "Vpc8378EB38"}, "CidrBlock": {"Fn::Select": [0, {"Fn::Cidr": [{"Fn::GetAtt": ["Vpc8378EB38", "CidrBlock"]}, 2, "8"]}]}, "AvailabilityZone": {"Fn::Select": [1, {"Fn::GetAZs": ""}]}}
  }
 }
}"#;
    let evaluated = run(source).unwrap();
    let subnet = evaluated.resource("SubnetA").unwrap();
    assert_eq!(
        subnet.properties.get("CidrBlock").unwrap().as_str(),
        Some("10.0.0.0/24")
    );
    assert_eq!(
        subnet.attribute("AvailabilityZone"),
        Some(&Value::String("us-east-1b".into()))
    );
    assert_eq!(
        subnet.attribute("AvailabilityZoneId"),
        Some(&Value::String("use1-az2".into()))
    );
    assert_eq!(
        subnet.attribute("VpcId"),
        Some(&Value::String(
            evaluated
                .resource("Vpc8378EB38")
                .unwrap()
                .physical_id
                .clone()
        ))
    );
    let tag = &evaluated.resources[0]
        .properties
        .get("Tags")
        .unwrap()
        .as_list()
        .unwrap()[0];
    assert_eq!(tag.get("Value").unwrap().as_str(), Some("airlock/Vpc"));
    assert_eq!(tag.get("Value").unwrap().at.line, 5);
}

#[test]
fn a_condition_that_refers_to_itself_is_reported() {
    let source = "Conditions:\n  A: !Condition B\n  B: !Not [!Condition A]\nResources:\n  L: {Type: AWS::Logs::LogGroup, Condition: A}\n";
    let d = diagnostics(source);
    assert!(
        d.iter()
            .any(|x| x.message.contains("depends on itself") && x.kind == DiagnosticKind::Conflict),
        "{d:?}"
    );
}

#[test]
fn conditions_may_not_use_resources_or_fn_if() {
    let source = "Conditions:\n  A: !Equals [!Ref Vpc, x]\n  B: !If [A, true, false]\nResources:\n  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}\n";
    let d = diagnostics(source);
    assert!(
        d[0].message
            .contains("`Vpc` is a resource; conditions and rules can refer only to parameters"),
        "{d:?}"
    );
    assert_eq!(d[0].location.line, 2);
    assert!(
        d[1].message
            .contains("`Fn::If` cannot be used in a condition"),
        "{d:?}"
    );
}

#[test]
fn an_unknown_function_is_named_with_the_nearest_one() {
    let source = "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: {\"Fn::Joinn\": [\"-\", [a, b]]}\n";
    let d = diagnostics(source);
    assert_eq!(d[0].message, "`Fn::Joinn` is not an intrinsic function");
    assert_eq!(d[0].hint, "did you mean `Fn::Join`?");
    assert_eq!(
        (d[0].location.line, d[0].path.as_str()),
        (5, "Resources.Logs.Properties.LogGroupName")
    );
}

#[test]
fn syntax_errors_and_runaway_nesting_are_refused_with_their_line() {
    let d = diagnostics("Resources:\n  A:\n    Type: AWS::EC2::VPC\n   Properties: {}\n");
    assert_eq!(
        (d[0].kind, d[0].location.line),
        (DiagnosticKind::Syntax, 4),
        "{d:?}"
    );
    let deep = format!(
        "Resources:\n  A:\n    Type: AWS::EC2::VPC\n    Properties:\n      Tags: {}\n",
        "[".repeat(100)
    );
    let d = diagnostics(&deep);
    assert_eq!(
        (d[0].kind, d[0].location.line),
        (DiagnosticKind::Limit, 5),
        "{d:?}"
    );
}

#[test]
fn globals_need_the_sam_transform() {
    let d = diagnostics(
        "Globals:\n  Function: {Timeout: 3}\nResources:\n  L: {Type: AWS::Logs::LogGroup}\n",
    );
    assert!(d[0].message.contains("`Globals` is a SAM section"), "{d:?}");
    assert!(d[0].hint.contains(SERVERLESS_TRANSFORM));
}

#[test]
fn rule_functions_belong_to_rules_and_condition_keys_stay_keys() {
    let d = diagnostics(
        "Resources:\n  L:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: !Contains [[a], a]\n",
    );
    assert!(
        d[0].message.contains("`Fn::Contains` is a rule function"),
        "{d:?}"
    );
    // An IAM statement's `Condition` mapping is data, not the `Condition` function.
    let source = "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      Policy: [{Condition: {Bool: {aws:SecureTransport: true}}}]\n";
    let evaluated = run(source).unwrap();
    let policy = evaluated
        .resource("R")
        .unwrap()
        .properties
        .get("Policy")
        .unwrap();
    assert!(
        policy.as_list().unwrap()[0]
            .get("Condition")
            .unwrap()
            .get("Bool")
            .is_some()
    );
}
