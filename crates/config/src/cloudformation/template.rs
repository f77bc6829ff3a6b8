//! The sections of a template, read into declarations ("Template anatomy",
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-anatomy.html).
//! Nothing is evaluated here; shapes are checked and every problem is collected.

use crate::error::DiagnosticKind;
use crate::position::join_key;

use super::Problem;
use super::node::{Node, Value, nearest};
use super::params::Parameter;

/// The top-level sections a template may have.
pub const SECTIONS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Resources",
    "Outputs",
    "Hooks",
    "Globals",
];

/// The keys a resource declaration may have besides `Type` ("Resources template section",
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resources-section-structure.html,
/// and "Resource attribute reference",
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-product-attribute-reference.html).
pub const RESOURCE_KEYS: &[&str] = &[
    "Type",
    "Properties",
    "DependsOn",
    "Condition",
    "Metadata",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "UpdatePolicy",
    "CreationPolicy",
    "Version",
];

/// The transform that marks a SAM template.
pub const SERVERLESS_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// A template, read but not evaluated.
#[derive(Debug, Clone)]
pub struct Template {
    /// `AWSTemplateFormatVersion`, when given.
    pub format_version: Option<String>,
    /// `Description`, when given.
    pub description: Option<String>,
    /// `Transform`, as a list (SAM's `AWS::Serverless-2016-10-31` among them for a SAM template).
    pub transforms: Vec<String>,
    /// `Parameters`, in template order.
    pub parameters: Vec<Parameter>,
    /// `Mappings`: map name → top-level keys → second-level keys → value.
    pub mappings: Vec<(String, Node)>,
    /// `Conditions`: name → condition expression.
    pub conditions: Vec<(String, Node)>,
    /// `Rules`, in template order.
    pub rules: Vec<Rule>,
    /// `Resources`, in template order.
    pub resources: Vec<ResourceDecl>,
    /// `Outputs`, in template order.
    pub outputs: Vec<OutputDecl>,
}

impl Template {
    /// Whether the template declares SAM's transform.
    pub fn is_serverless(&self) -> bool {
        self.transforms.iter().any(|t| t == SERVERLESS_TRANSFORM)
    }
}

/// A rule of the `Rules` section ("Rules template section",
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html).
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name.
    pub name: String,
    /// The rule's node (for locating problems).
    pub node: Node,
    /// `RuleCondition`: the assertions apply only when it holds.
    pub condition: Option<Node>,
    /// `Assertions`.
    pub assertions: Vec<Assertion>,
}

/// One `Assert` of a rule with its `AssertDescription`.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The expression that must be true.
    pub assert: Node,
    /// What the user is told when it is false.
    pub description: Option<String>,
}

/// A resource as declared.
#[derive(Debug, Clone)]
pub struct ResourceDecl {
    /// The logical id (the key under `Resources`).
    pub logical_id: String,
    /// The whole declaration (for locating problems).
    pub node: Node,
    /// `Type`.
    pub type_name: String,
    /// `Condition`, when given.
    pub condition: Option<Node>,
    /// `DependsOn`, as a list of logical-id nodes.
    pub depends_on: Vec<Node>,
    /// `Properties`, when given.
    pub properties: Option<Node>,
}

/// An output as declared ("Outputs template section",
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/outputs-section-structure.html).
#[derive(Debug, Clone)]
pub struct OutputDecl {
    /// The output's logical id.
    pub name: String,
    /// The whole declaration.
    pub node: Node,
    /// `Value`.
    pub value: Option<Node>,
    /// `Description`.
    pub description: Option<Node>,
    /// `Condition`.
    pub condition: Option<Node>,
    /// `Export.Name`.
    pub export_name: Option<Node>,
}

