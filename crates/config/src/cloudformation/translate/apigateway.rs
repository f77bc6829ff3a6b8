//! API Gateway HTTP APIs: `AWS::ApiGatewayV2::*` and SAM's `AWS::Serverless::HttpApi`, into the
//! stack's `http_apis`, `vpc_links` and `domain_names`.
//!
//! The API's entry is named with the API's `Name` (or the name CloudFormation generates), the
//! name its id is made from ([`crate::ids::api_id`]), so the converted stack serves the id the
//! template's outputs show. Routes, integrations, authorizers and stages are folded into their
//! API's entry; integrations are named by logical id, authorizers by `Name`.

use yaml_serde::Value as Yaml;

use crate::error::DiagnosticKind;

use super::super::ids::Ids;
use super::super::node::{Node, Value};
use super::super::{Problem, Resource};
use super::values::{
    boolean, dns_name, entries, items, known_keys, map, number, prop, s, string_list, string_map,
    text,
};
use super::{Ctx, Origin, Section};

const API: &str = "AWS::ApiGatewayV2::Api";
const SAM_HTTP_API: &str = "AWS::Serverless::HttpApi";
const ROUTE: &str = "AWS::ApiGatewayV2::Route";
const INTEGRATION: &str = "AWS::ApiGatewayV2::Integration";
const AUTHORIZER: &str = "AWS::ApiGatewayV2::Authorizer";
const STAGE: &str = "AWS::ApiGatewayV2::Stage";
const DEPLOYMENT: &str = "AWS::ApiGatewayV2::Deployment";
const VPC_LINK: &str = "AWS::ApiGatewayV2::VpcLink";
const DOMAIN_NAME: &str = "AWS::ApiGatewayV2::DomainName";
const API_MAPPING: &str = "AWS::ApiGatewayV2::ApiMapping";
const LISTENER: &str = "AWS::ElasticLoadBalancingV2::Listener";
const CERTIFICATE: &str = "AWS::CertificateManager::Certificate";

/// An API's entry while its parts are collected.
struct ApiEntry<'a> {
    r: &'a Resource,
    name: String,
    fields: Vec<(&'static str, Yaml)>,
    authorizers: Vec<Yaml>,
    integrations: Vec<Yaml>,
    routes: Vec<Yaml>,
    stages: Vec<Yaml>,
}

impl<'a> ApiEntry<'a> {
    /// The entry of API `r` (an `AWS::ApiGatewayV2::Api` or a SAM `HttpApi`), named as the
    /// runtime names it, with what both types share.
    fn new(cx: &mut Ctx<'a>, ids: &Ids, r: &'a Resource) -> ApiEntry<'a> {
        let name = ids.api_name(&r.logical_id, prop(r, "Name").and_then(Node::scalar_text));
        cx.name(r, name.clone());
        let mut e = ApiEntry {
            r,
            name,
            fields: Vec::new(),
            authorizers: Vec::new(),
            integrations: Vec::new(),
            routes: Vec::new(),
            stages: Vec::new(),
        };
        if let Some(n) = prop(r, "DisableExecuteApiEndpoint")
            && let Some(b) = boolean(cx, n)
        {
            e.fields
                .push(("disable_execute_api_endpoint", Yaml::Bool(b)));
        }
        e
    }
}

/// A custom domain's entry while its mappings are collected.
struct DomainEntry<'a> {
    r: &'a Resource,
    domain: String,
    certificate: Option<String>,
    mappings: Vec<Yaml>,
}

