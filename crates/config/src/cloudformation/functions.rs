//! The intrinsic functions with more to them than a lookup: `Fn::Sub`'s `${…}` language,
//! `Fn::Cidr`'s address arithmetic and the functions only `Rules` may use ("Rule functions",
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/rules-section-structure.html).

use ipnet::IpNet;

use crate::error::DiagnosticKind;

use super::intrinsics::{Evaluator, Out, Stop, strings, usage};
use super::node::{Node, Value};

/// One piece of a `Fn::Sub` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text copied as is (`${!Literal}` already turned into `${Literal}`).
    Text(std::borrow::Cow<'a, str>),
    /// `${Name}` or `${Resource.Attribute}`.
    Variable(&'a str),
}

/// Splits a `Fn::Sub` string into text and variables ("Fn::Sub",
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-sub.html).
/// `Err` names an unclosed `${`.
pub(crate) fn sub_pieces(source: &str) -> Result<Vec<Piece<'_>>, usize> {
    let mut pieces = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].into()));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(offset + start);
        };
        let inner = &after[..end];
        match inner.strip_prefix('!') {
            // `${!Literal}` is written out as `${Literal}`.
            Some(literal) => pieces.push(Piece::Text(format!("${{{literal}}}").into())),
            None => pieces.push(Piece::Variable(inner.trim())),
        }
        let consumed = start + 2 + end + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.into()));
    }
    Ok(pieces)
}

