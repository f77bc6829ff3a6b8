//! Tests of the translation as a whole; each service's module has its own below.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::super::{EvalOptions, evaluate_source};
use super::{TranslateOptions, translate};

/// A template with nothing but plumbing translates to a stack on a made-up VPC, with the
/// plumbing listed as accepted.
#[test]
fn plumbing_alone_is_accepted_and_listed() {
    let source = "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties: {}\n";
    let file = Path::new("t.yaml");
    let eval = EvalOptions::default();
    let ev = evaluate_source(source, file, &eval).unwrap();
    let c = translate(&ev, file, &eval, &TranslateOptions::default()).unwrap();
    assert_eq!(c.accepted.len(), 1);
    assert_eq!(c.accepted[0].logical_id, "Role");
    assert!(c.yaml.contains("cidr_block:"), "{}", c.yaml);
}
