//! Evaluation of a whole template: parameters, conditions, rules, resources in dependency
//! order, outputs and exports.

use std::collections::{HashMap, HashSet};

use crate::error::DiagnosticKind;
use crate::position::{Location, join_key};

use super::Problem;
use super::evaluated::{AbsentResource, Evaluated, Output, ParameterValue, Resource};
use super::functions::{Piece, sub_pieces};
use super::ids::Ids;
use super::intrinsics::{Evaluator, Known, PSEUDO_PARAMETERS, Place};
use super::node::{Node, Value, nearest};
use super::params::{MASK, ParameterType};
use super::template::{ResourceDecl, SERVERLESS_TRANSFORM, Template};
use super::types::{MAPPED, PLUMBING, Support, support};

/// The inputs of an evaluation besides the template.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// `AWS::StackName`.
    pub stack_name: String,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId` (12 digits).
    pub account_id: String,
    /// Parameter values (`KEY=VALUE` pairs, see [`super::parse_key_value`] and
    /// [`super::parse_parameters_file`]); a later pair for the same key wins.
    pub parameters: Vec<(String, String)>,
    /// Values for `Fn::ImportValue`, by export name.
    pub imports: Vec<(String, String)>,
    /// When set, an AWS-specific id parameter (`AWS::EC2::VPC::Id`,
    /// `List<AWS::EC2::Subnet::Id>`, …) with neither a value nor a default gets made-up ids,
    /// the same on every run, instead of being an error.
    pub made_up_ids: bool,
    /// When set, resources of types airlock does not know are listed in
    /// [`Evaluated::unsupported`] instead of being errors.
    pub allow_unsupported: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            stack_name: DEFAULT_STACK_NAME.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            account_id: DEFAULT_ACCOUNT_ID.to_owned(),
            parameters: Vec::new(),
            imports: Vec::new(),
            made_up_ids: false,
            allow_unsupported: false,
        }
    }
}

/// The stack name when none is given.
pub const DEFAULT_STACK_NAME: &str = "airlock";
/// The region when none is given.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The account id when none is given (the one AWS's documentation uses in examples).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// Evaluates `template`; every problem found is returned at once.
pub(crate) fn evaluate(
    template: &Template,
    options: &EvalOptions,
    problems: &mut Vec<Problem>,
) -> Evaluated {
    let ids = Ids {
        stack_name: options.stack_name.clone(),
        region: options.region.clone(),
        account_id: options.account_id.clone(),
    };
    let mut ev = Evaluator {
        template,
        ids: &ids,
        params: HashMap::new(),
        no_echo: HashSet::new(),
        imports: &options.imports,
        conditions: HashMap::new(),
        resources: HashMap::new(),
        problems: Vec::new(),
        touched_no_echo: false,
        place: Place::Condition,
    };
    let parameters = resolve_parameters(template, options, &ids, &mut ev);
    let conditions: Vec<(String, bool)> = template
        .conditions
        .iter()
        .map(|(name, node)| (name.clone(), ev.condition(name, node).unwrap_or(false)))
        .collect();
    check_rules(&mut ev);

    let mut evaluated = Evaluated {
        transforms: template.transforms.clone(),
        parameters,
        conditions,
        resources: Vec::new(),
        absent: Vec::new(),
        outputs: Vec::new(),
        exports: Vec::new(),
        unsupported: Vec::new(),
    };
    let present = decide_presence(&mut ev, options, &mut evaluated);
    let order = dependency_order(&mut ev, &present);
    ev.place = Place::Resource;
    for (decl, dependencies) in order {
        evaluated
            .resources
            .push(evaluate_resource(&mut ev, decl, dependencies));
    }
    evaluate_outputs(&mut ev, &mut evaluated);
    problems.append(&mut ev.problems);
    evaluated
}

fn resolve_parameters(
    template: &Template,
    options: &EvalOptions,
    ids: &Ids,
    ev: &mut Evaluator<'_>,
) -> Vec<ParameterValue> {
    for (key, _) in &options.parameters {
        if !template.parameters.iter().any(|p| p.name == *key) {
            let hint = match nearest(key, template.parameters.iter().map(|p| p.name.as_str())) {
                Some(n) => format!("did you mean `{n}`?"),
                None => "the template's parameters are declared under `Parameters`".to_owned(),
            };
            ev.problems.push(Problem::new(
                Location::START,
                "Parameters",
                DiagnosticKind::UnknownReference,
                format!("a value was given for `{key}`, which the template does not declare"),
                hint,
            ));
        }
    }
    let mut out = Vec::new();
    for p in &template.parameters {
        let given = options
            .parameters
            .iter()
            .rev()
            .find_map(|(k, v)| (*k == p.name).then_some(v.as_str()));
        if let Some(value) = p.resolve(given, options.made_up_ids.then_some(ids), &mut ev.problems)
        {
            if p.no_echo {
                ev.no_echo.insert(p.name.clone());
            }
            ev.params.insert(p.name.clone(), value.clone());
            out.push(ParameterValue {
                name: p.name.clone(),
                value,
                no_echo: p.no_echo,
                aws_type: match &p.kind {
                    ParameterType::Aws(t) | ParameterType::AwsList(t) => Some(t.clone()),
                    _ => None,
                },
            });
        }
    }
    out
}

/// `Rules`: each assertion whose rule condition holds must be true; one that depends on what
/// only an account knows (`Fn::ValueOf`, …) is skipped.
fn check_rules(ev: &mut Evaluator<'_>) {
    ev.place = Place::Rule;
    for rule in &ev.template.rules {
        let applies = match &rule.condition {
            None => Ok(true),
            Some(c) => ev.boolean(c),
        };
        if applies != Ok(true) {
            continue;
        }
        for assertion in &rule.assertions {
            if ev.boolean(&assertion.assert) == Ok(false) {
                let message = format!(
                    "rule `{}` fails: {}",
                    rule.name,
                    assertion
                        .description
                        .as_deref()
                        .unwrap_or("an assertion is false")
                );
                ev.problems.push(Problem::new(
                    assertion.assert.at,
                    &assertion.assert.path,
                    DiagnosticKind::Conflict,
                    message,
                    "give parameter values the rule accepts",
                ));
            }
        }
    }
}

/// Which resources exist (their condition holds, their type is known); the rest are recorded.
fn decide_presence<'t>(
    ev: &mut Evaluator<'t>,
    options: &EvalOptions,
    evaluated: &mut Evaluated,
) -> Vec<&'t ResourceDecl> {
    let template = ev.template;
    let mut present = Vec::new();
    for decl in &template.resources {
        let type_node = decl.node.get("Type").unwrap_or(&decl.node);
        if decl.type_name.is_empty() {
            ev.resources.insert(decl.logical_id.clone(), Known::Pending);
            continue;
        }
        if support(&decl.type_name, template.is_serverless()) == Support::Unsupported {
            let record = AbsentResource {
                logical_id: decl.logical_id.clone(),
                type_name: decl.type_name.clone(),
                condition: None,
                at: type_node.at,
            };
            evaluated.unsupported.push(record);
            if !options.allow_unsupported {
                let known = MAPPED
                    .iter()
                    .map(|t| t.name)
                    .chain(PLUMBING.iter().copied());
                let sam = decl.type_name.starts_with("AWS::Serverless::");
                let hint = match nearest(&decl.type_name, known) {
                    Some(n) => format!(
                        "did you mean `{n}`? (airlock runs the types listed in \
                         docs/cloudformation.md)"
                    ),
                    None if sam => format!("SAM types need `Transform: {SERVERLESS_TRANSFORM}`"),
                    None => "remove it, or skip it with --ignore-unsupported when nothing \
                             that runs depends on it (docs/cloudformation.md lists the types \
                             airlock runs)"
                        .to_owned(),
                };
                ev.problems.push(Problem::new(
                    type_node.at,
                    &type_node.path,
                    DiagnosticKind::Schema,
                    format!(
                        "`{}` is a resource type airlock does not run",
                        decl.type_name
                    ),
                    hint,
                ));
                ev.resources.insert(decl.logical_id.clone(), Known::Pending);
                continue;
            }
        }
        if let Some(condition) = &decl.condition {
            let Some(name) = condition.as_str() else {
                ev.problems.push(Problem::schema(
                    condition,
                    "a resource's `Condition` is a condition name".to_owned(),
                    "write `Condition: Name`",
                ));
                continue;
            };
            if !ev.condition(name, condition).unwrap_or(false) {
                ev.resources.insert(
                    decl.logical_id.clone(),
                    Known::Absent {
                        condition: name.to_owned(),
                    },
                );
                evaluated.absent.push(AbsentResource {
                    logical_id: decl.logical_id.clone(),
                    type_name: decl.type_name.clone(),
                    condition: Some(name.to_owned()),
                    at: decl.node.at,
                });
                continue;
            }
        }
        ev.resources.insert(decl.logical_id.clone(), Known::Pending);
        present.push(decl);
    }
    present
}

/// Names a node refers to through `Ref`, `Fn::GetAtt` and `Fn::Sub`, on every branch.
pub(crate) fn references<'n>(node: &'n Node, out: &mut Vec<(String, &'n Node)>) {
    if let Some((name, arg)) = node.as_function() {
        match (name, &arg.value) {
            ("Ref", Value::String(target)) => out.push((target.clone(), node)),
            ("Fn::GetAtt", Value::String(s)) => out.push((
                s.split_once('.').map_or(s.as_str(), |(n, _)| n).to_owned(),
                node,
            )),
            ("Fn::GetAtt", Value::List(items)) => {
                if let Some(target) = items.first().and_then(Node::as_str) {
                    out.push((target.to_owned(), node));
                }
            }
            ("Fn::Sub", _) => {
                let (source, vars) = match &arg.value {
                    Value::String(s) => (Some(s.as_str()), None),
                    Value::List(items) => (items.first().and_then(Node::as_str), items.get(1)),
                    _ => (None, None),
                };
                if let Some(vars) = vars {
                    references(vars, out);
                }
                for piece in source
                    .map(sub_pieces)
                    .and_then(Result::ok)
                    .unwrap_or_default()
                {
                    if let Piece::Variable(v) = piece
                        && vars.and_then(|m| m.get(v)).is_none()
                        && !v.starts_with("AWS::")
                    {
                        out.push((v.split_once('.').map_or(v, |(n, _)| n).to_owned(), node));
                    }
                }
                return;
            }
            _ => {}
        }
    }
    match &node.value {
        Value::List(items) => items.iter().for_each(|i| references(i, out)),
        Value::Map(entries) => entries.iter().for_each(|(_, v)| references(v, out)),
        _ => {}
    }
}

/// The present resources in dependency order (a stable topological sort: template order where
/// nothing constrains it), each with what it waits for. A cycle is reported, naming it; its
/// resources are left out.
fn dependency_order<'t>(
    ev: &mut Evaluator<'t>,
    present: &[&'t ResourceDecl],
) -> Vec<(&'t ResourceDecl, Vec<String>)> {
    let template = ev.template;
    let index: HashMap<&str, usize> = present
        .iter()
        .enumerate()
        .map(|(i, d)| (d.logical_id.as_str(), i))
        .collect();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); present.len()];
    for (i, decl) in present.iter().enumerate() {
        for target in &decl.depends_on {
            let Some(name) = target.as_str() else {
                ev.problems.push(Problem::schema(
                    target,
                    "`DependsOn` takes logical ids".to_owned(),
                    "write `DependsOn: [LogicalId, …]`",
                ));
                continue;
            };
            match (index.get(name), ev.resources.get(name)) {
                (Some(j), _) => edges[i].push(*j),
                (None, Some(Known::Absent { condition })) => {
                    let message = format!(
                        "`DependsOn` names `{name}`, which does not exist: its condition \
                         `{condition}` is false"
                    );
                    ev.problems.push(Problem::new(
                        target.at,
                        &target.path,
                        DiagnosticKind::UnknownReference,
                        message,
                        "give both resources the same condition",
                    ));
                }
                (None, Some(_)) => {}
                (None, None) => {
                    let hint = match nearest(
                        name,
                        template.resources.iter().map(|r| r.logical_id.as_str()),
                    ) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => "name a resource declared under `Resources`".to_owned(),
                    };
                    ev.problems.push(Problem::new(
                        target.at,
                        &target.path,
                        DiagnosticKind::UnknownReference,
                        format!("`DependsOn` names `{name}`, which is not a resource"),
                        hint,
                    ));
                }
            }
        }
        let mut found = Vec::new();
        if let Some(props) = &decl.properties {
            references(props, &mut found);
        }
        for (name, at) in found {
            if let Some(j) = index.get(name.as_str()) {
                edges[i].push(*j);
            } else if !template.resources.iter().any(|r| r.logical_id == name)
                && !template.parameters.iter().any(|p| p.name == name)
                && !PSEUDO_PARAMETERS.contains(&name.as_str())
            {
                // Unknown names on a branch evaluation will not take are still mistakes.
                let names = template
                    .resources
                    .iter()
                    .map(|r| r.logical_id.as_str())
                    .chain(template.parameters.iter().map(|p| p.name.as_str()));
                let hint = nearest(&name, names).map_or_else(
                    || "declare it under `Parameters` or `Resources`".to_owned(),
                    |n| format!("did you mean `{n}`?"),
                );
                ev.problems.push(Problem::new(
                    at.at,
                    &at.path,
                    DiagnosticKind::UnknownReference,
                    format!("no parameter or resource named `{name}`"),
                    hint,
                ));
            }
        }
        edges[i].sort_unstable();
        edges[i].dedup();
    }

    // Kahn's algorithm, always taking the earliest ready resource.
    let mut waiting: Vec<usize> = edges.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); present.len()];
    for (i, deps) in edges.iter().enumerate() {
        for j in deps {
            dependents[*j].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..present.len()).filter(|i| waiting[*i] == 0).collect();
    let mut order = Vec::with_capacity(present.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for d in &dependents[i] {
            waiting[*d] -= 1;
            if waiting[*d] == 0 {
                ready.insert(*d);
            }
        }
    }
    if order.len() < present.len() {
        report_cycles(ev, present, &edges, &waiting);
    }
    order
        .into_iter()
        .map(|i| {
            (
                present[i],
                edges[i]
                    .iter()
                    .map(|j| present[*j].logical_id.clone())
                    .collect(),
            )
        })
        .collect()
}

/// Reports each circle among the resources left waiting, once, at its first resource.
fn report_cycles(
    ev: &mut Evaluator<'_>,
    present: &[&ResourceDecl],
    edges: &[Vec<usize>],
    waiting: &[usize],
) {
    let mut reported: HashSet<usize> = HashSet::new();
    for start in (0..present.len()).filter(|i| waiting[*i] > 0) {
        if reported.contains(&start) {
            continue;
        }
        // Walk waiting dependencies until a resource repeats: that stretch is a circle.
        let mut path = vec![start];
        let mut seen: HashMap<usize, usize> = HashMap::from([(start, 0)]);
        let mut at = start;
        let cycle = loop {
            let Some(next) = edges[at].iter().copied().find(|j| waiting[*j] > 0) else {
                break None;
            };
            if let Some(pos) = seen.get(&next) {
                break Some(path[*pos..].to_vec());
            }
            seen.insert(next, path.len());
            path.push(next);
            at = next;
        };
        let Some(cycle) = cycle else { continue };
        if cycle.iter().any(|i| reported.contains(i)) {
            continue;
        }
        reported.extend(cycle.iter().copied());
        let first = cycle.iter().copied().min().unwrap_or(start);
        let rotate = cycle.iter().position(|i| *i == first).unwrap_or(0);
        let mut names: Vec<&str> = cycle[rotate..]
            .iter()
            .chain(&cycle[..rotate])
            .map(|i| present[*i].logical_id.as_str())
            .collect();
        names.push(present[first].logical_id.as_str());
        let decl = present[first];
        let message = format!("circular dependency: {}", names.join(" -> "));
        let hint = "break the circle: remove a DependsOn, or refer to one of them by a parameter \
                    or a separate resource (e.g. AWS::EC2::SecurityGroupIngress)";
        let (at, path) = (decl.node.at, &decl.node.path);
        ev.problems.push(Problem::new(
            at,
            path,
            DiagnosticKind::Conflict,
            message,
            hint,
        ));
    }
}

fn evaluate_resource(
    ev: &mut Evaluator<'_>,
    decl: &ResourceDecl,
    dependencies: Vec<String>,
) -> Resource {
    let support = support(&decl.type_name, ev.template.is_serverless());
    // Properties chosen whole by a function (`Properties: !If […]`) are checked by nothing
    // here; their keys are not written in the template.
    if let (Support::Mapped(t), Some(props)) = (support, &decl.properties)
        && props.as_function().is_none()
    {
        for (key, value) in props.as_map().unwrap_or_default() {
            if !t.properties.contains(&key.as_str()) {
                let hint = match nearest(key, t.properties.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`? (see {})", t.doc),
                    None => format!(
                        "{} has: {} (see {})",
                        t.name,
                        t.properties.join(", "),
                        t.doc
                    ),
                };
                ev.problems.push(Problem::new(
                    value.at,
                    &join_key(&props.path, key),
                    DiagnosticKind::Schema,
                    format!("{} has no property `{key}`", t.name),
                    hint,
                ));
            }
        }
    }
    if let Support::Mapped(t) = support {
        for required in t.required {
            if decl
                .properties
                .as_ref()
                .and_then(|p| p.get(required))
                .is_none()
            {
                let at = decl.properties.as_ref().unwrap_or(&decl.node);
                ev.problems.push(Problem::new(
                    at.at,
                    &at.path,
                    DiagnosticKind::Schema,
                    format!("{} requires the property `{required}`", t.name),
                    format!("add `{required}` (see {})", t.doc),
                ));
            }
        }
    }
    let path = join_key(&decl.node.path, "Properties");
    let empty = Node::new(Value::Map(Vec::new()), decl.node.at, path);
    let properties = match &decl.properties {
        Some(p) => ev.eval(p).ok().flatten(),
        None => Some(empty.clone()),
    };
    let physical = ev
        .ids
        .physical(&decl.logical_id, &decl.type_name, properties.as_ref());
    ev.resources.insert(
        decl.logical_id.clone(),
        Known::Created {
            type_name: decl.type_name.clone(),
            physical: physical.clone(),
        },
    );
    Resource {
        logical_id: decl.logical_id.clone(),
        type_name: decl.type_name.clone(),
        support,
        condition: decl
            .condition
            .as_ref()
            .and_then(Node::as_str)
            .map(str::to_owned),
        depends_on: decl
            .depends_on
            .iter()
            .filter_map(Node::as_str)
            .map(str::to_owned)
            .collect(),
        dependencies,
        properties: properties.unwrap_or(empty),
        physical_id: physical.id,
        attributes: physical.attributes,
        at: decl.node.at,
        path: decl.node.path.clone(),
    }
}

