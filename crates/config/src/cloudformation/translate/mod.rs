//! From an evaluated template to airlock's own stack: each resource that runs becomes an entry of
//! the stack file (emitted as YAML text with a comment naming its logical id, so `airlock
//! convert` prints exactly what `airlock up` runs), plumbing is listed as accepted without
//! running, and anything else is an error (or, with `ignore_unsupported`, a warning).
//!
//! ```text
//! Evaluated ──translate──▶ Doc (stack YAML + where each entry came from) ──parse──▶ Stack
//! ```
//! The stack text is parsed by the same [`crate::parse`] as a hand-written stack file, so a
//! template gets every check a stack file gets; a problem found there is reported at the
//! template resource the entry came from ([`Doc::remap`]).
//!
//! Each AWS service has its own module; each adds its entries to the [`Doc`] through a
//! [`Ctx`], which resolves references (physical ids, attributes, `integrations/<id>` paths) to
//! the airlock names of the resources they point at.

mod apigateway;
mod dns;
mod doc;
mod ec2;
mod ecs;
mod elb;
mod identity;
mod values;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_api;
#[cfg(test)]
mod tests_net;

use std::path::Path;

use crate::Stack;
use crate::error::{ConfigError, DiagnosticKind};
use crate::position::Location;

use super::evaluated::{Evaluated, Resource};
use super::node::{Node, Value};
use super::types::Support;
use super::{EvalOptions, Problem};

pub(crate) use doc::{Doc, Section, mapping};

/// What a translation needs besides the evaluated template.
#[derive(Debug, Clone, Default)]
pub struct TranslateOptions {
    /// `--image NAME=RUNNER` pairs, in the order given: `NAME` is an image (exact, without its
    /// tag, or `*` for every image) and `RUNNER` is `builtin:APP`, `command:PROGRAM ARGS…` or
    /// `image:LOCAL_IMAGE`. They become the stack's `image_map`.
    pub images: Vec<(String, String)>,
    /// Resources of unsupported types are warnings instead of errors when nothing that runs
    /// depends on them.
    pub ignore_unsupported: bool,
}

/// A template translated into a stack, with what the CLI shows about it.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The stack file's text, as `airlock convert` prints it.
    pub yaml: String,
    /// The stack, parsed from [`Conversion::yaml`] with every check a stack file gets.
    pub stack: Stack,
    /// Resources accepted without running (IAM, gateways, route tables, …).
    pub accepted: Vec<Accepted>,
    /// What the user should know but does not stop the stack (an unsupported resource ignored
    /// with `ignore_unsupported`, the EC2 launch type run as Fargate, …).
    pub warnings: Vec<String>,
    /// The template's outputs, resolved (a `NoEcho` value masked).
    pub outputs: Vec<OutputValue>,
}

/// A resource accepted without running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Its logical id.
    pub logical_id: String,
    /// Its type.
    pub type_name: String,
}

/// An output, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputValue {
    /// The output's logical id.
    pub name: String,
    /// Its value as text (a list joined with commas, as the console shows it).
    pub value: String,
    /// `Description`.
    pub description: Option<String>,
    /// `Export.Name`.
    pub export_name: Option<String>,
}

/// Reads, evaluates and translates the template at `path`.
pub fn load(
    path: &Path,
    eval: &EvalOptions,
    options: &TranslateOptions,
) -> Result<Conversion, ConfigError> {
    let evaluated = super::load(path, eval)?;
    translate(&evaluated, path, eval, options)
}

/// Translates an evaluated template. `file` names the template in errors. Every problem is
/// reported at once; nothing is returned unless the whole stack is valid.
pub fn translate(
    evaluated: &Evaluated,
    file: &Path,
    eval: &EvalOptions,
    options: &TranslateOptions,
) -> Result<Conversion, ConfigError> {
    let mut cx = Ctx::new(evaluated, file, eval, options);
    // Order matters only for names: the network first (everything lives in it), then what
    // refers to it.
    ec2::translate(&mut cx);
    identity::translate(&mut cx);
    elb::translate(&mut cx);
    ecs::translate(&mut cx);
    apigateway::translate(&mut cx);
    dns::translate(&mut cx);
    cx.classify_rest();
    cx.unapplied_transforms();
    cx.images();
    cx.finish()
}

