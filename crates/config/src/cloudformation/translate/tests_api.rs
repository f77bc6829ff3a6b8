//! Tests of the API Gateway, Route 53, ACM and Cognito translations: each mapping, references
//! built with `Fn::Join` and `Fn::Sub`, and problems located at the template's line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::error::{ConfigError, Diagnostic};
use crate::{AliasDestination, AuthorizationType, IntegrationUri, StageName};

use super::super::{EvalOptions, evaluate_source};
use super::{Conversion, TranslateOptions, translate};

fn convert(source: &str) -> Result<Conversion, ConfigError> {
    let file = Path::new("t.yaml");
    let eval = EvalOptions::default();
    let ev = evaluate_source(source, file, &eval)?;
    translate(&ev, file, &eval, &TranslateOptions::default())
}

fn ok(source: &str) -> Conversion {
    match convert(source) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn problems(source: &str) -> Vec<Diagnostic> {
    match convert(source) {
        Ok(c) => panic!("expected problems, got a stack:\n{}", c.yaml),
        Err(ConfigError::Invalid(d)) => d.0,
        Err(e) => panic!("{e}"),
    }
}

/// The 1-based line of the first line of `source` containing `needle`.
fn line_of(source: &str, needle: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in the source"))
}

const API: &str = r#"Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: pets
      ProtocolType: HTTP
      DisableExecuteApiEndpoint: false
      CorsConfiguration:
        AllowOrigins: [https://example.com]
        AllowMethods: [GET]
        MaxAge: 600
  Jwt:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      Name: jwt
      AuthorizerType: JWT
      IdentitySource: [$request.header.Authorization]
      JwtConfiguration:
        Issuer: https://issuer.example.com
        Audience: [pets-client]
  Backend:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: HTTP_PROXY
      IntegrationUri: http://127.0.0.1:9/pets
      IntegrationMethod: GET
      PayloadFormatVersion: "1.0"
      TimeoutInMillis: "5000"
      RequestParameters:
        overwrite:header.x-user: $context.authorizer.claims.sub
      ResponseParameters:
        "500":
          ResponseParameters:
            - Destination: overwrite:statuscode
              Source: "503"
  ListPets:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: GET /pets
      AuthorizationType: JWT
      AuthorizerId: !Ref Jwt
      AuthorizationScopes: [pets/read]
      Target: !Sub integrations/${Backend}
  Health:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: GET /health
      Target: !Join [/, [integrations, !Ref Backend]]
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Api
      StageName: prod
      AutoDeploy: true
      StageVariables: {color: blue}
      DefaultRouteSettings:
        ThrottlingBurstLimit: 10
        ThrottlingRateLimit: 5
  Deployment:
    Type: AWS::ApiGatewayV2::Deployment
    DependsOn: [ListPets, Health]
    Properties:
      ApiId: !Ref Api
Outputs:
  Id: {Value: !Ref Api}
"#;

/// An API with an authorizer, an integration, routes whose targets are built with `Fn::Sub` and
/// `Fn::Join`, a stage and a deployment becomes one `http_apis` entry with the id the outputs
/// show; the deployment is folded in, not listed as accepted.
#[test]
fn an_http_api_with_its_parts_becomes_one_entry() {
    let c = ok(API);
    let api = &c.stack.http_apis[0];
    assert_eq!(api.name, "pets");
    assert_eq!(
        c.outputs[0].value,
        crate::ids::api_id("123456789012", "pets")
    );
    let cors = api.cors_configuration.as_ref().unwrap();
    assert_eq!(cors.allow_origins, ["https://example.com"]);
    assert_eq!(cors.max_age, Some(600));
    let jwt = api.authorizer("jwt").unwrap();
    let conf = jwt.jwt_configuration.as_ref().unwrap();
    assert_eq!(conf.issuer, "https://issuer.example.com");
    assert_eq!(conf.audience, ["pets-client"]);
    let backend = api.integration("Backend").unwrap();
    assert_eq!(
        backend.integration_uri,
        IntegrationUri::Url("http://127.0.0.1:9/pets".into())
    );
    assert_eq!(backend.timeout_in_millis, 5000);
    assert_eq!(
        backend.request_parameters["overwrite:header.x-user"],
        "$context.authorizer.claims.sub"
    );
    assert_eq!(
        backend.response_parameters["500"]["overwrite:statuscode"],
        "503"
    );
    assert_eq!(api.routes.len(), 2);
    let list = &api.routes[0];
    assert_eq!(list.authorization_type, AuthorizationType::Jwt);
    assert_eq!(list.authorizer_id.as_deref(), Some("jwt"));
    assert_eq!(list.authorization_scopes, ["pets/read"]);
    assert!(api.routes.iter().all(|r| r.target == "Backend"));
    let stage = api.stage(&StageName::Named("prod".into())).unwrap();
    assert_eq!(stage.stage_variables["color"], "blue");
    let throttle = stage.default_route_settings.unwrap();
    assert_eq!(throttle.throttling_burst_limit, Some(10));
    assert!(c.accepted.is_empty(), "{:?}", c.accepted);
}

/// A route whose target names no integration is reported at its `Target` line.
#[test]
fn a_route_target_naming_no_integration_is_located() {
    let source = API.replace(
        "Target: !Sub integrations/${Backend}",
        "Target: integrations/abc1234",
    );
    let d = problems(&source);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].location.line, line_of(&source, "integrations/abc1234"));
    assert_eq!(d[0].path, "Resources.ListPets.Properties.Target");
    assert!(d[0].message.contains("abc1234"), "{}", d[0].message);
}