/// Adds the template's HTTP APIs, VPC links and custom domains to the stack document.
pub(crate) fn translate(cx: &mut Ctx<'_>) {
    let ids = Ids {
        stack_name: cx.eval.stack_name.clone(),
        region: cx.eval.region.clone(),
        account_id: cx.eval.account_id.clone(),
    };
    // Each resource of these types is dealt with here, even when it fails to translate: its
    // problem is reported once, by this module, not again as a type airlock cannot run.
    for t in [
        API,
        SAM_HTTP_API,
        ROUTE,
        INTEGRATION,
        AUTHORIZER,
        STAGE,
        DEPLOYMENT,
        VPC_LINK,
        DOMAIN_NAME,
        API_MAPPING,
    ] {
        for r in cx.of_type(t).collect::<Vec<_>>() {
            cx.handled(r);
        }
    }
    other_sam_types(cx);
    let mut apis: Vec<ApiEntry<'_>> = Vec::new();
    for r in cx.of_type(API).collect::<Vec<_>>() {
        if let Some(e) = api(cx, &ids, r) {
            apis.push(e);
        }
    }
    for r in cx.of_type(SAM_HTTP_API).collect::<Vec<_>>() {
        if let Some(e) = sam_http_api(cx, &ids, r) {
            apis.push(e);
        }
    }
    for r in cx.of_type(VPC_LINK).collect::<Vec<_>>() {
        vpc_link(cx, r);
    }
    for r in cx.of_type(AUTHORIZER).collect::<Vec<_>>() {
        if let Some(i) = api_of(cx, &apis, r)
            && let Some(a) = authorizer(cx, r)
        {
            apis[i].authorizers.push(a);
        }
    }
    for r in cx.of_type(INTEGRATION).collect::<Vec<_>>() {
        if let Some(i) = api_of(cx, &apis, r)
            && let Some(int) = integration(cx, r)
        {
            apis[i].integrations.push(int);
        }
    }
    for r in cx.of_type(ROUTE).collect::<Vec<_>>() {
        if let Some(i) = api_of(cx, &apis, r)
            && let Some(route) = route(cx, &apis[i], r)
        {
            apis[i].routes.push(route);
        }
    }
    for r in cx.of_type(STAGE).collect::<Vec<_>>() {
        if let Some(i) = api_of(cx, &apis, r)
            && let Some(stage) = stage(cx, r, true)
        {
            apis[i].stages.push(stage);
        }
    }
    // A deployment snapshots routes for a stage without auto-deploy; airlock always serves the
    // current routes, so it is folded into its stage (docs/aws-fidelity.md).
    for r in cx.of_type(DEPLOYMENT).collect::<Vec<_>>() {
        api_of(cx, &apis, r);
        cx.handled(r);
    }
    let mut domains: Vec<DomainEntry<'_>> = Vec::new();
    for r in cx.of_type(DOMAIN_NAME).collect::<Vec<_>>() {
        if let Some(d) = domain_name(cx, r) {
            domains.push(d);
        }
    }
    for r in cx.of_type(API_MAPPING).collect::<Vec<_>>() {
        api_mapping(cx, &apis, &mut domains, r);
    }
    for e in apis {
        let mut pairs: Vec<(&str, Yaml)> = vec![("name", s(e.name))];
        pairs.extend(e.fields);
        for (key, list) in [
            ("authorizers", e.authorizers),
            ("integrations", e.integrations),
            ("routes", e.routes),
            ("stages", e.stages),
        ] {
            if !list.is_empty() {
                pairs.push((key, Yaml::Sequence(list)));
            }
        }
        cx.doc.push(Section::HttpApis, Origin::of(e.r), map(pairs));
    }
    for d in domains {
        let Some(certificate) = d.certificate else {
            continue;
        };
        let mut pairs = vec![
            ("domain_name", s(d.domain)),
            ("certificate", s(certificate)),
        ];
        if !d.mappings.is_empty() {
            pairs.push(("api_mappings", Yaml::Sequence(d.mappings)));
        }
        cx.doc
            .push(Section::DomainNames, Origin::of(d.r), map(pairs));
    }
}

/// SAM types other than `HttpApi` are errors with a hint naming what runs instead (with
/// `ignore_unsupported` they are left to the general rule, which makes them warnings).
fn other_sam_types(cx: &mut Ctx<'_>) {
    if cx.options.ignore_unsupported {
        return;
    }
    let sam: Vec<&Resource> = cx
        .ev
        .resources
        .iter()
        .filter(|r| r.type_name.starts_with("AWS::Serverless::") && r.type_name != SAM_HTTP_API)
        .collect();
    for r in sam {
        let hint = match r.type_name.as_str() {
            "AWS::Serverless::Function" => {
                "Lambda functions do not run in airlock: run the code as an ECS service behind                  the API's VPC link, or point an HTTP_PROXY integration at a local URL;                  --ignore-unsupported skips it when nothing that runs depends on it"
            }
            "AWS::Serverless::Api" => {
                "REST APIs do not run in airlock: use AWS::Serverless::HttpApi or                  AWS::ApiGatewayV2::Api; --ignore-unsupported skips it when nothing that runs                  depends on it"
            }
            _ => {
                "airlock runs AWS::Serverless::HttpApi of SAM's types (docs/cloudformation.md);                  --ignore-unsupported skips this one when nothing that runs depends on it"
            }
        };
        cx.handled(r);
        cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!("airlock cannot run {} ({})", r.logical_id, r.type_name),
            hint,
        );
    }
}

/// The index of the API `r`'s `ApiId` names; a problem when it names none of the template's.
fn api_of(cx: &mut Ctx<'_>, apis: &[ApiEntry<'_>], r: &Resource) -> Option<usize> {
    let Some(node) = prop(r, "ApiId") else {
        cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!("{} has no `ApiId`", r.logical_id),
            "refer to the API with `ApiId: !Ref MyApi`",
        );
        return None;
    };
    let api = cx.reference(node, &[API, SAM_HTTP_API])?;
    // An API that failed its own translation was reported there.
    apis.iter().position(|e| e.r.logical_id == api.logical_id)
}

