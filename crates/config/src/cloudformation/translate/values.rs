//! Reading resolved property values into stack YAML: scalars, numbers, booleans and lists, each
//! reporting a located problem when the template's value has the wrong shape.

use yaml_serde::Value as Yaml;

use crate::error::DiagnosticKind;

use super::super::node::{Node, Value, nearest};
use super::super::{Problem, Resource};
use super::Ctx;

/// A YAML string.
pub(crate) fn s(text: impl Into<String>) -> Yaml {
    Yaml::String(text.into())
}

/// A YAML mapping from `(key, value)` pairs, in order.
pub(crate) fn map(pairs: Vec<(&str, Yaml)>) -> Yaml {
    Yaml::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (Yaml::String(k.to_owned()), v))
            .collect(),
    )
}

/// The property `key` of `r`, if set.
pub(crate) fn prop<'r>(r: &'r Resource, key: &str) -> Option<&'r Node> {
    r.properties.get(key)
}

/// The text of a scalar; a problem at `node` otherwise.
pub(crate) fn text(cx: &mut Ctx<'_>, node: &Node) -> Option<String> {
    let t = node.scalar_text();
    if t.is_none() {
        cx.problems.push(Problem::schema(
            node,
            format!("expected a string, found {}", node.kind_name()),
            "write a single value here",
        ));
    }
    t
}

/// A number, as CloudFormation takes it (a number or a string of digits); a problem otherwise.
pub(crate) fn number(cx: &mut Ctx<'_>, node: &Node) -> Option<Yaml> {
    let t = text(cx, node)?;
    let parsed = t
        .parse::<u64>()
        .map(Yaml::from)
        .or_else(|_| t.parse::<i64>().map(Yaml::from))
        .or_else(|_| t.parse::<f64>().map(Yaml::from));
    match parsed {
        Ok(n) => Some(n),
        Err(_) => {
            cx.problem(
                node,
                DiagnosticKind::InvalidValue,
                format!("{t:?} is not a number"),
                "write a number",
            );
            None
        }
    }
}

/// A boolean, as CloudFormation takes it (`true`, `"true"`, `"True"`); a problem otherwise.
pub(crate) fn boolean(cx: &mut Ctx<'_>, node: &Node) -> Option<bool> {
    match &node.value {
        Value::Bool(b) => Some(*b),
        Value::String(t) if t.eq_ignore_ascii_case("true") => Some(true),
        Value::String(t) if t.eq_ignore_ascii_case("false") => Some(false),
        _ => {
            cx.problem(
                node,
                DiagnosticKind::InvalidValue,
                format!("expected true or false, found {}", node.kind_name()),
                "write true or false",
            );
            None
        }
    }
}

/// The items of a list (a single scalar counts as a list of one, as SAM writes some); a problem
/// for anything else.
pub(crate) fn items<'n>(cx: &mut Ctx<'_>, node: &'n Node) -> Vec<&'n Node> {
    match &node.value {
        Value::List(items) => items.iter().collect(),
        Value::String(_) | Value::Number(_) => vec![node],
        _ => {
            cx.problems.push(Problem::schema(
                node,
                format!("expected a list, found {}", node.kind_name()),
                "write a list of values",
            ));
            Vec::new()
        }
    }
}

/// A list of strings.
pub(crate) fn strings(cx: &mut Ctx<'_>, node: &Node) -> Vec<String> {
    items(cx, node)
        .into_iter()
        .filter_map(|n| text(cx, n))
        .collect()
}

/// A list of strings as YAML.
pub(crate) fn string_list(cx: &mut Ctx<'_>, node: &Node) -> Yaml {
    Yaml::Sequence(strings(cx, node).into_iter().map(Yaml::String).collect())
}

/// The entries of a mapping; a problem for anything else.
pub(crate) fn entries<'n>(cx: &mut Ctx<'_>, node: &'n Node) -> &'n [(String, Node)] {
    match node.as_map() {
        Some(m) => m,
        None => {
            cx.problems.push(Problem::schema(
                node,
                format!("expected a mapping, found {}", node.kind_name()),
                "write key: value pairs",
            ));
            &[]
        }
    }
}

