//! Parameters: declarations, the values given for them, and their constraints ("Parameters
//! template section",
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html,
//! and "Supported AWS-specific parameter types",
//! https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-supplied-parameter-types.html).

use crate::error::DiagnosticKind;
use crate::position::join_key;

use super::Problem;
use super::ids::Ids;
use super::node::{Node, Value};
use super::template::unknown_hint;

/// The keys a parameter declaration may have.
pub const PARAMETER_KEYS: &[&str] = &[
    "Type",
    "Default",
    "Description",
    "NoEcho",
    "AllowedValues",
    "AllowedPattern",
    "MinLength",
    "MaxLength",
    "MinValue",
    "MaxValue",
    "ConstraintDescription",
];

/// What CloudFormation shows in place of a `NoEcho` parameter's value ("Parameters template
/// section", "NoEcho").
pub const MASK: &str = "****";

/// A parameter's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterType {
    /// `String`.
    String,
    /// `Number`: given as text, checked to be a number.
    Number,
    /// `List<Number>`.
    NumberList,
    /// `CommaDelimitedList`.
    CommaDelimitedList,
    /// An AWS-specific type such as `AWS::EC2::VPC::Id` (one value).
    Aws(String),
    /// A list of an AWS-specific type, such as `List<AWS::EC2::Subnet::Id>`.
    AwsList(String),
    /// `AWS::SSM::Parameter::Value<…>` and `AWS::SSM::Parameter::Name`: airlock has no Parameter
    /// Store, so the value given (or the default) is taken as the parameter's value.
    Ssm(String),
}

impl ParameterType {
    fn parse(name: &str) -> Option<ParameterType> {
        Some(match name {
            "String" => ParameterType::String,
            "Number" => ParameterType::Number,
            "List<Number>" => ParameterType::NumberList,
            "CommaDelimitedList" => ParameterType::CommaDelimitedList,
            s if s.starts_with("AWS::SSM::Parameter::") => ParameterType::Ssm(s.to_owned()),
            s if s.starts_with("List<AWS::") && s.ends_with('>') => {
                let inner = &s["List<".len()..s.len() - 1];
                aws_id_prefix(inner)?;
                ParameterType::AwsList(inner.to_owned())
            }
            s if s.starts_with("AWS::") => {
                aws_id_prefix(s)?;
                ParameterType::Aws(s.to_owned())
            }
            _ => return None,
        })
    }

    /// Whether a value of this type is a list.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            ParameterType::NumberList
                | ParameterType::CommaDelimitedList
                | ParameterType::AwsList(_)
        ) || matches!(self, ParameterType::Ssm(t)
            if t.contains("<List<") || t.contains("<CommaDelimitedList>"))
    }
}

/// The AWS-specific parameter types airlock knows, with the prefix their ids carry (empty for
/// names with no fixed shape). From "Supported AWS-specific parameter types".
const AWS_TYPES: &[(&str, &str)] = &[
    ("AWS::EC2::AvailabilityZone::Name", ""),
    ("AWS::EC2::Image::Id", "ami-"),
    ("AWS::EC2::Instance::Id", "i-"),
    ("AWS::EC2::KeyPair::KeyName", ""),
    ("AWS::EC2::SecurityGroup::GroupName", ""),
    ("AWS::EC2::SecurityGroup::Id", "sg-"),
    ("AWS::EC2::Subnet::Id", "subnet-"),
    ("AWS::EC2::Volume::Id", "vol-"),
    ("AWS::EC2::VPC::Id", "vpc-"),
    ("AWS::Route53::HostedZone::Id", "Z"),
];

fn aws_id_prefix(type_name: &str) -> Option<&'static str> {
    AWS_TYPES
        .iter()
        .find_map(|(t, prefix)| (*t == type_name).then_some(*prefix))
}