/// `AWS::ApiGatewayV2::Api`: an HTTP API (WebSocket APIs are not emulated).
fn api<'a>(cx: &mut Ctx<'a>, ids: &Ids, r: &'a Resource) -> Option<ApiEntry<'a>> {
    for key in ["Body", "BodyS3Location"] {
        if let Some(n) = prop(r, key) {
            cx.problem(
                n,
                DiagnosticKind::Schema,
                format!("airlock does not import OpenAPI definitions (`{key}`)"),
                "declare the routes, integrations and authorizers as AWS::ApiGatewayV2 resources",
            );
        }
    }
    match prop(r, "ProtocolType")
        .and_then(Node::scalar_text)
        .as_deref()
    {
        Some("HTTP") => {}
        Some("WEBSOCKET") => {
            let n = prop(r, "ProtocolType").unwrap_or(&r.properties);
            cx.problem(
                n,
                DiagnosticKind::Schema,
                "airlock emulates HTTP APIs, not WebSocket APIs",
                "use ProtocolType: HTTP; a WebSocket API cannot run in airlock",
            );
            return None;
        }
        Some(other) => {
            let n = prop(r, "ProtocolType").unwrap_or(&r.properties);
            cx.problem(
                n,
                DiagnosticKind::InvalidValue,
                format!("{other:?} is not a protocol type"),
                "use ProtocolType: HTTP",
            );
            return None;
        }
        None => {
            cx.problem_at(
                r,
                DiagnosticKind::Schema,
                format!("{} has no `ProtocolType`", r.logical_id),
                "add ProtocolType: HTTP",
            );
            return None;
        }
    }
    let mut e = ApiEntry::new(cx, ids, r);
    if let Some(n) = prop(r, "CorsConfiguration")
        && let Some(c) = cors(cx, n)
    {
        e.fields.push(("cors_configuration", c));
    }
    // Quick create: an integration to `Target`, a route (`RouteKey`, `$default` by default) and
    // a `$default` stage with automatic deployment ("Quick create", AWS::ApiGatewayV2::Api,
    // properties `Target` and `RouteKey`).
    if let Some(target) = prop(r, "Target") {
        let uri = text(cx, target)?;
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            cx.problem(
                target,
                DiagnosticKind::Schema,
                format!("airlock quick-creates only HTTP proxy integrations, not {uri:?}"),
                "Lambda functions do not run in airlock: point Target at an http(s) URL",
            );
            return None;
        }
        let route_key = match prop(r, "RouteKey") {
            Some(n) => route_key(cx, n)?,
            None => "$default".to_owned(),
        };
        e.integrations.push(map(vec![
            ("name", s("quick-create")),
            ("integration_type", s("HTTP_PROXY")),
            ("integration_uri", s(uri)),
            ("payload_format_version", s("1.0")),
        ]));
        e.routes.push(map(vec![
            ("route_key", s(route_key)),
            ("target", s("quick-create")),
        ]));
        e.stages.push(map(vec![
            ("stage_name", s("$default")),
            ("auto_deploy", Yaml::Bool(true)),
        ]));
    } else if let Some(n) = prop(r, "RouteKey") {
        cx.problem(
            n,
            DiagnosticKind::Conflict,
            "`RouteKey` on an API is part of quick create, which needs `Target`",
            "add Target (an http(s) URL), or declare the route as an AWS::ApiGatewayV2::Route",
        );
    }
    Some(e)
}

/// `CorsConfiguration` (the API's, or SAM's object form).
fn cors(cx: &mut Ctx<'_>, node: &Node) -> Option<Yaml> {
    known_keys(
        cx,
        node,
        &[
            "AllowCredentials",
            "AllowHeaders",
            "AllowMethods",
            "AllowOrigins",
            "ExposeHeaders",
            "MaxAge",
        ],
        "CorsConfiguration",
    );
    let mut pairs = Vec::new();
    for (key, field) in [
        ("AllowOrigins", "allow_origins"),
        ("AllowHeaders", "allow_headers"),
        ("AllowMethods", "allow_methods"),
        ("ExposeHeaders", "expose_headers"),
    ] {
        if let Some(n) = node.get(key) {
            pairs.push((field, string_list(cx, n)));
        }
    }
    if let Some(n) = node.get("AllowCredentials") {
        pairs.push(("allow_credentials", Yaml::Bool(boolean(cx, n)?)));
    }
    if let Some(n) = node.get("MaxAge") {
        pairs.push(("max_age", number(cx, n)?));
    }
    Some(map(pairs))
}