fn evaluate_outputs(ev: &mut Evaluator<'_>, evaluated: &mut Evaluated) {
    ev.place = Place::Output;
    let template = ev.template;
    for decl in &template.outputs {
        if let Some(condition) = &decl.condition {
            let holds = match condition.as_str() {
                Some(name) => ev.condition(name, condition).unwrap_or(false),
                None => false,
            };
            if !holds {
                continue;
            }
        }
        let Some(value_node) = &decl.value else {
            continue;
        };
        ev.touched_no_echo = false;
        let Ok(Some(mut value)) = ev.eval(value_node) else {
            continue;
        };
        let masked = ev.touched_no_echo;
        let export_name = match &decl.export_name {
            Some(n) => ev.text(n, "the export name").ok(),
            None => None,
        };
        if let (Some(name), Some(node)) = (&export_name, &decl.export_name) {
            if evaluated.exports.iter().any(|(n, _)| n == name) {
                ev.problems.push(Problem::new(
                    node.at,
                    &node.path,
                    DiagnosticKind::Duplicate,
                    format!("export name \"{name}\" is used twice"),
                    "export names are unique in a region",
                ));
            }
            match value.scalar_text() {
                Some(text) => evaluated.exports.push((name.clone(), text)),
                None => ev.problems.push(Problem::new(
                    value_node.at,
                    &value_node.path,
                    DiagnosticKind::Schema,
                    format!(
                        "an exported value must be a string, not {}",
                        value.kind_name()
                    ),
                    "join a list with Fn::Join",
                )),
            }
        }
        if masked {
            value.value = Value::String(MASK.to_owned());
        }
        let description = decl
            .description
            .as_ref()
            .and_then(|d| ev.text(d, "the description").ok());
        evaluated.outputs.push(Output {
            name: decl.name.clone(),
            value,
            masked,
            description,
            export_name,
        });
    }
}
