#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use super::*;

/// The default stack with `from` (which must occur exactly once) replaced by `to`.
fn mutated(from: &str, to: &str) -> String {
    assert_eq!(
        DEFAULT_STACK_YAML.matches(from).count(),
        1,
        "test needle {from:?} must occur once in the default stack"
    );
    DEFAULT_STACK_YAML.replacen(from, to, 1)
}

/// 1-based line of the first occurrence of `needle` in `text`, and the column where it starts.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    let line = text[..offset].matches('\n').count() + 1;
    let line_start = text[..offset].rfind('\n').map_or(0, |p| p + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

fn errors(source: &str) -> Vec<Diagnostic> {
    parse(source, Path::new("stack.yaml"))
        .expect_err("the stack must be refused")
        .diagnostics()
        .to_vec()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn the_embedded_default_stack_is_valid() {
    let stack = default_stack();
    assert_eq!(stack.region.as_str(), "us-east-1");
    assert_eq!(stack.account_id.as_str(), "000000000000");
    assert_eq!(stack.vpc.cidr_block.to_string(), "10.0.0.0/16");
    assert_eq!(stack.vpc.subnets.len(), 2);
}

#[test]
fn the_default_stack_parses_into_typed_values() {
    let stack = default_stack();
    let api = stack.http_api("pets-api").unwrap();
    let keys: Vec<String> = api.routes.iter().map(|r| r.route_key.to_string()).collect();
    assert_eq!(
        keys,
        [
            "GET /pets",
            "GET /pets/{petId}",
            "POST /pets",
            "GET /whoami",
            "GET /health"
        ]
    );
    assert_eq!(api.routes[2].authorization_scopes, ["pets/write"]);
    assert_eq!(api.routes[4].authorization_type, AuthorizationType::None);

    let integration = api.integration("pets-alb-listener").unwrap();
    assert_eq!(integration.connection_type, ConnectionType::VpcLink);
    let IntegrationUri::Listener(target) = &integration.integration_uri else {
        panic!("a listener reference");
    };
    assert_eq!(target.to_string(), "pets-alb:443");
    let listener = stack.listener(target).unwrap();
    assert_eq!(listener.protocol, Protocol::Https);
    assert_eq!(listener.default_actions[0].target_group(), Some("pets-tg"));
    assert_eq!(
        integration
            .tls_config
            .as_ref()
            .unwrap()
            .server_name_to_verify,
        "private-integration.example.com"
    );

    let authorizer = api.authorizer("local-jwt").unwrap();
    assert_eq!(
        authorizer.identity_source,
        [IdentitySource::Header("Authorization".into())]
    );
    assert_eq!(
        authorizer.jwt_configuration.as_ref().unwrap().issuer,
        JwtConfiguration::LOCAL_ISSUER
    );
    assert!(api.stage(&StageName::Default).unwrap().auto_deploy);

    let zone = stack.hosted_zone("example.com", false).unwrap();
    assert_eq!(
        zone.records[0].alias_target.as_ref().unwrap().destination,
        AliasDestination::CustomDomain("private-integration.example.com".into())
    );
    let domain = stack
        .domain_name("private-integration.example.com")
        .unwrap();
    assert!(
        stack
            .certificate(&domain.certificate)
            .unwrap()
            .covers(&domain.domain_name)
    );
    assert_eq!(domain.api_mappings[0].api_mapping_key, "");

    let tg = stack.target_group("pets-tg").unwrap();
    let hc = tg.effective_health_check();
    assert_eq!(hc.path, "/health");
    assert_eq!(hc.port, HealthCheckPort::TrafficPort);
    assert_eq!((hc.interval_seconds, hc.timeout_seconds), (30, 5));
    assert_eq!(
        (hc.healthy_threshold_count, hc.unhealthy_threshold_count),
        (5, 2)
    );
    assert!(hc.matcher.http_code.contains(200) && !hc.matcher.http_code.contains(204));

    let service = stack.service("pets").unwrap();
    assert_eq!(service.desired_count, 2);
    let td = stack.task_definition(&service.task_definition).unwrap();
    assert_eq!((td.cpu, td.memory), (CpuUnits(256), MemoryMib(512)));
    let app = td.container("app").unwrap();
    assert_eq!(app.program(), Program::Builtin(BuiltinApp::Pets));
    assert_eq!(app.port_env_var, "PORT");
    assert_eq!(
        stack
            .services_in_target_group("pets-tg")
            .map(|(s, _)| s.service_name.as_str())
            .collect::<Vec<_>>(),
        ["pets"]
    );

    let alb_sg = stack.security_group("pets-alb-sg").unwrap();
    assert_eq!(alb_sg.ingress[0].ports(), Some(443..=443));
    assert!(alb_sg.egress.is_none(), "absent egress means allow-all");
    assert_eq!(
        stack.vantage_points.vpc.as_ref().unwrap().subnet,
        "private-a"
    );
    assert_eq!(
        stack.load_balancer("pets-alb").unwrap().scheme,
        Scheme::Internal
    );
}

#[test]
fn display_names_file_line_column_field_problem_and_hint() {
    let yaml = mutated(
        "        target: pets-alb-listener\n      - route_key: GET /health",
        "        target: pets-alb\n      - route_key: GET /health",
    );
    let err = parse(&yaml, Path::new("stack.yaml")).unwrap_err();
    let (line, _) = position_of(&yaml, "target: pets-alb\n");
    assert_eq!(
        err.to_string(),
        format!(
            "stack.yaml:{line}:17: http_apis[0].routes[3].target: no integration named \"pets-alb\"; \
             known integrations: pets-alb-listener \
             (hint: set target to the name of one of this API's integrations)"
        )
    );
}

/// One refused stack: the edit to the default stack, the field path of the first diagnostic, the
/// text whose line (and, when `column` is set, column) the diagnostic must point at, and a piece
/// of the message.
struct Case {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    path: &'static str,
    at: &'static str,
    column: bool,
    message: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "unknown field",
        from: "  cidr_block: 10.0.0.0/16\n",
        to: "  cidr_block: 10.0.0.0/16\n  colour: red\n",
        path: "vpc.colour",
        at: "colour: red",
        column: true,
        message: "unknown field `colour`",
    },
    Case {
        name: "dangling route target",
        from: "        target: pets-alb-listener\n      - route_key: GET /health",
        to: "        target: pets-alb\n      - route_key: GET /health",
        path: "http_apis[0].routes[3].target",
        at: "pets-alb\n      - route_key: GET /health",
        column: true,
        message: "no integration named \"pets-alb\"",
    },
    Case {
        name: "overlapping subnet CIDRs",
        from: "10.0.101.0/24",
        to: "10.0.100.128/25",
        path: "vpc.subnets[1].cidr_block",
        at: "10.0.100.128/25",
        column: true,
        message: "overlaps subnet \"private-a\"",
    },
    Case {
        name: "subnet outside the VPC",
        from: "10.0.101.0/24",
        to: "10.1.101.0/24",
        path: "vpc.subnets[1].cidr_block",
        at: "10.1.101.0/24",
        column: true,
        message: "is not inside the VPC CIDR 10.0.0.0/16",
    },
    Case {
        name: "subnet CIDR with host bits",
        from: "10.0.101.0/24",
        to: "10.0.101.7/24",
        path: "vpc.subnets[1].cidr_block",
        at: "10.0.101.7/24",
        column: false,
        message: "host bits set",
    },
    Case {
        name: "VPC CIDR too large",
        from: "  cidr_block: 10.0.0.0/16\n",
        to: "  cidr_block: 10.0.0.0/8\n",
        path: "vpc.cidr_block",
        at: "10.0.0.0/8",
        column: true,
        message: "/16 to /28",
    },
    Case {
        name: "route key with a trailing slash (docs/aws-rules.md §HTTP-2.3)",
        from: "route_key: GET /whoami",
        to: "route_key: GET /whoami/",
        path: "http_apis[0].routes[3].route_key",
        at: "GET /whoami/",
        column: true,
        message: "may not end in `/`",
    },
    Case {
        name: "greedy variable not last (docs/aws-rules.md §HTTP-2.3)",
        from: "route_key: GET /pets/{petId}",
        to: "route_key: GET /{proxy+}/pets",
        path: "http_apis[0].routes[1].route_key",
        at: "GET /{proxy+}/pets",
        column: true,
        message: "must be the last segment",
    },
    Case {
        name: "duplicate route shape (docs/aws-rules.md §HTTP-2.3)",
        from: "route_key: GET /whoami",
        to: "route_key: GET /pets/{id}",
        path: "http_apis[0].routes[3].route_key",
        at: "GET /pets/{id}",
        column: true,
        message: "conflicts with \"GET /pets/{petId}\"",
    },
    Case {
        name: "reserved header in a request mapping (docs/aws-rules.md §HTTP-4.6)",
        from: "          server_name_to_verify: private-integration.example.com\n",
        to: "          server_name_to_verify: private-integration.example.com\n        request_parameters:\n          \"overwrite:header.X-Forwarded-For\": x\n",
        path: "http_apis[0].integrations[0].request_parameters",
        at: "\"overwrite:header.X-Forwarded-For\": x",
        column: false,
        message: "reserved header",
    },
    Case {
        name: "route settings for a route that does not exist (docs/aws-rules.md §HTTP-3.1)",
        from: "        auto_deploy: true\n",
        to: "        auto_deploy: true\n        route_settings:\n          \"GET /nope\":\n            throttling_burst_limit: 1\n",
        path: "http_apis[0].stages[0].route_settings",
        at: "\"GET /nope\":",
        column: false,
        message: "not a route of this API",
    },
    Case {
        name: "access log destination that is not a log group ARN (docs/aws-rules.md §HTTP-9)",
        from: "        auto_deploy: true\n",
        to: "        auto_deploy: true\n        access_log_settings:\n          destination_arn: my-logs\n          format: CLF\n",
        path: "http_apis[0].stages[0].access_log_settings.destination_arn",
        at: "my-logs",
        column: true,
        message: "not a log group ARN",
    },
    Case {
        name: "listener port out of range",
        from: "        port: 443\n",
        to: "        port: 70000\n",
        path: "load_balancers[0].listeners[0].port",
        at: "70000",
        column: true,
        message: "70000",
    },
    Case {
        name: "listener reference to a missing port",
        from: "integration_uri: pets-alb:443",
        to: "integration_uri: pets-alb:8443",
        path: "http_apis[0].integrations[0].integration_uri",
        at: "pets-alb:8443",
        column: true,
        message: "has no listener on port 8443; its listener ports: 443",
    },
    Case {
        name: "bad stage name",
        from: "stage_name: $default",
        to: "stage_name: dev stage",
        path: "http_apis[0].stages[0].stage_name",
        at: "dev stage",
        column: true,
        message: "is not a stage name",
    },
    Case {
        name: "duplicate subnet names",
        from: "    - name: private-b\n",
        to: "    - name: private-a\n",
        path: "vpc.subnets[1].name",
        at: "private-a\n      cidr_block: 10.0.101.0/24",
        column: true,
        message: "duplicate subnet \"private-a\"",
    },
    Case {
        name: "HTTPS listener without certificate",
        from: "        certificates: [example-wildcard]\n",
        to: "",
        path: "load_balancers[0].listeners[0]",
        at: "protocol: HTTPS",
        column: true,
        message: "an HTTPS listener needs a certificate",
    },
    Case {
        name: "JWT route without authorizer",
        from: "        authorizer_id: local-jwt\n        target: pets-alb-listener\n      - route_key: GET /health",
        to: "        target: pets-alb-listener\n      - route_key: GET /health",
        path: "http_apis[0].routes[3]",
        at: "route_key: GET /whoami",
        column: true,
        message: "a JWT route needs authorizer_id",
    },
    Case {
        name: "scopes on an open route",
        from: "        authorization_type: NONE\n",
        to: "        authorization_type: NONE\n        authorization_scopes: [pets/read]\n",
        path: "http_apis[0].routes[4].authorization_scopes",
        at: "[pets/read]",
        column: true,
        message: "only to JWT routes",
    },
    Case {
        name: "JWT authorizer without audience",
        from: "          audience: [pets-client]\n",
        to: "",
        path: "http_apis[0].authorizers[0].jwt_configuration.audience",
        at: "issuer: local",
        column: false,
        message: "1 to 50 audiences",
    },
    Case {
        name: "integration timeout out of range",
        from: "timeout_in_millis: 30000",
        to: "timeout_in_millis: 40000",
        path: "http_apis[0].integrations[0].timeout_in_millis",
        at: "40000",
        column: true,
        message: "outside 50..=30000",
    },
    Case {
        name: "payload format 2.0 on HTTP_PROXY",
        from: "payload_format_version: \"1.0\"",
        to: "payload_format_version: \"2.0\"",
        path: "http_apis[0].integrations[0].payload_format_version",
        at: "\"2.0\"",
        column: false,
        message: "unknown variant `2.0`",
    },
    Case {
        name: "dangling VPC link",
        from: "connection_id: pets-link",
        to: "connection_id: other-link",
        path: "http_apis[0].integrations[0].connection_id",
        at: "other-link",
        column: true,
        message: "no VPC link named \"other-link\"; known VPC links: pets-link",
    },
    Case {
        name: "dangling security group source",
        from: "source_security_group: bastion-sg",
        to: "source_security_group: nobody-sg",
        path: "vpc.security_groups[1].ingress[1].source_security_group",
        at: "nobody-sg",
        column: true,
        message: "no security group named \"nobody-sg\"",
    },
    Case {
        name: "load balancer in one availability zone (docs/aws-rules.md §ALB-1.1)",
        from: "    subnets: [private-a, private-b]\n    security_groups: [pets-alb-sg]",
        to: "    subnets: [private-a]\n    security_groups: [pets-alb-sg]",
        path: "load_balancers[0].subnets",
        at: "[private-a]\n    security_groups: [pets-alb-sg]",
        column: true,
        message: "at least two availability zones",
    },
    Case {
        name: "unsupported authenticate action",
        from: "          - type: forward\n            target_group: pets-tg\n",
        to: "          - type: authenticate-oidc\n",
        path: "load_balancers[0].listeners[0].default_actions[0]",
        at: "type: authenticate-oidc",
        column: false,
        message: "`authenticate-oidc` actions are not supported",
    },
    Case {
        name: "unsupported target type",
        from: "target_type: ip",
        to: "target_type: instance",
        path: "target_groups[0].target_type",
        at: "instance",
        column: true,
        message: "not supported by airlock yet",
    },
    Case {
        name: "service attaches a port the container does not map",
        from: "        container_port: 8080\n",
        to: "        container_port: 9090\n",
        path: "services[0].load_balancers[0].container_port",
        at: "9090",
        column: true,
        message: "does not map port 9090; its container ports: 8080",
    },
    Case {
        name: "container with both builtin and command",
        from: "        builtin: pets\n",
        to: "        builtin: pets\n        command: [./server]\n",
        path: "task_definitions[0].container_definitions[0]",
        at: "name: app",
        column: true,
        message: "exactly one of builtin or command",
    },
    Case {
        name: "account id not 12 digits",
        from: "account_id: \"000000000000\"",
        to: "account_id: \"0000\"",
        path: "account_id",
        at: "\"0000\"",
        column: true,
        message: "exactly 12 digits",
    },
    Case {
        name: "region not a region",
        from: "region: us-east-1",
        to: "region: useast",
        path: "region",
        at: "useast",
        column: true,
        message: "is not a region name",
    },
    Case {
        name: "invalid Fargate size",
        from: "memory: \"512\"",
        to: "memory: \"4096\"",
        path: "task_definitions[0].memory",
        at: "\"4096\"",
        column: true,
        message: "not a Fargate size",
    },
    Case {
        name: "alias to an unknown custom domain",
        from: "          custom_domain: private-integration.example.com",
        to: "          custom_domain: api.example.com",
        path: "hosted_zones[0].records[0].alias_target.custom_domain",
        at: "api.example.com",
        column: true,
        message: "no custom domain named \"api.example.com\"",
    },
];

#[test]
fn invalid_stacks_are_refused_with_line_column_and_field() {
    for case in CASES {
        let yaml = mutated(case.from, case.to);
        let diagnostics = errors(&yaml);
        let first = &diagnostics[0];
        let (line, column) = position_of(&yaml, case.at);
        assert_eq!(first.path, case.path, "{}: {first}", case.name);
        assert_eq!(first.location.line, line, "{}: {first}", case.name);
        if case.column {
            assert_eq!(first.location.column, column, "{}: {first}", case.name);
        }
        assert!(
            first.message.contains(case.message),
            "{}: {first}",
            case.name
        );
        assert!(
            !first.hint.is_empty(),
            "{}: every diagnostic has a hint",
            case.name
        );
        let shown = first.to_string();
        assert!(
            shown.starts_with(&format!("stack.yaml:{line}:")) && shown.contains(case.path),
            "{}: {shown}",
            case.name
        );
    }
}

#[test]
fn several_problems_are_reported_together_in_file_order() {
    let yaml = mutated("connection_id: pets-link", "connection_id: other-link")
        .replacen("target: pets-alb-listener", "target: nowhere", 1)
        .replacen(
            "target_group: pets-tg\n\ntarget_groups",
            "target_group: gone-tg\n\ntarget_groups",
            1,
        );
    let diagnostics = errors(&yaml);
    let paths: Vec<&str> = diagnostics.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "http_apis[0].integrations[0].connection_id",
            "http_apis[0].routes[0].target",
            "load_balancers[0].listeners[0].default_actions[0].target_group",
            // With the listener no longer forwarding to pets-tg, the service's tasks are unreachable.
            "services[0].load_balancers[0].target_group",
        ]
    );
    assert!(
        diagnostics
            .windows(2)
            .all(|w| w[0].location < w[1].location)
    );
    assert_eq!(
        diagnostics.iter().map(|d| d.kind).collect::<Vec<_>>(),
        [
            DiagnosticKind::UnknownReference,
            DiagnosticKind::UnknownReference,
            DiagnosticKind::UnknownReference,
            DiagnosticKind::Conflict,
        ]
    );
}