/// SAM's `AWS::Serverless::HttpApi`: the HTTP API SAM's transform creates, with its stage and
/// the JWT authorizers of `Auth` ("AWS::Serverless::HttpApi",
/// https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-resource-httpapi.html).
fn sam_http_api<'a>(cx: &mut Ctx<'a>, ids: &Ids, r: &'a Resource) -> Option<ApiEntry<'a>> {
    const KNOWN: &[&str] = &[
        "AccessLogSettings",
        "Auth",
        "CorsConfiguration",
        "DefaultRouteSettings",
        "DefinitionBody",
        "DefinitionUri",
        "Description",
        "DisableExecuteApiEndpoint",
        "Domain",
        "FailOnWarnings",
        "Name",
        "PropagateTags",
        "RouteSettings",
        "StageName",
        "StageVariables",
        "Tags",
    ];
    known_keys(cx, &r.properties, KNOWN, SAM_HTTP_API);
    for (key, hint) in [
        (
            "DefinitionBody",
            "declare the routes as AWS::ApiGatewayV2::Route resources with ApiId: !Ref <this API>",
        ),
        (
            "DefinitionUri",
            "declare the routes as AWS::ApiGatewayV2::Route resources with ApiId: !Ref <this API>",
        ),
        (
            "Domain",
            "declare the custom domain as AWS::ApiGatewayV2::DomainName and ApiMapping resources",
        ),
    ] {
        if let Some(n) = prop(r, key) {
            cx.problem(
                n,
                DiagnosticKind::Schema,
                format!("airlock does not translate `{key}` of a SAM HttpApi"),
                hint,
            );
        }
    }
    let mut e = ApiEntry::new(cx, ids, r);
    if let Some(n) = prop(r, "CorsConfiguration") {
        match &n.value {
            // `true` allows every origin ("HttpApiCorsConfiguration": a boolean adds `*`).
            Value::Bool(true) => e.fields.push((
                "cors_configuration",
                map(vec![("allow_origins", Yaml::Sequence(vec![s("*")]))]),
            )),
            Value::Bool(false) => {}
            _ => {
                if let Some(c) = cors(cx, n) {
                    e.fields.push(("cors_configuration", c));
                }
            }
        }
    }
    if let Some(auth) = prop(r, "Auth") {
        sam_auth(cx, auth, &mut e);
    }
    // SAM's stage: `StageName`, `$default` when not given, always deployed automatically.
    if let Some(st) = stage(cx, r, false) {
        e.stages.push(st);
    }
    Some(e)
}

/// `Auth` of a SAM HttpApi: its JWT authorizers ("HttpApiAuth", "OAuth2Authorizer").
fn sam_auth(cx: &mut Ctx<'_>, auth: &Node, e: &mut ApiEntry<'_>) {
    known_keys(
        cx,
        auth,
        &["Authorizers", "DefaultAuthorizer", "EnableIamAuthorizer"],
        "HttpApiAuth",
    );
    let mut names = Vec::new();
    if let Some(authorizers) = auth.get("Authorizers") {
        for (name, a) in entries(cx, authorizers) {
            names.push(name.clone());
            if a.get("FunctionArn").is_some() {
                cx.problem(
                    a,
                    DiagnosticKind::Schema,
                    format!("{name} is a Lambda authorizer, which airlock cannot run"),
                    "use a JWT authorizer (JwtConfiguration), or convert the template and give \
                     the authorizer a local authorizer_uri (docs/cloudformation.md)",
                );
                continue;
            }
            known_keys(
                cx,
                a,
                &["AuthorizationScopes", "IdentitySource", "JwtConfiguration"],
                "OAuth2Authorizer",
            );
            let Some(jwt) = a.get("JwtConfiguration") else {
                cx.problem(
                    a,
                    DiagnosticKind::Schema,
                    format!("the authorizer {name} has no JwtConfiguration"),
                    "add JwtConfiguration with issuer and audience",
                );
                continue;
            };
            // SAM's examples write the keys in lower case; CloudFormation's are capitalised.
            let issuer = jwt.get("issuer").or_else(|| jwt.get("Issuer"));
            let audience = jwt.get("audience").or_else(|| jwt.get("Audience"));
            let Some(issuer) = issuer.and_then(|n| text(cx, n)) else {
                cx.problem(
                    jwt,
                    DiagnosticKind::Schema,
                    format!("the authorizer {name} has no issuer"),
                    "add issuer: the token issuer's URL",
                );
                continue;
            };
            let audience = audience.map(|n| string_list(cx, n)).unwrap_or_default();
            let source = match a.get("IdentitySource") {
                Some(n) => identity_sources(cx, n),
                None => Yaml::Sequence(vec![s("$request.header.Authorization")]),
            };
            e.authorizers.push(map(vec![
                ("name", s(name.clone())),
                ("authorizer_type", s("JWT")),
                ("identity_source", source),
                (
                    "jwt_configuration",
                    map(vec![("issuer", s(issuer)), ("audience", audience)]),
                ),
            ]));
        }
    }
    if let Some(n) = auth.get("EnableIamAuthorizer")
        && boolean(cx, n) == Some(true)
    {
        cx.warnings.push(format!(
            "{}: EnableIamAuthorizer applies to the routes SAM generates from function events, \
             which airlock does not run",
            e.r.logical_id
        ));
    }
    if let Some(n) = auth.get("DefaultAuthorizer")
        && let Some(default) = text(cx, n)
    {
        if !names.contains(&default) {
            cx.problem(
                n,
                DiagnosticKind::UnknownReference,
                format!("DefaultAuthorizer {default:?} is not one of Auth.Authorizers"),
                format!("name one of: {}", names.join(", ")),
            );
        } else {
            // SAM applies the default to the routes it generates from function events; routes
            // declared as resources keep their own authorization, as in AWS (docs/aws-fidelity.md).
            cx.warnings.push(format!(
                "{}: Auth.DefaultAuthorizer {default} applies to the routes SAM generates from \
                 function events; AWS::ApiGatewayV2::Route resources keep their own \
                 AuthorizationType and AuthorizerId",
                e.r.logical_id
            ));
        }
    }
}

