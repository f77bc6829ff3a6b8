//! A template as a tree of values that remember where they were written.
//!
//! yaml_serde reads the text (it keeps short-form tags as `Value::Tagged`, resolves anchors and
//! rejects duplicate keys); the crate's [`PositionIndex`] places each value. The short forms
//! (`!Ref x`, `!GetAtt a.b`, `!Sub ...`) are rewritten here into the long forms `cdk synth` writes
//! (`{"Ref": "x"}`, `{"Fn::GetAtt": ["a", "b"]}`, `{"Fn::Sub": ...}`), so the evaluator reads one
//! form whatever the template was written in.

use crate::error::DiagnosticKind;
use crate::position::{Location, PositionIndex, join_key};

use super::Problem;

/// One value of a template, or of an evaluated template, with its place in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it starts in the template (an evaluated value: where the expression that produced
    /// it starts).
    pub at: Location,
    /// Its path in the template, e.g. `Resources.Listener.Properties.DefaultActions[0]`.
    pub path: String,
}

/// The value of a [`Node`]: YAML's and JSON's shapes, with numbers kept as they were written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written (`80`, `0.5`): CloudFormation passes numbers on as text.
    Number(String),
    /// Text.
    String(String),
    /// A sequence.
    List(Vec<Node>),
    /// A mapping, in the order written; keys are unique (the parser refuses duplicates).
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A node at `at`/`path` holding `value`.
    pub fn new(value: Value, at: Location, path: impl Into<String>) -> Node {
        Node {
            value,
            at,
            path: path.into(),
        }
    }

    /// The text of a string node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a scalar (string, number or boolean) as CloudFormation passes it on.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The entries of a mapping node.
    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of a sequence node.
    pub fn as_list(&self) -> Option<&[Node]> {
        match &self.value {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The value under `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find_map(|(k, v)| (k == key).then_some(v))
    }

    /// When this node is an intrinsic function call (a one-entry mapping whose key is `Ref`,
    /// starts with `Fn::`, or is `Condition` with a name): the function's name and argument.
    pub fn as_function(&self) -> Option<(&str, &Node)> {
        match self.as_map()? {
            [(name, arg)] if name == "Ref" || name.starts_with("Fn::") => Some((name, arg)),
            // `Condition` is also an ordinary key (an IAM statement's); only `Condition: Name`
            // is the function.
            [(name, arg)] if name == "Condition" && arg.as_str().is_some() => Some((name, arg)),
            _ => None,
        }
    }

    /// A short description of the node's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Converts the parsed document into nodes, rewriting short-form tags. Problems (an unknown
/// tag, a non-scalar key) are collected, not fatal: the offending value becomes `null`.
pub(crate) fn build(
    value: yaml_serde::Value,
    path: &str,
    index: &PositionIndex,
    problems: &mut Vec<Problem>,
) -> Node {
    let at = index.locate(path);
    let value = match value {
        yaml_serde::Value::Null => Value::Null,
        yaml_serde::Value::Bool(b) => Value::Bool(b),
        yaml_serde::Value::Number(n) => Value::Number(n.to_string()),
        yaml_serde::Value::String(s) => Value::String(s),
        yaml_serde::Value::Sequence(items) => Value::List(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| build(item, &format!("{path}[{i}]"), index, problems))
                .collect(),
        ),
        yaml_serde::Value::Mapping(mapping) => {
            let mut entries = Vec::with_capacity(mapping.len());
            for (key, item) in mapping {
                let key = match key {
                    yaml_serde::Value::String(s) => s,
                    yaml_serde::Value::Number(n) => n.to_string(),
                    yaml_serde::Value::Bool(b) => b.to_string(),
                    _ => {
                        problems.push(Problem::new(
                            at,
                            path,
                            DiagnosticKind::Schema,
                            "a mapping key is not a plain scalar".to_owned(),
                            "write keys as plain names".to_owned(),
                        ));
                        continue;
                    }
                };
                let child = join_key(path, &key);
                entries.push((key, build(item, &child, index, problems)));
            }
            Value::Map(entries)
        }
        yaml_serde::Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = build(tagged.value, path, index, problems);
            return match long_form(name, inner, at, path) {
                Some(node) => node,
                None => {
                    problems.push(Problem::new(
                        at,
                        path,
                        DiagnosticKind::Schema,
                        format!("`!{name}` is not a CloudFormation short-form function"),
                        format!(
                            "use one of {}",
                            SHORT_FORMS
                                .iter()
                                .map(|f| format!("`!{f}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                    Node::new(Value::Null, at, path)
                }
            };
        }
    };
    Node::new(value, at, path)
}

/// The short-form tags CloudFormation's YAML accepts ("Intrinsic function reference",
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html).
pub const SHORT_FORMS: &[&str] = &[
    "Ref",
    "Condition",
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "Contains",
    "EachMemberEquals",
    "EachMemberIn",
    "RefAll",
    "ValueOf",
    "ValueOfAll",
    "Length",
    "ToJsonString",
];

/// `!name inner` as the long form `{"Fn::name": inner}` (`Ref` and `Condition` keep their
/// names); `!GetAtt a.b` becomes `["a", "b"]`, split at the first dot as CloudFormation does.
fn long_form(name: &str, inner: Node, at: Location, path: &str) -> Option<Node> {
    if !SHORT_FORMS.contains(&name) {
        return None;
    }
    let key = match name {
        "Ref" | "Condition" => name.to_owned(),
        _ => format!("Fn::{name}"),
    };
    let arg = match (name, &inner.value) {
        ("GetAtt", Value::String(s)) => match s.split_once('.') {
            Some((id, attribute)) => Node::new(
                Value::List(vec![
                    Node::new(Value::String(id.to_owned()), at, format!("{path}[0]")),
                    Node::new(
                        Value::String(attribute.to_owned()),
                        at,
                        format!("{path}[1]"),
                    ),
                ]),
                at,
                path,
            ),
            None => inner,
        },
        _ => inner,
    };
    Some(Node::new(Value::Map(vec![(key, arg)]), at, path))
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a likely
/// misspelling (at most a third of the word's length, at least 2 edits allowed).
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_a_misspelling_and_nothing_for_an_unrelated_word() {
        let names = ["CidrBlock", "EnableDnsSupport", "Tags"];
        assert_eq!(nearest("CidrBlok", names), Some("CidrBlock"));
        assert_eq!(nearest("cidrblock", names), Some("CidrBlock"));
        assert_eq!(nearest("Frobnicate", names), None);
    }
}