/// A mapping of strings to strings (stage variables, parameter mappings).
pub(crate) fn string_map(cx: &mut Ctx<'_>, node: &Node) -> Yaml {
    let mut out = yaml_serde::Mapping::new();
    for (k, v) in entries(cx, node) {
        if let Some(t) = text(cx, v) {
            out.insert(s(k.clone()), s(t));
        }
    }
    Yaml::Mapping(out)
}

/// Reports every key of the mapping `node` that is not in `known` (for shapes the evaluator
/// does not check: nested properties, SAM's types), with the nearest valid name.
pub(crate) fn known_keys(cx: &mut Ctx<'_>, node: &Node, known: &[&str], what: &str) {
    for (k, v) in node.as_map().unwrap_or_default() {
        if !known.contains(&k.as_str()) {
            let hint = match nearest(k, known.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("{what} has: {}", known.join(", ")),
            };
            cx.problem(
                v,
                DiagnosticKind::Schema,
                format!("{what} has no property `{k}`"),
                hint,
            );
        }
    }
}

/// A name without the trailing dot DNS names may be written with.
pub(crate) fn dns_name(text: &str) -> String {
    text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase()
}

/// A YAML mapping built key by key, in order.
pub(crate) struct Map(yaml_serde::Mapping);

impl Map {
    pub(crate) fn new() -> Map {
        Map(yaml_serde::Mapping::new())
    }

    /// With `key: value`.
    pub(crate) fn with(mut self, key: &str, value: Yaml) -> Map {
        self.0.insert(Yaml::String(key.to_owned()), value);
        self
    }

    /// With `key: value` when there is a value.
    pub(crate) fn maybe(self, key: &str, value: Option<Yaml>) -> Map {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }
}

impl From<Map> for Yaml {
    fn from(m: Map) -> Yaml {
        Yaml::Mapping(m.0)
    }
}

/// A YAML sequence.
pub(crate) fn seq(items: Vec<Yaml>) -> Yaml {
    Yaml::Sequence(items)
}

/// A YAML integer.
pub(crate) fn num(n: i64) -> Yaml {
    Yaml::Number(n.into())
}

/// An integer between `lo` and `hi`; anything else is a problem.
pub(crate) fn int(cx: &mut Ctx<'_>, node: &Node, lo: i64, hi: i64) -> Option<i64> {
    let t = text(cx, node)?;
    match t.trim().parse::<i64>() {
        Ok(v) if (lo..=hi).contains(&v) => Some(v),
        _ => {
            cx.problem(
                node,
                DiagnosticKind::InvalidValue,
                format!("{t:?} is not a whole number between {lo} and {hi}"),
                format!("write a number from {lo} to {hi}"),
            );
            None
        }
    }
}

/// Checks the keys of a mapping node: a key not in `known` (nor in `warn`) is a problem with
/// the nearest known name as a hint; a key in `warn` is accepted with a warning that airlock
/// does not run it.
pub(crate) fn check_keys(cx: &mut Ctx<'_>, node: &Node, known: &[&str], warn: &[&str]) {
    let Some(entries) = node.as_map() else {
        cx.problem(
            node,
            DiagnosticKind::Schema,
            format!("expected a mapping, found {}", node.kind_name()),
            "write the properties as a mapping",
        );
        return;
    };
    for (key, value) in entries {
        if known.contains(&key.as_str()) {
            continue;
        }
        if warn.contains(&key.as_str()) {
            cx.warnings.push(format!(
                "{}: accepted, not emulated: airlock runs the rest without it",
                value.path
            ));
            continue;
        }
        let hint = match nearest(key, known.iter().chain(warn).copied()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!("the keys here are {}", known.join(", ")),
        };
        cx.problem(
            value,
            DiagnosticKind::Schema,
            format!("`{key}` is not a property here"),
            hint,
        );
    }
}