/// A target that is not an `integrations/` path is refused with the form to write.
#[test]
fn a_route_target_without_the_integrations_prefix_is_refused() {
    let source = API.replace(
        "Target: !Sub integrations/${Backend}",
        "Target: !Ref Backend",
    );
    let d = problems(&source);
    assert_eq!(d[0].location.line, line_of(&source, "Target: !Ref Backend"));
    assert!(d[0].hint.contains("integrations/${"), "{}", d[0].hint);
}

/// A Lambda (REQUEST) authorizer is an error at its `AuthorizerType`, with a hint.
#[test]
fn a_request_authorizer_is_an_error_with_a_hint() {
    let source = API.replace("AuthorizerType: JWT", "AuthorizerType: REQUEST");
    let d = problems(&source);
    assert_eq!(
        d[0].location.line,
        line_of(&source, "AuthorizerType: REQUEST")
    );
    assert!(d[0].message.contains("Lambda"), "{}", d[0].message);
    assert!(d[0].hint.contains("authorizer_uri"), "{}", d[0].hint);
}

/// A WebSocket API is an error at its `ProtocolType`.
#[test]
fn a_websocket_api_is_an_error() {
    let source = API.replace("ProtocolType: HTTP", "ProtocolType: WEBSOCKET");
    let d = problems(&source);
    assert_eq!(
        d[0].location.line,
        line_of(&source, "ProtocolType: WEBSOCKET")
    );
    assert!(d[0].message.contains("WebSocket"), "{}", d[0].message);
    assert!(d[0].hint.contains("ProtocolType: HTTP"), "{}", d[0].hint);
}

/// A Lambda proxy integration is an error with a hint.
#[test]
fn an_aws_proxy_integration_is_an_error() {
    let source = API.replace("IntegrationType: HTTP_PROXY", "IntegrationType: AWS_PROXY");
    let d = problems(&source);
    assert_eq!(
        d[0].location.line,
        line_of(&source, "IntegrationType: AWS_PROXY")
    );
    assert!(d[0].hint.contains("HTTP_PROXY"), "{}", d[0].hint);
}

/// A bad route key is reported at the route's own line, not at the API.
#[test]
fn a_bad_route_key_is_reported_at_the_route() {
    let source = API.replace("RouteKey: GET /health", "RouteKey: FETCH /health");
    let d = problems(&source);
    assert_eq!(d[0].location.line, line_of(&source, "FETCH /health"));
}