/// A declared parameter.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// The parameter's logical id.
    pub name: String,
    /// The declaration (for locating problems).
    pub node: Node,
    /// Its type.
    pub kind: ParameterType,
    /// `Default`, as text.
    pub default: Option<String>,
    /// `NoEcho`: the value is shown as [`MASK`].
    pub no_echo: bool,
    /// `AllowedValues`.
    pub allowed_values: Vec<String>,
    /// `AllowedPattern` (the whole value must match).
    pub allowed_pattern: Option<String>,
    /// `MinLength`.
    pub min_length: Option<u64>,
    /// `MaxLength`.
    pub max_length: Option<u64>,
    /// `MinValue`.
    pub min_value: Option<f64>,
    /// `MaxValue`.
    pub max_value: Option<f64>,
    /// `ConstraintDescription`, shown when a constraint is broken.
    pub constraint_description: Option<String>,
}

impl Parameter {
    pub(crate) fn read(name: &str, decl: &Node, problems: &mut Vec<Problem>) -> Option<Parameter> {
        let Some(map) = decl.as_map() else {
            problems.push(Problem::schema(
                decl,
                format!("parameter `{name}` must be a mapping"),
                "give it at least `Type: String`",
            ));
            return None;
        };
        let mut p = Parameter {
            name: name.to_owned(),
            node: decl.clone(),
            kind: ParameterType::String,
            default: None,
            no_echo: false,
            allowed_values: Vec::new(),
            allowed_pattern: None,
            min_length: None,
            max_length: None,
            min_value: None,
            max_value: None,
            constraint_description: None,
        };
        let mut typed = false;
        for (key, value) in map {
            let text = value.scalar_text();
            let number = |problems: &mut Vec<Problem>| -> Option<f64> {
                let n = text.as_deref().and_then(|t| t.trim().parse::<f64>().ok());
                if n.is_none() {
                    problems.push(Problem::new(
                        value.at,
                        &value.path,
                        DiagnosticKind::InvalidValue,
                        format!("`{key}` must be a number"),
                        "write a number",
                    ));
                }
                n
            };
            match key.as_str() {
                "Type" => {
                    typed = true;
                    match text.as_deref().and_then(ParameterType::parse) {
                        Some(kind) => p.kind = kind,
                        None => problems.push(Problem::new(
                            value.at,
                            &value.path,
                            DiagnosticKind::InvalidValue,
                            format!(
                                "`{}` is not a parameter type airlock knows",
                                text.unwrap_or_default()
                            ),
                            "use String, Number, List<Number>, CommaDelimitedList, an \
                             AWS-specific type (AWS::EC2::VPC::Id, List<AWS::EC2::Subnet::Id>, …) \
                             or AWS::SSM::Parameter::Value<…>",
                        )),
                    }
                }
                "Default" => p.default = text.or_else(|| list_text(value)),
                "NoEcho" => {
                    p.no_echo = matches!(&value.value, Value::Bool(true))
                        || text.is_some_and(|t| t.eq_ignore_ascii_case("true"))
                }
                "AllowedValues" => match value.as_list() {
                    Some(items) => {
                        p.allowed_values = items.iter().filter_map(Node::scalar_text).collect()
                    }
                    None => problems.push(Problem::schema(
                        value,
                        "`AllowedValues` must be a list".to_owned(),
                        "write `AllowedValues: [a, b]`",
                    )),
                },
                "AllowedPattern" => p.allowed_pattern = text,
                "MinLength" => p.min_length = number(problems).map(|n| n as u64),
                "MaxLength" => p.max_length = number(problems).map(|n| n as u64),
                "MinValue" => p.min_value = number(problems),
                "MaxValue" => p.max_value = number(problems),
                "ConstraintDescription" => p.constraint_description = text,
                "Description" => {}
                other => problems.push(Problem::new(
                    value.at,
                    &join_key(&decl.path, other),
                    DiagnosticKind::Schema,
                    format!("`{other}` is not part of a parameter declaration"),
                    unknown_hint(other, PARAMETER_KEYS),
                )),
            }
        }
        if !typed {
            problems.push(Problem::schema(
                decl,
                format!("parameter `{name}` has no `Type`"),
                "add `Type: String` (or another parameter type)",
            ));
        }
        if let Some(pattern) = &p.allowed_pattern
            && let Err(e) = regex::Regex::new(pattern)
        {
            problems.push(Problem::new(
                decl.at,
                &join_key(&decl.path, "AllowedPattern"),
                DiagnosticKind::InvalidValue,
                format!("`AllowedPattern` is not a regular expression: {e}"),
                "fix the pattern",
            ));
        }
        Some(p)
    }

