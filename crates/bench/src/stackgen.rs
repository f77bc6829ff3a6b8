//! The generated "big" stack: the default stack grown to the sizes a real team reaches (300
//! routes, 100 listener rules, 50 tasks), made from the default stack's own text so it keeps up
//! with whatever the default stack becomes.

use crate::BenchError;
use std::fmt::Write as _;

/// How big the generated stack is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Size {
    /// Routes of the HTTP API, the default stack's included.
    pub routes: usize,
    /// Rules of the ALB listener, none of which matches the measured path (so every measured
    /// request walks all of them before the default action: the worst case).
    pub listener_rules: usize,
    /// Tasks of the pets service.
    pub tasks: usize,
}

impl Size {
    /// The sizes the issue names: API Gateway's default route quota, a full listener, and 50
    /// tasks.
    pub const ISSUE: Size = Size {
        routes: 300,
        listener_rules: 100,
        tasks: 50,
    };
}

const ROUTES_ANCHOR: &str = "    routes:\n";
const LISTENER_ANCHOR: &str =
    "        default_actions:\n          - type: forward\n            target_group: pets-tg\n";
const DESIRED_ANCHOR: &str = "    desired_count: 2\n";

/// The default stack's YAML with `size` routes, rules and tasks.
pub fn generate(base: &str, size: Size) -> Result<String, BenchError> {
    let existing_routes = base.matches("      - route_key:").count();
    let mut routes = String::new();
    // Literal, parameter and greedy shapes, so the router's table looks like a real API's.
    for i in 0..size.routes.saturating_sub(existing_routes) {
        let key = match i % 3 {
            0 => format!("GET /gen{i}"),
            1 => format!("GET /gen{i}/{{id}}"),
            _ => format!("ANY /gen{i}/{{proxy+}}"),
        };
        let _ = write!(
            routes,
            "      - route_key: {key}\n        authorization_type: JWT\n        \
             authorizer_id: local-jwt\n        target: pets-alb-listener\n"
        );
    }
    let mut rules = String::from("        rules:\n");
    for i in 0..size.listener_rules {
        let condition = if i % 2 == 0 {
            format!(
                "              - field: path-pattern\n                values: [\"/gen{i}/*\"]\n"
            )
        } else {
            format!(
                "              - field: host-header\n                values: [\"gen{i}.example.com\"]\n"
            )
        };
        let _ = write!(
            rules,
            "          - priority: {}\n            conditions:\n{condition}            \
             actions:\n              - type: forward\n                target_group: pets-tg\n",
            i + 1
        );
    }
    let text = insert_after(base, ROUTES_ANCHOR, &routes)?;
    let text = if size.listener_rules > 0 {
        insert_after(&text, LISTENER_ANCHOR, &rules)?
    } else {
        text
    };
    replace(
        &text,
        DESIRED_ANCHOR,
        &format!("    desired_count: {}\n", size.tasks),
    )
}

fn insert_after(text: &str, anchor: &str, insert: &str) -> Result<String, BenchError> {
    let at = text
        .find(anchor)
        .ok_or_else(|| BenchError::Generate(anchor.trim().to_owned()))?
        + anchor.len();
    Ok(format!("{}{insert}{}", &text[..at], &text[at..]))
}

fn replace(text: &str, anchor: &str, with: &str) -> Result<String, BenchError> {
    if !text.contains(anchor) {
        return Err(BenchError::Generate(anchor.trim().to_owned()));
    }
    Ok(text.replacen(anchor, with, 1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    #[test]
    fn generated_stack_is_valid_and_has_the_asked_sizes() {
        let yaml = generate(airlock_config::DEFAULT_STACK_YAML, Size::ISSUE).unwrap();
        let stack = match airlock_config::parse(&yaml, Path::new("big.yaml")) {
            Ok(stack) => stack,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(stack.http_apis[0].routes.len(), 300);
        assert_eq!(stack.load_balancers[0].listeners[0].rules.len(), 100);
        assert_eq!(stack.services[0].desired_count, 50);
    }
}
