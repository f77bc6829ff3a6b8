//! The airlock stack file: one YAML document describing a whole stack (VPC, DNS zones, HTTP APIs,
//! VPC links, load balancers, target groups, ECS clusters, task definitions and services), parsed
//! into validated types.
//!
//! Property names are the AWS API / CloudFormation names in snake_case; resources refer to one
//! another by name. [`parse`] checks everything that can be checked without running anything:
//! unknown fields, value ranges, unique names, every cross-reference (route → integration → VPC
//! link → listener → target group → service → task definition), CIDR nesting and overlap. A file
//! it accepts is internally consistent; a file it refuses comes back as [`ConfigError`] whose
//! every [`Diagnostic`] names the file, line, column, field path, problem and a hint.
//!
//! Architecture invariant: this crate is pure data. It knows nothing about sockets, ports on the
//! host, TLS material, processes or running components, and it performs no I/O besides reading
//! the one file [`load`] is given and the ECS task definition JSON files that file points at
//! (`file:`, relative to it). The caller binds nothing until [`parse`] returns `Ok`.

mod apigateway;
mod change;
pub mod cloudformation;
mod cognito;
mod dns;
mod ecs;
mod elb;
mod error;
pub mod ids;
mod issue;
mod limits;
mod network;
mod position;
mod scalars;
mod stack;
mod validate;

use std::path::Path;

pub use apigateway::*;
pub use change::{DesiredCount, SecurityGroupRules, VpcLinkState, VpcLinkStatus, parse_change};
pub use cognito::*;
pub use dns::*;
pub use ecs::*;
pub use elb::*;
pub use error::{ConfigError, Diagnostic, DiagnosticKind, Diagnostics, Location};
pub use network::*;
pub use scalars::{
    AccountId, BuiltinApp, CpuUnits, HealthCheckPort, HttpCodes, HttpMethod, IdentitySource,
    IntegrationUri, ListenerRef, MemoryMib, PathSegment, Region, RouteKey, StageName, TargetType,
};
pub use stack::*;

pub use ecs::taskdef::{
    ANY_IMAGE, Runner, image_runner, parse_image_flag, parse_task_definition_json,
};
pub use error::MAX_QUOTED_CHARS;
pub use limits::{MAX_FILE_BYTES, MAX_NESTING_DEPTH};

use position::PositionIndex;

/// The default stack (`airlock init` prints it; `airlock up` without a file runs it).
pub const DEFAULT_STACK_YAML: &str = include_str!("../../../fixtures/default-stack.yaml");

/// At most this many problems are reported at once; past that, the first ones are what matter.
pub const MAX_DIAGNOSTICS: usize = 20;

/// The embedded default stack, parsed.
pub fn default_stack() -> Stack {
    // A unit test parses the embedded file, so this cannot fail in a built binary.
    parse(DEFAULT_STACK_YAML, Path::new("default-stack.yaml"))
        .expect("the embedded default stack is valid (tested in airlock-config)")
}

/// Reads and parses the stack file at `path`. At most [`MAX_FILE_BYTES`] are read: a larger
/// file (or a device that never ends) is refused without reading the rest.
pub fn load(path: &Path) -> Result<Stack, ConfigError> {
    let source = limits::read_bounded(path)
        .map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?
        .map_err(|d| ConfigError::Invalid(Diagnostics(vec![d])))?;
    parse(&source, path)
}

/// Parses and validates a stack file's text. `file` names it in error messages, and task
/// definitions given as `file: x.json` are read relative to its directory. Text over
/// [`MAX_FILE_BYTES`] or nested deeper than [`MAX_NESTING_DEPTH`] is refused before it is
/// parsed.
pub fn parse(source: &str, file: &Path) -> Result<Stack, ConfigError> {
    // Task definition files are read within the same bound as the stack file.
    parse_with_files(source, file, |path| match limits::read_bounded(path) {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(refused)) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            refused.message,
        )),
        Err(e) => Err(e),
    })
}