#[test]
fn yaml_syntax_errors_are_located() {
    let yaml = mutated(
        "  cidr_block: 10.0.0.0/16\n",
        "  cidr_block: 10.0.0.0/16\n bad: [\n",
    );
    let d = &errors(&yaml)[0];
    assert_eq!(d.kind, DiagnosticKind::Syntax);
    assert_eq!(d.location.line, position_of(&yaml, " bad: [").0);
    assert!(d.hint.contains("indentation"));
}

#[test]
fn optional_lists_default_to_empty_and_defaults_apply() {
    let yaml = "region: eu-west-1\naccount_id: \"123456789012\"\nvpc:\n  cidr_block: 10.1.0.0/16\n";
    let stack = parse(yaml, Path::new("min.yaml")).unwrap();
    assert!(
        stack.http_apis.is_empty() && stack.services.is_empty() && stack.vpc.subnets.is_empty()
    );
    assert!(stack.vantage_points.vpc.is_none());
}

#[test]
fn integration_and_stage_defaults_follow_aws() {
    let yaml = mutated("        integration_method: ANY\n        payload_format_version: \"1.0\"\n        timeout_in_millis: 30000\n", "")
        .replacen("        auto_deploy: true\n", "", 1);
    let stack = parse(&yaml, Path::new("stack.yaml")).unwrap();
    let api = &stack.http_apis[0];
    let integration = &api.integrations[0];
    assert_eq!(integration.integration_method, HttpMethod::Any);
    assert_eq!(integration.payload_format_version, PayloadFormatVersion::V1);
    assert_eq!(integration.timeout_in_millis, 30_000);
    assert!(api.stages[0].auto_deploy);
    assert!(api.stages[0].stage_variables.is_empty());
}

