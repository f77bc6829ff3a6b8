//! Intrinsic functions, pseudo parameters and parameter values, one behaviour per test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use super::*;

/// A template around `expr` (the value of output `Out`), with parameters, a mapping, conditions
/// and resources to refer to.
fn template(expr: &str) -> String {
    format!(
        r#"
Parameters:
  Env: {{Type: String, Default: prod, AllowedValues: [prod, dev]}}
  Secret: {{Type: String, NoEcho: true, Default: s3cr3t}}
  Cidrs: {{Type: CommaDelimitedList, Default: "10.0.0.0/24,10.0.1.0/24"}}
Mappings:
  RegionMap:
    us-east-1: {{Ami: ami-east}}
    eu-west-1: {{Ami: ami-west}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Equals [a, a]]
  Either: !Or [!Condition IsDev, !Equals [a, b]]
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {{CidrBlock: 10.0.0.0/16}}
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {{LogGroupName: app-logs}}
Outputs:
  Out:
    Value: {expr}
"#
    )
}

fn run(source: &str, options: &EvalOptions) -> Result<Evaluated, ConfigError> {
    evaluate_source(source, Path::new("t.yaml"), options)
}

fn out_with(expr: &str, options: &EvalOptions) -> Node {
    let evaluated = run(&template(expr), options).unwrap_or_else(|e| panic!("{e}"));
    evaluated
        .outputs
        .into_iter()
        .find(|o| o.name == "Out")
        .expect("output")
        .value
}

fn out(expr: &str) -> Node {
    out_with(expr, &EvalOptions::default())
}

fn text(expr: &str) -> String {
    out(expr).scalar_text().expect("a scalar output")
}

fn texts(node: &Node) -> Vec<String> {
    node.as_list()
        .expect("a list")
        .iter()
        .map(|n| n.scalar_text().unwrap())
        .collect()
}