/// The state of one translation: the template, the document being built, names given so far
/// and the problems found.
pub(crate) struct Ctx<'a> {
    /// The evaluated template.
    pub ev: &'a Evaluated,
    /// The evaluation's inputs (region, account, stack name).
    pub eval: &'a EvalOptions,
    /// The translation's options.
    pub options: &'a TranslateOptions,
    /// The stack document being built.
    pub doc: Doc,
    /// Problems found, reported together at the end.
    pub problems: Vec<Problem>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
    /// Logical id → the airlock name given to the resource, for references.
    names: Vec<(String, String)>,
    /// Logical ids that something has translated (or deliberately consumed, like a
    /// `Deployment`); the rest are classified by [`Ctx::classify_rest`].
    handled: Vec<String>,
    /// Ids no resource of the template has that stand for something airlock made: a made-up
    /// subnet for a subnet id parameter, the VPC's default security group. `(id, type the id
    /// counts as, airlock name)`; [`Ctx::reference_name`] resolves them.
    aliases: Vec<(String, &'static str, String)>,
    file: &'a Path,
}

impl<'a> Ctx<'a> {
    fn new(
        ev: &'a Evaluated,
        file: &'a Path,
        eval: &'a EvalOptions,
        options: &'a TranslateOptions,
    ) -> Ctx<'a> {
        Ctx {
            ev,
            eval,
            options,
            doc: Doc::new(&eval.region, &eval.account_id, file),
            problems: Vec::new(),
            warnings: Vec::new(),
            names: Vec::new(),
            handled: Vec::new(),
            aliases: Vec::new(),
            file,
        }
    }

    /// The resources of `type_name`, in dependency order.
    pub fn of_type(&self, type_name: &'static str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.ev
            .resources
            .iter()
            .filter(move |r| r.type_name == type_name)
    }

    /// Marks `r` as translated and records the airlock name other entries use for it.
    pub fn name(&mut self, r: &Resource, name: impl Into<String>) {
        self.names.push((r.logical_id.clone(), name.into()));
        self.handled(r);
    }

    /// Marks `r` as dealt with (translated, or folded into another entry) without a name.
    pub fn handled(&mut self, r: &Resource) {
        self.handled.push(r.logical_id.clone());
    }

    /// The airlock name given to the resource with logical id `logical_id`.
    pub fn name_of(&self, logical_id: &str) -> Option<&str> {
        self.names
            .iter()
            .find_map(|(l, n)| (l == logical_id).then_some(n.as_str()))
    }

    /// The resource `node` refers to (its physical id, one of its attributes, or a path ending
    /// in its id), which must be of one of `types`; a problem at `node` otherwise.
    pub fn reference(&mut self, node: &Node, types: &[&str]) -> Option<&'a Resource> {
        let ev = self.ev;
        let Some(text) = node.scalar_text() else {
            self.problems.push(Problem::schema(
                node,
                format!("expected a reference, found {}", node.kind_name()),
                format!("refer to a {} with !Ref or !GetAtt", types.join(" or ")),
            ));
            return None;
        };
        match ev.resolve_reference(&text) {
            Some((r, _)) if types.contains(&r.type_name.as_str()) => Some(r),
            Some((r, _)) => {
                self.problems.push(Problem::new(
                    node.at,
                    &node.path,
                    DiagnosticKind::UnknownReference,
                    format!(
                        "{text:?} refers to {} ({}), not to a {}",
                        r.logical_id,
                        r.type_name,
                        types.join(" or ")
                    ),
                    format!("refer to a {} of this template", types.join(" or ")),
                ));
                None
            }
            None => {
                self.problems.push(Problem::new(
                    node.at,
                    &node.path,
                    DiagnosticKind::UnknownReference,
                    format!("{text:?} is not the id of a resource of this template"),
                    format!(
                        "refer to a {} of this template with !Ref or !GetAtt; airlock runs only \
                         what the template creates",
                        types.join(" or ")
                    ),
                ));
                None
            }
        }
    }

    /// Makes `id` (an id no resource of the template has) refer to the airlock entry `name`,
    /// counted as a resource of `type_name` by [`Ctx::reference_name`].
    pub fn alias(
        &mut self,
        id: impl Into<String>,
        type_name: &'static str,
        name: impl Into<String>,
    ) {
        self.aliases.push((id.into(), type_name, name.into()));
    }

    /// The airlock name of the resource `node` refers to (see [`Ctx::reference`]), or of what an
    /// [alias](Ctx::alias) stands for.
    pub fn reference_name(&mut self, node: &Node, types: &[&str]) -> Option<String> {
        if let Some(text) = node.scalar_text()
            && let Some((_, _, name)) = self
                .aliases
                .iter()
                .find(|(id, t, _)| *id == text && types.contains(t))
        {
            return Some(name.clone());
        }
        let r = self.reference(node, types)?;
        match self.name_of(&r.logical_id) {
            Some(n) => Some(n.to_owned()),
            None => {
                self.problems.push(Problem::new(
                    node.at,
                    &node.path,
                    DiagnosticKind::UnknownReference,
                    format!(
                        "{} ({}) is not something airlock runs",
                        r.logical_id, r.type_name
                    ),
                    "refer to a resource airlock translates (docs/cloudformation.md lists them)",
                ));
                None
            }
        }
    }

    /// A problem at `node`.
    pub fn problem(
        &mut self,
        node: &Node,
        kind: DiagnosticKind,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.problems
            .push(Problem::new(node.at, &node.path, kind, message, hint));
    }

    /// A problem at the resource `r` itself (for a missing property, say).
    pub fn problem_at(
        &mut self,
        r: &Resource,
        kind: DiagnosticKind,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.problems
            .push(Problem::new(r.at, &r.path, kind, message, hint));
    }

    /// Plumbing is accepted; unsupported types are errors (or warnings); a mapped resource that
    /// no module translated is a bug in this module, reported as such rather than dropped.
    /// A macro other than SAM's is recorded, not run: the template is run as written, which is
    /// right only when it does not rely on what the macro would have changed, so say so.
    fn unapplied_transforms(&mut self) {
        for t in &self.ev.transforms {
            if t != super::SERVERLESS_TRANSFORM {
                self.warnings.push(format!(
                    "Transform {t} is not applied: airlock runs the template as written \
                     (a function only the transform provides is an error)"
                ));
            }
        }
    }

    fn classify_rest(&mut self) {
        for r in &self.ev.resources {
            if self.handled.contains(&r.logical_id) {
                continue;
            }
            match r.support {
                Support::Plumbing => self.doc.accepted.push(Accepted {
                    logical_id: r.logical_id.clone(),
                    type_name: r.type_name.clone(),
                }),
                Support::Mapped(_) => {
                    // A module leaves a mapped resource only when it reported why; anything
                    // else would be a resource silently dropped, which must never pass.
                    let reported = self
                        .problems
                        .iter()
                        .any(|p| p.path == r.path || p.path.starts_with(&format!("{}.", r.path)));
                    if !reported {
                        self.problems.push(Problem::new(
                            r.at,
                            &r.path,
                            DiagnosticKind::Schema,
                            format!(
                                "airlock did not translate {} ({})",
                                r.logical_id, r.type_name
                            ),
                            "this is a gap in airlock's translation; docs/cloudformation.md lists \
                             what each type supports",
                        ));
                    }
                }
                Support::Serverless | Support::Unsupported => {
                    let dependents: Vec<&str> = self
                        .ev
                        .resources
                        .iter()
                        .filter(|d| {
                            self.handled.contains(&d.logical_id)
                                && d.dependencies.contains(&r.logical_id)
                        })
                        .map(|d| d.logical_id.as_str())
                        .collect();
                    if self.options.ignore_unsupported && dependents.is_empty() {
                        self.warnings.push(format!(
                            "{} ({}) is not run: airlock does not run this type",
                            r.logical_id, r.type_name
                        ));
                    } else if self.options.ignore_unsupported {
                        self.problems.push(Problem::new(
                            r.at,
                            &r.path,
                            DiagnosticKind::Schema,
                            format!(
                                "airlock cannot run {} ({}), and {} depend{} on it",
                                r.logical_id,
                                r.type_name,
                                dependents.join(", "),
                                if dependents.len() == 1 { "s" } else { "" }
                            ),
                            "--ignore-unsupported skips a resource only when nothing that runs \
                             depends on it; remove the dependency or the resource",
                        ));
                    } else {
                        self.problems.push(Problem::new(
                            r.at,
                            &r.path,
                            DiagnosticKind::Schema,
                            format!("airlock cannot run {} ({})", r.logical_id, r.type_name),
                            "docs/cloudformation.md lists the types airlock runs and those it \
                             accepts without running; --ignore-unsupported skips this resource \
                             when nothing that runs depends on it",
                        ));
                    }
                }
            }
        }
    }

    /// `--image` pairs become the stack's `image_map`, in the order given.
    fn images(&mut self) {
        for (name, runner) in &self.options.images {
            match crate::ecs::taskdef::image_runner(runner) {
                Ok(target) => self.doc.image_map.push((name.clone(), target)),
                Err(e) => self.problems.push(Problem::new(
                    Location::START,
                    "--image",
                    DiagnosticKind::InvalidValue,
                    format!("--image {name}={runner}: {e}"),
                    "write NAME=builtin:APP, NAME=command:PROGRAM ARGS… or NAME=image:LOCAL_IMAGE",
                )),
            }
        }
    }

    fn finish(mut self) -> Result<Conversion, ConfigError> {
        if !self.problems.is_empty() {
            return Err(super::problems_error(
                std::mem::take(&mut self.problems),
                self.file,
            ));
        }
        let outputs = outputs(self.ev);
        let (yaml, stack) = self.doc.render_and_parse()?;
        Ok(Conversion {
            yaml,
            stack,
            accepted: self.doc.accepted,
            warnings: self.warnings,
            outputs,
        })
    }
}

/// The outputs as text.
fn outputs(ev: &Evaluated) -> Vec<OutputValue> {
    ev.outputs
        .iter()
        .map(|o| OutputValue {
            name: o.name.clone(),
            value: match &o.value.value {
                Value::List(items) => items
                    .iter()
                    .filter_map(Node::scalar_text)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => o.value.scalar_text().unwrap_or_default(),
            },
            description: o.description.clone(),
            export_name: o.export_name.clone(),
        })
        .collect()
}

/// Where a stack entry came from in the template.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The resource's logical id.
    pub logical_id: String,
    /// Its type.
    pub type_name: String,
    /// Where it is declared.
    pub at: Location,
}

impl Origin {
    /// The origin of an entry made from `r`.
    pub fn of(r: &Resource) -> Origin {
        Origin {
            logical_id: r.logical_id.clone(),
            type_name: r.type_name.clone(),
            at: r.at,
        }
    }

    /// The origin of an entry airlock makes up (no template resource), described by `what`.
    pub fn made_up(what: impl Into<String>) -> Origin {
        Origin {
            logical_id: String::new(),
            type_name: what.into(),
            at: Location::START,
        }
    }
}