    /// The value for this parameter: the one given, else the default, else (for an
    /// AWS-specific id type when `made_up` is set) a made-up id. `Err` with a problem when there
    /// is none or when it breaks a constraint; every broken constraint is reported.
    pub(crate) fn resolve(
        &self,
        given: Option<&str>,
        made_up: Option<&Ids>,
        problems: &mut Vec<Problem>,
    ) -> Option<Node> {
        let at = self.node.at;
        let path = &self.node.path;
        let text = match (given, &self.default) {
            (Some(v), _) => v.to_owned(),
            (None, Some(d)) => d.clone(),
            (None, None) => match (made_up, &self.kind) {
                (Some(ids), ParameterType::Aws(t)) => ids.parameter_id(&self.name, t, 0),
                (Some(ids), ParameterType::AwsList(t)) => (0..2)
                    .map(|i| ids.parameter_id(&self.name, t, i))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => {
                    problems.push(Problem::new(
                        at,
                        path,
                        DiagnosticKind::InvalidValue,
                        format!("parameter `{}` has no value and no default", self.name),
                        format!(
                            "pass `--parameter {}=VALUE` or give it a `Default`",
                            self.name
                        ),
                    ));
                    return None;
                }
            },
        };
        let before = problems.len();
        let items: Vec<&str> = if self.kind.is_list() {
            if text.is_empty() {
                Vec::new()
            } else {
                text.split(',').map(str::trim).collect()
            }
        } else {
            vec![text.as_str()]
        };
        let shown = |v: &str| {
            if self.no_echo {
                MASK.to_owned()
            } else {
                format!("\"{v}\"")
            }
        };
        let mut broken = |message: String, fallback: &str| {
            let hint = self
                .constraint_description
                .clone()
                .unwrap_or_else(|| fallback.to_owned());
            problems.push(Problem::new(
                at,
                path,
                DiagnosticKind::InvalidValue,
                message,
                hint,
            ));
        };
        for item in &items {
            if !self.allowed_values.is_empty() && !self.allowed_values.iter().any(|a| a == item) {
                broken(
                    format!(
                        "parameter `{}`: {} is not one of its AllowedValues",
                        self.name,
                        shown(item)
                    ),
                    &format!("use one of: {}", self.allowed_values.join(", ")),
                );
            }
            if let Some(pattern) = &self.allowed_pattern
                && let Ok(re) = regex::Regex::new(&format!("^(?:{pattern})$"))
                && !re.is_match(item)
            {
                broken(
                    format!(
                        "parameter `{}`: {} does not match its AllowedPattern",
                        self.name,
                        shown(item)
                    ),
                    &format!("the whole value must match `{pattern}`"),
                );
            }
            let numeric = matches!(self.kind, ParameterType::Number | ParameterType::NumberList);
            let number = item.parse::<f64>().ok();
            if numeric && number.is_none() {
                broken(
                    format!("parameter `{}`: {} is not a number", self.name, shown(item)),
                    "give a number",
                );
            }
            if let Some(n) = number.filter(|_| numeric)
                && (self.min_value.is_some_and(|min| n < min)
                    || self.max_value.is_some_and(|max| n > max))
            {
                broken(
                    format!(
                        "parameter `{}`: {} is outside its MinValue/MaxValue",
                        self.name,
                        shown(item)
                    ),
                    &format!(
                        "give a number from {} to {}",
                        bound(self.min_value),
                        bound(self.max_value)
                    ),
                );
            }
            if let ParameterType::Aws(t) | ParameterType::AwsList(t) = &self.kind
                && let Some(prefix) = aws_id_prefix(t)
                && !item.starts_with(prefix)
            {
                broken(
                    format!(
                        "parameter `{}`: {} is not a {t} (it would start with `{prefix}`)",
                        self.name,
                        shown(item)
                    ),
                    "give an id of that type",
                );
            }
        }
        if self.kind == ParameterType::String {
            let length = text.chars().count() as u64;
            if self.min_length.is_some_and(|m| length < m)
                || self.max_length.is_some_and(|m| length > m)
            {
                broken(
                    format!(
                        "parameter `{}`: {} is {length} characters long, outside its MinLength/MaxLength",
                        self.name,
                        shown(&text)
                    ),
                    &format!(
                        "give from {} to {} characters",
                        self.min_length.map_or("0".to_owned(), |m| m.to_string()),
                        self.max_length
                            .map_or("any number of".to_owned(), |m| m.to_string())
                    ),
                );
            }
        }
        if problems.len() > before {
            return None;
        }
        let value = if self.kind.is_list() {
            Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        Node::new(Value::String((*s).to_owned()), at, format!("{path}[{i}]"))
                    })
                    .collect(),
            )
        } else {
            Value::String(text)
        };
        Some(Node::new(value, at, path.clone()))
    }
}

