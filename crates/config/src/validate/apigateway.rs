//! Checks of HTTP APIs: routes, integrations, authorizers, stages, custom domains, API mappings
//! and VPC links.

use std::collections::HashMap;

use super::{Checker, is_dns_name, list};
use crate::error::DiagnosticKind;
use crate::scalars::{IdentitySource, IntegrationUri};
use crate::*;

/// Checks a parameter mapping key (docs/aws-rules.md §HTTP-4.6): `<action>:<target>`, `path` and
/// `statuscode` only with `overwrite`, and no reserved header.
pub(super) fn mapping_key(key: &str, response: bool) -> Result<(), (String, &'static str)> {
    let hint = if response {
        "use append|overwrite|remove:header.<name> or overwrite:statuscode"
    } else {
        "use append|overwrite|remove:header.<name>, append|overwrite|remove:querystring.<name> or overwrite:path"
    };
    let bad = || Err((format!("{key:?} is not a parameter mapping key"), hint));
    let Some((action, target)) = key.split_once(':') else {
        return bad();
    };
    if !matches!(action, "append" | "overwrite" | "remove") {
        return bad();
    }
    if let Some(name) = target.strip_prefix("header.") {
        let n = name.to_ascii_lowercase();
        let reserved = n.starts_with("access-control-")
            || n.starts_with("apigw-")
            || n.starts_with("x-amz-")
            || n.starts_with("x-amzn-")
            || [
                "authorization",
                "connection",
                "content-encoding",
                "content-length",
                "content-location",
                "forwarded",
                "keep-alive",
                "origin",
                "proxy-authenticate",
                "proxy-authorization",
                "te",
                "trailers",
                "transfer-encoding",
                "upgrade",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto",
                "via",
            ]
            .contains(&n.as_str());
        if reserved {
            return Err((
                format!("{key:?} maps the reserved header {name:?}"),
                "API Gateway refuses mappings of access-control-*, apigw-*, x-amz*-*, Authorization, Connection, Content-*, Forwarded, Via, X-Forwarded-* and hop-by-hop headers",
            ));
        }
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return bad();
        }
        return Ok(());
    }
    let only_overwrite = if response {
        target == "statuscode"
    } else {
        target == "path"
    };
    if only_overwrite {
        return if action == "overwrite" {
            Ok(())
        } else {
            Err((
                format!("{key:?}: only overwrite is allowed for {target}"),
                hint,
            ))
        };
    }
    if !response
        && target
            .strip_prefix("querystring.")
            .is_some_and(|n| !n.is_empty())
    {
        return Ok(());
    }
    bad()
}