#[test]
fn listener_rules_and_actions_are_typed() {
    let yaml = mutated(
        "          - type: forward\n            target_group: pets-tg\n",
        "          - type: forward\n            target_group: pets-tg\n        rules:\n          - priority: 10\n            conditions:\n              - field: path-pattern\n                values: [/old/*]\n            actions:\n              - type: redirect\n                path: /new/#{path}\n                status_code: HTTP_301\n          - priority: 20\n            conditions:\n              - field: http-header\n                http_header_name: x-maintenance\n                values: [\"on\"]\n            actions:\n              - type: fixed-response\n                status_code: 503\n                content_type: application/json\n                message_body: '{\"message\":\"down\"}'\n",
    );
    let stack = parse(&yaml, Path::new("stack.yaml")).unwrap();
    let listener = &stack.load_balancers[0].listeners[0];
    assert_eq!(listener.rules.len(), 2);
    assert_eq!(
        listener.rules[0].conditions[0].field,
        ConditionField::PathPattern
    );
    let Action::Redirect(redirect) = &listener.rules[0].actions[0] else {
        panic!("a redirect");
    };
    assert_eq!(redirect.status_code, RedirectStatus::Http301);
    assert_eq!(redirect.path.as_deref(), Some("/new/#{path}"));
    let Action::FixedResponse(fixed) = &listener.rules[1].actions[0] else {
        panic!("a fixed response");
    };
    assert_eq!(fixed.status_code, 503);

    let dup = yaml.replacen("priority: 20", "priority: 10", 1);
    let d = &errors(&dup)[0];
    assert_eq!(d.path, "load_balancers[0].listeners[0].rules[1].priority");
    assert_eq!(
        d.location.line,
        position_of(
            &dup,
            "priority: 10\n            conditions:\n              - field: http-header"
        )
        .0
    );
}