/// Reads the sections of `root`, collecting every problem.
pub(crate) fn read(root: &Node, problems: &mut Vec<Problem>) -> Template {
    let mut template = Template {
        format_version: None,
        description: None,
        transforms: Vec::new(),
        parameters: Vec::new(),
        mappings: Vec::new(),
        conditions: Vec::new(),
        rules: Vec::new(),
        resources: Vec::new(),
        outputs: Vec::new(),
    };
    let Some(sections) = root.as_map() else {
        problems.push(Problem::schema(
            root,
            format!(
                "a template is a mapping of sections, not {}",
                root.kind_name()
            ),
            "start with `Resources:`",
        ));
        return template;
    };
    for (key, node) in sections {
        match key.as_str() {
            "AWSTemplateFormatVersion" => {
                template.format_version = node.scalar_text();
                if template.format_version.as_deref() != Some("2010-09-09") {
                    problems.push(Problem::new(
                        node.at,
                        &node.path,
                        DiagnosticKind::InvalidValue,
                        "the only template format version is \"2010-09-09\"".to_owned(),
                        "write `AWSTemplateFormatVersion: \"2010-09-09\"` or leave it out"
                            .to_owned(),
                    ));
                }
            }
            "Description" => template.description = node.scalar_text(),
            "Metadata" | "Hooks" => {}
            // SAM's section; the translation reads it from the source if it needs it.
            "Globals" => {}
            "Transform" => template.transforms = read_transforms(node, problems),
            "Parameters" => {
                for (name, decl) in entries(node, problems) {
                    if let Some(p) = Parameter::read(name, decl, problems) {
                        template.parameters.push(p);
                    }
                }
            }
            "Mappings" => template.mappings = read_mappings(node, problems),
            "Conditions" => {
                template.conditions = entries(node, problems).to_vec();
            }
            "Rules" => {
                for (name, decl) in entries(node, problems) {
                    template.rules.push(read_rule(name, decl, problems));
                }
            }
            "Resources" => {
                for (id, decl) in entries(node, problems) {
                    if let Some(r) = read_resource(id, decl, problems) {
                        template.resources.push(r);
                    }
                }
            }
            "Outputs" => {
                for (name, decl) in entries(node, problems) {
                    template.outputs.push(read_output(name, decl, problems));
                }
            }
            other => {
                let at = node.at;
                problems.push(Problem::new(
                    at,
                    other,
                    DiagnosticKind::Schema,
                    format!("`{other}` is not a template section"),
                    unknown_hint(other, SECTIONS),
                ));
            }
        }
    }
    if !sections.iter().any(|(k, _)| k == "Resources") {
        problems.push(Problem::schema(
            root,
            "the template has no `Resources` section".to_owned(),
            "a template declares at least one resource",
        ));
    }
    if let Some((_, globals)) = sections.iter().find(|(k, _)| k == "Globals")
        && !template.is_serverless()
    {
        problems.push(Problem::schema(
            globals,
            "`Globals` is a SAM section, but the template has no SAM transform",
            format!("add `Transform: {SERVERLESS_TRANSFORM}`"),
        ));
    }
    if let Some((_, globals)) = sections.iter().find(|(k, _)| k == "Globals")
        && template.is_serverless()
    {
        apply_globals(&mut template, globals);
    }
    check_names(&template, problems);
    template
}

/// SAM's `Globals` section, for the SAM types airlock translates: `Globals.HttpApi` is merged
/// into every `AWS::Serverless::HttpApi` as SAM's transform merges it ("Globals section of the
/// AWS SAM template", https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-specification-template-anatomy-globals.html,
/// "Overridable properties"): a scalar set on the resource wins, maps are merged key by key,
/// lists are added to (the global items first).
fn apply_globals(template: &mut Template, globals: &Node) {
    let Some(http_api) = globals.get("HttpApi") else {
        return;
    };
    for r in &mut template.resources {
        if r.type_name != "AWS::Serverless::HttpApi" {
            continue;
        }
        r.properties = Some(match r.properties.take() {
            Some(own) => merge_global(http_api, own),
            None => {
                let mut merged = http_api.clone();
                merged.path = join_key(&r.node.path, "Properties");
                merged
            }
        });
    }
}