/// `IdentitySource`: a list of selection expressions (or one, as SAM writes it), each checked.
fn identity_sources(cx: &mut Ctx<'_>, node: &Node) -> Yaml {
    let mut out = Vec::new();
    for item in items(cx, node) {
        let Some(t) = text(cx, item) else { continue };
        match crate::IdentitySource::try_from(t.clone()) {
            Ok(_) => out.push(s(t)),
            Err(e) => cx.problem(
                item,
                DiagnosticKind::InvalidValue,
                e,
                "write e.g. $request.header.Authorization",
            ),
        }
    }
    Yaml::Sequence(out)
}

/// `AWS::ApiGatewayV2::VpcLink`: its subnets and security groups by airlock name; no groups means
/// the VPC's default group, as in AWS.
fn vpc_link(cx: &mut Ctx<'_>, r: &Resource) {
    let Some(name) = prop(r, "Name").and_then(|n| text(cx, n)) else {
        cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!("{} has no `Name`", r.logical_id),
            "add Name",
        );
        return;
    };
    let subnets: Vec<Yaml> = match prop(r, "SubnetIds") {
        Some(n) => super::ec2::subnets_of(cx, n).into_iter().map(s).collect(),
        None => Vec::new(),
    };
    // "If you don't specify a security group, API Gateway uses the default security group for
    // the VPC" (AWS::ApiGatewayV2::VpcLink, SecurityGroupIds): absent or an empty list.
    let groups: Vec<Yaml> = super::ec2::security_groups(cx, prop(r, "SecurityGroupIds"))
        .into_iter()
        .map(s)
        .collect();
    cx.name(r, name.clone());
    cx.doc.push(
        Section::VpcLinks,
        Origin::of(r),
        map(vec![
            ("name", s(name)),
            ("subnet_ids", Yaml::Sequence(subnets)),
            ("security_group_ids", Yaml::Sequence(groups)),
        ]),
    );
}

/// `AWS::ApiGatewayV2::Authorizer`: JWT authorizers; Lambda (REQUEST) authorizers are errors.
fn authorizer(cx: &mut Ctx<'_>, r: &Resource) -> Option<Yaml> {
    let kind_node = prop(r, "AuthorizerType")?;
    let kind = text(cx, kind_node)?;
    match kind.as_str() {
        "JWT" => {}
        "REQUEST" => {
            cx.problem(
                kind_node,
                DiagnosticKind::Schema,
                "a REQUEST (Lambda) authorizer calls a Lambda function, which airlock cannot run",
                "use a JWT authorizer, or convert the template (`airlock convert`) and give the \
                 authorizer a local authorizer_uri: a loopback URL or a command (docs/cloudformation.md)",
            );
            return None;
        }
        other => {
            cx.problem(
                kind_node,
                DiagnosticKind::InvalidValue,
                format!("{other:?} is not an HTTP API authorizer type"),
                "use AuthorizerType: JWT",
            );
            return None;
        }
    }
    let name = text(cx, prop(r, "Name")?)?;
    let Some(jwt) = prop(r, "JwtConfiguration") else {
        cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!(
                "the JWT authorizer {} has no JwtConfiguration",
                r.logical_id
            ),
            "add JwtConfiguration with Issuer and Audience",
        );
        return None;
    };
    known_keys(cx, jwt, &["Audience", "Issuer"], "JWTConfiguration");
    let Some(issuer) = jwt.get("Issuer").and_then(|n| text(cx, n)) else {
        cx.problem(
            jwt,
            DiagnosticKind::Schema,
            "JwtConfiguration has no Issuer",
            "add Issuer: the token issuer's URL (a Cognito pool's is its ProviderURL)",
        );
        return None;
    };
    let audience = jwt
        .get("Audience")
        .map(|n| string_list(cx, n))
        .unwrap_or(Yaml::Sequence(Vec::new()));
    let source = match prop(r, "IdentitySource") {
        Some(n) => identity_sources(cx, n),
        None => Yaml::Sequence(vec![s("$request.header.Authorization")]),
    };
    cx.name(r, name.clone());
    Some(map(vec![
        ("name", s(name)),
        ("authorizer_type", s("JWT")),
        ("identity_source", source),
        (
            "jwt_configuration",
            map(vec![("issuer", s(issuer)), ("audience", audience)]),
        ),
    ]))
}