impl Evaluator<'_> {
    /// `Fn::Sub`, in its string form and its `[string, {Var: value}]` form.
    pub(crate) fn sub(&mut self, call: &Node, arg: &Node) -> Out {
        let (source, vars) = match &arg.value {
            Value::String(s) => (s.clone(), Vec::new()),
            Value::List(items) if items.len() == 2 => {
                let source = match items[0].as_str() {
                    Some(s) => s.to_owned(),
                    None => self.text(&items[0], "`Fn::Sub`'s string")?,
                };
                let Some(map) = items[1].as_map() else {
                    return Err(self.fail(
                        &items[1],
                        DiagnosticKind::Schema,
                        "`Fn::Sub`'s variables must be a mapping".to_owned(),
                        usage("Fn::Sub"),
                    ));
                };
                let mut vars = Vec::with_capacity(map.len());
                for (name, value) in map {
                    let text = self.text(value, &format!("`Fn::Sub` variable `{name}`"))?;
                    vars.push((name.clone(), text));
                }
                (source, vars)
            }
            _ => {
                return Err(self.fail(
                    call,
                    DiagnosticKind::Schema,
                    "`Fn::Sub` takes a string or [string, {variables}]".to_owned(),
                    usage("Fn::Sub"),
                ));
            }
        };
        let pieces = match sub_pieces(&source) {
            Ok(p) => p,
            Err(at) => {
                return Err(self.fail(
                    call,
                    DiagnosticKind::Schema,
                    format!("`Fn::Sub` has an unclosed `${{` at character {at}"),
                    "close it with `}`; write `${!Name}` for a literal `${Name}`",
                ));
            }
        };
        let mut out = String::with_capacity(source.len());
        let mut failed = None;
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(&t),
                Piece::Variable(name) => {
                    if let Some((_, v)) = vars.iter().find(|(k, _)| k == name) {
                        out.push_str(v);
                        continue;
                    }
                    let resolved = match name.split_once('.') {
                        Some((resource, attribute)) if !name.starts_with("AWS::") => {
                            self.named(call, resource, Some(attribute))
                        }
                        _ => self.named(call, name, None),
                    };
                    match resolved {
                        Ok(Some(v)) => match v.scalar_text() {
                            Some(t) => out.push_str(&t),
                            None => {
                                let message = format!(
                                    "`${{{name}}}` is {}, which `Fn::Sub` cannot write into a \
                                     string",
                                    v.kind_name()
                                );
                                let hint = "select one item with Fn::Select, or join the list \
                                            with Fn::Join";
                                let kind = DiagnosticKind::Schema;
                                failed = Some(self.fail(call, kind, message, hint));
                            }
                        },
                        Ok(None) => {
                            let message = "`${AWS::NoValue}` cannot be used in `Fn::Sub`";
                            let kind = DiagnosticKind::InvalidValue;
                            failed = Some(self.fail(call, kind, message.to_owned(), "remove it"));
                        }
                        Err(stop) => failed = Some(stop),
                    }
                }
            }
        }
        match failed {
            Some(stop) => Err(stop),
            None => Ok(Some(Node::new(
                Value::String(out),
                call.at,
                call.path.clone(),
            ))),
        }
    }

    /// `Fn::Cidr: [ipBlock, count, cidrBits]`: the first `count` blocks with `cidrBits` host
    /// bits each ("Fn::Cidr",
    /// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-cidr.html).
    pub(crate) fn cidr(&mut self, call: &Node, arg: &Node) -> Out {
        let Some(items) = arg.as_list().filter(|l| l.len() == 3) else {
            return Err(self.fail(
                call,
                DiagnosticKind::Schema,
                "`Fn::Cidr` takes a list of 3 arguments".to_owned(),
                usage("Fn::Cidr"),
            ));
        };
        let block = self.text(&items[0], "the address block")?;
        let count = self.text(&items[1], "the count")?;
        let bits = self.text(&items[2], "the subnet size in bits")?;
        let Ok(net) = block.trim().parse::<IpNet>() else {
            return Err(self.fail(
                &items[0],
                DiagnosticKind::InvalidValue,
                format!("\"{block}\" is not a CIDR block"),
                "write a block like 10.0.0.0/16",
            ));
        };
        let (Ok(count), Ok(bits)) = (count.trim().parse::<usize>(), bits.trim().parse::<u8>())
        else {
            return Err(self.fail(
                call,
                DiagnosticKind::InvalidValue,
                "`Fn::Cidr`'s count and bits must be whole numbers".to_owned(),
                usage("Fn::Cidr"),
            ));
        };
        let max = net.max_prefix_len();
        let prefix = max.checked_sub(bits).filter(|p| *p >= net.prefix_len());
        let subnets: Vec<String> = match prefix.and_then(|p| net.trunc().subnets(p).ok()) {
            Some(all) => all.take(count).map(|s| s.to_string()).collect(),
            None => Vec::new(),
        };
        if subnets.len() < count || count == 0 {
            return Err(self.fail(
                call,
                DiagnosticKind::InvalidValue,
                format!("{block} does not hold {count} blocks of {bits} host bits"),
                "use fewer or smaller blocks, or a larger address block",
            ));
        }
        Ok(Some(Node::new(
            strings(subnets, call),
            call.at,
            call.path.clone(),
        )))
    }

    /// `Fn::Contains`, `Fn::EachMemberEquals`, `Fn::EachMemberIn`.
    pub(crate) fn rule_function(&mut self, call: &Node, name: &str, arg: &Node) -> Out {
        let Some(items) = arg.as_list().filter(|l| l.len() == 2) else {
            return Err(self.fail(
                call,
                DiagnosticKind::Schema,
                format!("`{name}` takes a list of 2 arguments"),
                "see the rule functions reference",
            ));
        };
        let texts = |me: &mut Self, node: &Node| -> Result<Vec<String>, Stop> {
            let v = me
                .eval(node)?
                .unwrap_or_else(|| Node::new(Value::List(Vec::new()), node.at, node.path.clone()));
            match &v.value {
                Value::List(items) => Ok(items.iter().filter_map(Node::scalar_text).collect()),
                _ => Ok(v.scalar_text().into_iter().collect()),
            }
        };
        let first = texts(self, &items[0])?;
        let second = texts(self, &items[1])?;
        let result = match name {
            "Fn::Contains" => second.first().is_some_and(|v| first.contains(v)),
            "Fn::EachMemberEquals" => second.first().is_some_and(|v| first.iter().all(|m| m == v)),
            _ => first.iter().all(|m| second.contains(m)),
        };
        Ok(Some(Node::new(
            Value::Bool(result),
            call.at,
            call.path.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sub_pieces_splits_variables_and_keeps_literals() {
        let pieces = sub_pieces("arn:${AWS::Partition}:s3:::${Bucket}/${!Literal}x").unwrap();
        assert_eq!(
            pieces,
            vec![
                Piece::Text("arn:".into()),
                Piece::Variable("AWS::Partition"),
                Piece::Text(":s3:::".into()),
                Piece::Variable("Bucket"),
                Piece::Text("/".into()),
                Piece::Text("${Literal}".into()),
                Piece::Text("x".into()),
            ]
        );
        assert_eq!(sub_pieces("a ${b"), Err(2));
    }
}