/// `own` with `global` merged in (SAM's rules, see [`apply_globals`]).
fn merge_global(global: &Node, own: Node) -> Node {
    // A function call (`!If`, `!Ref`, …) is a value, not a map to merge into.
    if own.as_function().is_some() || global.as_function().is_some() {
        return own;
    }
    match (&global.value, own.value) {
        (Value::Map(g), Value::Map(mut o)) => {
            for (key, gv) in g {
                match o.iter().position(|(k, _)| k == key) {
                    Some(i) => {
                        let ov = o[i].1.clone();
                        o[i].1 = merge_global(gv, ov);
                    }
                    None => o.push((key.clone(), gv.clone())),
                }
            }
            Node::new(Value::Map(o), own.at, own.path)
        }
        (Value::List(g), Value::List(o)) => {
            let items = g.iter().cloned().chain(o).collect();
            Node::new(Value::List(items), own.at, own.path)
        }
        (_, value) => Node::new(value, own.at, own.path),
    }
}

/// `did you mean` for an unknown name, or the list of valid ones.
pub(crate) fn unknown_hint(word: &str, valid: &[&str]) -> String {
    match nearest(word, valid.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("valid names: {}", valid.join(", ")),
    }
}

/// The entries of a section that must be a mapping (a problem otherwise).
fn entries<'a>(node: &'a Node, problems: &mut Vec<Problem>) -> &'a [(String, Node)] {
    match node.as_map() {
        Some(map) => map,
        None => {
            if node.value != Value::Null {
                problems.push(Problem::schema(
                    node,
                    format!("expected a mapping, found {}", node.kind_name()),
                    "indent the entries under this key",
                ));
            }
            &[]
        }
    }
}