impl<'a> Checker<'a> {
    /// Reports every name that repeats an earlier one. `items` are (path of the name, name).
    /// A JWT authorizer: one header or query identity source, an issuer, 1–50 audiences.
    pub(super) fn jwt_authorizer(&mut self, path: &str, a: &crate::Authorizer) {
        if a.identity_source.len() != 1 {
            self.issue(
                format!("{path}.identity_source"),
                DiagnosticKind::InvalidValue,
                format!(
                    "a JWT authorizer needs exactly one identity source, found {}",
                    a.identity_source.len()
                ),
                "use identity_source: [\"$request.header.Authorization\"]",
            );
        } else if matches!(
            a.identity_source[0],
            IdentitySource::Context(_) | IdentitySource::StageVariable(_)
        ) {
            self.issue(
                format!("{path}.identity_source[0]"),
                DiagnosticKind::InvalidValue,
                "a JWT authorizer reads the token from a header or a query string parameter",
                "use $request.header.<name> or $request.querystring.<name>",
            );
        }
        for (field, set) in [
            ("authorizer_uri", a.authorizer_uri.is_some()),
            (
                "authorizer_payload_format_version",
                a.authorizer_payload_format_version.is_some(),
            ),
            ("enable_simple_responses", a.enable_simple_responses),
            (
                "authorizer_result_ttl_in_seconds",
                a.authorizer_result_ttl_in_seconds != 0,
            ),
        ] {
            if set {
                self.issue(
                    format!("{path}.{field}"),
                    DiagnosticKind::Conflict,
                    format!("{field} applies only to REQUEST authorizers"),
                    "remove it, or set authorizer_type: REQUEST",
                );
            }
        }
        let Some(jwt) = &a.jwt_configuration else {
            self.issue(
                path,
                DiagnosticKind::Schema,
                "a JWT authorizer needs jwt_configuration",
                "add jwt_configuration: {issuer: local, audience: [pets-client]}",
            );
            return;
        };
        let issuer = &jwt.issuer;
        if issuer != crate::JwtConfiguration::LOCAL_ISSUER
            && !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        {
            self.issue(
                format!("{path}.jwt_configuration.issuer"),
                DiagnosticKind::InvalidValue,
                format!("issuer {issuer:?} is neither `local` nor a URL"),
                "use `local` for airlock's built-in issuer, or the issuer's https:// URL",
            );
        }
        if issuer == crate::JwtConfiguration::LOCAL_ISSUER
            && (jwt.jwks_file.is_some() || jwt.ca_bundle.is_some())
        {
            self.issue(
                format!("{path}.jwt_configuration"),
                DiagnosticKind::Conflict,
                "jwks_file and ca_bundle apply only to an external issuer",
                "remove them; the local issuer's keys are airlock's own",
            );
        }
        let audience = &jwt.audience;
        if audience.is_empty() || audience.len() > 50 {
            self.issue(
                format!("{path}.jwt_configuration.audience"),
                DiagnosticKind::InvalidValue,
                format!(
                    "a JWT authorizer needs 1 to 50 audiences, found {}",
                    audience.len()
                ),
                "list the accepted `aud` values, e.g. audience: [pets-client]",
            );
        }
    }

