//! The harness itself, run very briefly against the debug `airlock` binary: it must produce
//! its table, and the full chain must have answered only 200s. No figure is asserted: times
//! belong to benchmarks, never to tests.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

/// The debug `airlock` binary of this workspace, built if it is not there yet (a workspace
/// `cargo test` has built it already for the root package's tests).
fn debug_airlock() -> PathBuf {
    if let Some(path) = airlock_bench::find_airlock("debug") {
        return path;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-p", "airlock", "--bin", "airlock"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "building the airlock binary failed");
    airlock_bench::find_airlock("debug").expect("the debug airlock binary after building it")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_run_produces_the_table_and_the_chain_answers_only_200() {
    let mut options = airlock_bench::Options::quick(debug_airlock());
    options.duration = Duration::from_millis(300);
    options.cold_starts = 1;
    options.connections = vec![4, 1];
    options.settle = Duration::ZERO;
    options.quiet = Duration::ZERO;
    options.big_stack = false;
    let report = airlock_bench::run(&options).await.unwrap();

    let table = report.table();
    println!("{table}");
    for needle in [
        "(a) direct",
        "(b) alb",
        "(c) chain",
        "first 200 through the chain",
        "open descriptors: idle",
        "tracing off (--trace-capacity 0)",
        "budgets",
    ] {
        assert!(
            table.contains(needle),
            "the table lacks {needle:?}:\n{table}"
        );
    }
    for path in [
        airlock_bench::MeasuredPath::Direct,
        airlock_bench::MeasuredPath::Alb,
        airlock_bench::MeasuredPath::Chain,
    ] {
        for connections in [4, 1] {
            let run = report.default.run(path, connections).unwrap();
            assert!(
                run.only_200(),
                "{path:?} at {connections} connections: {:?}, {} errors",
                run.statuses,
                run.errors
            );
        }
    }
    // The untraced stack's chain ran beside the traced one's, answering only 200s too.
    let untraced = report.untraced.as_ref().unwrap();
    for connections in [4, 1] {
        let run = untraced
            .run(airlock_bench::MeasuredPath::Chain, connections)
            .unwrap();
        assert!(run.only_200(), "untraced chain: {:?}", run.statuses);
    }
    assert!(
        untraced
            .run(airlock_bench::MeasuredPath::Direct, 4)
            .is_none()
    );
    // Every budget of the default stack is evaluated, tracing's cost among them (a figure,
    // not a verdict, is asserted).
    assert_eq!(report.budgets.len(), 7);
    assert!(report.budgets.iter().all(|b| b.pass.is_some()), "{table}");
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["default"]["runs"].as_array().unwrap().len() == 6);
}