fn errors(expr: &str) -> Vec<Diagnostic> {
    match run(&template(expr), &EvalOptions::default()) {
        Ok(_) => panic!("`{expr}` was accepted"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

#[test]
fn ref_returns_parameters_pseudo_parameters_and_physical_ids() {
    assert_eq!(text("!Ref Env"), "prod");
    assert_eq!(text("!Ref AWS::Region"), "us-east-1");
    assert_eq!(text("!Ref AWS::AccountId"), "123456789012");
    assert_eq!(text("!Ref AWS::StackName"), "airlock");
    assert_eq!(text("!Ref AWS::Partition"), "aws");
    assert_eq!(text("!Ref AWS::URLSuffix"), "amazonaws.com");
    let stack_id = text("!Ref AWS::StackId");
    assert!(
        stack_id.starts_with("arn:aws:cloudformation:us-east-1:123456789012:stack/airlock/"),
        "{stack_id}"
    );
    assert_eq!(stack_id.rsplit('/').next().unwrap().len(), 36);
    let vpc = text("!Ref Vpc");
    assert!(
        vpc.starts_with("vpc-")
            && vpc.len() == 21
            && vpc[4..].chars().all(|c| c.is_ascii_hexdigit()),
        "{vpc}"
    );
    assert_eq!(text("!Ref Logs"), "app-logs");
    assert_eq!(text("{Ref: Env}"), "prod");
    let china = EvalOptions {
        region: "cn-north-1".into(),
        ..EvalOptions::default()
    };
    assert_eq!(
        out_with("!Sub '${AWS::Partition} ${AWS::URLSuffix}'", &china).as_str(),
        Some("aws-cn amazonaws.com.cn")
    );
}

#[test]
fn get_att_reads_attributes_in_both_forms() {
    assert_eq!(text("!GetAtt Vpc.CidrBlock"), "10.0.0.0/16");
    assert_eq!(text("!GetAtt [Vpc, VpcId]"), text("!Ref Vpc"));
    assert_eq!(text("{'Fn::GetAtt': [Vpc, VpcId]}"), text("!Ref Vpc"));
    assert_eq!(
        text("!GetAtt Logs.Arn"),
        "arn:aws:logs:us-east-1:123456789012:log-group:app-logs:*"
    );
    assert!(text("!GetAtt Vpc.DefaultSecurityGroup").starts_with("sg-"));
}

#[test]
fn sub_substitutes_names_attributes_and_variables_and_keeps_literals() {
    assert_eq!(
        text("!Sub 'env-${Env}-${AWS::Region}'"),
        "env-prod-us-east-1"
    );
    assert_eq!(
        text("!Sub '${Vpc.CidrBlock} ${!Literal}'"),
        "10.0.0.0/16 ${Literal}"
    );
    assert_eq!(
        text("!Sub ['${Name}/${Env}', {Name: !Ref Logs}]"),
        "app-logs/prod"
    );
    assert_eq!(text("{'Fn::Sub': ['x-${A}', {A: b}]}"), "x-b");
}

#[test]
fn join_select_and_split() {
    assert_eq!(text("!Join ['-', [a, !Ref Env, 3]]"), "a-prod-3");
    assert_eq!(text("!Join [',', !Ref Cidrs]"), "10.0.0.0/24,10.0.1.0/24");
    assert_eq!(text("!Select [1, !Ref Cidrs]"), "10.0.1.0/24");
    assert_eq!(texts(&out("!Split ['/', 'a/b/c']")), ["a", "b", "c"]);
    assert_eq!(text("!Select ['2', !Split ['/', 'a/b/c']]"), "c");
    let e = errors("!Select [5, [a, b]]");
    assert!(e[0].message.contains("outside the list of 2"), "{e:?}");
}

#[test]
fn get_azs_gives_the_regions_zones() {
    assert_eq!(
        texts(&out("!GetAZs ''")),
        ["us-east-1a", "us-east-1b", "us-east-1c"]
    );
    assert_eq!(
        texts(&out("!GetAZs eu-west-1")),
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    );
    assert_eq!(
        text("!Select [1, !GetAZs {Ref: AWS::Region}]"),
        "us-east-1b"
    );
    assert_eq!(AVAILABILITY_ZONES_PER_REGION, 3);
}

#[test]
fn find_in_map_looks_up_two_levels() {
    assert_eq!(
        text("!FindInMap [RegionMap, !Ref AWS::Region, Ami]"),
        "ami-east"
    );
    let west = EvalOptions {
        region: "eu-west-1".into(),
        ..EvalOptions::default()
    };
    assert_eq!(
        out_with("!FindInMap [RegionMap, !Ref AWS::Region, Ami]", &west).as_str(),
        Some("ami-west")
    );
    let e = errors("!FindInMap [RegionMap, ap-south-1, Ami]");
    assert_eq!(e[0].kind, DiagnosticKind::UnknownReference);
    assert!(e[0].hint.contains("us-east-1, eu-west-1"), "{e:?}");
}

#[test]
fn conditions_and_if_follow_the_parameters() {
    assert_eq!(text("!If [IsProd, big, small]"), "big");
    assert_eq!(text("!If [Both, yes, no]"), "yes");
    assert_eq!(text("!If [Either, yes, no]"), "no");
    let dev = EvalOptions {
        parameters: vec![("Env".into(), "dev".into())],
        ..EvalOptions::default()
    };
    assert_eq!(
        out_with("!If [IsProd, big, small]", &dev).as_str(),
        Some("small")
    );
    assert_eq!(
        out_with("!If [Either, yes, no]", &dev).as_str(),
        Some("yes")
    );
    let evaluated = run(&template("x"), &dev).unwrap();
    assert_eq!(
        evaluated.conditions,
        vec![
            ("IsProd".into(), false),
            ("IsDev".into(), true),
            ("Both".into(), false),
            ("Either".into(), true)
        ]
    );
}

#[test]
fn no_value_removes_a_property_or_a_list_item() {
    let source = template("x").replace(
        "Properties: {LogGroupName: app-logs}",
        "Properties: {LogGroupName: app-logs, RetentionInDays: !If [IsDev, 7, !Ref AWS::NoValue], Tags: [{Key: a, Value: b}, !Ref AWS::NoValue]}",
    );
    let evaluated = run(&source, &EvalOptions::default()).unwrap();
    let logs = evaluated.resource("Logs").unwrap();
    assert!(logs.properties.get("RetentionInDays").is_none());
    assert_eq!(
        logs.properties
            .get("Tags")
            .unwrap()
            .as_list()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn base64_encodes_with_padding() {
    assert_eq!(text("!Base64 hello"), "aGVsbG8=");
    assert_eq!(text("!Base64 ab"), "YWI=");
    assert_eq!(text("!Base64 abc"), "YWJj");
    assert_eq!(text("!Base64 {'Fn::Sub': '${Env}'}"), "cHJvZA==");
}

#[test]
fn cidr_splits_a_block() {
    assert_eq!(
        texts(&out("!Cidr ['10.0.0.0/16', 3, 8]")),
        ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
    );
    assert_eq!(
        texts(&out("!Cidr [!GetAtt Vpc.CidrBlock, 2, 12]")),
        ["10.0.0.0/20", "10.0.16.0/20"]
    );
    assert_eq!(
        texts(&out("!Cidr ['2001:db8::/56', 2, 64]")),
        ["2001:db8::/64", "2001:db8:0:1::/64"]
    );
    let e = errors("!Cidr ['10.0.0.0/24', 3, 8]");
    assert!(e[0].message.contains("does not hold 3 blocks"), "{e:?}");
}

#[test]
fn import_value_reads_the_given_imports() {
    let options = EvalOptions {
        imports: vec![("shared-vpc".into(), "vpc-0abc".into())],
        ..EvalOptions::default()
    };
    assert_eq!(
        out_with("!ImportValue shared-vpc", &options).as_str(),
        Some("vpc-0abc")
    );
    let e = errors("!ImportValue other");
    assert_eq!(e[0].kind, DiagnosticKind::UnknownReference);
    assert!(e[0].hint.contains("--import other=VALUE"), "{e:?}");
}

#[test]
fn short_forms_become_long_forms() {
    let t = parse("Resources:\n  A:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: !GetAtt B.C.D\n", Path::new("t.yaml")).unwrap();
    let props = t.resources[0].properties.as_ref().unwrap();
    let (name, arg) = props.get("CidrBlock").unwrap().as_function().unwrap();
    assert_eq!(name, "Fn::GetAtt");
    assert_eq!(texts(arg), ["B", "C.D"]);
    let e = parse(
        "Resources:\n  A:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: !Bogus x\n",
        Path::new("t.yaml"),
    )
    .unwrap_err();
    let d = &e.diagnostics()[0];
    assert_eq!(
        (d.location.line, d.path.as_str()),
        (5, "Resources.A.Properties.CidrBlock")
    );
    assert!(d.message.contains("`!Bogus`"), "{d}");
}

#[test]
fn parameter_types_and_given_values() {
    let source = r#"
Parameters:
  Ports: {Type: "List<Number>", Default: "80,443"}
  Names: {Type: CommaDelimitedList}
  Size: {Type: Number, Default: 2}
Resources:
  Logs: {Type: AWS::Logs::LogGroup}
Outputs:
  Out: {Value: !Join ['|', [!Select [1, !Ref Ports], !Select [0, !Ref Names], !Ref Size]]}
"#;
    let options = EvalOptions {
        parameters: vec![("Names".into(), "a,b".into()), ("Size".into(), "5".into())],
        ..EvalOptions::default()
    };
    let evaluated = run(source, &options).unwrap();
    assert_eq!(evaluated.outputs[0].value.as_str(), Some("443|a|5"));
    assert_eq!(evaluated.parameters[1].shown(), "a,b");
    let missing = run(source, &EvalOptions::default()).unwrap_err();
    assert!(
        missing.diagnostics()[0]
            .message
            .contains("`Names` has no value"),
        "{missing}"
    );
    let unknown = run(
        source,
        &EvalOptions {
            parameters: vec![("Names".into(), "a".into()), ("Nmaes".into(), "x".into())],
            ..EvalOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        unknown.diagnostics()[0].hint.contains("`Names`"),
        "{unknown}"
    );
}

#[test]
fn aws_specific_id_parameters_get_made_up_ids_only_when_asked() {
    let source = r#"
Parameters:
  VpcId: {Type: "AWS::EC2::VPC::Id"}
  Subnets: {Type: "List<AWS::EC2::Subnet::Id>"}
Resources:
  Group: {Type: AWS::EC2::SecurityGroup, Properties: {GroupDescription: web, VpcId: !Ref VpcId}}
Outputs:
  Out: {Value: !Join [',', !Ref Subnets]}
"#;
    let err = run(source, &EvalOptions::default()).unwrap_err();
    assert_eq!(err.diagnostics().len(), 2, "{err}");
    let options = EvalOptions {
        made_up_ids: true,
        ..EvalOptions::default()
    };
    let a = run(source, &options).unwrap();
    let b = run(source, &options).unwrap();
    let vpc = a.parameters[0].value.as_str().unwrap();
    assert!(vpc.starts_with("vpc-") && vpc.len() == 21, "{vpc}");
    let subnets = a.outputs[0].value.as_str().unwrap();
    assert!(
        subnets.split(',').all(|s| s.starts_with("subnet-")) && subnets.split(',').count() == 2,
        "{subnets}"
    );
    assert_eq!(
        subnets,
        b.outputs[0].value.as_str().unwrap(),
        "made-up ids are the same on every run"
    );
    assert_eq!(
        a.resource("Group").unwrap().attribute("VpcId"),
        Some(&Value::String(vpc.to_owned()))
    );
    let wrong = EvalOptions {
        parameters: vec![("VpcId".into(), "subnet-1".into())],
        made_up_ids: true,
        ..EvalOptions::default()
    };
    assert!(
        run(source, &wrong).unwrap_err().diagnostics()[0]
            .message
            .contains("not a AWS::EC2::VPC::Id")
    );
}

#[test]
fn every_broken_constraint_is_reported_and_no_echo_values_are_masked() {
    let source = r#"
Parameters:
  Env: {Type: String, AllowedValues: [prod, dev]}
  Name: {Type: String, AllowedPattern: "[a-z]+", MinLength: 3, MaxLength: 5, ConstraintDescription: lower-case letters}
  Count: {Type: Number, MinValue: 1, MaxValue: 3}
  Ratio: {Type: Number}
  Token: {Type: String, NoEcho: true, MinLength: 10}
Resources:
  Logs: {Type: AWS::Logs::LogGroup}
"#;
    let given = [
        ("Env", "test"),
        ("Name", "AB"),
        ("Count", "4"),
        ("Ratio", "half"),
        ("Token", "hunter2"),
    ];
    let options = EvalOptions {
        parameters: given
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        ..EvalOptions::default()
    };
    let err = run(source, &options).unwrap_err();
    let messages: Vec<&str> = err
        .diagnostics()
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"test\" is not one of its AllowedValues")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"AB\" does not match its AllowedPattern")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"AB\" is 2 characters long")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"4\" is outside its MinValue/MaxValue")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"half\" is not a number")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`Token`: **** is 7 characters long")),
        "{messages:?}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(
        err.diagnostics()
            .iter()
            .any(|d| d.hint == "lower-case letters")
    );
    assert!(
        err.diagnostics()
            .iter()
            .all(|d| d.location.line > 1 && d.path.starts_with("Parameters.")),
        "{err}"
    );
}

