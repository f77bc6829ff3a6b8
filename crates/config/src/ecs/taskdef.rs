//! Task definitions in ECS's own JSON (`aws ecs register-task-definition --cli-input-json`, docs/aws-rules.md §ALB-4.1),
//! the ECS rules every task definition must pass, and the stack's `image_map`.
//!
//! A stack file's task definition entry is either inline (snake_case) or `file: path.json`. The
//! file is read relative to the stack file and comes out as the same [`TaskDefinition`] an inline
//! entry gives, so nothing downstream knows where a definition came from. Problems in a JSON file
//! are reported against that file, with its line and the camelCase field path as ECS names it.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::fargate_memory_ok;
use crate::error::{Diagnostic, DiagnosticKind};
use crate::issue::Issue;
use crate::position::PositionIndex;
use crate::scalars::{BuiltinApp, CpuUnits, MemoryMib};
use crate::{
    ContainerDefinition, ContainerDependency, ContainerHealthCheck, DependencyCondition,
    ImageTarget, KeyValuePair, LogConfiguration, NetworkMode, PortMapping, PortProtocol, Stack,
    TaskDefinition,
};

// ---------------------------------------------------------------------------------------------
// `file:` or inline, in one type.

impl<'de> Deserialize<'de> for TaskDefinition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = TaskDefinition;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a task definition, or `file: path/to/taskdef.json`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TaskDefinition, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::missing_field("family"));
        };
        if first == "file" {
            let file: String = map.next_value()?;
            if let Some(other) = map.next_key::<String>()? {
                return Err(de::Error::custom(format!(
                    "a task definition read from `file` takes no other fields, found `{other}` (hint: move the field into the JSON file, or define the task definition inline)"
                )));
            }
            return Ok(placeholder(file));
        }
        TaskDefinition::deserialize(de::value::MapAccessDeserializer::new(Replay {
            first: Some(first),
            inner: map,
        }))
    }
}

/// A `file:` entry before the file is read; [`resolve_files`] replaces it.
fn placeholder(file: String) -> TaskDefinition {
    TaskDefinition {
        family: String::new(),
        cpu: CpuUnits(0),
        memory: MemoryMib(0),
        network_mode: NetworkMode::Awsvpc,
        container_definitions: Vec::new(),
        file: Some(file),
    }
}

/// A map whose first key was already read; yields it again, then the rest.
struct Replay<A> {
    first: Option<String>,
    inner: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.first.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => self.inner.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}

/// Reads every `file:` task definition with `read_file`, relative to the stack file's directory.
/// Problems come back located in the file they are in.
pub(crate) fn resolve_files(
    stack: &mut Stack,
    source: &str,
    stack_file: &Path,
    mut read_file: impl FnMut(&Path) -> std::io::Result<String>,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let dir = stack_file.parent().unwrap_or(Path::new(""));
    let mut stack_index: Option<PositionIndex> = None;
    for (i, td) in stack.task_definitions.iter_mut().enumerate() {
        let Some(file) = td.file.clone() else {
            continue;
        };
        let path = dir.join(&file);
        let here = |message: String, hint: &str, index: &mut Option<PositionIndex>| {
            let field = format!("task_definitions[{i}].file");
            Diagnostic {
                file: stack_file.to_owned(),
                location: index
                    .get_or_insert_with(|| PositionIndex::build(source))
                    .locate(&field),
                path: field,
                kind: DiagnosticKind::InvalidValue,
                message,
                hint: hint.to_owned(),
            }
        };
        let text = match read_file(&path) {
            Ok(text) => text,
            Err(e) => {
                diagnostics.push(here(
                    format!("cannot read task definition file {}: {e}", path.display()),
                    "the path is relative to the stack file; write it as `aws ecs register-task-definition --cli-input-json` takes it",
                    &mut stack_index,
                ));
                continue;
            }
        };
        match load_json(&text, &path, &file) {
            Ok(resolved) => *td = resolved,
            Err(mut found) => diagnostics.append(&mut found),
        }
    }
    diagnostics
}

/// Parses and checks one ECS JSON task definition given as text (e.g. a body sent to the admin
/// endpoint); `origin` names it in diagnostics and becomes [`TaskDefinition::file`].
pub fn parse_task_definition_json(
    text: &str,
    origin: &Path,
) -> Result<TaskDefinition, crate::ConfigError> {
    load_json(text, origin, &origin.display().to_string()).map_err(|mut d| {
        d.truncate(crate::MAX_DIAGNOSTICS);
        crate::ConfigError::Invalid(crate::Diagnostics(d))
    })
}

/// Parses and checks one ECS JSON task definition. `written` is the path as the stack file
/// spells it, kept in [`TaskDefinition::file`].
fn load_json(text: &str, path: &Path, written: &str) -> Result<TaskDefinition, Vec<Diagnostic>> {
    crate::limits::check(text, path).map_err(|d| vec![d])?;
    // JSON is YAML's flow style, so the stack file's parser gives paths and positions here too.
    let ecs: EcsTaskDefinition = match yaml_serde::from_str(text) {
        Ok(ecs) => ecs,
        Err(err) => {
            let index = PositionIndex::build(text);
            return Err(vec![crate::serde_diagnostic(&err, &index, path)]);
        }
    };
    let mut issues = Vec::new();
    let td = ecs.into_model(written, &mut issues);
    check_task_definition(&td, "", Naming::Camel, true, &mut issues);
    if issues.is_empty() {
        return Ok(td);
    }
    Err(crate::diagnostics_at(issues, text, path))
}