/// `AWS::ApiGatewayV2::Integration`: HTTP proxies, private (through a VPC link to a listener)
/// or to a URL.
fn integration(cx: &mut Ctx<'_>, r: &Resource) -> Option<Yaml> {
    let kind_node = prop(r, "IntegrationType")?;
    let kind = text(cx, kind_node)?;
    match kind.as_str() {
        "HTTP_PROXY" => {}
        "AWS_PROXY" => {
            cx.problem(
                kind_node,
                DiagnosticKind::Schema,
                "an AWS_PROXY integration calls a Lambda function or an AWS service, which \
                 airlock cannot run",
                "use an HTTP_PROXY integration: through a VPC link to a load balancer listener, \
                 or to an http(s) URL",
            );
            return None;
        }
        other => {
            cx.problem(
                kind_node,
                DiagnosticKind::InvalidValue,
                format!("{other:?} is not an HTTP API integration type airlock runs"),
                "use IntegrationType: HTTP_PROXY",
            );
            return None;
        }
    }
    if let Some(n) = prop(r, "IntegrationSubtype") {
        cx.problem(
            n,
            DiagnosticKind::Schema,
            "AWS service integrations (IntegrationSubtype) do not run in airlock",
            "use an HTTP_PROXY integration to a URL or a load balancer listener",
        );
        return None;
    }
    let name = r.logical_id.clone();
    let mut pairs = vec![
        ("name", s(name.clone())),
        ("integration_type", s("HTTP_PROXY")),
    ];
    let connection = prop(r, "ConnectionType")
        .and_then(|n| text(cx, n))
        .unwrap_or_else(|| "INTERNET".to_owned());
    let uri_node = prop(r, "IntegrationUri");
    match connection.as_str() {
        "VPC_LINK" => {
            pairs.push(("connection_type", s("VPC_LINK")));
            let link = match prop(r, "ConnectionId") {
                Some(n) => cx.reference_name(n, &[VPC_LINK]),
                None => {
                    cx.problem_at(
                        r,
                        DiagnosticKind::Schema,
                        format!(
                            "the private integration {} has no ConnectionId",
                            r.logical_id
                        ),
                        "add ConnectionId: !Ref <the VPC link>",
                    );
                    None
                }
            };
            // The listener's airlock name is `LOAD_BALANCER:PORT`, the stack's listener reference.
            let listener = match uri_node {
                Some(n) => cx.reference_name(n, &[LISTENER]),
                None => {
                    cx.problem_at(
                        r,
                        DiagnosticKind::Schema,
                        format!(
                            "the private integration {} has no IntegrationUri",
                            r.logical_id
                        ),
                        "add IntegrationUri: !Ref <the load balancer's listener>",
                    );
                    None
                }
            };
            pairs.push(("connection_id", s(link?)));
            pairs.push(("integration_uri", s(listener?)));
        }
        "INTERNET" => {
            let Some(n) = uri_node else {
                cx.problem_at(
                    r,
                    DiagnosticKind::Schema,
                    format!("the integration {} has no IntegrationUri", r.logical_id),
                    "add IntegrationUri: an http(s) URL",
                );
                return None;
            };
            let uri = text(cx, n)?;
            if let Err(e) = crate::IntegrationUri::try_from(uri.clone()) {
                cx.problem(n, DiagnosticKind::InvalidValue, e, "write an http(s) URL");
                return None;
            }
            pairs.push(("integration_uri", s(uri)));
        }
        other => {
            let n = prop(r, "ConnectionType").unwrap_or(&r.properties);
            cx.problem(
                n,
                DiagnosticKind::InvalidValue,
                format!("{other:?} is not a connection type"),
                "use INTERNET or VPC_LINK",
            );
            return None;
        }
    }
    if let Some(n) = prop(r, "IntegrationMethod") {
        pairs.push(("integration_method", s(text(cx, n)?)));
    }
    if let Some(n) = prop(r, "PayloadFormatVersion") {
        pairs.push(("payload_format_version", s(text(cx, n)?)));
    }
    if let Some(n) = prop(r, "TimeoutInMillis") {
        pairs.push(("timeout_in_millis", number(cx, n)?));
    }
    if let Some(n) = prop(r, "TlsConfig") {
        known_keys(cx, n, &["ServerNameToVerify"], "TlsConfig");
        if let Some(name) = n.get("ServerNameToVerify").and_then(|v| text(cx, v)) {
            pairs.push(("tls_config", map(vec![("server_name_to_verify", s(name))])));
        }
    }
    if let Some(n) = prop(r, "RequestParameters") {
        pairs.push(("request_parameters", string_map(cx, n)));
    }
    if let Some(n) = prop(r, "ResponseParameters") {
        // `{"500": {"ResponseParameters": [{"Destination": …, "Source": …}]}}` in CloudFormation;
        // `{"500": {destination: source}}` in the stack file.
        let mut out = yaml_serde::Mapping::new();
        for (code, m) in entries(cx, n) {
            known_keys(cx, m, &["ResponseParameters"], "ResponseParameterMap");
            let mut pairs = yaml_serde::Mapping::new();
            if let Some(list) = m.get("ResponseParameters") {
                for p in items(cx, list) {
                    known_keys(cx, p, &["Destination", "Source"], "ResponseParameter");
                    match (
                        p.get("Destination").and_then(|v| text(cx, v)),
                        p.get("Source").and_then(|v| text(cx, v)),
                    ) {
                        (Some(d), Some(src)) => {
                            pairs.insert(s(d), s(src));
                        }
                        _ => cx.problems.push(Problem::schema(
                            p,
                            "a response parameter needs Destination and Source",
                            "write {Destination: overwrite:statuscode, Source: \"403\"}",
                        )),
                    }
                }
            }
            out.insert(s(code.clone()), Yaml::Mapping(pairs));
        }
        pairs.push(("response_parameters", Yaml::Mapping(out)));
    }
    cx.name(r, name);
    Some(map(pairs))
}

