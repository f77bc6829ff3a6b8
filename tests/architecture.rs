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