// ---------------------------------------------------------------------------------------------
// ECS's JSON, as RegisterTaskDefinition takes it. Fields airlock does not use are accepted (a
// real task definition must load unchanged) and ignored; unknown fields are refused, as the
// AWS CLI refuses them.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)] // Accepted-and-ignored fields are never read.
struct EcsTaskDefinition {
    family: String,
    #[serde(default)]
    cpu: Option<CpuUnits>,
    #[serde(default)]
    memory: Option<MemoryMib>,
    #[serde(default)]
    network_mode: Option<String>,
    #[serde(default)]
    requires_compatibilities: Option<Vec<String>>,
    container_definitions: Vec<EcsContainer>,
    task_role_arn: Option<IgnoredAny>,
    execution_role_arn: Option<IgnoredAny>,
    volumes: Option<IgnoredAny>,
    placement_constraints: Option<IgnoredAny>,
    tags: Option<IgnoredAny>,
    pid_mode: Option<IgnoredAny>,
    ipc_mode: Option<IgnoredAny>,
    proxy_configuration: Option<IgnoredAny>,
    inference_accelerators: Option<IgnoredAny>,
    ephemeral_storage: Option<IgnoredAny>,
    runtime_platform: Option<IgnoredAny>,
    enable_fault_injection: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct EcsContainer {
    name: String,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    essential: Option<bool>,
    #[serde(default)]
    port_mappings: Vec<EcsPortMapping>,
    #[serde(default)]
    environment: Vec<EcsKeyValue>,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    entry_point: Option<Vec<String>>,
    #[serde(default)]
    working_directory: Option<String>,
    #[serde(default)]
    health_check: Option<EcsHealthCheck>,
    #[serde(default)]
    depends_on: Vec<EcsDependency>,
    #[serde(default)]
    stop_timeout: Option<u32>,
    #[serde(default)]
    start_timeout: Option<u32>,
    #[serde(default)]
    log_configuration: Option<EcsLogConfiguration>,
    repository_credentials: Option<IgnoredAny>,
    cpu: Option<IgnoredAny>,
    memory: Option<IgnoredAny>,
    memory_reservation: Option<IgnoredAny>,
    links: Option<IgnoredAny>,
    restart_policy: Option<IgnoredAny>,
    environment_files: Option<IgnoredAny>,
    mount_points: Option<IgnoredAny>,
    volumes_from: Option<IgnoredAny>,
    linux_parameters: Option<IgnoredAny>,
    secrets: Option<IgnoredAny>,
    version_consistency: Option<IgnoredAny>,
    hostname: Option<IgnoredAny>,
    user: Option<IgnoredAny>,
    disable_networking: Option<IgnoredAny>,
    privileged: Option<IgnoredAny>,
    readonly_root_filesystem: Option<IgnoredAny>,
    dns_servers: Option<IgnoredAny>,
    dns_search_domains: Option<IgnoredAny>,
    extra_hosts: Option<IgnoredAny>,
    docker_security_options: Option<IgnoredAny>,
    interactive: Option<IgnoredAny>,
    pseudo_terminal: Option<IgnoredAny>,
    docker_labels: Option<IgnoredAny>,
    ulimits: Option<IgnoredAny>,
    system_controls: Option<IgnoredAny>,
    resource_requirements: Option<IgnoredAny>,
    firelens_configuration: Option<IgnoredAny>,
    credential_specs: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct EcsPortMapping {
    #[serde(default)]
    container_port: Option<u16>,
    #[serde(default)]
    host_port: Option<u16>,
    #[serde(default)]
    protocol: PortProtocol,
    name: Option<IgnoredAny>,
    app_protocol: Option<IgnoredAny>,
    container_port_range: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EcsKeyValue {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EcsHealthCheck {
    command: Vec<String>,
    #[serde(default)]
    interval: Option<u32>,
    #[serde(default)]
    timeout: Option<u32>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    start_period: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EcsDependency {
    container_name: String,
    condition: DependencyCondition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct EcsLogConfiguration {
    log_driver: String,
    #[serde(default)]
    options: std::collections::BTreeMap<String, String>,
    secret_options: Option<IgnoredAny>,
}

impl EcsTaskDefinition {
    /// The model's shape. Rules only the JSON form can break (network mode, compatibilities,
    /// host ports, missing task size) are reported here, with their camelCase paths.
    fn into_model(self, written: &str, issues: &mut Vec<Issue>) -> TaskDefinition {
        match self.network_mode.as_deref() {
            Some("awsvpc") => {}
            Some(other) => issues.push(issue(
                "networkMode",
                DiagnosticKind::InvalidValue,
                format!("network mode {other:?} is not supported by Fargate"),
                "use \"networkMode\": \"awsvpc\"",
            )),
            None => issues.push(issue(
                "networkMode",
                DiagnosticKind::Schema,
                "networkMode is missing; ECS would default to bridge, which Fargate refuses",
                "add \"networkMode\": \"awsvpc\"",
            )),
        }
        if let Some(compat) = &self.requires_compatibilities
            && !compat.iter().any(|c| c == "FARGATE")
        {
            issues.push(issue(
                "requiresCompatibilities",
                DiagnosticKind::InvalidValue,
                format!("requiresCompatibilities {compat:?} does not include FARGATE"),
                "use [\"FARGATE\"]; airlock runs tasks as Fargate does",
            ));
        }
        for (field, missing) in [
            ("cpu", self.cpu.is_none()),
            ("memory", self.memory.is_none()),
        ] {
            if missing {
                issues.push(issue(
                    field,
                    DiagnosticKind::Schema,
                    format!("{field} is required at task level for Fargate"),
                    "set task-level cpu and memory, e.g. \"cpu\": \"256\", \"memory\": \"512\"",
                ));
            }
        }
        let containers = self
            .container_definitions
            .into_iter()
            .enumerate()
            .map(|(j, c)| c.into_model(j, issues))
            .collect();
        TaskDefinition {
            family: self.family,
            cpu: self.cpu.unwrap_or(CpuUnits(256)),
            memory: self.memory.unwrap_or(MemoryMib(512)),
            network_mode: NetworkMode::Awsvpc,
            container_definitions: containers,
            file: Some(written.to_owned()),
        }
    }
}

impl EcsContainer {
    fn into_model(self, j: usize, issues: &mut Vec<Issue>) -> ContainerDefinition {
        let base = format!("containerDefinitions[{j}]");
        if self.image.is_none() {
            issues.push(issue(
                &base,
                DiagnosticKind::Schema,
                "image is required",
                "name the image, e.g. \"image\": \"public.ecr.aws/example/app:1.0\"; image_map in the stack file can run it as a command or a built-in app",
            ));
        }
        let mut port_mappings = Vec::new();
        for (k, pm) in self.port_mappings.into_iter().enumerate() {
            let ppath = format!("{base}.portMappings[{k}]");
            let Some(port) = pm.container_port else {
                issues.push(issue(
                    &ppath,
                    DiagnosticKind::Schema,
                    "containerPort is required with the awsvpc network mode",
                    "add \"containerPort\"",
                ));
                continue;
            };
            if let Some(host) = pm.host_port
                && host != port
            {
                issues.push(issue(
                    format!("{ppath}.hostPort"),
                    DiagnosticKind::Conflict,
                    format!("hostPort {host} differs from containerPort {port}; with awsvpc they must be equal"),
                    "omit hostPort or set it to the containerPort",
                ));
            }
            port_mappings.push(PortMapping {
                container_port: port,
                protocol: pm.protocol,
            });
        }
        ContainerDefinition {
            name: self.name,
            builtin: None,
            command: self.command,
            image: Some(self.image.unwrap_or_default()),
            entry_point: self.entry_point,
            working_directory: self.working_directory,
            port_env_var: "PORT".to_owned(),
            essential: self.essential.unwrap_or(true),
            port_mappings,
            environment: self
                .environment
                .into_iter()
                .map(|kv| KeyValuePair {
                    name: kv.name,
                    value: kv.value,
                })
                .collect(),
            health_check: self.health_check.map(|h| ContainerHealthCheck {
                command: h.command,
                interval: h.interval.unwrap_or(30),
                timeout: h.timeout.unwrap_or(5),
                retries: h.retries.unwrap_or(3),
                start_period: h.start_period,
            }),
            depends_on: self
                .depends_on
                .into_iter()
                .map(|d| ContainerDependency {
                    container_name: d.container_name,
                    condition: d.condition,
                })
                .collect(),
            stop_timeout: self.stop_timeout,
            start_timeout: self.start_timeout,
            log_configuration: self.log_configuration.map(|l| LogConfiguration {
                log_driver: l.log_driver,
                options: l.options,
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ECS rules (docs/aws-rules.md §ALB-4.1), once for both spellings.

/// How field names are spelled in the file the issue is reported against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    /// The stack file: `container_definitions`, `health_check`.
    Snake,
    /// ECS JSON: `containerDefinitions`, `healthCheck`.
    Camel,
}

impl Naming {
    fn key(self, snake: &str) -> String {
        match self {
            Naming::Snake => snake.to_owned(),
            Naming::Camel => {
                let mut out = String::with_capacity(snake.len());
                let mut upper = false;
                for ch in snake.chars() {
                    if ch == '_' {
                        upper = true;
                    } else if upper {
                        out.push(ch.to_ascii_uppercase());
                        upper = false;
                    } else {
                        out.push(ch);
                    }
                }
                out
            }
        }
    }

    fn join(self, base: &str, snake: &str) -> String {
        crate::position::join_key(base, &self.key(snake))
    }
}

fn issue(
    path: impl Into<String>,
    kind: DiagnosticKind,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> Issue {
    Issue {
        path: path.into(),
        kind,
        message: message.into(),
        hint: hint.into(),
    }
}

fn is_ecs_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `repo/name:tag`, `name`, or `repo/name@sha256:<64 hex>`; no spaces or upper case in the
/// repository.
fn is_image_name(image: &str) -> bool {
    if image.is_empty() || image.len() > 255 || image.chars().any(char::is_whitespace) {
        return false;
    }
    match image.split_once('@') {
        Some((repo, digest)) => {
            !repo.is_empty()
                && digest
                    .strip_prefix("sha256:")
                    .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        }
        None => !image.starts_with(':') && !image.ends_with(':') && !image.ends_with('/'),
    }
}

fn range(
    issues: &mut Vec<Issue>,
    path: String,
    what: &str,
    value: u32,
    lo: u32,
    hi: u32,
    default: &str,
) {
    if !(lo..=hi).contains(&value) {
        issues.push(issue(
            path,
            DiagnosticKind::InvalidValue,
            format!("{what} {value} is out of range: ECS takes {lo} to {hi}"),
            format!("use {lo} to {hi} seconds{default} (docs/aws-rules.md §ALB-4.1)"),
        ));
    }
}

/// Checks a task definition against ECS's rules. `base` is its path (empty for a JSON file's
/// root). With `full`, also the rules the stack file's own checks cover for inline definitions
/// (family, task size, essential containers, names, ports, environment).
pub(crate) fn check_task_definition(
    td: &TaskDefinition,
    base: &str,
    n: Naming,
    full: bool,
    issues: &mut Vec<Issue>,
) {
    let containers_path = n.join(base, "container_definitions");
    if full {
        if !is_ecs_name(&td.family) {
            issues.push(issue(
                n.join(base, "family"),
                DiagnosticKind::InvalidValue,
                format!("{:?} is not a valid family", td.family),
                "use 1-255 letters, digits, `_` or `-`",
            ));
        }
        if !fargate_memory_ok(td.cpu.0, td.memory.0) {
            issues.push(issue(
                n.join(base, "memory"),
                DiagnosticKind::InvalidValue,
                format!("cpu {} with memory {} MiB is not a Fargate size", td.cpu.0, td.memory.0),
                "use a valid pair, e.g. cpu \"256\" with memory \"512\", \"1024\" or \"2048\" (docs/aws-rules.md §ALB-4.1)",
            ));
        }
        if td.container_definitions.is_empty() {
            issues.push(issue(
                &containers_path,
                DiagnosticKind::Schema,
                "a task definition needs at least one container",
                "add a container definition",
            ));
        } else if !td.container_definitions.iter().any(|c| c.essential) {
            issues.push(issue(
                &containers_path,
                DiagnosticKind::InvalidValue,
                "a task definition needs at least one essential container",
                "set essential to true on the main container",
            ));
        }
    }
    for (j, c) in td.container_definitions.iter().enumerate() {
        let cpath = format!("{containers_path}[{j}]");
        if full {
            check_container_basics(td, j, c, &cpath, n, issues);
        }
        if let Some(image) = &c.image
            && !is_image_name(image)
        {
            issues.push(issue(
                n.join(&cpath, "image"),
                DiagnosticKind::InvalidValue,
                format!("{image:?} is not an image name"),
                "write repo/name:tag or repo/name@sha256:<64 hex digits>",
            ));
        }
        if c.entry_point.is_some() && c.image.is_none() {
            issues.push(issue(
                n.join(&cpath, "entry_point"),
                DiagnosticKind::Conflict,
                "entry_point applies only to image containers",
                "put the program first in command instead",
            ));
        }
        if let Some(t) = c.stop_timeout {
            range(
                issues,
                n.join(&cpath, "stop_timeout"),
                "stopTimeout",
                t,
                2,
                120,
                ", default 30",
            );
        }
        if let Some(t) = c.start_timeout {
            range(
                issues,
                n.join(&cpath, "start_timeout"),
                "startTimeout",
                t,
                2,
                120,
                "",
            );
        }
        if let Some(hc) = &c.health_check {
            let hpath = n.join(&cpath, "health_check");
            let cmd_ok = match hc.command.first().map(String::as_str) {
                Some("CMD") => hc.command.len() >= 2 && !hc.command[1].is_empty(),
                Some("CMD-SHELL") => hc.command.len() == 2 && !hc.command[1].trim().is_empty(),
                _ => false,
            };
            if !cmd_ok {
                issues.push(issue(
                    n.join(&hpath, "command"),
                    DiagnosticKind::InvalidValue,
                    format!("health check command {:?} must start with CMD (then the program and its arguments) or CMD-SHELL (then one shell command)", hc.command),
                    "e.g. [\"CMD-SHELL\", \"curl -f http://localhost:8080/health || exit 1\"]",
                ));
            }
            range(
                issues,
                n.join(&hpath, "interval"),
                "interval",
                hc.interval,
                5,
                300,
                ", default 30",
            );
            range(
                issues,
                n.join(&hpath, "timeout"),
                "timeout",
                hc.timeout,
                2,
                60,
                ", default 5",
            );
            range(
                issues,
                n.join(&hpath, "retries"),
                "retries",
                hc.retries,
                1,
                10,
                ", default 3",
            );
            if let Some(sp) = hc.start_period {
                range(
                    issues,
                    n.join(&hpath, "start_period"),
                    "startPeriod",
                    sp,
                    0,
                    300,
                    "",
                );
            }
        }
        for (k, dep) in c.depends_on.iter().enumerate() {
            let dpath = format!("{}[{k}]", n.join(&cpath, "depends_on"));
            let Some(target) = td.container(&dep.container_name) else {
                issues.push(issue(
                    n.join(&dpath, "container_name"),
                    DiagnosticKind::UnknownReference,
                    format!(
                        "no container named {:?} in this task definition",
                        dep.container_name
                    ),
                    "name another container of the same task definition",
                ));
                continue;
            };
            if target.name == c.name {
                issues.push(issue(
                    n.join(&dpath, "container_name"),
                    DiagnosticKind::Conflict,
                    "a container cannot depend on itself",
                    "remove this dependency",
                ));
                continue;
            }
            match dep.condition {
                DependencyCondition::Complete | DependencyCondition::Success
                    if target.essential =>
                {
                    issues.push(issue(
                        n.join(&dpath, "condition"),
                        DiagnosticKind::Conflict,
                        format!(
                            "condition {:?} cannot reference the essential container {:?}",
                            dep.condition, target.name
                        ),
                        "make the dependency non-essential, or use START or HEALTHY",
                    ));
                }
                DependencyCondition::Healthy if target.health_check.is_none() => {
                    issues.push(issue(
                        n.join(&dpath, "condition"),
                        DiagnosticKind::Conflict,
                        format!(
                            "condition HEALTHY needs a health check on {:?}",
                            target.name
                        ),
                        "give that container a health check, or use START",
                    ));
                }
                _ => {}
            }
        }
    }
    if let Some(j) = dependency_cycle(td) {
        issues.push(issue(
            format!("{}[{j}].{}", containers_path, n.key("depends_on")),
            DiagnosticKind::Conflict,
            "dependsOn forms a cycle, so no container could start",
            "break the cycle",
        ));
    }
}

/// The rules `validate` checks for inline definitions, for JSON ones.
fn check_container_basics(
    td: &TaskDefinition,
    j: usize,
    c: &ContainerDefinition,
    cpath: &str,
    n: Naming,
    issues: &mut Vec<Issue>,
) {
    if !is_ecs_name(&c.name) {
        issues.push(issue(
            n.join(cpath, "name"),
            DiagnosticKind::InvalidValue,
            format!("{:?} is not a valid container name", c.name),
            "use 1-255 letters, digits, `_` or `-`",
        ));
    } else if td.container_definitions[..j]
        .iter()
        .any(|o| o.name == c.name)
    {
        issues.push(issue(
            n.join(cpath, "name"),
            DiagnosticKind::Duplicate,
            format!("duplicate container {:?}", c.name),
            "give each container a different name",
        ));
    }
    let mut seen: Vec<u16> = Vec::new();
    for (k, pm) in c.port_mappings.iter().enumerate() {
        let ppath = format!(
            "{}[{k}].{}",
            n.join(cpath, "port_mappings"),
            n.key("container_port")
        );
        if pm.container_port == 0 {
            issues.push(issue(
                &ppath,
                DiagnosticKind::InvalidValue,
                "port 0 is not a container port",
                "use a port between 1 and 65535",
            ));
        }
        if seen.contains(&pm.container_port) {
            issues.push(issue(
                &ppath,
                DiagnosticKind::Duplicate,
                format!("container port {} is mapped twice (a port cannot be exposed for two protocols)", pm.container_port),
                "map each container port once",
            ));
        }
        seen.push(pm.container_port);
    }
    for (k, kv) in c.environment.iter().enumerate() {
        if kv.name.is_empty() || kv.name.contains('=') {
            issues.push(issue(
                format!("{}[{k}].name", n.join(cpath, "environment")),
                DiagnosticKind::InvalidValue,
                format!("{:?} is not an environment variable name", kv.name),
                "use a non-empty name without `=`",
            ));
        }
    }
}

/// The index of a container on a `dependsOn` cycle, if there is one.
fn dependency_cycle(td: &TaskDefinition) -> Option<usize> {
    let n = td.container_definitions.len();
    let deps: Vec<Vec<usize>> = td
        .container_definitions
        .iter()
        .map(|c| {
            c.depends_on
                .iter()
                .filter_map(|d| {
                    td.container_definitions
                        .iter()
                        .position(|o| o.name == d.container_name)
                })
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on the path, 2 = done.
    fn visit(i: usize, deps: &[Vec<usize>], state: &mut [u8]) -> bool {
        if state[i] == 1 {
            return true;
        }
        if state[i] == 2 {
            return false;
        }
        state[i] = 1;
        for &d in &deps[i] {
            if d != i && visit(d, deps, state) {
                return true;
            }
        }
        state[i] = 2;
        false
    }
    let mut state = vec![0u8; n];
    (0..n).find(|&i| visit(i, &deps, &mut state))
}

// ---------------------------------------------------------------------------------------------
// The image map.

/// How a container runs once the stack's `image_map` is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner<'a> {
    /// A built-in app.
    Builtin(BuiltinApp),
    /// A local process.
    Command {
        /// Program then arguments (never empty).
        argv: &'a [String],
        /// Where it runs; airlock's own directory when `None`.
        working_directory: Option<&'a str>,
        /// The variable that carries its loopback port.
        port_env_var: &'a str,
    },
    /// A container through the Docker engine.
    Image {
        /// The local image to run.
        image: &'a str,
        /// ENTRYPOINT override.
        entry_point: Option<&'a [String]>,
        /// CMD override.
        command: Option<&'a [String]>,
        /// Working directory inside the container.
        working_directory: Option<&'a str>,
    },
}

impl Stack {
    /// The `image_map` entry for `image`: an exact key, else a key without tag or digest naming
    /// the same repository, else the catch-all key [`ANY_IMAGE`] (`*`).
    pub fn image_target(&self, image: &str) -> Option<&ImageTarget> {
        if let Some(t) = self.image_map.get(image) {
            return Some(t);
        }
        let repo = repository(image);
        self.image_map
            .iter()
            .find(|(key, _)| repository(key) == *key && *key == repo)
            .map(|(_, t)| t)
            .or_else(|| self.image_map.get(ANY_IMAGE))
    }

    /// Adds `--image NAME=RUNNER` pairs (see [`parse_image_flag`]) to the image map; a pair
    /// replaces an entry of the file with the same name, since the command line is the user's
    /// latest word.
    pub fn add_images(&mut self, images: &[(String, String)]) -> Result<(), String> {
        for (name, runner) in images {
            let target = image_target_of_runner(runner)?;
            self.image_map.insert(name.clone(), target);
        }
        Ok(())
    }

    /// How container `c` runs, after the image map.
    pub fn runner<'a>(&'a self, c: &'a ContainerDefinition) -> Runner<'a> {
        let image = match (&c.builtin, &c.image) {
            (Some(app), _) => return Runner::Builtin(*app),
            (None, Some(image)) => image.as_str(),
            (None, None) => {
                return Runner::Command {
                    argv: c.command.as_deref().unwrap_or_default(),
                    working_directory: c.working_directory.as_deref(),
                    port_env_var: &c.port_env_var,
                };
            }
        };
        let image_runner = |image| Runner::Image {
            image,
            entry_point: c.entry_point.as_deref(),
            command: c.command.as_deref(),
            working_directory: c.working_directory.as_deref(),
        };
        match self.image_target(image) {
            None => image_runner(image),
            Some(t) => match (&t.builtin, &t.command, &t.image) {
                (Some(app), _, _) => Runner::Builtin(*app),
                (None, Some(argv), _) => Runner::Command {
                    argv,
                    working_directory: t.working_directory.as_deref(),
                    port_env_var: &t.port_env_var,
                },
                (None, None, Some(local)) => image_runner(local),
                (None, None, None) => image_runner(image),
            },
        }
    }
}

/// The `image_map` key that matches every image no other key matches.
pub const ANY_IMAGE: &str = "*";

/// Reads `--image NAME=RUNNER`: `NAME` is an image (exact, without its tag to match every tag,
/// or `*` for every image), `RUNNER` is `builtin:APP`, `command:PROGRAM ARGS…` (split on
/// whitespace) or `image:LOCAL_IMAGE`. Both halves are checked.
pub fn parse_image_flag(pair: &str) -> Result<(String, String), String> {
    let Some((name, runner)) = pair.split_once('=') else {
        return Err(format!(
            "`{pair}` is not NAME=RUNNER (hint: e.g. `--image '*=builtin:echo'` or \
             `--image app:1.0=command:./server --port 8080`)"
        ));
    };
    let name = name.trim();
    if name != ANY_IMAGE && !is_image_name(name) {
        return Err(format!(
            "{name:?} is not an image name (hint: write repo/name:tag, repo/name to match every \
             tag, or * for every image)"
        ));
    }
    image_runner(runner)?;
    Ok((name.to_owned(), runner.trim().to_owned()))
}

/// The `image_map` entry (as YAML, the stack file's own form) for a `--image` runner.
pub fn image_runner(runner: &str) -> Result<yaml_serde::Value, String> {
    use yaml_serde::Value as Y;
    let hint = "hint: builtin:echo, builtin:pets, command:PROGRAM ARGS… or image:LOCAL_IMAGE";
    let (kind, rest) = runner
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{runner:?} is not a runner ({hint})"))?;
    let rest = rest.trim();
    let value = match kind {
        "builtin" => {
            let app = BuiltinApp::try_from(rest.to_owned())
                .map_err(|_| format!("{rest:?} is not a built-in app ({hint})"))?;
            Y::String(app.as_str().to_owned())
        }
        "command" => {
            let argv: Vec<Y> = rest
                .split_whitespace()
                .map(|a| Y::String(a.to_owned()))
                .collect();
            if argv.is_empty() {
                return Err(format!("{runner:?} names no program ({hint})"));
            }
            Y::Sequence(argv)
        }
        "image" if is_image_name(rest) => Y::String(rest.to_owned()),
        "image" => return Err(format!("{rest:?} is not an image name ({hint})")),
        _ => return Err(format!("{runner:?} is not a runner ({hint})")),
    };
    Ok(Y::Mapping(
        [(Y::String(kind.to_owned()), value)].into_iter().collect(),
    ))
}

/// The [`ImageTarget`] of a `--image` runner.
fn image_target_of_runner(runner: &str) -> Result<ImageTarget, String> {
    yaml_serde::from_value(image_runner(runner)?).map_err(|e| format!("{runner:?}: {e}"))
}

/// `repo/name` of `repo/name:tag` or `repo/name@sha256:…` (a `:` before the last `/` is a
/// registry port, not a tag).
fn repository(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(repo, _)| repo);
    let name_start = image.rfind('/').map_or(0, |p| p + 1);
    match image[name_start..].rfind(':') {
        Some(colon) => &image[..name_start + colon],
        None => image,
    }
}

/// Checks the `image_map` entries and the services' deployment bounds.
pub(crate) fn check_image_map(stack: &Stack) -> Vec<Issue> {
    let mut issues = Vec::new();
    for (i, svc) in stack.services.iter().enumerate() {
        let d = svc.deployment_configuration;
        let path = format!("services[{i}].deployment_configuration");
        if d.minimum_healthy_percent > 100 {
            issues.push(issue(
                format!("{path}.minimum_healthy_percent"),
                DiagnosticKind::InvalidValue,
                format!(
                    "minimum_healthy_percent {} is above 100",
                    d.minimum_healthy_percent
                ),
                "use 0 to 100 (ECS default 100)",
            ));
        }
        if d.maximum_percent <= d.minimum_healthy_percent {
            issues.push(issue(
                format!("{path}.maximum_percent"),
                DiagnosticKind::InvalidValue,
                format!(
                    "maximum_percent {} with minimum_healthy_percent {} leaves a rolling deployment no room to start or stop a task",
                    d.maximum_percent, d.minimum_healthy_percent
                ),
                "use maximum_percent above 100 (ECS default 200), or lower minimum_healthy_percent",
            ));
        }
    }
    for (key, t) in &stack.image_map {
        let path = format!("image_map.{key}");
        if key != ANY_IMAGE && !is_image_name(key) {
            issues.push(issue(
                &path,
                DiagnosticKind::InvalidValue,
                format!("{key:?} is not an image name"),
                "write repo/name:tag, repo/name to match every tag, or * for every image",
            ));
        }
        let set = [t.builtin.is_some(), t.command.is_some(), t.image.is_some()];
        if set.iter().filter(|s| **s).count() != 1 {
            issues.push(issue(
                &path,
                DiagnosticKind::Schema,
                "an image_map entry needs exactly one of builtin, command or image",
                "e.g. { builtin: pets }, { command: [node, server.js] } or { image: \"app:dev\" }",
            ));
        }
        if t.command
            .as_ref()
            .is_some_and(|c| c.first().is_none_or(String::is_empty))
        {
            issues.push(issue(
                format!("{path}.command"),
                DiagnosticKind::InvalidValue,
                "command is empty",
                "give the program and its arguments",
            ));
        }
        if t.working_directory.is_some() && t.command.is_none() {
            issues.push(issue(
                format!("{path}.working_directory"),
                DiagnosticKind::Conflict,
                "working_directory applies only to a command",
                "remove it",
            ));
        }
        if let Some(image) = &t.image
            && !is_image_name(image)
        {
            issues.push(issue(
                format!("{path}.image"),
                DiagnosticKind::InvalidValue,
                format!("{image:?} is not an image name"),
                "write name:tag of an image the local Docker engine has",
            ));
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;

    use super::*;
    use crate::{DEFAULT_STACK_YAML, parse};

    /// The default stack with its task_definitions section replaced by `block`.
    fn with_task_definitions(block: &str) -> String {
        let start = DEFAULT_STACK_YAML.find("task_definitions:").unwrap();
        let end = DEFAULT_STACK_YAML.find("\nservices:").unwrap();
        format!(
            "{}{block}{}",
            &DEFAULT_STACK_YAML[..start],
            &DEFAULT_STACK_YAML[end..]
        )
    }

    /// A fresh directory holding `files`, and the stack file path inside it.
    fn dir_with(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "airlock-taskdef-{}-{:x}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(dir.join("ecs")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir.join("stack.yaml")
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        u64::from(nanos) ^ (N.fetch_add(1, Ordering::Relaxed) << 32)
    }

    /// docs/aws-rules.md §ALB-4.1's example, with the container named `app` on 8080 so the default service fits.
    const ECS_JSON: &str = r#"{
  "family": "pets",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
  "containerDefinitions": [{
    "name": "app",
    "image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/pets:1.4",
    "essential": true,
    "portMappings": [{ "containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "name": "http" }],
    "environment": [{ "name": "MODE", "value": "prod" }],
    "entryPoint": ["/bin/app"],
    "command": ["--port", "8080"],
    "healthCheck": { "command": ["CMD-SHELL", "wget -q -O- http://localhost:8080/health || exit 1"],
                     "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 10 },
    "logConfiguration": { "logDriver": "awslogs",
                          "options": { "awslogs-group": "/ecs/pets", "awslogs-region": "us-east-1",
                                       "awslogs-stream-prefix": "ecs" } },
    "stopTimeout": 10,
    "dependsOn": []
  }]
}"#;

    const INLINE: &str = r#"task_definitions:
  - family: pets
    cpu: "256"
    memory: "512"
    network_mode: awsvpc
    container_definitions:
      - name: app
        image: 000000000000.dkr.ecr.us-east-1.amazonaws.com/pets:1.4
        essential: true
        port_mappings:
          - container_port: 8080
            protocol: tcp
        environment:
          - name: MODE
            value: prod
        entry_point: [/bin/app]
        command: ["--port", "8080"]
        health_check:
          command: [CMD-SHELL, "wget -q -O- http://localhost:8080/health || exit 1"]
          interval: 30
          timeout: 5
          retries: 3
          start_period: 10
        log_configuration:
          log_driver: awslogs
          options:
            awslogs-group: /ecs/pets
            awslogs-region: us-east-1
            awslogs-stream-prefix: ecs
        stop_timeout: 10
"#;

    #[test]
    fn a_json_task_definition_file_gives_the_same_shape_as_inline() {
        let stack_file = dir_with(&[("ecs/pets.json", ECS_JSON)]);
        let source = with_task_definitions("task_definitions:\n  - file: ecs/pets.json\n");
        let from_file = parse(&source, &stack_file).unwrap();
        let inline = parse(&with_task_definitions(INLINE), &stack_file).unwrap();

        let mut td = from_file.task_definitions[0].clone();
        assert_eq!(td.file.as_deref(), Some("ecs/pets.json"));
        td.file = None;
        assert_eq!(td, inline.task_definitions[0]);
        let c = &td.container_definitions[0];
        assert_eq!(c.health_check.as_ref().unwrap().start_period, Some(10));
        assert_eq!(c.stop_timeout, Some(10));
    }

    /// Each bad JSON task definition is refused with the JSON file, its line, and the camelCase
    /// field named (docs/aws-rules.md §ALB-4.1 rules).
    #[test]
    fn invalid_json_task_definitions_name_the_field() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "\"memory\": \"512\"",
                "\"memory\": \"4096\"",
                "memory",
                "not a Fargate size",
            ),
            (
                "\"networkMode\": \"awsvpc\"",
                "\"networkMode\": \"bridge\"",
                "networkMode",
                "not supported by Fargate",
            ),
            (
                "\"hostPort\": 8080",
                "\"hostPort\": 80",
                "containerDefinitions[0].portMappings[0].hostPort",
                "must be equal",
            ),
            (
                "\"interval\": 30",
                "\"interval\": 1",
                "containerDefinitions[0].healthCheck.interval",
                "5 to 300",
            ),
            (
                "\"CMD-SHELL\", \"wget",
                "\"SHELL\", \"wget",
                "containerDefinitions[0].healthCheck.command",
                "CMD",
            ),
            (
                "\"stopTimeout\": 10",
                "\"stopTimeout\": 600",
                "containerDefinitions[0].stopTimeout",
                "2 to 120",
            ),
            (
                "\"essential\": true",
                "\"essential\": false",
                "containerDefinitions",
                "essential",
            ),
            (
                "\"dependsOn\": []",
                "\"dependsOn\": [{\"containerName\": \"db\", \"condition\": \"START\"}]",
                "containerDefinitions[0].dependsOn[0].containerName",
                "no container named \"db\"",
            ),
            (
                "\"dependsOn\": []",
                "\"dependsOn\": [{\"containerName\": \"app\", \"condition\": \"READY\"}]",
                "containerDefinitions[0].dependsOn[0].condition",
                "unknown variant",
            ),
            (
                "\"stopTimeout\": 10",
                "\"stopTimout\": 10",
                "containerDefinitions[0].stopTimout",
                "unknown field",
            ),
        ];
        for (from, to, path, says) in cases {
            assert_eq!(ECS_JSON.matches(from).count(), 1, "{from}");
            let json = ECS_JSON.replacen(from, to, 1);
            let stack_file = dir_with(&[("td.json", &json)]);
            let source = with_task_definitions("task_definitions:\n  - file: td.json\n");
            let err = parse(&source, &stack_file).expect_err(to);
            let d = &err.diagnostics()[0];
            assert_eq!(d.file, stack_file.parent().unwrap().join("td.json"), "{to}");
            assert_eq!(&d.path, path, "{to}: {d}");
            assert!(d.message.contains(says), "{to}: {d}");
            let line = json[..json.find(to).unwrap()].matches('\n').count() + 1;
            if *path != "containerDefinitions" {
                assert_eq!(d.location.line, line, "{to}: {d}");
            }
        }
    }

    #[test]
    fn a_missing_file_is_refused_at_the_file_field() {
        let stack_file = dir_with(&[]);
        let source = with_task_definitions("task_definitions:\n  - file: nope.json\n");
        let err = parse(&source, &stack_file).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(d.path, "task_definitions[0].file");
        assert!(d.message.contains("nope.json"), "{d}");
    }

    /// `parse_with_files` reads task definition files through the caller, at the paths `parse`
    /// would open, and reports the caller's errors as `parse` reports an unreadable file.
    #[test]
    fn task_definition_files_can_be_read_by_the_caller() {
        let source = with_task_definitions("task_definitions:\n  - file: ecs/pets.json\n");
        let stack_file = Path::new("/nowhere/stack.yaml");
        let mut asked = Vec::new();
        let stack = crate::parse_with_files(&source, stack_file, |path| {
            asked.push(path.to_owned());
            Ok(ECS_JSON.to_owned())
        })
        .unwrap();
        assert_eq!(asked, [PathBuf::from("/nowhere/ecs/pets.json")]);
        let from_disk = parse(&source, &dir_with(&[("ecs/pets.json", ECS_JSON)])).unwrap();
        assert_eq!(stack.task_definitions, from_disk.task_definitions);

        let err = crate::parse_with_files(&source, stack_file, |_| {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        })
        .unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(d.path, "task_definitions[0].file");
        assert!(d.message.contains("/nowhere/ecs/pets.json"), "{d}");
    }

    #[test]
    fn file_takes_no_other_fields() {
        let source =
            with_task_definitions("task_definitions:\n  - file: td.json\n    family: pets\n");
        let err = parse(&source, &dir_with(&[])).unwrap_err();
        assert!(err.to_string().contains("takes no other fields"), "{err}");
    }

    #[test]
    fn inline_rules_name_snake_case_fields() {
        let block = INLINE.replace("interval: 30", "interval: 400");
        let err = parse(&with_task_definitions(&block), &dir_with(&[])).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(
            d.path,
            "task_definitions[0].container_definitions[0].health_check.interval"
        );
    }

    #[test]
    fn the_image_map_redirects_images() {
        let stack_file = dir_with(&[("ecs/pets.json", ECS_JSON)]);
        let base = with_task_definitions("task_definitions:\n  - file: ecs/pets.json\n");
        let run = |map: &str| {
            let stack = parse(&format!("{base}\nimage_map:\n{map}"), &stack_file).unwrap();
            let c = stack.task_definitions[0].container_definitions[0].clone();
            let runner = format!("{:?}", stack.runner(&c));
            runner
        };
        assert_eq!(
            run("  000000000000.dkr.ecr.us-east-1.amazonaws.com/pets:1.4: { builtin: pets }\n"),
            "Builtin(Pets)"
        );
        // A key without a tag matches every tag.
        let cmd = run(
            "  000000000000.dkr.ecr.us-east-1.amazonaws.com/pets: { command: [node, server.js], working_directory: ./app }\n",
        );
        assert!(cmd.starts_with("Command { argv: [\"node\", \"server.js\"], working_directory: Some(\"./app\"), port_env_var: \"PORT\""), "{cmd}");
        let img = run(
            "  000000000000.dkr.ecr.us-east-1.amazonaws.com/pets:1.4: { image: \"pets:dev\" }\n",
        );
        assert!(
            img.starts_with("Image { image: \"pets:dev\", entry_point: Some([\"/bin/app\"])"),
            "{img}"
        );
        // Another tag of another repository does not match.
        let other =
            run("  000000000000.dkr.ecr.us-east-1.amazonaws.com/other: { builtin: echo }\n");
        assert!(other.contains("amazonaws.com/pets:1.4"), "{other}");

        let bad = format!("{base}\nimage_map:\n  x/y:1: {{ builtin: pets, image: \"a:b\" }}\n");
        let err = parse(&bad, &stack_file).unwrap_err();
        assert_eq!(err.diagnostics()[0].path, "image_map.x/y:1");
    }

    #[test]
    fn the_catch_all_image_key_matches_what_no_other_key_matches() {
        let stack_file = dir_with(&[("ecs/pets.json", ECS_JSON)]);
        let base = with_task_definitions("task_definitions:\n  - file: ecs/pets.json\n");
        let runner = |map: &str| {
            let stack = parse(&format!("{base}\nimage_map:\n{map}"), &stack_file).unwrap();
            let c = stack.task_definitions[0].container_definitions[0].clone();
            format!("{:?}", stack.runner(&c))
        };
        assert_eq!(runner("  \"*\": { builtin: echo }\n"), "Builtin(Echo)");
        // A more specific key wins over the catch-all.
        assert_eq!(
            runner(
                "  \"*\": { builtin: echo }\n  000000000000.dkr.ecr.us-east-1.amazonaws.com/pets: { builtin: pets }\n"
            ),
            "Builtin(Pets)"
        );
    }

    #[test]
    fn image_flags_become_image_map_entries() {
        assert_eq!(
            parse_image_flag("*=builtin:echo").unwrap(),
            ("*".to_owned(), "builtin:echo".to_owned())
        );
        assert!(parse_image_flag("app:1=command:./server --port 9").is_ok());
        assert!(parse_image_flag("app:1=image:app:dev").is_ok());
        for bad in [
            "app",
            "app:=builtin:echo",
            "app=builtin:nope",
            "app=command:",
            "app=docker:x",
        ] {
            assert!(parse_image_flag(bad).is_err(), "{bad}");
        }
        let mut stack = crate::default_stack();
        stack
            .add_images(&[("*".to_owned(), "command:./srv a b".to_owned())])
            .unwrap();
        assert_eq!(
            stack
                .image_target("any/image:1")
                .unwrap()
                .command
                .as_deref(),
            Some(&["./srv".to_owned(), "a".to_owned(), "b".to_owned()][..])
        );
    }

    #[test]
    fn repositories_ignore_tags_and_registry_ports() {
        assert_eq!(repository("a.b:5000/x/y:1.2"), "a.b:5000/x/y");
        assert_eq!(repository("a.b:5000/x/y"), "a.b:5000/x/y");
        assert_eq!(repository("y@sha256:00"), "y");
    }
}

#[cfg(test)]
mod deployment_tests {
    #![allow(clippy::unwrap_used)]

    use crate::{DEFAULT_STACK_YAML, parse};
    use std::path::Path;

    #[test]
    fn deployment_bounds_default_to_ecs_and_refuse_a_stuck_rollout() {
        let stack = parse(DEFAULT_STACK_YAML, Path::new("stack.yaml")).unwrap();
        let d = stack.services[0].deployment_configuration;
        assert_eq!((d.maximum_percent, d.minimum_healthy_percent), (200, 100));
        assert_eq!(stack.services[0].health_check_grace_period_seconds, 0);

        let stuck = DEFAULT_STACK_YAML.replacen(
            "    desired_count: 2\n",
            "    desired_count: 2\n    deployment_configuration:\n      maximum_percent: 100\n",
            1,
        );
        let err = parse(&stuck, Path::new("stack.yaml")).unwrap_err();
        let d = &err.diagnostics()[0];
        assert_eq!(
            d.path,
            "services[0].deployment_configuration.maximum_percent"
        );
        assert!(d.message.contains("no room"), "{d}");
    }
}

#[cfg(test)]
mod json_shape_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// JSON files indented with tabs (as some editors and `jq --tab` write them) load too.
    #[test]
    fn tab_indented_json_loads() {
        let json = "{\n\t\"family\": \"web\",\n\t\"networkMode\": \"awsvpc\",\n\t\"cpu\": \"256\",\n\t\"memory\": \"512\",\n\t\"containerDefinitions\": [\n\t\t{\n\t\t\t\"name\": \"app\",\n\t\t\t\"image\": \"web:1\"\n\t\t}\n\t]\n}\n";
        let td = parse_task_definition_json(json, Path::new("web.json")).unwrap();
        assert_eq!(td.container_definitions[0].image.as_deref(), Some("web:1"));
    }
}
