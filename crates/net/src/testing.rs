//! The one rule every test that needs an external tool follows (test support, not airlock's API).
//!
//! A test that needs curl, dig, botocore or a Docker engine asks [`tool`] or [`require`] first.
//! Under `CI=true` a missing tool fails the test: `.ci/run` installs every tool a test needs, so a
//! skip there would hide a missing install step and report a pass for a test that never ran.
//! Elsewhere (a developer's machine) the test prints a `skipped:` line and passes. It lives here,
//! in the foundation every test crate already reaches, so the root tests and the crates' tests
//! share one implementation of the rule.

/// Whether the external program `name` runs (as `name version_arg`, exiting 0).
///
/// Under `CI=true` a missing program panics with `install_hint`; elsewhere it prints a skip line
/// and returns `false`, and the caller returns.
pub fn tool(name: &str, version_arg: &str, install_hint: &str) -> bool {
    let runs = std::process::Command::new(name)
        .arg(version_arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    require(
        name,
        runs.then_some(()).ok_or("it is not installed"),
        install_hint,
    )
}

/// Whether python3 can import `module` (a Python package a test drives, such as botocore).
pub fn python_module(module: &str, install_hint: &str) -> bool {
    tool("python3", "--version", "apt-get install python3")
        && require(
            &format!("python3's {module}"),
            std::process::Command::new("python3")
                .args(["-c", &format!("import {module}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
                .then_some(())
                .ok_or("it cannot be imported"),
            install_hint,
        )
}

/// The rule itself, for a prerequisite that is more than one program (a Docker engine, a static C
/// library): `probe` is `Err(why)` when `what` is missing.
///
/// Under `CI=true` a missing prerequisite panics; elsewhere it prints a skip line and returns
/// `false`.
pub fn require(what: &str, probe: Result<(), impl std::fmt::Display>, install_hint: &str) -> bool {
    match probe {
        Ok(()) => true,
        Err(why) => {
            assert!(
                !under_ci(),
                "{what} is missing ({why}) and CI=true: .ci/run must provide it ({install_hint})"
            );
            println!("skipped: {what} is missing ({why}; {install_hint})");
            false
        }
    }
}

/// Whether the tests run under CI (`CI=true`, as `.ci/run` is run).
pub fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}
