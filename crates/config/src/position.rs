//! A map from field paths (`http_apis[0].routes[2].target`) to where they sit in the source.
//!
//! serde forgets positions once a value is built, so semantic errors found later could not say
//! where they are. This index is built from a second, cheap pass of saphyr-parser events over the
//! same text; it only needs to agree with yaml_serde on the shape of the document, which holds for
//! every document yaml_serde accepted.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// A 1-based line and column in the stack file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// Line, counting from 1.
    pub line: usize,
    /// Column in characters, counting from 1.
    pub column: usize,
}

impl Location {
    /// The start of the file, used when nothing better is known.
    pub const START: Location = Location { line: 1, column: 1 };
}

/// Where each node of the document starts, keyed by its field path.
#[derive(Debug, Default)]
pub(crate) struct PositionIndex {
    /// Start of each node's value (for a mapping entry: the value, not the key).
    values: HashMap<String, Location>,
}

enum Frame {
    Mapping {
        path: String,
        /// The key just read, waiting for its value.
        pending_key: Option<String>,
    },
    Sequence {
        path: String,
        next_index: usize,
    },
}

impl PositionIndex {
    /// Builds the index; a document saphyr cannot parse yields a partial (possibly empty) index,
    /// which only costs precision: lookups fall back to the nearest known ancestor.
    pub(crate) fn build(source: &str) -> PositionIndex {
        let mut index = PositionIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        // Anchored nodes are indexed where they are written; aliases point at their use site.
        for item in Parser::new_from_str(source) {
            let Ok((event, span)) = item else { break };
            let at = Location {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            match event {
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Mapping { pending_key, .. }) = stack.last_mut()
                        && pending_key.is_none()
                    {
                        *pending_key = Some(value.into_owned());
                        continue;
                    }
                    if let Some(path) = next_child_path(&mut stack) {
                        index.values.insert(path, at);
                    }
                }
                Event::Alias(_) => {
                    if let Some(path) = next_child_path(&mut stack) {
                        index.values.insert(path, at);
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_mapping = matches!(event, Event::MappingStart(..));
                    let path = if stack.is_empty() {
                        String::new()
                    } else {
                        match stack.last_mut() {
                            // A complex (non-scalar) key: give up on its subtree's paths.
                            Some(Frame::Mapping {
                                pending_key: None, ..
                            }) => "?".to_owned(),
                            _ => next_child_path(&mut stack).unwrap_or_default(),
                        }
                    };
                    index.values.entry(path.clone()).or_insert(at);
                    stack.push(if is_mapping {
                        Frame::Mapping {
                            path,
                            pending_key: None,
                        }
                    } else {
                        Frame::Sequence {
                            path,
                            next_index: 0,
                        }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        index
    }

    /// Where `path` starts; for a path absent from the file (a missing field), where its nearest
    /// present ancestor starts.
    pub(crate) fn locate(&self, path: &str) -> Location {
        let mut path = path;
        loop {
            if let Some(at) = self.values.get(path) {
                return *at;
            }
            match parent(path) {
                Some(up) => path = up,
                None => return Location::START,
            }
        }
    }

    /// The node that starts at `at`, or failing that the first one after it on the same line
    /// (libyaml places a block sequence item at its `-`, saphyr at the item's content); among
    /// nodes starting at one place, the deepest. Only paths starting with `prefix` count.
    pub(crate) fn path_at(&self, at: Location, prefix: &str) -> Option<&str> {
        self.values
            .iter()
            .filter(|(p, l)| l.line == at.line && l.column >= at.column && p.starts_with(prefix))
            .min_by_key(|(p, l)| (l.column, std::cmp::Reverse(p.len())))
            .map(|(p, _)| p.as_str())
    }
}

/// The path of the next child of the innermost container, advancing it.
fn next_child_path(stack: &mut [Frame]) -> Option<String> {
    match stack.last_mut()? {
        Frame::Mapping { path, pending_key } => {
            let key = pending_key.take()?;
            Some(join_key(path, &key))
        }
        Frame::Sequence { path, next_index } => {
            let child = format!("{path}[{next_index}]");
            *next_index += 1;
            Some(child)
        }
    }
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path one level up: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → `` (the document), `` → none.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']')
        && let Some(open) = path.rfind('[')
    {
        return Some(&path[..open]);
    }
    Some(path.rfind('.').map_or("", |dot| &path[..dot]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_values_of_nested_mappings_and_sequences() {
        let src = "a: 1\nb:\n  - name: x\n    port: 443\n  - [p, q]\n";
        let index = PositionIndex::build(src);
        assert_eq!(index.locate("a"), Location { line: 1, column: 4 });
        assert_eq!(
            index.locate("b[0].port"),
            Location {
                line: 4,
                column: 11
            }
        );
        assert_eq!(index.locate("b[1][1]"), Location { line: 5, column: 9 });
        // A missing field is reported where its parent starts.
        assert_eq!(
            index.locate("b[0].missing"),
            Location { line: 3, column: 5 }
        );
        assert_eq!(
            index.path_at(
                Location {
                    line: 4,
                    column: 11
                },
                ""
            ),
            Some("b[0].port")
        );
    }

    #[test]
    fn parent_strips_one_level() {
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a.b"), Some("a"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }
}
