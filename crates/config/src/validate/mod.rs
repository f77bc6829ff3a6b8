//! Checks that need more than one value at a time: uniqueness, references, CIDR nesting, and
//! rules that depend on other fields. Each problem names the field path it is about; the loader
//! turns paths into lines and columns.

mod apigateway;
mod cognito;
mod dns;
mod ecs;
mod elb;
mod network;

use std::collections::HashMap;

use crate::error::DiagnosticKind;
use crate::issue::Issue;
use crate::*;

/// Runs every check; returns the problems found (empty when the stack is valid).
pub(crate) fn validate(stack: &Stack) -> Vec<Issue> {
    let mut c = Checker {
        stack,
        issues: Vec::new(),
    };
    c.vpc();
    c.vantage_points();
    c.certificates();
    c.hosted_zones();
    c.http_apis();
    c.user_pools();
    c.domain_names();
    c.vpc_links();
    c.load_balancers();
    c.target_groups();
    c.ecs();
    c.issues.extend(crate::ecs::taskdef::check_image_map(stack));
    c.issues
}

struct Checker<'a> {
    stack: &'a Stack,
    issues: Vec<Issue>,
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none are defined".to_owned()
    } else {
        names.join(", ")
    }
}

fn is_dns_name(name: &str, allow_wildcard: bool) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let body = match name.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => name,
    };
    !body.is_empty()
        && body.len() <= 253
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl<'a> Checker<'a> {
    fn issue(
        &mut self,
        path: impl Into<String>,
        kind: DiagnosticKind,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.issues.push(Issue {
            path: path.into(),
            kind,
            message: message.into(),
            hint: hint.into(),
        });
    }

    fn unique<'n>(&mut self, what: &str, items: impl IntoIterator<Item = (String, &'n str)>) {
        let mut seen: HashMap<String, String> = HashMap::new();
        for (path, name) in items {
            if let Some(first) = seen.get(&name.to_ascii_lowercase()) {
                let message =
                    format!("duplicate {what} {name:?}; it is already defined at {first}");
                self.issue(
                    path,
                    DiagnosticKind::Duplicate,
                    message,
                    format!("give each {what} a different name"),
                );
            } else {
                seen.insert(name.to_ascii_lowercase(), path);
            }
        }
    }

    /// Reports `name` unless it is one of `known`.
    fn reference(
        &mut self,
        path: String,
        what: &str,
        plural: &str,
        name: &str,
        known: &[&str],
        hint: &str,
    ) -> bool {
        if known.contains(&name) {
            return true;
        }
        self.issue(
            path,
            DiagnosticKind::UnknownReference,
            format!("no {what} named {name:?}; known {plural}: {}", list(known)),
            hint,
        );
        false
    }

    fn subnet_names(&self) -> Vec<&'a str> {
        self.stack
            .vpc
            .subnets
            .iter()
            .map(|s| s.name.as_str())
            .collect()
    }

    fn group_names(&self) -> Vec<&'a str> {
        self.stack
            .vpc
            .security_groups
            .iter()
            .map(|g| g.group_name.as_str())
            .collect()
    }

    fn subnet_refs(&mut self, base: &str, subnets: &[String]) {
        let known = self.subnet_names();
        for (i, s) in subnets.iter().enumerate() {
            self.reference(
                format!("{base}[{i}]"),
                "subnet",
                "subnets",
                s,
                &known,
                "use the name of a subnet under vpc.subnets",
            );
        }
        self.unique(
            "subnet reference",
            subnets
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("{base}[{i}]"), s.as_str())),
        );
    }

    fn group_refs(&mut self, base: &str, groups: &[String]) {
        let known = self.group_names();
        for (i, g) in groups.iter().enumerate() {
            self.reference(
                format!("{base}[{i}]"),
                "security group",
                "security groups",
                g,
                &known,
                "use a group_name from vpc.security_groups",
            );
        }
        self.unique(
            "security group reference",
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("{base}[{i}]"), g.as_str())),
        );
    }
}
