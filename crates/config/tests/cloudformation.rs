//! The templates under `fixtures/cloudformation/`: valid for AWS's own linter, and evaluated
//! whole as CloudFormation would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use airlock_config::cloudformation::{
    EvalOptions, Evaluated, MASK, SERVERLESS_TRANSFORM, Support, Value, is_template, load,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cloudformation")
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    files
}

fn evaluate(name: &str, options: &EvalOptions) -> Evaluated {
    load(&fixtures().join(name), options).unwrap_or_else(|e| panic!("{e}"))
}

fn string<'a>(evaluated: &'a Evaluated, id: &str, property: &str) -> &'a str {
    let resource = evaluated.resource(id).unwrap_or_else(|| panic!("no {id}"));
    resource
        .properties
        .get(property)
        .and_then(|n| n.as_str())
        .unwrap_or_else(|| panic!("{id}.{property}"))
}

/// Whether `name` can be run; under `CI=true` a missing tool fails the test (`.ci/run` installs
/// it), elsewhere the test is skipped with the reason printed.
fn tool(name: &str, version_arg: &str, install_hint: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg(version_arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is not installed and CI=true: .ci/run must install it ({install_hint})"
        );
        eprintln!("skipped: {name} is not installed ({install_hint})");
    }
    found
}

#[test]
fn cfn_lint_accepts_every_fixture_template() {
    if !tool("cfn-lint", "--version", "pip install cfn-lint") {
        return;
    }
    for file in fixture_files() {
        let run = std::process::Command::new("cfn-lint")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "cfn-lint refuses {}:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
}

#[test]
fn every_fixture_is_detected_as_a_template() {
    for file in fixture_files() {
        assert!(
            is_template(&std::fs::read_to_string(&file).unwrap()),
            "{}",
            file.display()
        );
    }
}

#[test]
fn sam_template_with_vpc_parameters_evaluates_with_made_up_ids() {
    let err = load(
        &fixtures().join("sam-private-api.yaml"),
        &EvalOptions::default(),
    )
    .unwrap_err();
    let lines: Vec<usize> = err.diagnostics().iter().map(|d| d.location.line).collect();
    assert_eq!(
        lines,
        [9, 12],
        "the VPC and subnet parameters have no value: {err}"
    );

    let evaluated = evaluate(
        "sam-private-api.yaml",
        &EvalOptions {
            made_up_ids: true,
            ..EvalOptions::default()
        },
    );
    assert_eq!(evaluated.transforms, [SERVERLESS_TRANSFORM]);
    assert_eq!(
        evaluated.resource("Api").unwrap().support,
        Support::Serverless
    );
    let link = &evaluated.resource("VpcLink").unwrap().physical_id;
    assert_eq!(string(&evaluated, "Integration", "ConnectionId"), link);
    assert_eq!(
        string(&evaluated, "Integration", "IntegrationUri"),
        evaluated.resource("Listener").unwrap().physical_id
    );
    let target = string(&evaluated, "ProxyRoute", "Target");
    assert_eq!(
        evaluated.resolve_reference(target).unwrap().0.logical_id,
        "Integration"
    );
    let dns = evaluated
        .outputs
        .iter()
        .find(|o| o.name == "LoadBalancerDns")
        .unwrap();
    // A generated load balancer name fits the 32 characters AWS allows.
    let name = dns
        .value
        .as_str()
        .unwrap()
        .strip_prefix("internal-")
        .unwrap()
        .split_once('.')
        .unwrap()
        .0
        .rsplit_once('-')
        .unwrap()
        .0;
    assert!(
        name.starts_with("airlock-LoadBalance-") && name.len() == 32,
        "{:?}",
        dns.value
    );
    let api = &evaluated.resource("Api").unwrap().physical_id;
    assert_eq!(
        evaluated.outputs[0].value.as_str().unwrap(),
        format!("https://{api}.execute-api.us-east-1.amazonaws.com/prod")
    );
    let subnets = evaluated
        .resource("LoadBalancer")
        .unwrap()
        .properties
        .get("Subnets")
        .unwrap();
    assert!(
        subnets
            .as_list()
            .unwrap()
            .iter()
            .all(|s| s.as_str().unwrap().starts_with("subnet-"))
    );
    let order: Vec<&str> = evaluated
        .resources
        .iter()
        .map(|r| r.logical_id.as_str())
        .collect();
    let pos = |id: &str| order.iter().position(|o| *o == id).unwrap();
    assert!(
        pos("Listener") < pos("Service") && pos("TaskDefinition") < pos("Service"),
        "{order:?}"
    );
}

#[test]
fn cdk_synth_template_evaluates_with_its_rules_and_plumbing() {
    let file = "cdk-vpc-service.template.json";
    let evaluated = evaluate(file, &EvalOptions::default());
    let zone = |id: &str| {
        evaluated
            .resource(id)
            .unwrap()
            .attribute("AvailabilityZone")
            .cloned()
    };
    assert_eq!(
        zone("VpcPrivateSubnet1Subnet"),
        Some(Value::String("us-east-1a".into()))
    );
    assert_eq!(
        zone("VpcPrivateSubnet2Subnet"),
        Some(Value::String("us-east-1b".into()))
    );
    let nat = evaluated.resource("VpcPublicSubnet1NATGateway").unwrap();
    assert_eq!(nat.support, Support::Plumbing);
    assert!(nat.physical_id.starts_with("nat-"));
    let eip = &evaluated.resource("VpcPublicSubnet1EIP").unwrap();
    assert_eq!(
        nat.properties.get("AllocationId").unwrap().as_str(),
        eip.attribute("AllocationId").and_then(|v| match v {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
    );
    let service = evaluated.resource("Service9571FDD8").unwrap();
    let subnets = service
        .properties
        .get("NetworkConfiguration")
        .unwrap()
        .get("AwsvpcConfiguration")
        .unwrap()
        .get("Subnets")
        .unwrap();
    let private: Vec<&str> = ["VpcPrivateSubnet1Subnet", "VpcPrivateSubnet2Subnet"]
        .iter()
        .map(|id| evaluated.resource(id).unwrap().physical_id.as_str())
        .collect();
    assert_eq!(
        subnets
            .as_list()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect::<Vec<_>>(),
        private
    );
    let listener = &evaluated
        .resource("LBListener49E825B4")
        .unwrap()
        .physical_id;
    assert_eq!(
        evaluated.exports,
        vec![("airlock-listener".to_owned(), listener.clone())]
    );

    // The bootstrap-version rule runs: an old bootstrap version is refused where the rule is.
    let old = EvalOptions {
        parameters: vec![("BootstrapVersion".into(), "5".into())],
        ..EvalOptions::default()
    };
    let err = load(&fixtures().join(file), &old).unwrap_err();
    let d = &err.diagnostics()[0];
    assert!(
        d.message.starts_with(
            "rule `CheckBootstrapVersion` fails: CDK bootstrap stack version 6 required."
        ),
        "{d}"
    );
    assert_eq!(d.path, "Rules.CheckBootstrapVersion.Assertions[0].Assert");
}

#[test]
fn conditions_and_mappings_decide_what_exists() {
    let file = "conditions-mappings.yaml";
    let dev = evaluate(file, &EvalOptions::default());
    assert!(dev.resource("Zone").is_some());
    assert_eq!(
        dev.absent
            .iter()
            .map(|a| a.logical_id.as_str())
            .collect::<Vec<_>>(),
        ["ProdAlarmTopicPlaceholder"]
    );
    let logs = dev.resource("AccessLogs").unwrap();
    assert_eq!(
        logs.properties
            .get("RetentionInDays")
            .unwrap()
            .scalar_text()
            .as_deref(),
        Some("7")
    );
    let settings = dev
        .resource("Stage")
        .unwrap()
        .properties
        .get("DefaultRouteSettings")
        .unwrap();
    assert!(
        settings.get("DetailedMetricsEnabled").is_none(),
        "AWS::NoValue removes it"
    );
    assert_eq!(
        string(&dev, "UserPoolClient", "ClientName"),
        "airlock-client-dev"
    );
    let pool = &dev.resource("UserPool").unwrap().physical_id;
    assert!(
        pool.starts_with("us-east-1_") && pool.len() == "us-east-1_".len() + 9,
        "{pool}"
    );
    let output = |e: &Evaluated, name: &str| {
        e.outputs
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.value.scalar_text().unwrap())
    };
    assert_eq!(output(&dev, "SecretEcho").as_deref(), Some(MASK));
    assert_eq!(
        output(&dev, "Literal").as_deref(),
        Some("${NotAVariable}-dev")
    );
    assert_eq!(output(&dev, "NameServers").unwrap().split(',').count(), 4);
    assert_eq!(
        output(&dev, "Issuer").unwrap(),
        format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}")
    );
    let record = dev.resource("Record").unwrap();
    assert_eq!(
        record.properties.get("HostedZoneId").unwrap().as_str(),
        Some(dev.resource("Zone").unwrap().physical_id.as_str())
    );

    let prod = EvalOptions {
        parameters: vec![
            ("Environment".into(), "prod".into()),
            ("HostedZoneId".into(), "Z0123456789ABC".into()),
        ],
        ..EvalOptions::default()
    };
    let prod = evaluate(file, &prod);
    assert!(
        prod.resource("Zone").is_none() && prod.resource("ProdAlarmTopicPlaceholder").is_some()
    );
    assert_eq!(string(&prod, "Record", "HostedZoneId"), "Z0123456789ABC");
    assert!(output(&prod, "NameServers").is_none());
    let settings = prod
        .resource("Stage")
        .unwrap()
        .properties
        .get("DefaultRouteSettings")
        .unwrap();
    assert_eq!(
        settings
            .get("ThrottlingRateLimit")
            .unwrap()
            .scalar_text()
            .as_deref(),
        Some("5000")
    );
    assert_eq!(
        settings.get("DetailedMetricsEnabled").unwrap().value,
        Value::Bool(true)
    );
}

/// The Cognito and custom-domain template: the authorizer's issuer, built with `Fn::Sub` from
/// the pool's id, is the pool's `ProviderURL`, and its audience is the client's id.
#[test]
fn cognito_domain_template_issuer_is_the_pools_provider_url() {
    let ev = evaluate("cognito-domain.yaml", &EvalOptions::default());
    let pool = ev.resource("UserPool").unwrap();
    let client = ev.resource("UserPoolClient").unwrap();
    let authorizer = ev.resource("CognitoAuthorizer").unwrap();
    let jwt = authorizer.properties.get("JwtConfiguration").unwrap();
    assert_eq!(
        Some(&Value::String(
            jwt.get("Issuer").unwrap().as_str().unwrap().to_owned()
        )),
        pool.attribute("ProviderURL")
    );
    let audience = jwt.get("Audience").unwrap().as_list().unwrap();
    assert_eq!(audience[0].as_str(), Some(client.physical_id.as_str()));
    assert_eq!(string(&ev, "ApiDomain", "DomainName"), "api.example.com");
}
