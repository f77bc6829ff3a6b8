//! Intrinsic functions, evaluated as CloudFormation evaluates them ("Intrinsic function
//! reference",
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html,
//! and "Pseudo parameters reference",
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/pseudo-parameter-reference.html).

use std::collections::{HashMap, HashSet};

use crate::error::DiagnosticKind;

use super::Problem;
use super::ids::{Ids, Physical};
use super::node::{Node, Value, nearest};
use super::template::Template;
use super::types::{Support, support};

/// The pseudo parameters `Ref` knows.
pub const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// Where an expression sits, which decides what it may refer to ("Conditions template
/// section", "Rules template section": no resources there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Condition,
    Rule,
    Resource,
    Output,
}

/// Why an expression has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A problem was recorded.
    Reported,
    /// It depends on what only a real account knows (`Fn::ValueOf`, …): a rule using it is
    /// not checked.
    Unknown,
}

/// `Ok(None)` is `AWS::NoValue`: the property (or list item) is removed.
pub(crate) type Out = Result<Option<Node>, Stop>;

/// What is known about a resource while the template is evaluated.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    /// Evaluated: its physical id and attributes.
    Created {
        type_name: String,
        physical: Physical,
    },
    /// Its condition is false: it does not exist.
    Absent { condition: String },
    /// Declared but not (yet) evaluated: its own evaluation failed, or a cycle.
    Pending,
}

/// The state of one evaluation.
pub(crate) struct Evaluator<'a> {
    pub(crate) template: &'a Template,
    pub(crate) ids: &'a Ids,
    pub(crate) params: HashMap<String, Node>,
    pub(crate) no_echo: HashSet<String>,
    pub(crate) imports: &'a [(String, String)],
    /// Condition name → value; `None` while it is being evaluated (to catch cycles).
    pub(crate) conditions: HashMap<String, Option<bool>>,
    pub(crate) resources: HashMap<String, Known>,
    pub(crate) problems: Vec<Problem>,
    /// Set when a `NoEcho` parameter's value was used since it was last cleared.
    pub(crate) touched_no_echo: bool,
    pub(crate) place: Place,
}

