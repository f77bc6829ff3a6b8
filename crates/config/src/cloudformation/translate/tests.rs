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

/// `ignore_unsupported` skips an unsupported resource only when nothing that runs depends on
/// it: a task definition whose environment takes a Lambda function's ARN would run with a
/// value that points nowhere, so that is still an error, located at the Lambda function.
#[test]
fn ignore_unsupported_skips_only_what_nothing_running_depends_on() {
    let lambda = "  Handler:\n    Type: AWS::Lambda::Function\n    Properties:\n      \
                  Runtime: python3.12\n      Handler: index.handler\n      \
                  Role: arn:aws:iam::123456789012:role/x\n      \
                  Code: {ZipFile: \"def handler(e, c): return {}\"}\n";
    let task = |env: &str| {
        format!(
            "  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      \
             Family: app\n      Cpu: \"256\"\n      Memory: \"512\"\n      \
             NetworkMode: awsvpc\n      RequiresCompatibilities: [FARGATE]\n      \
             ContainerDefinitions:\n        - Name: app\n          Image: app:1\n          \
             Environment:\n            - Name: TARGET\n              Value: {env}\n"
        )
    };
    let file = Path::new("t.yaml");
    let eval = EvalOptions {
        allow_unsupported: true,
        ..EvalOptions::default()
    };
    let options = TranslateOptions {
        ignore_unsupported: true,
        ..TranslateOptions::default()
    };

    let alone = format!("Resources:\n{lambda}{}", task("fixed"));
    let ev = evaluate_source(&alone, file, &eval).unwrap();
    let c = translate(&ev, file, &eval, &options).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("Handler (AWS::Lambda::Function)")),
        "{:?}",
        c.warnings
    );

    let depends = format!("Resources:\n{lambda}{}", task("!GetAtt Handler.Arn"));
    let ev = evaluate_source(&depends, file, &eval).unwrap();
    let err = translate(&ev, file, &eval, &options).unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!(d.path, "Resources.Handler");
    assert!(d.message.contains("Task depends on it"), "{}", d.message);
    assert_eq!(d.location.line, 3, "the resource's first line");
}

/// A transform other than SAM's is not applied, and the conversion says so instead of
/// passing silently.
#[test]
fn an_unapplied_transform_is_a_warning() {
    let source = "Transform: [AWS::LanguageExtensions]\nResources:\n  Role:\n    \
                  Type: AWS::IAM::Role\n    Properties: {}\n";
    let file = Path::new("t.yaml");
    let eval = EvalOptions::default();
    let ev = evaluate_source(source, file, &eval).unwrap();
    let c = translate(&ev, file, &eval, &TranslateOptions::default()).unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("Transform AWS::LanguageExtensions is not applied")),
        "{:?}",
        c.warnings
    );
}
