//! The stack document a translation builds: entries per section, each with the template
//! resource it came from, rendered as a commented stack file and parsed back with the stack
//! file's own parser.

use std::path::{Path, PathBuf};

use yaml_serde::Value as Yaml;

use crate::error::{ConfigError, Diagnostic, Diagnostics};
use crate::position::Location;
use crate::{MAX_DIAGNOSTICS, Stack};

use super::{Accepted, Origin};

/// The list sections of a stack file, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// `vpc.subnets`
    Subnets,
    /// `vpc.security_groups`
    SecurityGroups,
    /// `certificates`
    Certificates,
    /// `user_pools` (airlock's stand-in for Cognito user pools as JWT issuers)
    UserPools,
    /// `hosted_zones`
    HostedZones,
    /// `http_apis`
    HttpApis,
    /// `domain_names`
    DomainNames,
    /// `vpc_links`
    VpcLinks,
    /// `load_balancers`
    LoadBalancers,
    /// `target_groups`
    TargetGroups,
    /// `clusters`
    Clusters,
    /// `task_definitions`
    TaskDefinitions,
    /// `services`
    Services,
}

impl Section {
    const ALL: [Section; 13] = [
        Section::Subnets,
        Section::SecurityGroups,
        Section::Certificates,
        Section::UserPools,
        Section::HostedZones,
        Section::HttpApis,
        Section::DomainNames,
        Section::VpcLinks,
        Section::LoadBalancers,
        Section::TargetGroups,
        Section::Clusters,
        Section::TaskDefinitions,
        Section::Services,
    ];

    /// The key in the stack file.
    fn key(self) -> &'static str {
        match self {
            Section::Subnets => "subnets",
            Section::SecurityGroups => "security_groups",
            Section::Certificates => "certificates",
            Section::UserPools => "user_pools",
            Section::HostedZones => "hosted_zones",
            Section::HttpApis => "http_apis",
            Section::DomainNames => "domain_names",
            Section::VpcLinks => "vpc_links",
            Section::LoadBalancers => "load_balancers",
            Section::TargetGroups => "target_groups",
            Section::Clusters => "clusters",
            Section::TaskDefinitions => "task_definitions",
            Section::Services => "services",
        }
    }

    /// Whether the section sits under `vpc:`.
    fn in_vpc(self) -> bool {
        matches!(self, Section::Subnets | Section::SecurityGroups)
    }
}

/// One entry of a section: a YAML mapping and where it came from.
#[derive(Debug, Clone)]
struct Entry {
    section: Section,
    origin: Origin,
    value: Yaml,
}

/// The stack document being built.
#[derive(Debug, Clone)]
pub struct Doc {
    region: String,
    account_id: String,
    file: PathBuf,
    /// The VPC's CIDR block (`vpc.cidr_block`), set by the EC2 translation.
    pub vpc_cidr: Option<String>,
    /// Where the VPC came from (`None` when airlock made it up).
    pub vpc_origin: Option<Origin>,
    /// `vantage_points`, as a mapping.
    pub vantage_points: Option<Yaml>,
    /// Comment lines (without `# `) written above `vantage_points`: why it stands where it does.
    pub vantage_notes: Vec<String>,
    /// `image_map` entries.
    pub image_map: Vec<(String, Yaml)>,
    entries: Vec<Entry>,
    /// Resources accepted without running.
    pub accepted: Vec<Accepted>,
    /// Lines of the header comment (without `# `).
    pub notes: Vec<String>,
}

/// Where each rendered entry's lines are, to report a stack check's problem at the template.
struct LineMap(Vec<(usize, usize, Origin)>);

