//! What airlock refuses to parse at all: input over a size or a nesting depth, found before the
//! YAML or JSON parser runs, so that a runaway file (`/dev/zero`, a document nested a million
//! levels deep) costs a bounded read and a short scan, not minutes and gigabytes.

use std::io::Read;
use std::path::Path;

use saphyr_parser::{Event, Parser};

use crate::error::{Diagnostic, DiagnosticKind};
use crate::position::Location;

/// The largest stack file (or task definition file) airlock reads: 4 MiB. CloudFormation takes
/// a template body of at most 51,200 bytes inline and 1 MB from S3 ("CloudFormation quotas",
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html,
/// "Template body size"); 4 MiB admits every template CloudFormation would, written out as YAML
/// with room to spare, while keeping a mistaken path (a device, a log) to a bounded read.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// The deepest nesting of mappings and sequences airlock parses: 64 levels. A stack file nests
/// about ten levels deep (a container's health check inside a task definition inside the
/// stack), and CloudFormation templates with nested intrinsic functions some twenty; 64 leaves
/// room for both and keeps the parsers, whose cost grows with depth, far from it.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Reads at most [`MAX_FILE_BYTES`] (and one byte more, to know the file is larger) from `path`.
/// `Ok(Err(diagnostic))` when the file is too large or is not UTF-8 text.
pub(crate) fn read_bounded(path: &Path) -> std::io::Result<Result<String, Diagnostic>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Ok(Err(too_large(path)));
    }
    Ok(String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let column = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        Diagnostic {
            file: path.to_owned(),
            location: Location { line, column },
            path: String::new(),
            kind: DiagnosticKind::Syntax,
            message: "the file is not UTF-8 text".to_owned(),
            hint: "save the file as UTF-8; a stack file is YAML text".to_owned(),
        }
    }))
}

/// Refuses `source` when it is over [`MAX_FILE_BYTES`] or nests deeper than
/// [`MAX_NESTING_DEPTH`]. The depth is found with saphyr's event stream, which stops at the
/// first node past the limit, so a runaway document costs a few dozen events.
pub(crate) fn check(source: &str, file: &Path) -> Result<(), Diagnostic> {
    if source.len() > MAX_FILE_BYTES {
        return Err(too_large(file));
    }
    let mut depth = 0usize;
    for item in Parser::new_from_str(source) {
        let (event, span) = match item {
            Ok(found) => found,
            // The scanner's own flow-level limit (255 `[`/`{`) is met before the events reach
            // ours when the brackets come in a run.
            Err(e) if e.info().contains("recursion limit") => {
                let at = e.marker();
                return Err(too_deep(file, at.line(), at.col() + 1));
            }
            // Any other syntax error is yaml_serde's to report, with its own message.
            Err(_) => break,
        };
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_NESTING_DEPTH {
                    return Err(too_deep(file, span.start.line(), span.start.col() + 1));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn too_deep(file: &Path, line: usize, column: usize) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        location: Location { line, column },
        path: String::new(),
        kind: DiagnosticKind::Limit,
        message: format!("mappings and sequences nest deeper than {MAX_NESTING_DEPTH} levels"),
        hint: "a stack file nests about ten levels deep; look for a runaway indentation or an \
               unclosed `[` or `{`"
            .to_owned(),
    }
}

fn too_large(file: &Path) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        location: Location::START,
        path: String::new(),
        kind: DiagnosticKind::Limit,
        message: format!(
            "the file is larger than {} MiB ({MAX_FILE_BYTES} bytes), the most airlock reads",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
        hint: "check that the path names a stack file; split a large stack's task definitions \
               into `file:` JSON files"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_past_the_limit_is_refused_where_it_happens() {
        let ok = format!(
            "a: {}{}\n",
            "[".repeat(MAX_NESTING_DEPTH - 1),
            "]".repeat(MAX_NESTING_DEPTH - 1)
        );
        assert!(check(&ok, Path::new("s.yaml")).is_ok());
        let deep = format!("a: {}\n", "[".repeat(1_000_000));
        let err = check(&deep, Path::new("s.yaml")).err();
        assert_eq!(err.map(|d| d.kind), Some(DiagnosticKind::Limit));
        // Sequences in block style: one level per `- `.
        let dashes = format!("a:\n  {}x\n", "- ".repeat(1_000_000));
        let err = check(&dashes, Path::new("s.yaml")).err();
        let at = err.map(|d| (d.kind, d.location.line));
        assert_eq!(at, Some((DiagnosticKind::Limit, 2)));
    }
}