/// [`parse`], with the task definition files (`file: x.json`) read by `read_file` instead of from
/// the file system: it is given each path as [`parse`] would open it (relative to `file`'s
/// directory) and its errors are reported as [`parse`] reports a file it cannot read. For callers
/// whose files are not on disk, such as the fuzz targets, which must do no I/O.
pub fn parse_with_files(
    source: &str,
    file: &Path,
    read_file: impl FnMut(&Path) -> std::io::Result<String>,
) -> Result<Stack, ConfigError> {
    limits::check(source, file).map_err(|d| ConfigError::Invalid(Diagnostics(vec![d])))?;
    let mut stack: Stack = match yaml_serde::from_str(source) {
        Ok(stack) => stack,
        Err(err) => {
            let index = PositionIndex::build(source);
            return Err(ConfigError::Invalid(Diagnostics(vec![serde_diagnostic(
                &err, &index, file,
            )])));
        }
    };
    let mut resolved = ecs::taskdef::resolve_files(&mut stack, source, file, read_file);
    if !resolved.is_empty() {
        resolved.truncate(MAX_DIAGNOSTICS);
        return Err(ConfigError::Invalid(Diagnostics(resolved)));
    }
    let issues = validate::validate(&stack);
    if issues.is_empty() {
        return Ok(stack);
    }
    let mut diagnostics = diagnostics_at(issues, source, file);
    diagnostics.truncate(MAX_DIAGNOSTICS);
    Err(ConfigError::Invalid(Diagnostics(diagnostics)))
}

/// Places validation issues found in `source` (read from `file`) at their lines, in file order.
fn diagnostics_at(issues: Vec<issue::Issue>, source: &str, file: &Path) -> Vec<Diagnostic> {
    let index = PositionIndex::build(source);
    let mut diagnostics: Vec<Diagnostic> = issues
        .into_iter()
        .map(|issue| Diagnostic {
            file: file.to_owned(),
            location: index.locate(&issue.path),
            path: issue.path,
            kind: issue.kind,
            message: issue.message,
            hint: issue.hint,
        })
        .collect();
    diagnostics.sort_by_key(|d| d.location);
    diagnostics
}

/// Turns a yaml_serde error into a diagnostic. yaml_serde renders
/// `<path>: <message> at line L column C`; the path and position are lifted out of that text and
/// the `(hint: ...)` that this crate's own value parsers append becomes the hint.
fn serde_diagnostic(err: &yaml_serde::Error, index: &PositionIndex, file: &Path) -> Diagnostic {
    let location = err.location().map(|l| Location {
        line: l.line(),
        column: l.column(),
    });
    let mut text = err.to_string();
    if let Some(l) = &location {
        let at = format!(" at line {} column {}", l.line, l.column);
        if let Some(pos) = text.find(&at) {
            text.replace_range(pos..pos + at.len(), "");
        }
    }

    let mut path = String::new();
    if let Some((head, rest)) = text.split_once(": ")
        && !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.[]$-".contains(c))
        && !rest.is_empty()
    {
        path = head.to_owned();
        text = rest.to_owned();
    }
    // yaml_serde names the mapping for an unknown field; name the field itself.
    if let Some(rest) = text.strip_prefix("unknown field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        path = position::join_key(&path, field);
    } else if let Some(at) = location
        && let Some(found) = index.path_at(
            at,
            &if path.is_empty() {
                String::new()
            } else {
                format!("{path}[")
            },
        )
    {
        // Errors raised after a whole mapping was read (e.g. an action of an unsupported type)
        // carry the list's path but the element's position; the index knows the element.
        path = found.to_owned();
    }

    let (message, hint) = match text.rfind(" (hint: ") {
        Some(pos) if text.ends_with(')') => (
            text[..pos].to_owned(),
            text[pos + " (hint: ".len()..text.len() - 1].to_owned(),
        ),
        _ => {
            let hint = generic_hint(&text);
            (text, hint.to_owned())
        }
    };
    let kind = if message.starts_with("unknown field")
        || message.starts_with("missing field")
        || message.starts_with("invalid type")
        || message.starts_with("unknown variant")
        || message.starts_with("duplicate field")
        || message.starts_with("invalid length")
    {
        DiagnosticKind::Schema
    } else if message.contains("while parsing") || message.contains("while scanning") {
        DiagnosticKind::Syntax
    } else {
        DiagnosticKind::InvalidValue
    };
    Diagnostic {
        file: file.to_owned(),
        location: location.unwrap_or(Location::START),
        path,
        kind,
        message,
        hint,
    }
}

fn generic_hint(message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "remove it or fix its spelling; the fields this place accepts are listed"
    } else if message.starts_with("missing field") {
        "add the field"
    } else if message.starts_with("unknown variant") {
        "use one of the listed values (they are case-sensitive)"
    } else if message.starts_with("invalid type") {
        "check the value's type; quote text that looks like a number or boolean"
    } else if message.starts_with("duplicate field") {
        "keep only one of them"
    } else if message.contains("IP") || message.contains("address") || message.contains("prefix") {
        "write a CIDR block like 10.0.0.0/16"
    } else if message.contains("while parsing") || message.contains("while scanning") {
        "check indentation and quoting around this line; YAML indents with spaces, not tabs"
    } else {
        "fix the value"
    }
}

#[cfg(test)]
mod tests;
