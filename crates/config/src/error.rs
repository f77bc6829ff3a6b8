//! What a refused stack file reports: where, which field, what is wrong, and what to do.

use std::fmt;
use std::path::PathBuf;

use crate::limits::cut_quoted;
pub use crate::position::Location;

/// A stack file that cannot be used. Nothing may be bound or started when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The stack file could not be read from disk.
    #[error("{}: cannot read the stack file: {source} (hint: check the path; `airlock init > stack.yaml` writes a starting point)", file.display())]
    Read {
        /// The file that was asked for.
        file: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file was read but is not a valid stack: one or more located problems, in file order.
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl ConfigError {
    /// The located problems (empty for [`ConfigError::Read`]).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(d) => &d.0,
        }
    }
}

/// Several problems found in one pass, so a user can fix them together. Never empty.
#[derive(Debug)]
pub struct Diagnostics(pub(crate) Vec<Diagnostic>);

impl Diagnostics {
    /// The problems, first in the file first.
    pub fn as_slice(&self) -> &[Diagnostic] {
        &self.0
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Which sort of problem a [`Diagnostic`] reports, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// The YAML itself is malformed (indentation, quoting, tabs...).
    Syntax,
    /// A field is not part of the schema, is missing, or has the wrong type or spelling.
    Schema,
    /// A value is out of range or badly formed.
    InvalidValue,
    /// A name is defined twice where it must be unique.
    Duplicate,
    /// A name refers to something that does not exist.
    UnknownReference,
    /// Values that are fine alone contradict each other (overlapping CIDRs, conflicting routes...).
    Conflict,
    /// The file is over the size or nesting depth airlock parses (`MAX_FILE_BYTES`,
    /// `MAX_NESTING_DEPTH`); refused before parsing.
    Limit,
}

/// One problem in a stack file, located precisely enough to jump to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The stack file, as the caller named it.
    pub file: PathBuf,
    /// Where the offending value (or, for a missing field, its parent) starts.
    pub location: Location,
    /// The field path, e.g. `http_apis[0].routes[2].target`; empty for the document itself.
    pub path: String,
    /// What sort of problem this is.
    pub kind: DiagnosticKind,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: ",
            self.file.display(),
            self.location.line,
            self.location.column
        )?;
        // Values are quoted in messages; a huge one is cut, not echoed whole.
        if !self.path.is_empty() {
            write!(f, "{}: ", cut_quoted(&self.path))?;
        }
        write!(f, "{}", cut_quoted(&self.message))?;
        if !self.hint.is_empty() {
            write!(f, " (hint: {})", cut_quoted(&self.hint))?;
        }
        Ok(())
    }
}
