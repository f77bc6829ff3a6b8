//! Tests of the network, load balancing and ECS translation (`ec2`, `elb`, `ecs`).

use std::path::Path;

use super::super::{EvalOptions, evaluate_source};
use super::{Conversion, TranslateOptions, translate};
use crate::error::ConfigError;

/// Evaluates and translates `source` with made-up ids for id parameters, as `airlock up` does.
fn convert_with(source: &str, ignore_unsupported: bool) -> Result<Conversion, ConfigError> {
    let file = Path::new("t.yaml");
    let eval = EvalOptions {
        made_up_ids: true,
        ..EvalOptions::default()
    };
    let ev = evaluate_source(source, file, &eval)?;
    let options = TranslateOptions {
        ignore_unsupported,
        ..TranslateOptions::default()
    };
    translate(&ev, file, &eval, &options)
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cloudformation")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn print_fixtures() {
    for f in ["sam-private-api.yaml", "cdk-vpc-service.template.json"] {
        match convert_with(&fixture(f), true) {
            Ok(c) => println!("{}\n{:?}", c.yaml, c.warnings),
            Err(e) => println!("{e}"),
        }
    }
}