fn read_transforms(node: &Node, problems: &mut Vec<Problem>) -> Vec<String> {
    let items: Vec<&Node> = match &node.value {
        Value::List(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        match item.as_str() {
            Some(name) => out.push(name.to_owned()),
            // `{Name: AWS::Include, Parameters: …}` runs a macro airlock does not have.
            None => problems.push(Problem::new(
                item.at,
                &item.path,
                DiagnosticKind::Schema,
                "only named transforms are accepted here".to_owned(),
                format!("airlock accepts `Transform: {SERVERLESS_TRANSFORM}`"),
            )),
        }
    }
    out
}

fn read_mappings(node: &Node, problems: &mut Vec<Problem>) -> Vec<(String, Node)> {
    let mut out = Vec::new();
    for (name, map) in entries(node, problems) {
        for (_, second) in entries(map, problems) {
            // Each top-level key holds a mapping of second-level keys to values.
            entries(second, problems);
        }
        out.push((name.to_owned(), map.clone()));
    }
    out
}

fn read_rule(name: &str, decl: &Node, problems: &mut Vec<Problem>) -> Rule {
    let mut rule = Rule {
        name: name.to_owned(),
        node: decl.clone(),
        condition: None,
        assertions: Vec::new(),
    };
    for (key, value) in entries(decl, problems) {
        match key.as_str() {
            "RuleCondition" => rule.condition = Some(value.clone()),
            "Assertions" => match value.as_list() {
                Some(items) => {
                    for item in items {
                        match item.get("Assert") {
                            Some(assert) => rule.assertions.push(Assertion {
                                assert: assert.clone(),
                                description: item
                                    .get("AssertDescription")
                                    .and_then(Node::scalar_text),
                            }),
                            None => problems.push(Problem::schema(
                                item,
                                "an assertion has no `Assert`".to_owned(),
                                "write `- Assert: <condition>` with an optional `AssertDescription`",
                            )),
                        }
                    }
                }
                None => problems.push(Problem::schema(
                    value,
                    "`Assertions` must be a list".to_owned(),
                    "write `Assertions:` followed by `- Assert: …` items",
                )),
            },
            other => problems.push(Problem::new(
                value.at,
                &join_key(&decl.path, other),
                DiagnosticKind::Schema,
                format!("`{other}` is not part of a rule"),
                unknown_hint(other, &["RuleCondition", "Assertions"]),
            )),
        }
    }
    rule
}

fn read_resource(id: &str, decl: &Node, problems: &mut Vec<Problem>) -> Option<ResourceDecl> {
    let Some(map) = decl.as_map() else {
        problems.push(Problem::schema(
            decl,
            format!(
                "resource `{id}` must be a mapping, not {}",
                decl.kind_name()
            ),
            "give it `Type:` and `Properties:`",
        ));
        return None;
    };
    let mut resource = ResourceDecl {
        logical_id: id.to_owned(),
        node: decl.clone(),
        type_name: String::new(),
        condition: None,
        depends_on: Vec::new(),
        properties: None,
    };
    for (key, value) in map {
        match key.as_str() {
            "Type" => match value.as_str() {
                Some(t) => resource.type_name = t.to_owned(),
                None => problems.push(Problem::schema(
                    value,
                    "`Type` must be a string".to_owned(),
                    "write a type name such as `AWS::EC2::VPC`",
                )),
            },
            "Properties" => match value.value {
                Value::Map(_) => resource.properties = Some(value.clone()),
                Value::Null => {}
                _ => problems.push(Problem::schema(
                    value,
                    format!("`Properties` must be a mapping, not {}", value.kind_name()),
                    "indent the properties under `Properties:`",
                )),
            },
            "Condition" => resource.condition = Some(value.clone()),
            "DependsOn" => {
                resource.depends_on = match &value.value {
                    Value::List(items) => items.clone(),
                    _ => vec![value.clone()],
                };
            }
            known if RESOURCE_KEYS.contains(&known) => {}
            other => problems.push(Problem::new(
                value.at,
                &join_key(&decl.path, other),
                DiagnosticKind::Schema,
                format!("`{other}` is not a resource attribute"),
                unknown_hint(other, RESOURCE_KEYS),
            )),
        }
    }
    if resource.type_name.is_empty() && !map.iter().any(|(k, _)| k == "Type") {
        problems.push(Problem::schema(
            decl,
            format!("resource `{id}` has no `Type`"),
            "add a type such as `Type: AWS::EC2::VPC`",
        ));
    }
    Some(resource)
}

fn read_output(name: &str, decl: &Node, problems: &mut Vec<Problem>) -> OutputDecl {
    let mut output = OutputDecl {
        name: name.to_owned(),
        node: decl.clone(),
        value: None,
        description: None,
        condition: None,
        export_name: None,
    };
    for (key, value) in entries(decl, problems) {
        match key.as_str() {
            "Value" => output.value = Some(value.clone()),
            "Description" => output.description = Some(value.clone()),
            "Condition" => output.condition = Some(value.clone()),
            "Export" => match value.get("Name") {
                Some(n) => output.export_name = Some(n.clone()),
                None => problems.push(Problem::schema(
                    value,
                    "`Export` has no `Name`".to_owned(),
                    "write `Export: {Name: …}`",
                )),
            },
            other => problems.push(Problem::new(
                value.at,
                &join_key(&decl.path, other),
                DiagnosticKind::Schema,
                format!("`{other}` is not part of an output"),
                unknown_hint(other, &["Value", "Description", "Condition", "Export"]),
            )),
        }
    }
    if output.value.is_none() {
        problems.push(Problem::schema(
            decl,
            format!("output `{name}` has no `Value`"),
            "add `Value:`",
        ));
    }
    output
}

/// Logical ids are alphanumeric and unique across parameters and resources ("Resources template
/// section", "Logical ID").
fn check_names(template: &Template, problems: &mut Vec<Problem>) {
    let alphanumeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    for p in &template.parameters {
        if !alphanumeric(&p.name) {
            problems.push(Problem::new(
                p.node.at,
                &p.node.path,
                DiagnosticKind::InvalidValue,
                format!("parameter name `{}` is not alphanumeric", p.name),
                "use only A-Z, a-z and 0-9",
            ));
        }
    }
    for r in &template.resources {
        if !alphanumeric(&r.logical_id) {
            problems.push(Problem::new(
                r.node.at,
                &r.node.path,
                DiagnosticKind::InvalidValue,
                format!("logical id `{}` is not alphanumeric", r.logical_id),
                "use only A-Z, a-z and 0-9",
            ));
        }
        if template.parameters.iter().any(|p| p.name == r.logical_id) {
            problems.push(Problem::new(
                r.node.at,
                &r.node.path,
                DiagnosticKind::Duplicate,
                format!("`{}` names both a parameter and a resource", r.logical_id),
                "rename one of them; `Ref` could not tell them apart",
            ));
        }
    }
}