impl Doc {
    pub(crate) fn new(region: &str, account_id: &str, file: &Path) -> Doc {
        Doc {
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            file: file.to_owned(),
            vpc_cidr: None,
            vpc_origin: None,
            vantage_points: None,
            vantage_notes: Vec::new(),
            image_map: Vec::new(),
            entries: Vec::new(),
            accepted: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds an entry to `section`, made from the resource at `origin`.
    pub(crate) fn push(&mut self, section: Section, origin: Origin, value: Yaml) {
        self.entries.push(Entry {
            section,
            origin,
            value,
        });
    }

    /// The entries of `section` so far, mutable (to add a listener to its load balancer, a
    /// route to its API, …), with their origins.
    pub(crate) fn entries_mut(
        &mut self,
        section: Section,
    ) -> impl Iterator<Item = (&Origin, &mut Yaml)> {
        self.entries
            .iter_mut()
            .filter(move |e| e.section == section)
            .map(|e| (&e.origin, &mut e.value))
    }

    /// The stack file's text and where each entry's lines are.
    fn render(&self) -> (String, LineMap) {
        let mut out = String::new();
        let mut map = Vec::new();
        out.push_str(&format!(
            "# airlock stack converted from the CloudFormation template {}.\n",
            self.file.display()
        ));
        out.push_str("# Each entry names the template resource it comes from.\n");
        for note in &self.notes {
            out.push_str(&format!("# {note}\n"));
        }
        out.push_str(&format!("region: {}\n", scalar(&self.region)));
        out.push_str(&format!("account_id: \"{}\"\n", self.account_id));
        out.push_str("\nvpc:\n");
        if let Some(o) = &self.vpc_origin {
            out.push_str(&format!("  # {}\n", describe(o)));
        } else {
            out.push_str("  # made up by airlock: the template names no VPC of its own\n");
        }
        out.push_str(&format!(
            "  cidr_block: {}\n",
            self.vpc_cidr.as_deref().unwrap_or("10.0.0.0/16")
        ));
        for section in Section::ALL {
            let entries: Vec<&Entry> = self
                .entries
                .iter()
                .filter(|e| e.section == section)
                .collect();
            if entries.is_empty() {
                continue;
            }
            let indent = if section.in_vpc() { "  " } else { "" };
            if !section.in_vpc() {
                out.push('\n');
            }
            out.push_str(&format!("{indent}{}:\n", section.key()));
            for e in entries {
                out.push_str(&format!("{indent}  # {}\n", describe(&e.origin)));
                let first = out.lines().count() + 1;
                let text = yaml_serde::to_string(&Yaml::Sequence(vec![e.value.clone()]))
                    .unwrap_or_default();
                for line in text.lines() {
                    out.push_str(indent);
                    out.push_str("  ");
                    out.push_str(line);
                    out.push('\n');
                }
                let last = out.lines().count();
                map.push((first, last, e.origin.clone()));
            }
        }
        if let Some(v) = &self.vantage_points {
            out.push_str("\n# Where a user (or a test) can stand inside the VPC.\n");
            for note in &self.vantage_notes {
                out.push_str(&format!("# {note}\n"));
            }
            out.push_str(
                &yaml_serde::to_string(&mapping([("vantage_points", v.clone())]))
                    .unwrap_or_default(),
            );
        }
        if !self.image_map.is_empty() {
            out.push_str("\n# From --image: what each container image runs as.\n");
            let m: yaml_serde::Mapping = self
                .image_map
                .iter()
                .map(|(k, v)| (Yaml::String(k.clone()), v.clone()))
                .collect();
            out.push_str(
                &yaml_serde::to_string(&mapping([("image_map", Yaml::Mapping(m))]))
                    .unwrap_or_default(),
            );
        }
        (out, LineMap(map))
    }

    /// Renders the document and parses it as a stack file; a problem the stack checks find is
    /// reported at the template resource its entry came from.
    pub(crate) fn render_and_parse(&self) -> Result<(String, Stack), ConfigError> {
        let (yaml, map) = self.render();
        match crate::parse(&yaml, &self.file) {
            Ok(stack) => Ok((yaml, stack)),
            Err(ConfigError::Invalid(Diagnostics(ds))) => {
                let mut ds: Vec<Diagnostic> = ds.into_iter().map(|d| map.remap(d)).collect();
                ds.sort_by_key(|d| d.location);
                ds.truncate(MAX_DIAGNOSTICS);
                Err(ConfigError::Invalid(Diagnostics(ds)))
            }
            Err(e) => Err(e),
        }
    }
}

impl LineMap {
    /// A stack diagnostic, moved to the template resource its line belongs to, with the stack
    /// field named in the message.
    fn remap(&self, mut d: Diagnostic) -> Diagnostic {
        let line = d.location.line;
        let origin = self
            .0
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&line))
            .map(|(_, _, o)| o);
        let field = std::mem::take(&mut d.path);
        match origin {
            Some(o) if !o.logical_id.is_empty() => {
                d.location = o.at;
                d.path = format!("Resources.{}", o.logical_id);
                d.message = format!("{} (stack field {field})", d.message);
            }
            _ => {
                d.location = Location { line: 1, column: 1 };
                d.message = format!(
                    "{} (stack field {field}, from the template as a whole)",
                    d.message
                );
            }
        }
        d
    }
}

/// `Resources.Id (AWS::Type)`; for an entry airlock made up (empty logical id), what it is.
fn describe(o: &Origin) -> String {
    if o.logical_id.is_empty() {
        return format!("made up by airlock: {}", o.type_name);
    }
    format!("Resources.{} ({})", o.logical_id, o.type_name)
}

/// A plain scalar as YAML writes it (quoted when it needs to be).
fn scalar(text: &str) -> String {
    yaml_serde::to_string(&Yaml::String(text.to_owned()))
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// A YAML mapping from pairs.
pub(crate) fn mapping<const N: usize>(pairs: [(&str, Yaml); N]) -> Yaml {
    Yaml::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (Yaml::String(k.to_owned()), v))
            .collect(),
    )
}
