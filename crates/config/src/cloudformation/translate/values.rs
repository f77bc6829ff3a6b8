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