impl Evaluator<'_> {
    pub(crate) fn fail(
        &mut self,
        node: &Node,
        kind: DiagnosticKind,
        message: String,
        hint: impl Into<String>,
    ) -> Stop {
        self.problems
            .push(Problem::new(node.at, &node.path, kind, message, hint));
        Stop::Reported
    }

    /// Evaluates `node` fully: every function call replaced by its value.
    pub(crate) fn eval(&mut self, node: &Node) -> Out {
        if let Some((name, arg)) = node.as_function() {
            return self.call(node, name, arg);
        }
        let value = match &node.value {
            Value::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut failed = None;
                for item in items {
                    match self.eval(item) {
                        Ok(Some(v)) => out.push(v),
                        Ok(None) => {}
                        Err(stop) => failed = Some(stop),
                    }
                }
                if let Some(stop) = failed {
                    return Err(stop);
                }
                Value::List(out)
            }
            Value::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                let mut failed = None;
                for (key, item) in entries {
                    match self.eval(item) {
                        Ok(Some(v)) => out.push((key.clone(), v)),
                        Ok(None) => {}
                        Err(stop) => failed = Some(stop),
                    }
                }
                if let Some(stop) = failed {
                    return Err(stop);
                }
                Value::Map(out)
            }
            scalar => scalar.clone(),
        };
        Ok(Some(Node::new(value, node.at, node.path.clone())))
    }

    /// Evaluates `node` to a value that must be present (not `AWS::NoValue`).
    fn value(&mut self, node: &Node) -> Result<Node, Stop> {
        match self.eval(node)? {
            Some(v) => Ok(v),
            None => Err(self.fail(
                node,
                DiagnosticKind::InvalidValue,
                "`AWS::NoValue` cannot be used here".to_owned(),
                "it only removes a property or a list item",
            )),
        }
    }

    /// Evaluates `node` to text (a string, number or boolean).
    pub(crate) fn text(&mut self, node: &Node, what: &str) -> Result<String, Stop> {
        let v = self.value(node)?;
        v.scalar_text().ok_or_else(|| {
            self.fail(
                node,
                DiagnosticKind::Schema,
                format!("{what} must be a string, not {}", v.kind_name()),
                "give a string, or a function that returns one",
            )
        })
    }

    /// Evaluates `node` to a list.
    fn list(&mut self, node: &Node, what: &str) -> Result<Vec<Node>, Stop> {
        let v = self.value(node)?;
        match v.value {
            Value::List(items) => Ok(items),
            _ => Err(self.fail(
                node,
                DiagnosticKind::Schema,
                format!("{what} must be a list, not {}", v.kind_name()),
                "give a list, or a function that returns one",
            )),
        }
    }

    /// Evaluates a condition expression to true or false.
    pub(crate) fn boolean(&mut self, node: &Node) -> Result<bool, Stop> {
        let v = self.value(node)?;
        match &v.value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            _ => Err(self.fail(
                node,
                DiagnosticKind::Schema,
                format!("a condition must be true or false, not {}", v.kind_name()),
                "use Fn::Equals, Fn::Not, Fn::And, Fn::Or or `Condition: Name`",
            )),
        }
    }

    /// The arguments of a function that takes a list of `n` (or, with `max`, `n..=max`).
    fn args<'n>(
        &mut self,
        call: &Node,
        name: &str,
        arg: &'n Node,
        n: usize,
        max: usize,
    ) -> Result<&'n [Node], Stop> {
        match arg.as_list() {
            Some(items) if items.len() >= n && items.len() <= max => Ok(items),
            _ => {
                let count = if n == max {
                    n.to_string()
                } else {
                    format!("{n} to {max}")
                };
                Err(self.fail(
                    call,
                    DiagnosticKind::Schema,
                    format!("`{name}` takes a list of {count} arguments"),
                    usage(name),
                ))
            }
        }
    }

    fn call(&mut self, call: &Node, name: &str, arg: &Node) -> Out {
        let at = |v: Value| Ok(Some(Node::new(v, call.at, call.path.clone())));
        let in_condition = matches!(self.place, Place::Condition | Place::Rule);
        match name {
            "Ref" => self.reference(call, arg),
            "Condition" => {
                let name = self.text(arg, "`Condition`")?;
                let value = self.condition(&name, call)?;
                at(Value::Bool(value))
            }
            "Fn::GetAtt" => self.get_att(call, arg),
            "Fn::Sub" => self.sub(call, arg),
            "Fn::Join" => {
                let items = self.args(call, name, arg, 2, 2)?;
                let delimiter = self.text(&items[0], "the delimiter")?;
                let parts = self.list(&items[1], "the values to join")?;
                let texts: Result<Vec<String>, Stop> = parts
                    .iter()
                    .map(|p| self.text(p, "each value to join"))
                    .collect();
                at(Value::String(texts?.join(&delimiter)))
            }
            "Fn::Select" => {
                let items = self.args(call, name, arg, 2, 2)?;
                let index = self.text(&items[0], "the index")?;
                let list = self.list(&items[1], "the list to select from")?;
                let len = list.len();
                match index
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| list.into_iter().nth(i))
                {
                    Some(item) => Ok(Some(item)),
                    None => {
                        let message =
                            format!("`Fn::Select` index {index} is outside the list of {len}");
                        let hint = "give an index from 0 to the list's length minus one";
                        Err(self.fail(call, DiagnosticKind::InvalidValue, message, hint))
                    }
                }
            }
            "Fn::Split" => {
                let items = self.args(call, name, arg, 2, 2)?;
                let delimiter = self.text(&items[0], "the delimiter")?;
                let source = self.text(&items[1], "the string to split")?;
                let parts = if delimiter.is_empty() {
                    vec![source]
                } else {
                    source
                        .split(delimiter.as_str())
                        .map(str::to_owned)
                        .collect()
                };
                at(strings(parts, call))
            }
            "Fn::GetAZs" => {
                let region = self.text(arg, "`Fn::GetAZs`'s region")?;
                let ids = if region.is_empty() || region == self.ids.region {
                    self.ids.clone()
                } else {
                    Ids {
                        region,
                        ..self.ids.clone()
                    }
                };
                at(strings(ids.zones(), call))
            }
            "Fn::FindInMap" => self.find_in_map(call, arg),
            "Fn::If" => {
                if in_condition {
                    let message = "`Fn::If` cannot be used in a condition";
                    let hint = "combine conditions with Fn::And, Fn::Or and Fn::Not";
                    return Err(self.fail(call, DiagnosticKind::Schema, message.to_owned(), hint));
                }
                let items = self.args(call, name, arg, 3, 3)?;
                let condition = self.text(&items[0], "`Fn::If`'s condition name")?;
                let chosen = if self.condition(&condition, &items[0])? {
                    &items[1]
                } else {
                    &items[2]
                };
                self.eval(chosen)
            }
            "Fn::Equals" => {
                let items = self.args(call, name, arg, 2, 2)?;
                let (a, b) = (self.value(&items[0])?, self.value(&items[1])?);
                at(Value::Bool(same(&a, &b)))
            }
            "Fn::Not" => {
                let items = self.args(call, name, arg, 1, 1)?;
                let v = self.boolean(&items[0])?;
                at(Value::Bool(!v))
            }
            "Fn::And" | "Fn::Or" => {
                let items = self.args(call, name, arg, 2, 10)?;
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.boolean(item)?);
                }
                let v = if name == "Fn::And" {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                };
                at(Value::Bool(v))
            }
            "Fn::Base64" => {
                let source = self.text(arg, "`Fn::Base64`'s value")?;
                at(Value::String(base64_encode(source.as_bytes())))
            }
            "Fn::Cidr" => self.cidr(call, arg),
            "Fn::ImportValue" => {
                if self.place != Place::Resource && self.place != Place::Output {
                    let message = "`Fn::ImportValue` can only be used in resources and outputs";
                    let hint = "move it into a resource property";
                    return Err(self.fail(call, DiagnosticKind::Schema, message.to_owned(), hint));
                }
                let export = self.text(arg, "the export name")?;
                match self.imports.iter().find(|(k, _)| *k == export) {
                    Some((_, v)) => at(Value::String(v.clone())),
                    None => {
                        let message = format!("no export named \"{export}\" was given");
                        let hint = format!(
                            "pass `--import {export}=VALUE` with the value the exporting stack \
                             would give"
                        );
                        Err(self.fail(call, DiagnosticKind::UnknownReference, message, hint))
                    }
                }
            }
            "Fn::Contains" | "Fn::EachMemberEquals" | "Fn::EachMemberIn"
                if self.place == Place::Rule =>
            {
                self.rule_function(call, name, arg)
            }
            "Fn::RefAll" | "Fn::ValueOf" | "Fn::ValueOfAll" if self.place == Place::Rule => {
                Err(Stop::Unknown)
            }
            _ if NOT_RUN.iter().any(|(names, ..)| names.contains(&name)) => {
                let (_, message, hint) = NOT_RUN
                    .iter()
                    .find(|(names, ..)| names.contains(&name))
                    .copied()
                    .unwrap_or_default();
                let message = format!("`{name}` {message}");
                Err(self.fail(call, DiagnosticKind::Schema, message, hint))
            }
            other => {
                let known = KNOWN_FUNCTIONS.iter().copied();
                let hint = match nearest(other, known) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "see the intrinsic function reference".to_owned(),
                };
                Err(self.fail(
                    call,
                    DiagnosticKind::Schema,
                    format!("`{other}` is not an intrinsic function"),
                    hint,
                ))
            }
        }
    }

    /// `Ref`: a parameter's value, a pseudo parameter, or a resource's physical id.
    fn reference(&mut self, call: &Node, arg: &Node) -> Out {
        let name = match arg.as_str() {
            Some(n) => n.to_owned(),
            None => self.text(arg, "`Ref`'s target")?,
        };
        self.named(call, &name, None)
    }

    /// The value of `name` (and, with `attribute`, of its attribute) as `Ref`, `Fn::GetAtt` and
    /// `Fn::Sub`'s `${…}` see it.
    pub(crate) fn named(&mut self, call: &Node, name: &str, attribute: Option<&str>) -> Out {
        let at = |v: Value| Ok(Some(restamp(Node::new(v, call.at, call.path.clone()))));
        if attribute.is_none() {
            if let Some(v) = self.pseudo(name, call) {
                return v;
            }
            if let Some(v) = self.params.get(name) {
                if self.no_echo.contains(name) {
                    self.touched_no_echo = true;
                }
                return at(v.value.clone());
            }
            if self.template.parameters.iter().any(|p| p.name == name) {
                // A parameter without a usable value: reported where it is declared.
                return Err(Stop::Reported);
            }
        }
        if matches!(self.place, Place::Condition | Place::Rule) {
            let known = self.template.resources.iter().any(|r| r.logical_id == name);
            if known {
                return Err(self.fail(
                    call,
                    DiagnosticKind::UnknownReference,
                    format!(
                        "`{name}` is a resource; conditions and rules can refer only to parameters"
                    ),
                    "compare parameters (or pseudo parameters) instead",
                ));
            }
        }
        let state = self.resources.get(name).cloned();
        match state {
            Some(Known::Created {
                type_name,
                physical,
            }) => match attribute {
                None => at(Value::String(physical.id)),
                Some(attribute) => self.attribute(call, name, &type_name, &physical, attribute),
            },
            Some(Known::Absent { condition }) => {
                let message = format!(
                    "resource `{name}` does not exist: its condition `{condition}` is false"
                );
                let hint = format!(
                    "guard this reference with `Fn::If: [{condition}, …, …]`, or give this \
                     resource the same condition"
                );
                Err(self.fail(call, DiagnosticKind::UnknownReference, message, hint))
            }
            // Its own problems are reported where they are.
            Some(Known::Pending) => Err(Stop::Reported),
            None => {
                let mut names: Vec<&str> = self
                    .template
                    .resources
                    .iter()
                    .map(|r| r.logical_id.as_str())
                    .collect();
                if attribute.is_none() {
                    names.extend(self.template.parameters.iter().map(|p| p.name.as_str()));
                    names.extend(PSEUDO_PARAMETERS.iter().copied());
                }
                let what = if attribute.is_some() {
                    "resource"
                } else {
                    "parameter or resource"
                };
                let hint = match nearest(name, names) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => format!(
                        "declare it under `Parameters` or `Resources`, or use a pseudo \
                         parameter ({})",
                        PSEUDO_PARAMETERS.join(", ")
                    ),
                };
                Err(self.fail(
                    call,
                    DiagnosticKind::UnknownReference,
                    format!("no {what} named `{name}`"),
                    hint,
                ))
            }
        }
    }

    fn attribute(
        &mut self,
        call: &Node,
        name: &str,
        type_name: &str,
        physical: &Physical,
        attribute: &str,
    ) -> Out {
        let support = support(type_name, self.template.is_serverless());
        if let Support::Mapped(t) = support
            && !t.attributes.contains(&attribute)
        {
            let hint = match nearest(attribute, t.attributes.iter().copied()) {
                Some(n) => format!(
                    "did you mean `{n}`? ({} has: {}; see {})",
                    t.name,
                    t.attributes.join(", "),
                    t.doc
                ),
                None => format!(
                    "{} has: {} (see {})",
                    t.name,
                    t.attributes.join(", "),
                    t.doc
                ),
            };
            return Err(self.fail(
                call,
                DiagnosticKind::UnknownReference,
                format!("`{name}` ({type_name}) has no attribute `{attribute}`"),
                hint,
            ));
        }
        let value = physical
            .attributes
            .iter()
            .find_map(|(k, v)| (k == attribute).then(|| v.clone()))
            .unwrap_or_else(|| self.ids.unchecked_attribute(name, type_name, attribute));
        Ok(Some(restamp(Node::new(value, call.at, call.path.clone()))))
    }

    fn pseudo(&mut self, name: &str, call: &Node) -> Option<Out> {
        let ids = self.ids;
        let text = match name {
            "AWS::NoValue" => return Some(Ok(None)),
            "AWS::NotificationARNs" => {
                return Some(Ok(Some(Node::new(
                    Value::List(Vec::new()),
                    call.at,
                    call.path.clone(),
                ))));
            }
            "AWS::AccountId" => ids.account_id.clone(),
            "AWS::Partition" => ids.partition().to_owned(),
            "AWS::Region" => ids.region.clone(),
            "AWS::StackId" => ids.stack_id(),
            "AWS::StackName" => ids.stack_name.clone(),
            "AWS::URLSuffix" => ids.url_suffix().to_owned(),
            _ => return None,
        };
        Some(Ok(Some(Node::new(
            Value::String(text),
            call.at,
            call.path.clone(),
        ))))
    }

    fn get_att(&mut self, call: &Node, arg: &Node) -> Out {
        let (name, attribute) = match &arg.value {
            Value::String(s) => match s.split_once('.') {
                Some((n, a)) => (n.to_owned(), a.to_owned()),
                None => {
                    return Err(self.fail(
                        call,
                        DiagnosticKind::Schema,
                        format!("`Fn::GetAtt` of \"{s}\" names no attribute"),
                        "write `LogicalId.Attribute` or `[LogicalId, Attribute]`",
                    ));
                }
            },
            Value::List(items) if items.len() == 2 => {
                let name = match items[0].as_str() {
                    Some(n) => n.to_owned(),
                    None => {
                        return Err(self.fail(
                            &items[0],
                            DiagnosticKind::Schema,
                            "`Fn::GetAtt`'s logical id must be a literal string".to_owned(),
                            "write the resource's logical id",
                        ));
                    }
                };
                (name, self.text(&items[1], "the attribute name")?)
            }
            _ => {
                return Err(self.fail(
                    call,
                    DiagnosticKind::Schema,
                    "`Fn::GetAtt` takes [LogicalId, Attribute]".to_owned(),
                    usage("Fn::GetAtt"),
                ));
            }
        };
        if self.template.parameters.iter().any(|p| p.name == name) {
            return Err(self.fail(
                call,
                DiagnosticKind::UnknownReference,
                format!("`{name}` is a parameter; `Fn::GetAtt` reads resource attributes"),
                format!("use `Ref: {name}`"),
            ));
        }
        self.named(call, &name, Some(&attribute))
    }

    fn find_in_map(&mut self, call: &Node, arg: &Node) -> Out {
        let items = self.args(call, "Fn::FindInMap", arg, 3, 3)?;
        let map = self.text(&items[0], "the map name")?;
        let top = self.text(&items[1], "the top-level key")?;
        let second = self.text(&items[2], "the second-level key")?;
        let template = self.template;
        let Some((_, mapping)) = template.mappings.iter().find(|(n, _)| *n == map) else {
            let hint = match nearest(&map, template.mappings.iter().map(|(n, _)| n.as_str())) {
                Some(n) => format!("did you mean `{n}`?"),
                None => "declare it under `Mappings`".to_owned(),
            };
            return Err(self.fail(
                &items[0],
                DiagnosticKind::UnknownReference,
                format!("no mapping named `{map}`"),
                hint,
            ));
        };
        let keys = |n: &Node| {
            n.as_map()
                .map(|m| m.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let Some(level) = mapping.get(&top) else {
            let hint = format!("`{map}` has: {}", keys(mapping).join(", "));
            return Err(self.fail(
                &items[1],
                DiagnosticKind::UnknownReference,
                format!("mapping `{map}` has no key \"{top}\""),
                hint,
            ));
        };
        let Some(found) = level.get(&second) else {
            let hint = format!("`{map}.{top}` has: {}", keys(level).join(", "));
            return Err(self.fail(
                &items[2],
                DiagnosticKind::UnknownReference,
                format!("mapping `{map}.{top}` has no key \"{second}\""),
                hint,
            ));
        };
        let found = found.clone();
        Ok(Some(Node {
            at: call.at,
            path: call.path.clone(),
            ..found
        }))
    }

    /// The value of condition `name`, evaluating it (and those it uses) on first use.
    pub(crate) fn condition(&mut self, name: &str, used_at: &Node) -> Result<bool, Stop> {
        match self.conditions.get(name) {
            Some(Some(v)) => return Ok(*v),
            Some(None) => {
                return Err(self.fail(
                    used_at,
                    DiagnosticKind::Conflict,
                    format!("condition `{name}` depends on itself"),
                    "break the circle of `Condition:` references",
                ));
            }
            None => {}
        }
        let template = self.template;
        let Some((_, expression)) = template.conditions.iter().find(|(n, _)| n == name) else {
            let hint = match nearest(name, template.conditions.iter().map(|(n, _)| n.as_str())) {
                Some(n) => format!("did you mean `{n}`?"),
                None => "declare it under `Conditions`".to_owned(),
            };
            return Err(self.fail(
                used_at,
                DiagnosticKind::UnknownReference,
                format!("no condition named `{name}`"),
                hint,
            ));
        };
        self.conditions.insert(name.to_owned(), None);
        let place = std::mem::replace(&mut self.place, Place::Condition);
        let result = self.boolean(expression);
        self.place = place;
        match result {
            Ok(v) => {
                self.conditions.insert(name.to_owned(), Some(v));
                Ok(v)
            }
            Err(stop) => {
                // Reported once, where it is declared; later uses read it as false.
                self.conditions.insert(name.to_owned(), Some(false));
                Err(stop)
            }
        }
    }
}

/// Functions airlock knows but does not evaluate where they are: what is said, and the hint.
const NOT_RUN: &[(&[&str], &str, &str)] = &[
    (
        &[
            "Fn::Contains",
            "Fn::EachMemberEquals",
            "Fn::EachMemberIn",
            "Fn::RefAll",
            "Fn::ValueOf",
            "Fn::ValueOfAll",
        ],
        "is a rule function: it can only be used in `Rules`",
        "use Fn::Equals, Fn::And, Fn::Or and Fn::Not elsewhere",
    ),
    (
        &["Fn::Length", "Fn::ToJsonString", "Fn::ForEach"],
        "needs the AWS::LanguageExtensions transform, which airlock does not run",
        "write the value out, or use Fn::Join / Fn::Select",
    ),
    (
        &["Fn::Transform"],
        "runs a macro, which airlock does not run",
        "write the value the macro would produce",
    ),
];

/// The functions airlock evaluates (for "did you mean" hints).
pub const KNOWN_FUNCTIONS: &[&str] = &[
    "Ref",
    "Condition",
    "Fn::Base64",
    "Fn::Cidr",
    "Fn::FindInMap",
    "Fn::GetAtt",
    "Fn::GetAZs",
    "Fn::ImportValue",
    "Fn::Join",
    "Fn::Select",
    "Fn::Split",
    "Fn::Sub",
    "Fn::If",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::Contains",
    "Fn::EachMemberEquals",
    "Fn::EachMemberIn",
    "Fn::RefAll",
    "Fn::ValueOf",
    "Fn::ValueOfAll",
];

/// How a function is written, for hints.
pub(crate) fn usage(name: &str) -> &'static str {
    match name {
        "Fn::Join" => "write `Fn::Join: [delimiter, [values]]`",
        "Fn::Select" => "write `Fn::Select: [index, list]`",
        "Fn::Split" => "write `Fn::Split: [delimiter, string]`",
        "Fn::FindInMap" => "write `Fn::FindInMap: [MapName, TopLevelKey, SecondLevelKey]`",
        "Fn::If" => "write `Fn::If: [ConditionName, value if true, value if false]`",
        "Fn::Equals" => "write `Fn::Equals: [value, value]`",
        "Fn::Not" => "write `Fn::Not: [condition]`",
        "Fn::And" | "Fn::Or" => "give from 2 to 10 conditions",
        "Fn::GetAtt" => {
            "write `Fn::GetAtt: [LogicalId, Attribute]` or `!GetAtt LogicalId.Attribute`"
        }
        "Fn::Cidr" => "write `Fn::Cidr: [ipBlock, count, cidrBits]`",
        "Fn::Sub" => "write `Fn::Sub: string` or `Fn::Sub: [string, {Var: value}]`",
        _ => "see the intrinsic function reference",
    }
}

/// Whether two evaluated values are equal as `Fn::Equals` compares them (scalars as text).
fn same(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, p), (l, q))| k == l && same(p, q))
        }
        (Value::Null, Value::Null) => true,
        _ => match (a.scalar_text(), b.scalar_text()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// A list of strings placed at `call`.
pub(crate) fn strings(items: Vec<String>, call: &Node) -> Value {
    Value::List(
        items
            .into_iter()
            .enumerate()
            .map(|(i, s)| Node::new(Value::String(s), call.at, format!("{}[{i}]", call.path)))
            .collect(),
    )
}

/// Gives the items of a value taken from elsewhere (a parameter, an attribute) the place of
/// the expression that read it.
fn restamp(mut node: Node) -> Node {
    let (at, path) = (node.at, node.path.clone());
    if let Value::List(items) = &mut node.value {
        for (i, item) in items.iter_mut().enumerate() {
            item.at = at;
            item.path = format!("{path}[{i}]");
        }
    }
    node
}

/// Standard base64 with padding (RFC 4648 §4), as `Fn::Base64` encodes.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