/// A route key, checked as the stack checks it (so the problem is at the template's line).
fn route_key(cx: &mut Ctx<'_>, node: &Node) -> Option<String> {
    let key = text(cx, node)?;
    match crate::RouteKey::try_from(key.clone()) {
        Ok(_) => Some(key),
        Err(e) => {
            cx.problem(
                node,
                DiagnosticKind::InvalidValue,
                e,
                "write `$default` or `METHOD /path`, e.g. `GET /pets/{petId}`",
            );
            None
        }
    }
}

/// `AWS::ApiGatewayV2::Route`: its key, authorization and target (`integrations/<id>`).
fn route(cx: &mut Ctx<'_>, api: &ApiEntry<'_>, r: &Resource) -> Option<Yaml> {
    cx.handled(r);
    let key = route_key(cx, prop(r, "RouteKey")?)?;
    for k in [
        "RequestParameters",
        "RequestModels",
        "ModelSelectionExpression",
    ] {
        if let Some(n) = prop(r, k) {
            cx.problem(
                n,
                DiagnosticKind::Schema,
                format!("a route's `{k}` applies to WebSocket APIs only"),
                "map request parameters on the integration (RequestParameters) instead",
            );
        }
    }
    if let Some(n) = prop(r, "ApiKeyRequired")
        && boolean(cx, n) == Some(true)
    {
        cx.problem(
            n,
            DiagnosticKind::Schema,
            "HTTP APIs have no API keys (ApiKeyRequired applies to WebSocket APIs only)",
            "remove ApiKeyRequired",
        );
    }
    let Some(target) = prop(r, "Target") else {
        cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!("the route {} has no Target", r.logical_id),
            "add Target: !Sub integrations/${MyIntegration}",
        );
        return None;
    };
    let target_text = text(cx, target)?;
    if !target_text.starts_with("integrations/") {
        cx.problem(
            target,
            DiagnosticKind::InvalidValue,
            format!("a route's Target is `integrations/<integration id>`, not {target_text:?}"),
            "write Target: !Sub integrations/${MyIntegration}",
        );
        return None;
    }
    let integration = cx.reference(target, &[INTEGRATION])?;
    let integration_api = prop(integration, "ApiId").and_then(Node::scalar_text);
    if integration_api.as_deref() != Some(api.r.physical_id.as_str()) {
        cx.problem(
            target,
            DiagnosticKind::Conflict,
            format!(
                "the integration {} belongs to another API than the route {}",
                integration.logical_id, r.logical_id
            ),
            "target an integration of the same API",
        );
        return None;
    }
    let integration_name = cx.name_of(&integration.logical_id)?.to_owned();
    let mut pairs = vec![("route_key", s(key))];
    if let Some(n) = prop(r, "AuthorizationType") {
        pairs.push(("authorization_type", s(text(cx, n)?)));
    }
    if let Some(n) = prop(r, "AuthorizerId") {
        pairs.push(("authorizer_id", s(cx.reference_name(n, &[AUTHORIZER])?)));
    }
    if let Some(n) = prop(r, "AuthorizationScopes") {
        pairs.push(("authorization_scopes", string_list(cx, n)));
    }
    pairs.push(("target", s(integration_name)));
    Some(map(pairs))
}

/// A stage: `AWS::ApiGatewayV2::Stage` (`own` true) or a SAM HttpApi's (from its properties).
fn stage(cx: &mut Ctx<'_>, r: &Resource, own: bool) -> Option<Yaml> {
    let name = match prop(r, "StageName") {
        Some(n) => text(cx, n)?,
        None if own => return None,
        None => "$default".to_owned(),
    };
    if let Err(e) = crate::StageName::try_from(name.clone()) {
        let n = prop(r, "StageName").unwrap_or(&r.properties);
        cx.problem(
            n,
            DiagnosticKind::InvalidValue,
            e,
            "write `$default` or a name of letters, digits, `-` and `_`",
        );
        return None;
    }
    let mut pairs = vec![("stage_name", s(name))];
    if own {
        if let Some(n) = prop(r, "AutoDeploy") {
            pairs.push(("auto_deploy", Yaml::Bool(boolean(cx, n)?)));
        }
        cx.handled(r);
    }
    if let Some(n) = prop(r, "StageVariables") {
        pairs.push(("stage_variables", string_map(cx, n)));
    }
    if let Some(n) = prop(r, "DefaultRouteSettings") {
        pairs.push(("default_route_settings", route_settings(cx, n)?));
    }
    if let Some(n) = prop(r, "RouteSettings") {
        let mut out = yaml_serde::Mapping::new();
        for (key, v) in entries(cx, n) {
            out.insert(s(key.clone()), route_settings(cx, v)?);
        }
        pairs.push(("route_settings", Yaml::Mapping(out)));
    }
    if let Some(n) = prop(r, "AccessLogSettings") {
        known_keys(cx, n, &["DestinationArn", "Format"], "AccessLogSettings");
        match (
            n.get("DestinationArn").and_then(|v| text(cx, v)),
            n.get("Format").and_then(|v| text(cx, v)),
        ) {
            (Some(d), Some(f)) => pairs.push((
                "access_log_settings",
                map(vec![("destination_arn", s(d)), ("format", s(f))]),
            )),
            _ => cx.problems.push(Problem::schema(
                n,
                "AccessLogSettings needs DestinationArn and Format",
                "add DestinationArn: !GetAtt MyLogGroup.Arn and a Format with $context.requestId",
            )),
        }
    }
    Some(map(pairs))
}