fn bound(b: Option<f64>) -> String {
    b.map_or("any".to_owned(), |n| n.to_string())
}

/// A YAML list written as a default for a list parameter, as the comma-joined text
/// CloudFormation expects.
fn list_text(node: &Node) -> Option<String> {
    let items = node.as_list()?;
    let texts: Option<Vec<String>> = items.iter().map(Node::scalar_text).collect();
    texts.map(|t| t.join(","))
}

/// Why a list of parameter values or imports could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OverrideError(pub String);

/// `KEY=VALUE` (the value may itself contain `=`; whitespace around the key is trimmed), as
/// `--parameter-overrides` and `--parameter` take them.
pub fn parse_key_value(pair: &str) -> Result<(String, String), OverrideError> {
    match pair.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(OverrideError(format!(
            "`{pair}` is not KEY=VALUE (hint: write e.g. `VpcCidr=10.0.0.0/16`)"
        ))),
    }
}

/// A parameters file: either the AWS CLI's JSON (`[{"ParameterKey": "K", "ParameterValue":
/// "V"}, …]`, as `aws cloudformation create-stack --parameters file://…` takes it; entries with
/// `"UsePreviousValue": true` and no value are refused, there being no previous stack), or one
/// `KEY=VALUE` per line (blank lines and lines starting with `#` skipped).
pub fn parse_parameters_file(text: &str) -> Result<Vec<(String, String)>, OverrideError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return parse_cli_json(trimmed);
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(parse_key_value)
        .collect()
}

fn parse_cli_json(text: &str) -> Result<Vec<(String, String)>, OverrideError> {
    let parsed: yaml_serde::Value = yaml_serde::from_str(text)
        .map_err(|e| OverrideError(format!("the parameters file is not valid JSON: {e}")))?;
    let yaml_serde::Value::Sequence(items) = parsed else {
        return Err(OverrideError(
            "the parameters file must be a JSON list".to_owned(),
        ));
    };
    let text_of = |v: Option<&yaml_serde::Value>| match v {
        Some(yaml_serde::Value::String(s)) => Some(s.clone()),
        Some(yaml_serde::Value::Number(n)) => Some(n.to_string()),
        Some(yaml_serde::Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let key = text_of(item.get("ParameterKey"));
            let value = text_of(item.get("ParameterValue"));
            match (key, value) {
                (Some(k), Some(v)) => Ok((k, v)),
                (Some(k), None) => Err(OverrideError(format!(
                    "entry {i} (`{k}`) has no ParameterValue (hint: there is no previous stack, so \
                     UsePreviousValue cannot be used; give the value)"
                ))),
                _ => Err(OverrideError(format!(
                    "entry {i} has no ParameterKey (hint: each entry is \
                     {{\"ParameterKey\": \"K\", \"ParameterValue\": \"V\"}})"
                ))),
            }
        })
        .collect()
}