/// Quick create: `Target` and `RouteKey` on the API make an integration, a route and a
/// `$default` stage.
#[test]
fn quick_create_makes_an_integration_a_route_and_the_default_stage() {
    let c = ok("Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: quick
      ProtocolType: HTTP
      Target: http://127.0.0.1:9/
      RouteKey: ANY /{proxy+}
");
    let api = &c.stack.http_apis[0];
    assert_eq!(api.routes[0].route_key.to_string(), "ANY /{proxy+}");
    assert_eq!(api.routes[0].target, api.integrations[0].name);
    assert!(api.stage(&StageName::Default).is_some());
}

const COGNITO: &str = r#"Resources:
  UserPool:
    Type: AWS::Cognito::UserPool
    Properties:
      UserPoolName: pets-users
  AppClient:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref UserPool
      ClientName: pets-web
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: pets
      ProtocolType: HTTP
  Cognito:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      Name: cognito
      AuthorizerType: JWT
      IdentitySource: [$request.header.Authorization]
      JwtConfiguration:
        Issuer: !Sub https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}
        Audience: [!Ref AppClient]
Outputs:
  Pool: {Value: !Ref UserPool}
  Client: {Value: !Ref AppClient}
  Url: {Value: !GetAtt UserPool.ProviderURL}
"#;

/// A user pool and its client become a `user_pools` entry with the template's ids, and the
/// authorizer naming the pool's issuer finds that pool.
#[test]
fn a_user_pool_is_a_local_issuer_with_the_template_ids() {
    let c = ok(COGNITO);
    let pool = c.stack.user_pool("UserPool").unwrap();
    let pool_id = &c.outputs[0].value;
    assert_eq!(pool.pool_id.as_deref(), Some(pool_id.as_str()));
    assert!(pool_id.starts_with("us-east-1_"), "{pool_id}");
    let client = pool.client("AppClient").unwrap();
    assert_eq!(
        client.client_id.as_deref(),
        Some(c.outputs[1].value.as_str())
    );
    let issuer = &c.stack.http_apis[0].authorizers[0]
        .jwt_configuration
        .as_ref()
        .unwrap()
        .issuer;
    assert_eq!(issuer, &c.outputs[2].value);
    assert_eq!(
        c.stack.user_pool_by_issuer(issuer).map(|p| p.name.as_str()),
        Some("UserPool")
    );
}

/// An authorizer naming a Cognito issuer no pool of the stack has is refused (it would need
/// discovery on the internet).
#[test]
fn a_cognito_issuer_without_its_pool_is_refused() {
    let source = COGNITO.replace("${UserPool}", "us-east-1_Nope");
    let d = problems(&source);
    assert!(
        d.iter()
            .any(|d| d.message.contains("no user pool of this stack")),
        "{d:?}"
    );
}

const DOMAIN: &str = r#"Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: pets
      ProtocolType: HTTP
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Api
      StageName: $default
  Certificate:
    Type: AWS::CertificateManager::Certificate
    Properties:
      DomainName: api.example.com
      SubjectAlternativeNames: [www.example.com.]
      ValidationMethod: DNS
  Domain:
    Type: AWS::ApiGatewayV2::DomainName
    Properties:
      DomainName: api.example.com
      DomainNameConfigurations:
        - CertificateArn: !Ref Certificate
          EndpointType: REGIONAL
  Mapping:
    Type: AWS::ApiGatewayV2::ApiMapping
    DependsOn: Stage
    Properties:
      ApiId: !Ref Api
      DomainName: !Ref Domain
      Stage: $default
      ApiMappingKey: v1
  Zone:
    Type: AWS::Route53::HostedZone
    Properties:
      Name: example.com.
  Alias:
    Type: AWS::Route53::RecordSet
    Properties:
      HostedZoneId: !Ref Zone
      Name: api.example.com.
      Type: A
      AliasTarget:
        DNSName: !GetAtt Domain.RegionalDomainName
        HostedZoneId: !GetAtt Domain.RegionalHostedZoneId
  Others:
    Type: AWS::Route53::RecordSetGroup
    Properties:
      HostedZoneName: example.com.
      RecordSets:
        - Name: txt.example.com
          Type: TXT
          TTL: "300"
          ResourceRecords: ['"hello"']
"#;

/// A certificate, a custom domain with its API mapping, a public zone and an alias to the
/// domain's regional name translate into the stack's certificate, domain and zone entries.
#[test]
fn a_custom_domain_with_certificate_zone_and_alias() {
    let c = ok(DOMAIN);
    let cert = c.stack.certificate("Certificate").unwrap();
    assert_eq!(cert.domain_name, "api.example.com");
    assert_eq!(cert.subject_alternative_names, ["www.example.com"]);
    let d = c.stack.domain_name("api.example.com").unwrap();
    assert_eq!(d.certificate, "Certificate");
    assert_eq!(d.api_mappings[0].api, "pets");
    assert_eq!(d.api_mappings[0].api_mapping_key, "v1");
    let zone = c.stack.hosted_zone("example.com", false).unwrap();
    let alias = zone.records[0].alias_target.as_ref().unwrap();
    assert_eq!(
        alias.destination,
        AliasDestination::CustomDomain("api.example.com".into())
    );
    assert_eq!(zone.records[1].ttl, Some(300));
}