/// `RouteSettings`: throttling (and the metrics flag, kept).
fn route_settings(cx: &mut Ctx<'_>, node: &Node) -> Option<Yaml> {
    const KNOWN: &[&str] = &[
        "DataTraceEnabled",
        "DetailedMetricsEnabled",
        "LoggingLevel",
        "ThrottlingBurstLimit",
        "ThrottlingRateLimit",
    ];
    known_keys(cx, node, KNOWN, "RouteSettings");
    let mut pairs = Vec::new();
    if let Some(n) = node.get("ThrottlingBurstLimit") {
        pairs.push(("throttling_burst_limit", number(cx, n)?));
    }
    if let Some(n) = node.get("ThrottlingRateLimit") {
        pairs.push(("throttling_rate_limit", number(cx, n)?));
    }
    if let Some(n) = node.get("DetailedMetricsEnabled") {
        pairs.push(("detailed_metrics_enabled", Yaml::Bool(boolean(cx, n)?)));
    }
    // DataTraceEnabled and LoggingLevel are WebSocket settings; HTTP APIs ignore them.
    Some(map(pairs))
}

/// `AWS::ApiGatewayV2::DomainName`: a regional custom domain with its ACM certificate.
fn domain_name<'a>(cx: &mut Ctx<'a>, r: &'a Resource) -> Option<DomainEntry<'a>> {
    let domain = dns_name(&text(cx, prop(r, "DomainName")?)?);
    if let Some(n) = prop(r, "MutualTlsAuthentication") {
        cx.problem(
            n,
            DiagnosticKind::Schema,
            "mutual TLS on a custom domain is not emulated",
            "remove MutualTlsAuthentication",
        );
    }
    let mut certificate = None;
    match prop(r, "DomainNameConfigurations") {
        Some(list) => {
            let configs = items(cx, list);
            if configs.len() > 1 {
                cx.problem(
                    list,
                    DiagnosticKind::Schema,
                    "airlock serves one configuration per custom domain",
                    "keep one DomainNameConfigurations entry",
                );
            }
            if let Some(c) = configs.first() {
                known_keys(
                    cx,
                    c,
                    &[
                        "CertificateArn",
                        "CertificateName",
                        "EndpointType",
                        "IpAddressType",
                        "OwnershipVerificationCertificateArn",
                        "SecurityPolicy",
                    ],
                    "DomainNameConfiguration",
                );
                if let Some(t) = c.get("EndpointType").and_then(|n| text(cx, n))
                    && t != "REGIONAL"
                {
                    let n = c.get("EndpointType").unwrap_or(c);
                    cx.problem(
                        n,
                        DiagnosticKind::InvalidValue,
                        format!("{t:?} is not an endpoint type of HTTP API custom domains"),
                        "use EndpointType: REGIONAL",
                    );
                }
                match c.get("CertificateArn") {
                    Some(n) => certificate = cx.reference_name(n, &[CERTIFICATE]),
                    None => cx.problem(
                        c,
                        DiagnosticKind::Schema,
                        "the domain configuration has no CertificateArn",
                        "add CertificateArn: !Ref MyCertificate",
                    ),
                }
            }
        }
        None => cx.problem_at(
            r,
            DiagnosticKind::Schema,
            format!(
                "the custom domain {} has no DomainNameConfigurations",
                r.logical_id
            ),
            "add DomainNameConfigurations with a CertificateArn and EndpointType: REGIONAL",
        ),
    }
    cx.name(r, domain.clone());
    Some(DomainEntry {
        r,
        domain,
        certificate,
        mappings: Vec::new(),
    })
}

/// `AWS::ApiGatewayV2::ApiMapping`: a base path of a custom domain to an API's stage.
fn api_mapping(
    cx: &mut Ctx<'_>,
    apis: &[ApiEntry<'_>],
    domains: &mut [DomainEntry<'_>],
    r: &Resource,
) {
    cx.handled(r);
    let Some(i) = api_of(cx, apis, r) else { return };
    let Some(domain_node) = prop(r, "DomainName") else {
        return;
    };
    let Some(domain) = cx.reference(domain_node, &[DOMAIN_NAME]) else {
        return;
    };
    let Some(d) = domains
        .iter_mut()
        .find(|d| d.r.logical_id == domain.logical_id)
    else {
        return;
    };
    let Some(stage) = prop(r, "Stage").and_then(|n| text(cx, n)) else {
        return;
    };
    let key = match prop(r, "ApiMappingKey") {
        Some(n) => match text(cx, n) {
            Some(k) => k,
            None => return,
        },
        None => String::new(),
    };
    d.mappings.push(map(vec![
        ("api", s(apis[i].name.clone())),
        ("stage", s(stage)),
        ("api_mapping_key", s(key)),
    ]));
}
