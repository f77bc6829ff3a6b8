//! ALB listener rules (crates/alb/src/rules.rs): path-pattern and host-header values, checked
//! and matched, and the rule set's prefix gates.
//!
//! Input: lines. The first is the request, `host path` (host `-` for none). Every other line is
//! one rule, `path values ; host values`, values separated by `|` (either part may be empty).
//! Checked: nothing panics; an accepted condition matches exactly when a plain reference glob
//! (`*` any run, `?` one byte; host names without regard to ASCII case) says so; the gated rule
//! set picks the rule the plain first-match walk picks.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use airlock_alb::{Action, Condition, RequestView, Rule, RuleSet, first_match};
use http::{HeaderMap, Method, StatusCode};
use libfuzzer_sys::fuzz_target;

/// Whether `pattern` matches all of `s`, by dynamic programming over both: the obvious
/// definition, independent of the backtracking matcher under test.
fn reference(pattern: &[u8], s: &[u8], fold: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // row[j]: pattern[..i] matches s[..j].
    let mut row = vec![false; s.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; s.len() + 1];
        match p {
            b'*' => {
                let mut any = false;
                for j in 0..=s.len() {
                    any |= row[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=s.len() {
                    next[j] = row[j - 1] && (p == b'?' || eq(p, s[j - 1]));
                }
            }
        }
        row = next;
    }
    row[s.len()]
}

fn values(part: &str) -> Vec<&str> {
    part.split('|').filter(|v| !v.is_empty()).collect()
}

fn fixed() -> Action {
    Action::FixedResponse {
        status: StatusCode::OK,
        content_type: None,
        body: String::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let request = lines.next().unwrap_or_default();
    let (host, path) = request.split_once(' ').unwrap_or((request, "/"));
    let host = (host != "-").then_some(host);
    let headers = HeaderMap::new();
    let method = Method::GET;
    let view = RequestView {
        host,
        path,
        query: None,
        method: &method,
        headers: &headers,
        source_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
    };
    let mut rules = Vec::new();
    for line in lines.take(32) {
        let (paths, hosts) = line.split_once(';').unwrap_or((line, ""));
        let (paths, hosts) = (values(paths.trim()), values(hosts.trim()));
        let mut conditions = Vec::new();
        if !paths.is_empty()
            && let Ok(c) = Condition::path_pattern(&paths)
        {
            let want = paths
                .iter()
                .any(|p| reference(p.as_bytes(), path.as_bytes(), false));
            assert_eq!(
                c.matches(&view),
                want,
                "path-pattern {paths:?} against {path:?}"
            );
            conditions.push(c);
        }
        if !hosts.is_empty()
            && let Ok(c) = Condition::host_header(&hosts)
        {
            let want = host.is_some_and(|h| {
                hosts
                    .iter()
                    .any(|p| reference(p.as_bytes(), h.as_bytes(), true))
            });
            assert_eq!(
                c.matches(&view),
                want,
                "host-header {hosts:?} against {host:?}"
            );
            conditions.push(c);
        }
        let priority = u32::try_from(rules.len() + 1).expect("at most 32 rules");
        if let Ok(rule) = Rule::new(priority, conditions, fixed()) {
            rules.push(rule);
        }
    }
    let want = first_match(&rules, &view).map(Rule::priority);
    let got = RuleSet::new(rules).first_match(&view).map(Rule::priority);
    assert_eq!(
        got, want,
        "the gates changed the match for host {host:?}, path {path:?}"
    );
});