/// A routing policy is refused at its line.
#[test]
fn a_weighted_record_is_refused() {
    let source = DOMAIN.replace(
        "          TTL: \"300\"",
        "          TTL: \"300\"\n          SetIdentifier: a\n          Weight: 1",
    );
    let d = problems(&source);
    assert_eq!(d[0].location.line, line_of(&source, "SetIdentifier: a"));
}

const SAM: &str = r#"Transform: AWS::Serverless-2016-10-31
Globals:
  HttpApi:
    CorsConfiguration:
      AllowOrigins: [https://example.com]
    StageVariables: {tier: global}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: prod
      StageVariables: {color: blue}
      Auth:
        Authorizers:
          OAuth:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: https://issuer.example.com
              audience: [pets-client]
        DefaultAuthorizer: OAuth
  Backend:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: HTTP_PROXY
      IntegrationUri: http://127.0.0.1:9/
      PayloadFormatVersion: "1.0"
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: $default
      Target: !Sub integrations/${Backend}
Outputs:
  Id: {Value: !Ref Api}
"#;

/// SAM's HttpApi becomes an HTTP API with its stage and JWT authorizer; `Globals.HttpApi` is
/// merged in (maps key by key), and its `Ref` is the id of the API airlock serves.
#[test]
fn a_sam_http_api_with_globals_auth_and_stage() {
    let c = ok(SAM);
    let api = &c.stack.http_apis[0];
    assert_eq!(
        c.outputs[0].value,
        crate::ids::api_id("123456789012", &api.name)
    );
    assert_eq!(
        api.cors_configuration.as_ref().unwrap().allow_origins,
        ["https://example.com"]
    );
    let stage = api.stage(&StageName::Named("prod".into())).unwrap();
    assert_eq!(stage.stage_variables["color"], "blue");
    assert_eq!(stage.stage_variables["tier"], "global");
    let auth = api.authorizer("OAuth").unwrap();
    assert_eq!(
        auth.jwt_configuration.as_ref().unwrap().audience,
        ["pets-client"]
    );
    assert_eq!(api.routes[0].target, "Backend");
    assert!(
        c.warnings.iter().any(|w| w.contains("DefaultAuthorizer")),
        "{:?}",
        c.warnings
    );
}

/// A SAM HttpApi without `StageName` gets the `$default` stage; a misspelt property is reported
/// with the nearest name.
#[test]
fn a_sam_http_api_defaults_its_stage_and_checks_its_properties() {
    let source = SAM.replace("      StageName: prod\n", "");
    let c = ok(&source);
    assert!(c.stack.http_apis[0].stage(&StageName::Default).is_some());
    let source = SAM.replace("StageName: prod", "StageNme: prod");
    let d = problems(&source);
    assert_eq!(d[0].location.line, line_of(&source, "StageNme"));
    assert!(d[0].hint.contains("StageName"), "{}", d[0].hint);
}

fn fixture(name: &str) -> Conversion {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cloudformation")
        .join(name);
    let eval = EvalOptions {
        made_up_ids: true,
        ..EvalOptions::default()
    };
    match super::load(&file, &eval, &TranslateOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// The Cognito and custom-domain fixture: the private integration reaches the HTTPS listener
/// through the VPC link with TLS to the listener's name, the authorizer verifies the pool's
/// tokens for its client, the domain has its certificate and mapping, and the zones alias the
/// domain publicly and the load balancer privately.
#[test]
fn the_cognito_domain_fixture_translates_whole() {
    let c = fixture("cognito-domain.yaml");
    let api = c.stack.http_api("orders-api").unwrap();
    let integration = &api.integrations[0];
    assert_eq!(
        integration.integration_uri,
        IntegrationUri::Listener(crate::ListenerRef {
            load_balancer: "orders-alb".into(),
            port: 443
        })
    );
    assert_eq!(integration.connection_id.as_deref(), Some("orders-link"));
    assert_eq!(
        integration
            .tls_config
            .as_ref()
            .unwrap()
            .server_name_to_verify,
        "orders.example.com"
    );
    let jwt = api.authorizers[0].jwt_configuration.as_ref().unwrap();
    let pool = c.stack.user_pool_by_issuer(&jwt.issuer).unwrap();
    let client_id = pool.client_id("123456789012", &pool.clients[0]);
    assert_eq!(jwt.audience, std::slice::from_ref(&client_id));
    let output = |n: &str| {
        c.outputs
            .iter()
            .find(|o| o.name == n)
            .unwrap()
            .value
            .clone()
    };
    assert_eq!(output("UserPoolClientId"), client_id);
    let domain = c.stack.domain_name("api.example.com").unwrap();
    assert_eq!(domain.api_mappings[0].api, "orders-api");
    assert!(
        c.stack
            .certificate(&domain.certificate)
            .unwrap()
            .covers("orders.example.com")
    );
    let public = c.stack.hosted_zone("example.com", false).unwrap();
    assert_eq!(
        public.records[0].alias_target.as_ref().unwrap().destination,
        AliasDestination::CustomDomain("api.example.com".into())
    );
    let private = c.stack.hosted_zone("example.com", true).unwrap();
    assert_eq!(
        private.records[0]
            .alias_target
            .as_ref()
            .unwrap()
            .destination,
        AliasDestination::LoadBalancer("orders-alb".into())
    );
    assert!(
        output("ExecuteApiUrl").contains(&crate::ids::api_id("123456789012", "orders-api")),
        "{}",
        output("ExecuteApiUrl")
    );
}

/// The SAM fixture: the HttpApi gets its `prod` stage and the CORS of `Globals.HttpApi`, and
/// its route reaches the listener through the VPC link.
#[test]
fn the_sam_fixture_translates_with_its_globals() {
    let c = fixture("sam-private-api.yaml");
    let api = &c.stack.http_apis[0];
    assert!(api.stage(&StageName::Named("prod".into())).is_some());
    assert_eq!(
        api.cors_configuration.as_ref().unwrap().allow_origins,
        ["https://example.com"]
    );
    assert!(matches!(
        api.integrations[0].integration_uri,
        IntegrationUri::Listener(_)
    ));
    let api_url = &c.outputs.iter().find(|o| o.name == "ApiUrl").unwrap().value;
    assert!(
        api_url.contains(&crate::ids::api_id("123456789012", &api.name)),
        "{api_url}"
    );
}

/// A SAM function is an error with a hint saying what runs instead; with `ignore_unsupported`
/// it is a warning.
#[test]
fn a_sam_function_is_an_error_with_a_hint() {
    let source = format!(
        "{SAM}  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {{Handler: index.handler}}\n"
    )
    .replace("Outputs:\n  Id: {Value: !Ref Api}\n", "");
    let d = problems(&source);
    assert_eq!(
        d[0].location.line,
        line_of(&source, "AWS::Serverless::Function")
    );
    assert!(d[0].hint.contains("Lambda functions"), "{}", d[0].hint);
    let file = Path::new("t.yaml");
    let eval = EvalOptions::default();
    let ev = evaluate_source(&source, file, &eval).unwrap();
    let options = TranslateOptions {
        ignore_unsupported: true,
        ..TranslateOptions::default()
    };
    let c = translate(&ev, file, &eval, &options).unwrap();
    assert!(
        c.warnings.iter().any(|w| w.contains("Fn")),
        "{:?}",
        c.warnings
    );
}

/// A VPC link created with no security groups (`[]`) carries the VPC's default group.
#[test]
fn a_vpc_link_without_groups_gets_the_default_group() {
    let c = ok("Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.1.0.0/16}
  A:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.1.1.0/24, AvailabilityZone: us-east-1a}
  Link:
    Type: AWS::ApiGatewayV2::VpcLink
    Properties:
      Name: link
      SubnetIds: [!Ref A]
      SecurityGroupIds: []
");
    let link = c.stack.vpc_link("link").unwrap();
    assert_eq!(link.subnet_ids, ["A"]);
    assert_eq!(link.security_group_ids, ["default"]);
}
