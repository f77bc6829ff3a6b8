//! Changes to a running stack (the admin endpoint's levers), read with the stack file's types and
//! parser and checked by the stack file's own validation: a change is refused in the same words
//! as the same mistake written in the file, and a change the file could not hold is never made.
//!
//! Each `with_*` method applies one change to a copy of the stack and validates the copy whole;
//! the stack it was made from was valid, so every problem found is the change's. Problems inside
//! the changed resource are located in the body that carried the change (its line, column and
//! the field path within it); problems it causes elsewhere keep the stack file's path.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ecs::TaskDefinition;
use crate::error::{ConfigError, Diagnostic, DiagnosticKind, Diagnostics, Location};
use crate::network::{EgressRule, IngressRule};
use crate::position::PositionIndex;
use crate::stack::Stack;

/// A security group's rules, as `PUT /security-groups/{name}` takes them: the `ingress` and
/// `egress` of a stack file's security group (the same rule types, read the same way).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupRules {
    /// Inbound allow rules; none means no inbound traffic.
    #[serde(default)]
    pub ingress: Vec<IngressRule>,
    /// Outbound allow rules; absent means allow all (the AWS default), present means only these.
    #[serde(default)]
    pub egress: Option<Vec<EgressRule>>,
}

/// A service's desired count, as `PUT /services/{name}/desired-count` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredCount {
    /// How many tasks to keep running (a stack file service's `desired_count`).
    pub desired_count: u32,
}

/// A VPC link's status, as API Gateway reports it (`VpcLinkStatus`), for
/// `PUT /vpc-links/{name}/state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum VpcLinkStatus {
    /// `PENDING`: being created; traffic fails.
    #[serde(rename = "PENDING")]
    Pending,
    /// `AVAILABLE`: carries traffic.
    #[serde(rename = "AVAILABLE")]
    Available,
    /// `FAILED`: traffic fails.
    #[serde(rename = "FAILED")]
    Failed,
    /// `INACTIVE`: unused for a long time; traffic fails until it is available again.
    #[serde(rename = "INACTIVE")]
    Inactive,
}

/// A VPC link's new state, as `PUT /vpc-links/{name}/state` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcLinkState {
    /// The status to put the link in.
    pub state: VpcLinkStatus,
}

/// Reads a change's body (JSON, which is YAML's flow style) into `T` with the stack file's
/// parser, so its mistakes are reported as the stack file's are. `origin` names the body.
pub fn parse_change<T: DeserializeOwned>(text: &str, origin: &Path) -> Result<T, ConfigError> {
    yaml_serde::from_str(text).map_err(|err| {
        let index = PositionIndex::build(text);
        ConfigError::Invalid(Diagnostics(vec![crate::serde_diagnostic(
            &err, &index, origin,
        )]))
    })
}

impl Stack {
    /// The stack with security group `name`'s rules replaced by `rules`, checked whole.
    /// `body` is the text `rules` was read from and `origin` names it, to place problems.
    pub fn with_security_group_rules(
        &self,
        name: &str,
        rules: SecurityGroupRules,
        body: &str,
        origin: &Path,
    ) -> Result<Stack, ConfigError> {
        let mut next = self.clone();
        let (i, group) = next
            .vpc
            .security_groups
            .iter_mut()
            .enumerate()
            .find(|(_, g)| g.group_name == name)
            .ok_or_else(|| unknown("security group", name, origin))?;
        group.ingress = rules.ingress;
        group.egress = rules.egress;
        revalidate(next, &format!("vpc.security_groups[{i}]"), body, origin)
    }

    /// The stack with service `name`'s desired count set to `count`, checked whole.
    pub fn with_desired_count(
        &self,
        name: &str,
        count: u32,
        body: &str,
        origin: &Path,
    ) -> Result<Stack, ConfigError> {
        let mut next = self.clone();
        let (i, svc) = next
            .services
            .iter_mut()
            .enumerate()
            .find(|(_, s)| s.service_name == name)
            .ok_or_else(|| unknown("service", name, origin))?;
        svc.desired_count = count;
        revalidate(next, &format!("services[{i}]"), body, origin)
    }

    /// The stack with `td` in place of the task definition of its family, checked whole (the
    /// services that run it, `image_map`, Fargate sizes). `td` was read from `body` by
    /// [`crate::parse_task_definition_json`], which checked it alone.
    pub fn with_task_definition(
        &self,
        td: TaskDefinition,
        body: &str,
        origin: &Path,
    ) -> Result<Stack, ConfigError> {
        let mut next = self.clone();
        let (i, slot) = next
            .task_definitions
            .iter_mut()
            .enumerate()
            .find(|(_, t)| t.family == td.family)
            .ok_or_else(|| unknown("task definition family", &td.family, origin))?;
        *slot = td;
        revalidate(next, &format!("task_definitions[{i}]"), body, origin)
    }
}

fn unknown(what: &str, name: &str, origin: &Path) -> ConfigError {
    ConfigError::Invalid(Diagnostics(vec![Diagnostic {
        file: origin.to_owned(),
        location: Location::START,
        path: String::new(),
        kind: DiagnosticKind::UnknownReference,
        message: format!("no {what} named {name:?} in this stack"),
        hint: String::new(),
    }]))
}

/// Runs the stack file's validation on `stack`; problems under `prefix` (the changed resource)
/// are placed in `body`, relative to it.
fn revalidate(stack: Stack, prefix: &str, body: &str, origin: &Path) -> Result<Stack, ConfigError> {
    let issues = crate::validate::validate(&stack);
    if issues.is_empty() {
        return Ok(stack);
    }
    let index = PositionIndex::build(body);
    let mut diagnostics: Vec<Diagnostic> = issues
        .into_iter()
        .map(|issue| {
            let inside =
                issue
                    .path
                    .strip_prefix(prefix)
                    .and_then(|rest| match rest.strip_prefix('.') {
                        Some(field) => Some(field.to_owned()),
                        None => rest.is_empty().then(String::new),
                    });
            let (path, location) = match inside {
                Some(path) => {
                    let location = index.locate(&path);
                    (path, location)
                }
                None => (issue.path, Location::START),
            };
            Diagnostic {
                file: origin.to_owned(),
                location,
                path,
                kind: issue.kind,
                message: issue.message,
                hint: issue.hint,
            }
        })
        .collect();
    diagnostics.sort_by_key(|d| d.location);
    diagnostics.truncate(crate::MAX_DIAGNOSTICS);
    Err(ConfigError::Invalid(Diagnostics(diagnostics)))
}
