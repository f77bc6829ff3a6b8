//! What a refused stack file reports: where, which field, what is wrong, and what to do.

use std::fmt;
use std::path::PathBuf;

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

/// Quoted values in messages (`"..."` or `` `...` ``) are cut to this many characters, so a
/// huge value is not echoed back whole.
pub const MAX_QUOTED_CHARS: usize = 80;

/// Beyond this many characters a message is cut whatever it holds.
const MAX_MESSAGE_CHARS: usize = 1000;

/// `text` with every quoted run longer than [`MAX_QUOTED_CHARS`] cut to that many characters
/// and an ellipsis (the closing quote kept), and the whole cut at [`MAX_MESSAGE_CHARS`].
pub(crate) fn cut_quoted(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_QUOTED_CHARS {
        return text.into();
    }
    let mut out = String::with_capacity(text.len().min(MAX_MESSAGE_CHARS + 8));
    let mut chars = text.chars().peekable();
    let mut written = 0usize;
    while let Some(c) = chars.next() {
        if written >= MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        written += 1;
        if c != '"' && c != '`' {
            continue;
        }
        // Inside a quoted run: copy up to the limit, skip the rest up to the closing quote.
        let mut inside = 0usize;
        let mut escaped = false;
        while let Some(&q) = chars.peek() {
            if q == c && !escaped {
                break;
            }
            escaped = c == '"' && q == '\\' && !escaped;
            chars.next();
            if inside < MAX_QUOTED_CHARS {
                out.push(q);
                written += 1;
            } else if inside == MAX_QUOTED_CHARS {
                out.push('…');
            }
            inside += 1;
        }
        if let Some(close) = chars.next() {
            out.push(close);
            written += 1;
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quoted_values_are_cut_and_short_ones_kept() {
        let long = "x".repeat(10_000);
        let message = format!("value \"{long}\" is not a CIDR block, nor `{long}`");
        let cut = cut_quoted(&message);
        let want_run = format!("{}…", "x".repeat(MAX_QUOTED_CHARS));
        assert_eq!(
            cut,
            format!("value \"{want_run}\" is not a CIDR block, nor `{want_run}`")
        );
        let short = "\"10.0.0.0/33\" is not a CIDR block; \"a\\\"b\" either";
        assert_eq!(cut_quoted(short), short);
        // An unquoted flood is cut as a whole.
        assert!(cut_quoted(&long).chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
}