#[test]
fn invalid_fixture_files_are_refused_at_their_lines() {
    let cases = [
        (
            "dangling-integration.yaml",
            "pets-alb\n",
            "http_apis[0].routes[3].target",
        ),
        (
            "overlapping-subnets.yaml",
            "10.0.100.128/25\n",
            "vpc.subnets[1].cidr_block",
        ),
        (
            "unknown-field.yaml",
            "healthcheck:",
            "target_groups[0].healthcheck",
        ),
    ];
    for (file, at, path) in cases {
        let file = fixtures().join("invalid").join(file);
        let text = std::fs::read_to_string(&file).unwrap();
        let err = load(&file).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(d.path, path, "{}", file.display());
        assert_eq!(
            (d.location.line, d.location.column),
            position_of(&text, at),
            "{d}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{}:{}:", file.display(), d.location.line))
        );
    }
}

#[test]
fn the_dangling_integration_fixture_points_at_line_100() {
    // The lead's end-to-end test relies on this line number.
    let file = fixtures().join("invalid/dangling-integration.yaml");
    let err = load(&file).unwrap_err();
    assert_eq!(
        err.diagnostics()[0].location,
        Location {
            line: 100,
            column: 17
        }
    );
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = load(Path::new("/nonexistent/stack.yaml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(
        err.to_string()
            .starts_with("/nonexistent/stack.yaml: cannot read")
    );
}

#[test]
fn certificates_cover_wildcards_one_label_deep() {
    let cert = Certificate {
        name: "c".into(),
        domain_name: "*.example.com".into(),
        subject_alternative_names: vec!["example.com".into()],
    };
    assert!(cert.covers("api.example.com"));
    assert!(cert.covers("EXAMPLE.com"));
    assert!(!cert.covers("a.b.example.com"));
    assert!(!cert.covers("example.org"));
}

#[test]
fn flexible_scalars_parse_as_in_aws() {
    let yaml = mutated(
        "      path: /health\n",
        "      path: /health\n      port: 8081\n      matcher:\n        http_code: 200-299\n",
    )
    .replacen("cpu: \"256\"", "cpu: 1 vCPU", 1)
    .replacen("memory: \"512\"", "memory: 2GB", 1);
    let stack = parse(&yaml, Path::new("stack.yaml")).unwrap();
    let hc = stack.target_groups[0].effective_health_check();
    assert_eq!(hc.port, HealthCheckPort::Port(8081));
    assert!(hc.matcher.http_code.contains(204));
    assert_eq!(stack.task_definitions[0].cpu, CpuUnits(1024));
    assert_eq!(stack.task_definitions[0].memory, MemoryMib(2048));
}

#[test]
fn an_internet_integration_needs_a_url_and_no_vpc_link() {
    let yaml = mutated("connection_type: VPC_LINK", "connection_type: INTERNET");
    let paths: Vec<String> = errors(&yaml).into_iter().map(|d| d.path).collect();
    assert_eq!(
        paths,
        [
            "http_apis[0].integrations[0].connection_id",
            "http_apis[0].integrations[0].integration_uri",
            "http_apis[0].integrations[0].tls_config",
        ]
    );
    let public = yaml
        .replacen("        connection_id: pets-link\n", "", 1)
        .replacen("integration_uri: pets-alb:443", "integration_uri: https://example.com/api", 1)
        .replacen("        tls_config:\n          server_name_to_verify: private-integration.example.com\n", "", 1);
    let stack = parse(&public, Path::new("stack.yaml")).unwrap();
    assert_eq!(
        stack.http_apis[0].integrations[0].integration_uri,
        IntegrationUri::Url("https://example.com/api".into())
    );
}

/// REQUEST authorizers, `CUSTOM` and `AWS_IAM` routes, and IAM credentials.
#[test]
fn request_authorizers_iam_routes_and_credentials() {
    let request = "      - name: key-check\n        authorizer_type: REQUEST\n        identity_source: [\"$request.header.x-api-key\", \"$context.routeKey\", \"$stageVariables.tenant\"]\n        authorizer_uri: http://127.0.0.1:9001/authorize\n        authorizer_payload_format_version: \"2.0\"\n        enable_simple_responses: true\n        authorizer_result_ttl_in_seconds: 300\n    integrations:\n";
    let yaml = mutated("    integrations:\n", request)
        .replacen(
            "        authorization_type: NONE\n",
            "        authorization_type: AWS_IAM\n",
            1,
        )
        .replacen(
            "      - route_key: GET /whoami\n        authorization_type: JWT\n        authorizer_id: local-jwt\n",
            "      - route_key: GET /whoami\n        authorization_type: CUSTOM\n        authorizer_id: key-check\n",
            1,
        )
        + "\niam_credentials:\n  - access_key_id: AKIAEXAMPLE\n    secret_access_key: s3cret\n    principal: arn:aws:iam::000000000000:user/alice\n    allow_invoke: [\"arn:aws:execute-api:*:*:*/*/GET/health\"]\n";
    let stack = parse(&yaml, Path::new("stack.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let a = &stack.http_apis[0].authorizers[1];
    assert_eq!(a.authorizer_type, AuthorizerType::Request);
    assert_eq!(
        a.identity_source,
        [
            IdentitySource::Header("x-api-key".into()),
            IdentitySource::Context("routeKey".into()),
            IdentitySource::StageVariable("tenant".into()),
        ]
    );
    assert_eq!(
        a.authorizer_uri,
        Some(AuthorizerUri::Url("http://127.0.0.1:9001/authorize".into()))
    );
    assert_eq!(
        a.authorizer_payload_format_version,
        Some(AuthorizerPayloadFormat::V2)
    );
    assert_eq!(a.authorizer_result_ttl_in_seconds, 300);
    assert_eq!(stack.iam_credentials[0].allow_invoke.len(), 1);

    // Refusals, each at its field.
    let bad = yaml
        .replacen(
            "http://127.0.0.1:9001/authorize",
            "https://auth.example.com/",
            1,
        )
        .replacen(
            "authorizer_result_ttl_in_seconds: 300",
            "authorizer_result_ttl_in_seconds: 4000",
            1,
        )
        .replacen("authorizer_id: key-check", "authorizer_id: local-jwt", 1)
        .replacen(
            "principal: arn:aws:iam::000000000000:user/alice",
            "principal: alice",
            1,
        );
    let paths: Vec<String> = errors(&bad).into_iter().map(|d| d.path).collect();
    for expected in [
        "http_apis[0].authorizers[1].authorizer_uri",
        "http_apis[0].authorizers[1].authorizer_result_ttl_in_seconds",
        "http_apis[0].routes[3].authorizer_id",
        "iam_credentials[0].principal",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} not in {paths:?}"
        );
    }
    let no_format = yaml.replacen(
        "        authorizer_payload_format_version: \"2.0\"\n",
        "",
        1,
    );
    let diags = errors(&no_format);
    assert!(
        diags
            .iter()
            .any(|d| d.message.contains("authorizer_payload_format_version")),
        "{diags:?}"
    );
    let command = yaml.replacen(
        "authorizer_uri: http://127.0.0.1:9001/authorize",
        "authorizer_uri: {command: [python3, auth.py]}",
        1,
    );
    let stack = parse(&command, Path::new("stack.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stack.http_apis[0].authorizers[1].authorizer_uri,
        Some(AuthorizerUri::Command {
            command: vec!["python3".into(), "auth.py".into()]
        })
    );
}

#[test]
fn weighted_forwards_follow_forward_config() {
    let from = "          - type: forward\n            target_group: pets-tg\n";
    let weighted = |body: &str| mutated(from, &format!("          - type: forward\n{body}"));
    let stack = parse(
        &weighted("            target_groups:\n              - target_group: pets-tg\n                weight: 20\n            target_group_stickiness_config:\n              enabled: true\n              duration_seconds: 3600\n"),
        Path::new("stack.yaml"),
    )
    .unwrap();
    let Action::WeightedForward(f) = &stack.load_balancers[0].listeners[0].default_actions[0]
    else {
        panic!("a weighted forward");
    };
    assert_eq!(f.target_groups[0].target_group, "pets-tg");
    assert_eq!(f.target_groups[0].weight, 20);
    assert_eq!(
        f.target_group_stickiness_config,
        Some(TargetGroupStickinessConfig {
            enabled: true,
            duration_seconds: Some(3600)
        })
    );
    for (body, needle) in [
        (
            "            target_groups:\n              - target_group: pets-tg\n                weight: 1000\n",
            "0 to 999",
        ),
        (
            "            target_group: other\n            target_groups:\n              - target_group: pets-tg\n",
            "disagree",
        ),
        (
            "            target_groups:\n              - target_group: pets-tg\n            target_group_stickiness_config:\n              enabled: true\n",
            "duration_seconds",
        ),
        (
            "            target_groups:\n              - target_group: nope\n",
            "nope",
        ),
    ] {
        let found = errors(&weighted(body));
        assert!(
            found.iter().any(|d| d.to_string().contains(needle)),
            "{needle}: {found:?}"
        );
    }
}

/// A service's desired count is bounded by ECS's "Tasks per service" quota and by the addresses
/// its subnets have left after the interfaces the stack places there first.
#[test]
fn desired_count_is_bounded_by_the_quota_and_the_subnets() {
    let over_quota = errors(&mutated("desired_count: 2", "desired_count: 5001"));
    assert_eq!(over_quota[0].path, "services[0].desired_count");
    assert!(
        over_quota[0]
            .message
            .contains("quota of 5000 tasks per service"),
        "{}",
        over_quota[0].message
    );
    // Two /24 subnets: 2 x 251 usable, less two ALB nodes, two VPC link interfaces and the
    // vpc vantage point.
    let free = 2 * 251 - 5;
    parse(
        &mutated("desired_count: 2", &format!("desired_count: {free}")),
        Path::new("stack.yaml"),
    )
    .unwrap();
    let full = errors(&mutated(
        "desired_count: 2",
        &format!("desired_count: {}", free + 1),
    ));
    assert_eq!(
        full[0].message,
        format!(
            "desired_count {} needs {} private addresses, but the service's subnets have {free} free",
            free + 1,
            free + 1
        )
    );
}

/// A change read with the stack file's parser and checked by its validation reports problems in
/// the body that carried it, in the stack file's words.
#[test]
fn changes_are_refused_in_the_stack_files_words() {
    let stack = default_stack();
    let body = "{\"ingress\": [\n  {\"ip_protocol\": \"tcp\", \"from_port\": 443, \"to_port\": 80, \"cidr_ip\": \"10.0.0.0/16\"}\n]}";
    let origin = Path::new("PUT /security-groups/pets-alb-sg");
    let rules: SecurityGroupRules = parse_change(body, origin).unwrap();
    let err = stack
        .with_security_group_rules("pets-alb-sg", rules, body, origin)
        .unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!(d.path, "ingress[0].to_port");
    assert_eq!(d.message, "to_port 80 is below from_port 443");
    assert_eq!(d.location.line, 2);
    let err =
        parse_change::<SecurityGroupRules>(r#"{"ingress": [{"ip_protocol": "gre"}]}"#, origin)
            .unwrap_err();
    assert!(
        err.diagnostics()[0]
            .message
            .contains("unknown variant `gre`"),
        "{err}"
    );
    let ok: SecurityGroupRules = parse_change(
        r#"{"ingress": [{"ip_protocol": "icmp", "from_port": 8, "to_port": -1, "cidr_ip": "10.0.0.0/16"}]}"#,
        origin,
    )
    .unwrap();
    let next = stack
        .with_security_group_rules("pets-alb-sg", ok, "", origin)
        .unwrap();
    assert_eq!(
        next.security_group("pets-alb-sg").unwrap().ingress[0].ip_protocol,
        IpProtocol::Icmp
    );
}
