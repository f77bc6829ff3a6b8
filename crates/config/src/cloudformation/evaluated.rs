//! What an evaluation produces: the resources that exist, in dependency order, with their
//! resolved properties, physical ids and attributes; outputs and exports.

use crate::position::Location;

use super::node::{Node, Value};
use super::params::MASK;
use super::types::Support;

/// A template after evaluation: everything resolved, ready for translation.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// `Transform`, as declared (SAM's among them for a SAM template).
    pub transforms: Vec<String>,
    /// Each parameter's value, in template order.
    pub parameters: Vec<ParameterValue>,
    /// Each condition's value, in template order.
    pub conditions: Vec<(String, bool)>,
    /// The resources that exist, in dependency order: each after everything it refers to.
    pub resources: Vec<Resource>,
    /// The resources whose condition is false, which do not exist.
    pub absent: Vec<AbsentResource>,
    /// The outputs whose condition holds, in template order.
    pub outputs: Vec<Output>,
    /// Export name → value, from the outputs' `Export`.
    pub exports: Vec<(String, String)>,
    /// Resources of types airlock does not know. With
    /// [`allow_unsupported`](super::EvalOptions::allow_unsupported) they are also in
    /// `resources`; without it each is an error.
    pub unsupported: Vec<AbsentResource>,
}

/// A parameter's value.
#[derive(Debug, Clone)]
pub struct ParameterValue {
    /// The parameter's name.
    pub name: String,
    /// Its value: a string, or a list of strings for list types.
    pub value: Node,
    /// Whether it is `NoEcho`.
    pub no_echo: bool,
    /// For an AWS-specific id parameter, the id's type (`AWS::EC2::Subnet::Id`, also for
    /// `List<AWS::EC2::Subnet::Id>`): the translation maps such ids, which no resource of the
    /// template has, onto resources airlock makes up.
    pub aws_type: Option<String>,
}

impl ParameterValue {
    /// The value as it may be shown: [`MASK`] for a `NoEcho` parameter.
    pub fn shown(&self) -> String {
        if self.no_echo {
            return MASK.to_owned();
        }
        match &self.value.value {
            Value::List(items) => items
                .iter()
                .filter_map(Node::scalar_text)
                .collect::<Vec<_>>()
                .join(","),
            _ => self.value.scalar_text().unwrap_or_default(),
        }
    }
}

/// A resource that exists after evaluation.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The logical id.
    pub logical_id: String,
    /// `Type`.
    pub type_name: String,
    /// How airlock treats the type.
    pub support: Support,
    /// The name of its condition (which is true), if it has one.
    pub condition: Option<String>,
    /// `DependsOn`, as declared.
    pub depends_on: Vec<String>,
    /// Every resource it waits for: `DependsOn` and those its properties refer to.
    pub dependencies: Vec<String>,
    /// Its properties, fully resolved (`AWS::NoValue` removed); positions are those of the
    /// template's values.
    pub properties: Node,
    /// What `Ref` returns for it.
    pub physical_id: String,
    /// What `Fn::GetAtt` returns for it, by attribute name.
    pub attributes: Vec<(String, Value)>,
    /// Where it is declared.
    pub at: Location,
    /// `Resources.<logical id>`.
    pub path: String,
}

impl Resource {
    /// An attribute's value.
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find_map(|(k, v)| (k == name).then_some(v))
    }
}

/// A declared resource that is not created (its condition is false), or one of a type airlock
/// does not know.
#[derive(Debug, Clone)]
pub struct AbsentResource {
    /// The logical id.
    pub logical_id: String,
    /// `Type`.
    pub type_name: String,
    /// Its condition, for an absent resource.
    pub condition: Option<String>,
    /// Where it is declared.
    pub at: Location,
}

/// An output after evaluation.
#[derive(Debug, Clone)]
pub struct Output {
    /// The output's logical id.
    pub name: String,
    /// Its value; [`MASK`] when it shows a `NoEcho` parameter's value.
    pub value: Node,
    /// Whether the value was masked.
    pub masked: bool,
    /// `Description`, resolved.
    pub description: Option<String>,
    /// `Export.Name`, resolved.
    pub export_name: Option<String>,
}

impl Evaluated {
    /// A resource by logical id.
    pub fn resource(&self, logical_id: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.logical_id == logical_id)
    }

    /// The resource a string refers to, as a property that takes a reference reads it: its
    /// physical id, one of its attributes (the name of the attribute is returned too), or a
    /// path ending in its id (`integrations/abc1234`, as `Fn::Join` or `Fn::Sub` build it).
    pub fn resolve_reference(&self, text: &str) -> Option<(&Resource, Option<&str>)> {
        let exact = |s: &str| -> Option<(&Resource, Option<&str>)> {
            if let Some(r) = self.resources.iter().find(|r| r.physical_id == s) {
                return Some((r, None));
            }
            self.resources.iter().find_map(|r| {
                r.attributes.iter().find_map(|(k, v)| match v {
                    Value::String(a) if a == s => Some((r, Some(k.as_str()))),
                    _ => None,
                })
            })
        };
        if text.is_empty() {
            return None;
        }
        exact(text).or_else(|| {
            text.rsplit_once('/')
                .and_then(|(_, last)| (!last.is_empty()).then_some(last))
                .and_then(exact)
        })
    }
}