#[test]
fn override_files_in_both_formats() {
    let json = r#"[{"ParameterKey": "Env", "ParameterValue": "dev"}, {"ParameterKey": "Port", "ParameterValue": 8080}]"#;
    assert_eq!(
        parse_parameters_file(json).unwrap(),
        vec![("Env".into(), "dev".into()), ("Port".into(), "8080".into())]
    );
    let lines = "# comment\nEnv=dev\n\nUrl=https://x/?a=b\n";
    assert_eq!(
        parse_parameters_file(lines).unwrap(),
        vec![
            ("Env".into(), "dev".into()),
            ("Url".into(), "https://x/?a=b".into())
        ]
    );
    assert!(
        parse_parameters_file(r#"[{"ParameterKey": "Env", "UsePreviousValue": true}]"#)
            .unwrap_err()
            .0
            .contains("UsePreviousValue")
    );
    assert!(parse_key_value("novalue").is_err());
    assert_eq!(parse_key_value("A=").unwrap(), ("A".into(), String::new()));
}

#[test]
fn outputs_showing_no_echo_values_are_masked_and_exports_are_collected() {
    let source = template("!Sub 'token=${Secret}'").replace(
        "    Value: !Sub 'token=${Secret}'",
        "    Value: !Sub 'token=${Secret}'\n  Plain:\n    Value: !Ref Vpc\n    Export: {Name: !Sub '${AWS::StackName}-vpc'}",
    );
    let evaluated = run(&source, &EvalOptions::default()).unwrap();
    let secret = &evaluated.outputs[0];
    assert!(secret.masked);
    assert_eq!(secret.value.as_str(), Some(MASK));
    let plain = &evaluated.outputs[1];
    assert!(!plain.masked);
    assert_eq!(
        evaluated.exports,
        vec![(
            "airlock-vpc".to_owned(),
            evaluated.resource("Vpc").unwrap().physical_id.clone()
        )]
    );
    assert_eq!(evaluated.parameters[1].shown(), MASK);
}

#[test]
fn is_template_is_true_only_for_templates() {
    assert!(is_template(&template("x")));
    assert!(is_template(
        r#"{"Resources": {"A": {"Type": "AWS::EC2::VPC"}}}"#
    ));
    assert!(!is_template(crate::DEFAULT_STACK_YAML));
    assert!(!is_template("Resources:\n  A:\n    Type: vpc\n# AWS::\n"));
    assert!(!is_template("Resources: []\n# AWS:: Type\n"));
}
