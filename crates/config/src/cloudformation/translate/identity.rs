//! Identity resources: ACM certificates (issued by airlock's local CA) into `certificates`, and
//! Cognito user pools with their app clients into `user_pools`, airlock's stand-in for Cognito
//! as a JWT issuer (`crate::UserPool`).
//!
//! Certificates and pools are named by logical id: nothing in AWS names them otherwise (an ARN,
//! a generated pool id), and `airlock token --user-pool LOGICAL_ID` finds a pool by it.

use yaml_serde::Value as Yaml;

use crate::error::DiagnosticKind;

use super::super::Resource;
use super::values::{dns_name, items, map, prop, s, text};
use super::{Ctx, Origin, Section};

const CERTIFICATE: &str = "AWS::CertificateManager::Certificate";
const USER_POOL: &str = "AWS::Cognito::UserPool";
const USER_POOL_CLIENT: &str = "AWS::Cognito::UserPoolClient";

/// Adds the template's certificates and user pools to the stack document.
pub(crate) fn translate(cx: &mut Ctx<'_>) {
    for t in [CERTIFICATE, USER_POOL, USER_POOL_CLIENT] {
        for r in cx.of_type(t).collect::<Vec<_>>() {
            cx.handled(r);
        }
    }
    for r in cx.of_type(CERTIFICATE).collect::<Vec<_>>() {
        certificate(cx, r);
    }
    let mut pools: Vec<(&Resource, Vec<Yaml>)> =
        cx.of_type(USER_POOL).map(|r| (r, Vec::new())).collect();
    for r in cx.of_type(USER_POOL_CLIENT).collect::<Vec<_>>() {
        cx.handled(r);
        let Some(pool_node) = prop(r, "UserPoolId") else {
            continue;
        };
        let Some(pool) = cx.reference(pool_node, &[USER_POOL]) else {
            continue;
        };
        if let Some((_, clients)) = pools
            .iter_mut()
            .find(|(p, _)| p.logical_id == pool.logical_id)
        {
            cx.name(r, r.logical_id.clone());
            clients.push(map(vec![
                ("name", s(r.logical_id.clone())),
                ("client_id", s(r.physical_id.clone())),
            ]));
        }
    }
    for (r, clients) in pools {
        cx.name(r, r.logical_id.clone());
        let mut pairs = vec![
            ("name", s(r.logical_id.clone())),
            ("pool_id", s(r.physical_id.clone())),
        ];
        if !clients.is_empty() {
            pairs.push(("clients", Yaml::Sequence(clients)));
        }
        cx.doc.push(Section::UserPools, Origin::of(r), map(pairs));
    }
}

/// `AWS::CertificateManager::Certificate`: its names; validation is accepted as done, since the
/// local CA issues it at once.
fn certificate(cx: &mut Ctx<'_>, r: &Resource) {
    let Some(domain) = prop(r, "DomainName").and_then(|n| text(cx, n)) else {
        return;
    };
    let mut pairs = vec![
        ("name", s(r.logical_id.clone())),
        ("domain_name", s(dns_name(&domain))),
    ];
    if let Some(n) = prop(r, "SubjectAlternativeNames") {
        let mut sans = Vec::new();
        for item in items(cx, n) {
            if let Some(t) = text(cx, item) {
                sans.push(s(dns_name(&t)));
            }
        }
        pairs.push(("subject_alternative_names", Yaml::Sequence(sans)));
    }
    if let Some(n) = prop(r, "CertificateExport")
        && n.scalar_text().as_deref() == Some("ENABLED")
    {
        cx.problem(
            n,
            DiagnosticKind::Schema,
            "airlock's certificates are not exported",
            "remove CertificateExport",
        );
    }
    cx.name(r, r.logical_id.clone());
    cx.doc
        .push(Section::Certificates, Origin::of(r), map(pairs));
}