    /// A REQUEST authorizer: a function, a payload format, simple responses only with 2.0,
    /// a TTL of 0–3600 s that needs an identity source.
    pub(super) fn request_authorizer(&mut self, path: &str, a: &crate::Authorizer) {
        use crate::{AuthorizerPayloadFormat, AuthorizerUri};
        if a.jwt_configuration.is_some() {
            self.issue(
                format!("{path}.jwt_configuration"),
                DiagnosticKind::Conflict,
                "jwt_configuration applies only to JWT authorizers",
                "remove it, or set authorizer_type: JWT",
            );
        }
        match &a.authorizer_uri {
            None => self.issue(
                path,
                DiagnosticKind::Schema,
                "a REQUEST authorizer needs authorizer_uri",
                "add authorizer_uri: http://127.0.0.1:<port>/<path>, or authorizer_uri: {command: [<program>, <args>...]}",
            ),
            Some(AuthorizerUri::Url(url)) => {
                let host = url
                    .strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"))
                    .map(|rest| rest.split('/').next().unwrap_or_default());
                let host = host.map(|h| match h.rsplit_once(':') {
                    Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
                    _ => h,
                });
                let loopback = host.is_some_and(|h| {
                    h.eq_ignore_ascii_case("localhost")
                        || h.trim_start_matches('[')
                            .trim_end_matches(']')
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback())
                });
                if !loopback {
                    self.issue(
                        format!("{path}.authorizer_uri"),
                        DiagnosticKind::InvalidValue,
                        format!("{url:?} is not an http(s) URL on a loopback address"),
                        "airlock runs the function locally: serve it on 127.0.0.1, or use {command: [...]}",
                    );
                }
            }
            Some(AuthorizerUri::Command { command }) => {
                if command.first().is_none_or(String::is_empty) {
                    self.issue(
                        format!("{path}.authorizer_uri.command"),
                        DiagnosticKind::InvalidValue,
                        "the command is empty",
                        "give the program and its arguments, e.g. command: [python3, authorizer.py]",
                    );
                }
            }
        }
        match a.authorizer_payload_format_version {
            None => self.issue(
                path,
                DiagnosticKind::Schema,
                "a REQUEST authorizer needs authorizer_payload_format_version",
                "add authorizer_payload_format_version: \"2.0\" (or \"1.0\")",
            ),
            Some(AuthorizerPayloadFormat::V1) if a.enable_simple_responses => self.issue(
                format!("{path}.enable_simple_responses"),
                DiagnosticKind::Conflict,
                "simple responses need payload format 2.0",
                "set authorizer_payload_format_version: \"2.0\", or remove enable_simple_responses",
            ),
            Some(_) => {}
        }
        if a.authorizer_result_ttl_in_seconds > 3600 {
            self.issue(
                format!("{path}.authorizer_result_ttl_in_seconds"),
                DiagnosticKind::InvalidValue,
                format!(
                    "{} s is outside 0..=3600",
                    a.authorizer_result_ttl_in_seconds
                ),
                "use 0 (no caching) to 3600",
            );
        } else if a.authorizer_result_ttl_in_seconds > 0 && a.identity_source.is_empty() {
            self.issue(
                format!("{path}.authorizer_result_ttl_in_seconds"),
                DiagnosticKind::Conflict,
                "caching needs at least one identity source (the cache key)",
                "add identity_source entries, or set authorizer_result_ttl_in_seconds: 0",
            );
        }
    }

    pub(super) fn http_apis(&mut self) {
        let stack = self.stack;
        self.unique(
            "HTTP API",
            stack
                .http_apis
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("http_apis[{i}].name"), a.name.as_str())),
        );
        let links: Vec<&str> = stack.vpc_links.iter().map(|l| l.name.as_str()).collect();
        let lbs: Vec<&str> = stack
            .load_balancers
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        self.unique(
            "access key",
            stack.iam_credentials.iter().enumerate().map(|(i, c)| {
                (
                    format!("iam_credentials[{i}].access_key_id"),
                    c.access_key_id.as_str(),
                )
            }),
        );
        for (i, c) in stack.iam_credentials.iter().enumerate() {
            let parts: Vec<&str> = c.principal.split(':').collect();
            let is_iam_arn = parts.len() == 6
                && parts[..3] == ["arn", "aws", "iam"]
                && parts[4].len() == 12
                && parts[4].bytes().all(|b| b.is_ascii_digit())
                && !parts[5].is_empty();
            if !is_iam_arn {
                self.issue(
                    format!("iam_credentials[{i}].principal"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not an IAM principal ARN", c.principal),
                    "write arn:aws:iam::<12-digit account>:user/<name> (or role/<name>)",
                );
            }
            if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
                self.issue(
                    format!("iam_credentials[{i}]"),
                    DiagnosticKind::InvalidValue,
                    "access_key_id and secret_access_key must not be empty",
                    "give the key pair clients sign with",
                );
            }
        }
        for (i, api) in stack.http_apis.iter().enumerate() {
            let base = format!("http_apis[{i}]");
            self.unique(
                "authorizer",
                api.authorizers
                    .iter()
                    .enumerate()
                    .map(|(j, a)| (format!("{base}.authorizers[{j}].name"), a.name.as_str())),
            );
            self.unique(
                "integration",
                api.integrations
                    .iter()
                    .enumerate()
                    .map(|(j, a)| (format!("{base}.integrations[{j}].name"), a.name.as_str())),
            );
            self.unique(
                "stage",
                api.stages.iter().enumerate().map(|(j, s)| {
                    (
                        format!("{base}.stages[{j}].stage_name"),
                        s.stage_name.as_str(),
                    )
                }),
            );

            for (j, a) in api.authorizers.iter().enumerate() {
                let path = format!("{base}.authorizers[{j}]");
                match a.authorizer_type {
                    AuthorizerType::Jwt => self.jwt_authorizer(&path, a),
                    AuthorizerType::Request => self.request_authorizer(&path, a),
                }
            }

            for (j, integ) in api.integrations.iter().enumerate() {
                let path = format!("{base}.integrations[{j}]");
                if !(50..=30_000).contains(&integ.timeout_in_millis) {
                    self.issue(
                        format!("{path}.timeout_in_millis"),
                        DiagnosticKind::InvalidValue,
                        format!(
                            "timeout {} ms is outside 50..=30000",
                            integ.timeout_in_millis
                        ),
                        "HTTP APIs allow 50 to 30000 ms; the default is 30000",
                    );
                }
                match integ.connection_type {
                    ConnectionType::VpcLink => {
                        match &integ.connection_id {
                            Some(id) => {
                                self.reference(
                                    format!("{path}.connection_id"),
                                    "VPC link",
                                    "VPC links",
                                    id,
                                    &links,
                                    "use a name from vpc_links",
                                );
                            }
                            None => self.issue(
                                &path,
                                DiagnosticKind::Schema,
                                "a VPC_LINK integration needs connection_id",
                                "set connection_id to the name of a VPC link",
                            ),
                        }
                        match &integ.integration_uri {
                            IntegrationUri::Listener(target) => {
                                let uri = format!("{path}.integration_uri");
                                if self.reference(
                                    uri.clone(),
                                    "load balancer",
                                    "load balancers",
                                    &target.load_balancer,
                                    &lbs,
                                    "write `<load balancer name>:<listener port>` with a name from load_balancers",
                                ) && stack.listener(target).is_none()
                                {
                                    let ports: Vec<String> = stack
                                        .load_balancer(&target.load_balancer)
                                        .map(|lb| lb.listeners.iter().map(|l| l.port.to_string()).collect())
                                        .unwrap_or_default();
                                    let ports: Vec<&str> = ports.iter().map(String::as_str).collect();
                                    self.issue(
                                        uri,
                                        DiagnosticKind::UnknownReference,
                                        format!(
                                            "load balancer {:?} has no listener on port {}; its listener ports: {}",
                                            target.load_balancer,
                                            target.port,
                                            list(&ports)
                                        ),
                                        "point at one of the load balancer's listener ports",
                                    );
                                }
                            }
                            IntegrationUri::Url(_) => self.issue(
                                format!("{path}.integration_uri"),
                                DiagnosticKind::Conflict,
                                "a VPC_LINK integration targets a load balancer listener, not a URL",
                                "write `<load balancer name>:<listener port>`, e.g. pets-alb:443",
                            ),
                        }
                    }
                    ConnectionType::Internet => {
                        if integ.connection_id.is_some() {
                            self.issue(
                                format!("{path}.connection_id"),
                                DiagnosticKind::Conflict,
                                "connection_id applies only to VPC_LINK integrations",
                                "remove it, or set connection_type: VPC_LINK",
                            );
                        }
                        if integ.tls_config.is_some() {
                            self.issue(
                                format!("{path}.tls_config"),
                                DiagnosticKind::Conflict,
                                "tls_config applies only to private (VPC_LINK) integrations",
                                "remove it; an https:// URL already uses TLS",
                            );
                        }
                        if let IntegrationUri::Listener(_) = integ.integration_uri {
                            self.issue(
                                format!("{path}.integration_uri"),
                                DiagnosticKind::Conflict,
                                "an INTERNET integration needs an http:// or https:// URL",
                                "write a URL, or set connection_type: VPC_LINK to reach a listener",
                            );
                        }
                    }
                }
                if let Some(tls) = &integ.tls_config
                    && !is_dns_name(&tls.server_name_to_verify, false)
                {
                    self.issue(
                        format!("{path}.tls_config.server_name_to_verify"),
                        DiagnosticKind::InvalidValue,
                        format!("{:?} is not a DNS name", tls.server_name_to_verify),
                        "write the host name the listener's certificate covers",
                    );
                }
                for k in integ.request_parameters.keys() {
                    if let Err((message, hint)) = mapping_key(k, false) {
                        self.issue(
                            format!("{path}.request_parameters"),
                            DiagnosticKind::InvalidValue,
                            message,
                            hint,
                        );
                    }
                }
                for (status, entries) in &integ.response_parameters {
                    if !status
                        .parse::<u16>()
                        .is_ok_and(|s| (200..=599).contains(&s))
                    {
                        self.issue(
                            format!("{path}.response_parameters"),
                            DiagnosticKind::InvalidValue,
                            format!("{status:?} is not an integration status code"),
                            "key response mappings by a status code from 200 to 599, like \"500\"",
                        );
                    }
                    for k in entries.keys() {
                        if let Err((message, hint)) = mapping_key(k, true) {
                            self.issue(
                                format!("{path}.response_parameters"),
                                DiagnosticKind::InvalidValue,
                                message,
                                hint,
                            );
                        }
                    }
                }
            }
            if let Some(cors) = &api.cors_configuration
                && cors.max_age.is_some_and(|a| !(-1..=86_400).contains(&a))
            {
                self.issue(
                    format!("{base}.cors_configuration.max_age"),
                    DiagnosticKind::InvalidValue,
                    "max_age is outside -1..=86400",
                    "use -1 to 86400 seconds",
                );
            }

            let integrations: Vec<&str> =
                api.integrations.iter().map(|x| x.name.as_str()).collect();
            let authorizers: Vec<&str> = api.authorizers.iter().map(|x| x.name.as_str()).collect();
            let mut shapes = HashMap::new();
            for (j, route) in api.routes.iter().enumerate() {
                let path = format!("{base}.routes[{j}]");
                if let Some(first) = shapes.insert(route.route_key.shape(), j) {
                    self.issue(
                        format!("{path}.route_key"),
                        DiagnosticKind::Conflict,
                        format!(
                            "route {:?} conflicts with {:?} at {base}.routes[{first}]: same method and path shape",
                            route.route_key.to_string(),
                            api.routes[first].route_key.to_string()
                        ),
                        "variable names do not distinguish routes; remove one of them",
                    );
                }
                self.reference(
                    format!("{path}.target"),
                    "integration",
                    "integrations",
                    &route.target,
                    &integrations,
                    "set target to the name of one of this API's integrations",
                );
                let wanted = match route.authorization_type {
                    AuthorizationType::Jwt => Some(("JWT", AuthorizerType::Jwt)),
                    AuthorizationType::Custom => Some(("CUSTOM", AuthorizerType::Request)),
                    AuthorizationType::None | AuthorizationType::AwsIam => None,
                };
                match (wanted, &route.authorizer_id) {
                    (Some((kind, ty)), Some(id)) => {
                        if self.reference(
                            format!("{path}.authorizer_id"),
                            "authorizer",
                            "authorizers",
                            id,
                            &authorizers,
                            "set authorizer_id to the name of one of this API's authorizers",
                        ) && api
                            .authorizers
                            .iter()
                            .any(|a| a.name == *id && a.authorizer_type != ty)
                        {
                            self.issue(
                                format!("{path}.authorizer_id"),
                                DiagnosticKind::Conflict,
                                format!("a {kind} route needs a {} authorizer; {id:?} is not one", if ty == AuthorizerType::Jwt { "JWT" } else { "REQUEST" }),
                                "point at an authorizer of the matching type, or change authorization_type",
                            );
                        }
                    }
                    (Some((kind, _)), None) => self.issue(
                        &path,
                        DiagnosticKind::Schema,
                        format!("a {kind} route needs authorizer_id"),
                        "add authorizer_id: <authorizer name>, or use authorization_type: NONE",
                    ),
                    (None, Some(_)) => self.issue(
                        format!("{path}.authorizer_id"),
                        DiagnosticKind::Conflict,
                        "authorizer_id is set but authorization_type is NONE or AWS_IAM",
                        "set authorization_type: JWT or CUSTOM, or remove authorizer_id",
                    ),
                    (None, None) => {}
                }
                if route.authorization_type != AuthorizationType::Jwt
                    && !route.authorization_scopes.is_empty()
                {
                    self.issue(
                        format!("{path}.authorization_scopes"),
                        DiagnosticKind::Conflict,
                        "authorization_scopes apply only to JWT routes",
                        "set authorization_type: JWT, or remove the scopes",
                    );
                }
                if route.authorization_scopes.len() > 10 {
                    self.issue(
                        format!("{path}.authorization_scopes"),
                        DiagnosticKind::InvalidValue,
                        format!(
                            "{} scopes; a route allows at most 10",
                            route.authorization_scopes.len()
                        ),
                        "keep at most 10 scopes",
                    );
                }
                for (k, scope) in route.authorization_scopes.iter().enumerate() {
                    if scope.is_empty() || scope.chars().any(char::is_whitespace) {
                        self.issue(
                            format!("{path}.authorization_scopes[{k}]"),
                            DiagnosticKind::InvalidValue,
                            format!("{scope:?} is not a scope"),
                            "a scope is one non-empty word without spaces, like pets/write",
                        );
                    }
                }
            }

            let route_keys: Vec<String> =
                api.routes.iter().map(|r| r.route_key.to_string()).collect();
            for (j, stage) in api.stages.iter().enumerate() {
                let stage_path = format!("{base}.stages[{j}]");
                for key in stage.route_settings.keys() {
                    if !route_keys.contains(key) {
                        let keys: Vec<&str> = route_keys.iter().map(String::as_str).collect();
                        self.issue(
                            format!("{stage_path}.route_settings"),
                            DiagnosticKind::UnknownReference,
                            format!("route_settings names {key:?}, which is not a route of this API; its routes: {}", list(&keys)),
                            "key route settings by a route key exactly as written in routes",
                        );
                    }
                }
                if let Some(log) = &stage.access_log_settings {
                    if log.log_group().is_none() {
                        self.issue(
                            format!("{stage_path}.access_log_settings.destination_arn"),
                            DiagnosticKind::InvalidValue,
                            format!("{:?} is not a log group ARN", log.destination_arn),
                            "write arn:aws:logs:<region>:<account>:log-group:<name>",
                        );
                    }
                    let preset = matches!(log.format.as_str(), "CLF" | "JSON");
                    if !preset && !log.format.contains("$context.requestId") {
                        self.issue(
                            format!("{stage_path}.access_log_settings.format"),
                            DiagnosticKind::InvalidValue,
                            "an access log format must contain $context.requestId",
                            "add $context.requestId, or use the CLF or JSON preset",
                        );
                    }
                    if log.format.len() > 1024 || log.format.contains('\n') {
                        self.issue(
                            format!("{stage_path}.access_log_settings.format"),
                            DiagnosticKind::InvalidValue,
                            "an access log format is one line of at most 1024 characters",
                            "shorten the format",
                        );
                    }
                }
                let path = format!("{base}.stages[{j}].stage_variables");
                if stage.stage_variables.len() > 100 {
                    self.issue(
                        &path,
                        DiagnosticKind::InvalidValue,
                        "more than 100 stage variables",
                        "keep at most 100",
                    );
                }
                for (k, v) in &stage.stage_variables {
                    let key_ok = !k.is_empty()
                        && k.len() <= 64
                        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    let value_ok = !v.is_empty()
                        && v.len() <= 512
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#&=,".contains(&b));
                    if !key_ok || !value_ok {
                        self.issue(
                            format!("{path}.{k}"),
                            DiagnosticKind::InvalidValue,
                            format!("stage variable {k:?} is not valid"),
                            "names: 1-64 letters, digits, `_`; values: 1-512 of letters, digits and -._~:/?#&=,",
                        );
                    }
                }
            }
        }
    }

    pub(super) fn domain_names(&mut self) {
        let stack = self.stack;
        self.unique(
            "custom domain",
            stack.domain_names.iter().enumerate().map(|(i, d)| {
                (
                    format!("domain_names[{i}].domain_name"),
                    d.domain_name.as_str(),
                )
            }),
        );
        let certs: Vec<&str> = stack.certificates.iter().map(|c| c.name.as_str()).collect();
        let apis: Vec<&str> = stack.http_apis.iter().map(|a| a.name.as_str()).collect();
        for (i, d) in stack.domain_names.iter().enumerate() {
            let base = format!("domain_names[{i}]");
            if !is_dns_name(&d.domain_name, false)
                || d.domain_name != d.domain_name.to_ascii_lowercase()
            {
                self.issue(
                    format!("{base}.domain_name"),
                    DiagnosticKind::InvalidValue,
                    format!("{:?} is not a lower-case DNS name", d.domain_name),
                    "custom domain names must be lower case, like api.example.com",
                );
            }
            if self.reference(
                format!("{base}.certificate"),
                "certificate",
                "certificates",
                &d.certificate,
                &certs,
                "use a name from certificates",
            ) && stack
                .certificate(&d.certificate)
                .is_some_and(|c| !c.covers(&d.domain_name))
            {
                self.issue(
                    format!("{base}.certificate"),
                    DiagnosticKind::Conflict,
                    format!("certificate {:?} does not cover {:?}", d.certificate, d.domain_name),
                    "use a certificate whose domain_name or subject_alternative_names match the domain",
                );
            }
            let mut keys: HashMap<&str, usize> = HashMap::new();
            for (j, m) in d.api_mappings.iter().enumerate() {
                let path = format!("{base}.api_mappings[{j}]");
                if self.reference(
                    format!("{path}.api"),
                    "HTTP API",
                    "HTTP APIs",
                    &m.api,
                    &apis,
                    "use a name from http_apis",
                ) && let Some(api) = stack.http_api(&m.api)
                    && api.stage(&m.stage).is_none()
                {
                    let stages: Vec<&str> =
                        api.stages.iter().map(|s| s.stage_name.as_str()).collect();
                    self.issue(
                        format!("{path}.stage"),
                        DiagnosticKind::UnknownReference,
                        format!(
                            "API {:?} has no stage named {:?}; its stages: {}",
                            m.api,
                            m.stage.as_str(),
                            list(&stages)
                        ),
                        "map one of the API's stages, or add the stage to the API",
                    );
                }
                let key = m.api_mapping_key.as_str();
                let key_ok = key.len() <= 300
                    && !key.starts_with('/')
                    && !key.ends_with('/')
                    && !key.contains("//")
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"$-_.+!*'()/".contains(&b));
                if !key_ok {
                    self.issue(
                        format!("{path}.api_mapping_key"),
                        DiagnosticKind::InvalidValue,
                        format!("{key:?} is not a valid API mapping key"),
                        "use up to 300 of letters, digits and $-_.+!*'()/ without leading or trailing `/` (empty maps the root)",
                    );
                }
                if let Some(first) = keys.insert(key, j) {
                    self.issue(
                        format!("{path}.api_mapping_key"),
                        DiagnosticKind::Duplicate,
                        format!("API mapping key {key:?} is already used at {base}.api_mappings[{first}]"),
                        "give each mapping of a domain a different key",
                    );
                }
            }
        }
    }

    pub(super) fn vpc_links(&mut self) {
        let stack = self.stack;
        self.unique(
            "VPC link",
            stack
                .vpc_links
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("vpc_links[{i}].name"), l.name.as_str())),
        );
        for (i, link) in stack.vpc_links.iter().enumerate() {
            let base = format!("vpc_links[{i}]");
            if link.name.is_empty() || link.name.len() > 128 {
                self.issue(
                    format!("{base}.name"),
                    DiagnosticKind::InvalidValue,
                    "a VPC link name has 1 to 128 characters",
                    "shorten the name",
                );
            }
            if link.subnet_ids.is_empty() || link.subnet_ids.len() > 10 {
                self.issue(
                    format!("{base}.subnet_ids"),
                    DiagnosticKind::InvalidValue,
                    format!(
                        "a VPC link needs 1 to 10 subnets, found {}",
                        link.subnet_ids.len()
                    ),
                    "list the subnets its interfaces go in",
                );
            }
            self.subnet_refs(&format!("{base}.subnet_ids"), &link.subnet_ids);
            self.group_refs(
                &format!("{base}.security_group_ids"),
                &link.security_group_ids,
            );
        }
    }
}
