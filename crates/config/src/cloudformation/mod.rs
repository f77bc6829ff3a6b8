//! CloudFormation templates (YAML with short-form tags, or JSON as `cdk synth` writes it), read
//! and evaluated as CloudFormation evaluates them: parameters and their constraints, mappings,
//! conditions, rules, intrinsic functions, pseudo parameters, resources in dependency order
//! with AWS-shaped physical ids and attributes, outputs and exports.
//!
//! This is the language layer only: what the resources become in airlock's stack model is
//! decided by the caller from an [`Evaluated`] template. `docs/cloudformation.md` describes the
//! language as airlock evaluates it.
//!
//! ```text
//! source ──parse──▶ Template ──evaluate(EvalOptions)──▶ Evaluated
//! ```
//! Every problem found, in parsing and in evaluation, comes back at once as
//! [`ConfigError::Invalid`], each with file, line, column, path and hint.

mod eval;
mod evaluated;
mod functions;
mod ids;
mod intrinsics;
mod node;
mod params;
mod template;
pub mod translate;
mod types;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_eval;

use std::path::Path;

pub use eval::{DEFAULT_ACCOUNT_ID, DEFAULT_REGION, DEFAULT_STACK_NAME, EvalOptions};
pub use evaluated::{AbsentResource, Evaluated, Output, ParameterValue, Resource};
pub use ids::{AVAILABILITY_ZONES_PER_REGION, Physical};
pub use intrinsics::{KNOWN_FUNCTIONS, PSEUDO_PARAMETERS};
pub use node::{Node, SHORT_FORMS, Value};
pub use params::{
    MASK, OverrideError, Parameter, ParameterType, parse_key_value, parse_parameters_file,
};
pub use template::{Assertion, OutputDecl, ResourceDecl, Rule, SERVERLESS_TRANSFORM, Template};
pub use types::{MAPPED, PLUMBING, ResourceType, Support, support};

use crate::error::{ConfigError, Diagnostic, DiagnosticKind, Diagnostics};
use crate::position::{Location, PositionIndex};
use crate::{MAX_DIAGNOSTICS, limits};

/// A problem before it is given its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    at: Location,
    path: String,
    kind: DiagnosticKind,
    message: String,
    hint: String,
}

impl Problem {
    pub(crate) fn new(
        at: Location,
        path: &str,
        kind: DiagnosticKind,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Problem {
        Problem {
            at,
            path: path.to_owned(),
            kind,
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// A [`DiagnosticKind::Schema`] problem at `node`.
    pub(crate) fn schema(
        node: &Node,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Problem {
        Problem::new(node.at, &node.path, DiagnosticKind::Schema, message, hint)
    }
}

/// Whether `source` is a CloudFormation template: its top level has `Resources` whose entries
/// have `Type: AWS::…` (or `Custom::…`). Cheap for anything else: text without both
/// `Resources` and `AWS::` is refused without parsing, and nothing is evaluated.
pub fn is_template(source: &str) -> bool {
    if !source.contains("Resources")
        || !source.contains("AWS::")
        || source.len() > crate::MAX_FILE_BYTES
    {
        return false;
    }
    let Ok(yaml_serde::Value::Mapping(top)) = yaml_serde::from_str::<yaml_serde::Value>(source)
    else {
        return false;
    };
    let Some(yaml_serde::Value::Mapping(resources)) = top.get("Resources") else {
        return false;
    };
    !resources.is_empty()
        && resources.values().all(|r| {
            matches!(r.get("Type"), Some(yaml_serde::Value::String(t))
                if t.starts_with("AWS::") || t.starts_with("Custom::"))
        })
}

/// Reads the template at `path` (at most [`crate::MAX_FILE_BYTES`]) and evaluates it.
pub fn load(path: &Path, options: &EvalOptions) -> Result<Evaluated, ConfigError> {
    let source = limits::read_bounded(path)
        .map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?
        .map_err(|d| ConfigError::Invalid(Diagnostics(vec![d])))?;
    evaluate_source(&source, path, options)
}

/// Parses a template's text without evaluating it. `file` names it in errors.
pub fn parse(source: &str, file: &Path) -> Result<Template, ConfigError> {
    let mut problems = Vec::new();
    let template = read(source, file, &mut problems)?;
    finish(problems, file)?;
    Ok(template)
}

/// Evaluates a parsed template.
pub fn evaluate(
    template: &Template,
    file: &Path,
    options: &EvalOptions,
) -> Result<Evaluated, ConfigError> {
    let mut problems = Vec::new();
    let evaluated = eval::evaluate(template, options, &mut problems);
    finish(problems, file)?;
    Ok(evaluated)
}

/// Parses and evaluates a template's text, reporting the problems of both at once.
pub fn evaluate_source(
    source: &str,
    file: &Path,
    options: &EvalOptions,
) -> Result<Evaluated, ConfigError> {
    let mut problems = Vec::new();
    let template = read(source, file, &mut problems)?;
    let evaluated = eval::evaluate(&template, options, &mut problems);
    finish(problems, file)?;
    Ok(evaluated)
}

/// Parses `source` into a template; text that is not YAML (or JSON) at all is an error at once,
/// problems of shape are collected in `problems`.
fn read(source: &str, file: &Path, problems: &mut Vec<Problem>) -> Result<Template, ConfigError> {
    limits::check(source, file).map_err(|d| ConfigError::Invalid(Diagnostics(vec![d])))?;
    let index = PositionIndex::build(source);
    let value: yaml_serde::Value = yaml_serde::from_str(source).map_err(|err| {
        ConfigError::Invalid(Diagnostics(vec![crate::serde_diagnostic(
            &err, &index, file,
        )]))
    })?;
    let root = node::build(value, "", &index, problems);
    Ok(template::read(&root, problems))
}

/// Turns collected problems into the error, in file order, without repeats.
fn finish(problems: Vec<Problem>, file: &Path) -> Result<(), ConfigError> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(problems_error(problems, file))
}

/// Problems as the error, in file order, without repeats, at most [`MAX_DIAGNOSTICS`].
pub(crate) fn problems_error(mut problems: Vec<Problem>, file: &Path) -> ConfigError {
    problems.sort_by(|a, b| (a.at, &a.path, &a.message).cmp(&(b.at, &b.path, &b.message)));
    problems.dedup_by(|a, b| a.at == b.at && a.message == b.message);
    let mut diagnostics: Vec<Diagnostic> = problems
        .into_iter()
        .map(|p| Diagnostic {
            file: file.to_owned(),
            location: p.at,
            path: p.path,
            kind: p.kind,
            message: p.message,
            hint: p.hint,
        })
        .collect();
    diagnostics.truncate(MAX_DIAGNOSTICS);
    ConfigError::Invalid(Diagnostics(diagnostics))
}
