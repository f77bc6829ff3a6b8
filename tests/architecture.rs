//! Architecture invariant: dependencies flow one way. Components never import each other; only
//! the stack crate wires them, and only the binary and the stack crate know the stack file.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;

const FOUNDATIONS: &[&str] = &["airlock-pki", "airlock-net", "airlock-pool"];
/// The crates above the components: they may know everything.
const APPLICATIONS: &[&str] = &["airlock-stack", "airlock", "airlock-bench"];
const COMPONENTS: &[&str] = &[
    "airlock-dns",
    "airlock-gateway",
    "airlock-vpclink",
    "airlock-alb",
    "airlock-fargate",
];

/// Normal (non-dev) airlock dependencies of each workspace package.
fn workspace_deps() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .filter(|n| n.starts_with("airlock"))
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn components_depend_only_on_foundations() {
    let deps = workspace_deps();
    for component in COMPONENTS {
        let own = deps
            .get(*component)
            .expect("component is a workspace member");
        for d in own {
            assert!(
                FOUNDATIONS.contains(&d.as_str()),
                "{component} depends on {d}; components may only use {FOUNDATIONS:?}"
            );
        }
    }
}

#[test]
fn foundations_know_no_component_and_config_stands_alone() {
    let deps = workspace_deps();
    for f in FOUNDATIONS.iter().chain(&["airlock-config"]) {
        let own = deps.get(*f).expect("foundation is a workspace member");
        assert!(
            own.is_empty(),
            "{f} depends on {own:?}; foundations depend on no airlock crate"
        );
    }
    // Only the stack crate and the applications on top of it (the binary, the load harness)
    // know the stack file format.
    for (name, own) in &deps {
        if own.iter().any(|d| d == "airlock-config") {
            assert!(
                APPLICATIONS.contains(&name.as_str()),
                "{name} reads the stack file format; only {APPLICATIONS:?} may"
            );
        }
    }
}

/// The top-level modules of the crate whose sources are under `src`, and the modules each one
/// names through `crate::` paths (or `super::` from a top-level file), test modules left out.
fn module_graph(src: &std::path::Path) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut all = Vec::new();
    files(src, &mut all);
    let top = |path: &std::path::Path| -> Option<String> {
        let rel = path.strip_prefix(src).unwrap();
        let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
        let name = first.trim_end_matches(".rs").to_owned();
        (!matches!(name.as_str(), "lib" | "main")).then_some(name)
    };
    let modules: std::collections::BTreeSet<String> = all.iter().filter_map(|p| top(p)).collect();
    let mut graph: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for path in &all {
        let Some(from) = top(path) else { continue };
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        // Unit tests may reach anywhere; only what ships counts.
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let top_level_file = path.parent() == Some(src);
        let edges = graph.entry(from.clone()).or_default();
        for prefix in ["crate::", "super::"] {
            if prefix == "super::" && !top_level_file {
                continue;
            }
            for (i, _) in text.match_indices(prefix) {
                let rest = &text[i + prefix.len()..];
                let mut names = vec![];
                if let Some(group) = rest.strip_prefix('{') {
                    // `crate::{a, b::c}`: each name at the group's top level.
                    let inner = group.split('}').next().unwrap_or("");
                    names.extend(inner.split(',').map(|n| n.trim().to_owned()));
                } else {
                    names.push(rest.to_owned());
                }
                for n in names {
                    let ident: String = n
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if ident != from && modules.contains(&ident) {
                        edges.insert(ident);
                    }
                }
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, std::collections::BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// Architecture invariant: within each crate, top-level modules depend on one another one way,
/// so each can be read (and changed) knowing only the modules below it. Dependencies are the
/// modules named through `crate::` paths; names re-exported at the crate root are not traced.
#[test]
fn no_module_cycles_in_any_crate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut srcs = vec![root.join("src")];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        srcs.push(entry.unwrap().path().join("src"));
    }
    let mut cycles = Vec::new();
    for src in srcs {
        if let Some(cycle) = find_cycle(&module_graph(&src)) {
            cycles.push(format!("{}: {}", src.display(), cycle.join(" -> ")));
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

/// The text files a newcomer reads for the code's reasons: sources, tests and documents.
fn documented_files() -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    walk(&path, out);
                }
            } else {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    for dir in ["crates", "src", "tests", "docs"] {
        walk(&root.join(dir), &mut out);
    }
    out
}

/// The section names `docs/aws-rules.md` defines: the first word of each `###`/`####` heading.
fn aws_rules_sections() -> std::collections::BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/aws-rules.md");
    std::fs::read_to_string(path)
        .expect("docs/aws-rules.md exists")
        .lines()
        .filter_map(|l| l.strip_prefix("#### ").or_else(|| l.strip_prefix("### ")))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Checks the section sign at byte `at` of `line`: where the reference ends when it names a
/// public or in-repository document, else why not. Accepted: a section sign right after
/// `RFC <number> `, and one right after `aws-rules.md ` naming a section that exists, optionally
/// followed by more such signs joined with `, `, ` and `, ` or `, ` to `, an en dash, `/` or ` + `.
/// `chain` is where the previous accepted `aws-rules.md` section ended on this line, if one did.
fn check_section_reference(
    line: &str,
    at: usize,
    chain: Option<usize>,
    sections: &std::collections::BTreeSet<String>,
) -> Result<usize, String> {
    const SIGN: char = '\u{a7}';
    let before = &line[..at];
    let after = &line[at + SIGN.len_utf8()..];
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = before.strip_suffix(' ') {
        let number = rest.rsplit(' ').next().unwrap_or_default();
        if digits(number) && rest[..rest.len() - number.len()].ends_with("RFC ") {
            return Ok(at);
        }
    }
    let name: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    let name = name.trim_end_matches('.');
    let named = before.ends_with("aws-rules.md ");
    let chained = chain.is_some_and(|end| {
        matches!(
            &line[end..at],
            ", " | " and " | " or " | " to " | "\u{2013}" | "/" | " + "
        )
    });
    if !named && !chained {
        return Err("a section sign that names no document (write `RFC NNNN \u{a7}x` or `docs/aws-rules.md \u{a7}SECTION`)".into());
    }
    if !sections.contains(name) {
        return Err(format!("`{name}` is no section of docs/aws-rules.md"));
    }
    Ok(at + SIGN.len_utf8() + name.len())
}

/// Every rule the code relies on is cited so that a reader of this repository alone can check it:
/// a section sign names an RFC or a section of `docs/aws-rules.md`, and nothing points at files
/// outside the repository.
#[test]
fn references_name_documents_inside_the_repository_or_public_ones() {
    // Built from pieces so that this file does not match its own search.
    let outside = [
        concat!("..", "/shared"),
        concat!("shared", "/spec"),
        concat!("http-api", ".md"),
        concat!("alb-ecs-dns", ".md"),
    ];
    let sections = aws_rules_sections();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for path in documented_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text
        };
        let shown = path.strip_prefix(root).unwrap().display().to_string();
        for (n, line) in text.lines().enumerate() {
            for o in outside {
                if line.contains(o) {
                    problems.push(format!(
                        "{shown}:{}: names `{o}` outside the repository: {line}",
                        n + 1
                    ));
                }
            }
            let mut chain = None;
            for (at, _) in line.match_indices('\u{a7}') {
                match check_section_reference(line, at, chain, &sections) {
                    Ok(end) => chain = Some(end),
                    Err(why) => {
                        chain = None;
                        problems.push(format!("{shown}:{}: {why}: {line}", n + 1));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
