//! What `up`, `validate` and `convert` read: an airlock stack file, or a CloudFormation, SAM or
//! `cdk synth` template translated into one (`airlock_config::cloudformation::translate`), with
//! the command line's template options; and what `up` prints about a template once serving.
//!
//! Everything here runs before anything binds: a template with problems is refused whole, each
//! problem with its file, line, column, path and hint.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use airlock_config::Stack;
use airlock_config::cloudformation::translate::{
    self, Accepted, Conversion, OutputValue, TranslateOptions,
};
use airlock_config::cloudformation::{self as cfn, EvalOptions};
use anyhow::Context as _;
use clap::Args;

/// The options for a template (and `--image`, which a stack file takes too).
#[derive(Args, Clone, Debug, Default)]
pub struct TemplateArgs {
    /// A template parameter's value (repeatable; a later one wins, and any wins over
    /// --parameters-file).
    #[arg(long = "parameter", value_name = "KEY=VALUE", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,
    /// Template parameters from a file: the AWS CLI's JSON
    /// (`[{"ParameterKey": "K", "ParameterValue": "V"}]`) or `KEY=VALUE` lines.
    #[arg(long, value_name = "FILE")]
    pub parameters_file: Option<PathBuf>,
    /// The template's `AWS::StackName`.
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,
    /// The template's `AWS::Region` (and the stack's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// The template's `AWS::AccountId` (12 digits).
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// What a container image runs as (repeatable): NAME is an image (exact, without its tag,
    /// or `*` for every image), RUNNER is `builtin:echo`, `builtin:pets`,
    /// `command:PROGRAM ARGS…` or `image:LOCAL_IMAGE`. Adds to a stack file's `image_map`.
    #[arg(long = "image", value_name = "NAME=RUNNER", value_parser = parse_image)]
    pub images: Vec<(String, String)>,
    /// A value for `Fn::ImportValue` (repeatable): the export's name and its value.
    #[arg(long = "import", value_name = "NAME=VALUE", value_parser = parse_parameter)]
    pub imports: Vec<(String, String)>,
    /// Resources of types airlock does not run are warnings instead of errors, when nothing
    /// that runs depends on them.
    #[arg(long)]
    pub ignore_unsupported: bool,
}

fn parse_parameter(pair: &str) -> Result<(String, String), String> {
    cfn::parse_key_value(pair).map_err(|e| e.to_string())
}

fn parse_image(pair: &str) -> Result<(String, String), String> {
    airlock_config::parse_image_flag(pair)
}

/// A stack ready to start, and what the template said about it when it came from one.
pub struct Loaded {
    /// The stack to run.
    pub stack: Stack,
    /// Present when the file was a template.
    pub template: Option<TemplateReport>,
}

/// What `up`, `validate` and `convert` show about a translated template.
pub struct TemplateReport {
    /// The equivalent stack file (`airlock convert`'s output).
    pub yaml: String,
    /// Resources accepted without running.
    pub accepted: Vec<Accepted>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The outputs, resolved (`NoEcho` values masked).
    pub outputs: Vec<OutputValue>,
}

/// Reads `path` (the default stack when `None`): a template goes through the translation with
/// `args`; a stack file is read as before, with `--image` added to its `image_map`.
pub fn load(path: Option<&Path>, args: &TemplateArgs) -> anyhow::Result<Loaded> {
    let Some(path) = path else {
        refuse_template_options(args, "the built-in default stack")?;
        let mut stack = airlock_config::default_stack();
        stack.add_images(&args.images).map_err(anyhow::Error::msg)?;
        return Ok(Loaded {
            stack,
            template: None,
        });
    };
    if !is_template_file(path) {
        refuse_template_options(args, &format!("{} (an airlock stack file)", path.display()))?;
        let mut stack = airlock_config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        stack.add_images(&args.images).map_err(anyhow::Error::msg)?;
        return Ok(Loaded {
            stack,
            template: None,
        });
    }
    let conversion = translate::load(path, &eval_options(args)?, &translate_options(args))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let Conversion {
        yaml,
        stack,
        accepted,
        warnings,
        outputs,
    } = conversion;
    Ok(Loaded {
        stack,
        template: Some(TemplateReport {
            yaml,
            accepted,
            warnings,
            outputs,
        }),
    })
}

/// Whether the file is a template. Read within the stack file's size bound; anything that
/// cannot be read that way (too big, not text, missing) goes to the stack file's loader, which
/// reports it as it always has.
fn is_template_file(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let bound = u64::try_from(airlock_config::MAX_FILE_BYTES).unwrap_or(u64::MAX);
    let mut text = String::new();
    match file.take(bound + 1).read_to_string(&mut text) {
        Ok(n) if n <= airlock_config::MAX_FILE_BYTES => cfn::is_template(&text),
        _ => false,
    }
}

/// The evaluation's inputs. An AWS-specific id parameter given no value gets made-up ids
/// (`made_up_ids`): a template that takes its VPC and subnets as parameters runs with no
/// arguments, on a VPC airlock makes up.
fn eval_options(args: &TemplateArgs) -> anyhow::Result<EvalOptions> {
    let mut parameters = Vec::new();
    if let Some(file) = &args.parameters_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the parameters file {}", file.display()))?;
        parameters = cfn::parse_parameters_file(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    }
    parameters.extend(args.parameters.iter().cloned());
    let defaults = EvalOptions::default();
    Ok(EvalOptions {
        stack_name: args.stack_name.clone().unwrap_or(defaults.stack_name),
        region: args.region.clone().unwrap_or(defaults.region),
        account_id: args.account_id.clone().unwrap_or(defaults.account_id),
        parameters,
        imports: args.imports.clone(),
        made_up_ids: true,
        allow_unsupported: args.ignore_unsupported,
    })
}

fn translate_options(args: &TemplateArgs) -> TranslateOptions {
    TranslateOptions {
        images: args.images.clone(),
        ignore_unsupported: args.ignore_unsupported,
    }
}

/// Template options given for something that is not a template would silently do nothing.
pub(crate) fn refuse_template_options(args: &TemplateArgs, what: &str) -> anyhow::Result<()> {
    let mut given = Vec::new();
    if !args.parameters.is_empty() {
        given.push("--parameter");
    }
    if args.parameters_file.is_some() {
        given.push("--parameters-file");
    }
    if args.stack_name.is_some() {
        given.push("--stack-name");
    }
    if args.region.is_some() {
        given.push("--region");
    }
    if args.account_id.is_some() {
        given.push("--account-id");
    }
    if !args.imports.is_empty() {
        given.push("--import");
    }
    if args.ignore_unsupported {
        given.push("--ignore-unsupported");
    }
    if given.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{}: options for CloudFormation templates, but {what} is not one (hint: drop them; a \
         stack file sets its region and account itself)",
        given.join(", ")
    )
}

impl TemplateReport {
    /// The one line naming what was accepted without running, if anything was.
    pub fn accepted_line(&self) -> Option<String> {
        if self.accepted.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .accepted
            .iter()
            .map(|a| format!("{} ({})", a.logical_id, a.type_name))
            .collect();
        Some(format!(
            "Accepted without running (AWS-only plumbing, {}): {}",
            names.len(),
            names.join(", ")
        ))
    }

    /// The outputs by name, for `--endpoints-json`.
    pub fn outputs_json(&self) -> serde_json::Value {
        outputs_json(&self.outputs)
    }
}

/// The `outputs` field of the endpoints JSON: output name → value (`NoEcho` values masked).
pub fn outputs_json(outputs: &[OutputValue]) -> serde_json::Value {
    serde_json::Value::Object(
        outputs
            .iter()
            .map(|o| (o.name.clone(), serde_json::Value::String(o.value.clone())))
            .collect(),
    )
}

/// Where each API and load balancer of a stack is, to say how to reach it once serving.
pub struct Reach {
    /// API name → the paths its stages are served under (`/` for `$default`, `/STAGE/`).
    apis: Vec<(String, Vec<String>)>,
    /// Load balancer name → its listeners' (scheme, port).
    albs: Vec<(String, Vec<(&'static str, u16)>)>,
    /// Whether any API has an authorizer (then the way to a token is worth a line).
    authorized: bool,
}

impl Reach {
    /// What to say about `stack`'s APIs and load balancers.
    pub fn of(stack: &Stack) -> Reach {
        let apis = stack
            .http_apis
            .iter()
            .map(|api| {
                let mut paths: Vec<String> = api
                    .stages
                    .iter()
                    .map(|s| match s.stage_name.as_str() {
                        "$default" => "/".to_owned(),
                        name => format!("/{name}/"),
                    })
                    .collect();
                if paths.is_empty() {
                    paths.push("/".to_owned());
                }
                (api.name.clone(), paths)
            })
            .collect();
        let albs = stack
            .load_balancers
            .iter()
            .map(|lb| {
                let listeners = lb
                    .listeners
                    .iter()
                    .map(|l| match l.protocol {
                        airlock_config::Protocol::Http => ("http", l.port),
                        airlock_config::Protocol::Https => ("https", l.port),
                    })
                    .collect();
                (lb.name.clone(), listeners)
            })
            .collect();
        let authorized = stack.http_apis.iter().any(|a| !a.authorizers.is_empty());
        Reach {
            apis,
            albs,
            authorized,
        }
    }
}

/// The banner's endpoint lines, without its walk-through: that one ("Try it", with a token of
/// the local issuer and the default stack's paths) is written for the default stack, and a
/// template's authorizers may trust another issuer; [`serving_text`] says how to reach a
/// template's APIs instead. "Press Ctrl-C to stop." is printed last by the caller, since
/// scripts wait for it as the sign that everything is printed.
pub fn banner_endpoints(banner: &str) -> &str {
    let end = ["\nTry it", "\nPress Ctrl-C"]
        .iter()
        .filter_map(|m| banner.find(m))
        .min()
        .unwrap_or(banner.len());
    banner[..end].trim_end()
}

/// What `up` prints about a template once serving, before "Press Ctrl-C": what was accepted
/// without running, the warnings, the outputs, and how to reach each API and load balancer
/// from this machine.
pub fn serving_text(
    report: &TemplateReport,
    reach: &Reach,
    endpoints: &serde_json::Value,
) -> String {
    let mut s = String::new();
    let text = |key: &str| endpoints[key].as_str().unwrap_or_default().to_owned();
    let (gateway, ca, internet, vpc) = (
        text("gateway"),
        text("ca_cert"),
        text("socks_internet"),
        text("socks_vpc"),
    );
    let port = gateway.rsplit_once(':').map_or("", |(_, p)| p).to_owned();
    if let Some(line) = report.accepted_line() {
        let _ = writeln!(s, "\n{line}");
    }
    for w in &report.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    if !report.outputs.is_empty() {
        let _ = writeln!(s, "\nOutputs:");
        let width = report
            .outputs
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(0);
        for o in &report.outputs {
            let mut line = format!("  {:width$}  {}", o.name, o.value);
            if let Some(export) = &o.export_name {
                let _ = write!(line, "   (export {export})");
            }
            if let Some(d) = &o.description {
                let _ = write!(line, "   # {d}");
            }
            let _ = writeln!(s, "{line}");
        }
    }
    let hosts: BTreeMap<String, String> = endpoints["api_endpoints"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let albs: BTreeMap<String, String> = endpoints["alb_dns_names"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    if reach.apis.is_empty() && reach.albs.is_empty() {
        return s;
    }
    let _ = writeln!(s, "\nReach it from this machine:");
    for (api, paths) in &reach.apis {
        let Some(host) = hosts.get(api) else { continue };
        for path in paths {
            let _ = writeln!(
                s,
                "  API {api}:  curl --cacert {ca} --resolve {host}:{port}:127.0.0.1 https://{host}:{port}{path}"
            );
            let _ = writeln!(
                s,
                "      from the internet vantage point, as the AWS URL:  curl --socks5-hostname {internet} --cacert {ca} https://{host}{path}"
            );
        }
    }
    for domain in endpoints["custom_domains"].as_array().into_iter().flatten() {
        let Some(domain) = domain.as_str() else {
            continue;
        };
        let _ = writeln!(
            s,
            "  Domain {domain}:  curl --cacert {ca} --resolve {domain}:{port}:127.0.0.1 https://{domain}:{port}/"
        );
    }
    if reach.authorized {
        let admin = text("admin");
        let _ = writeln!(
            s,
            "  Tokens for the JWT authorizers:  airlock token --state-dir DIR (the local issuer); a user pool's:  curl -X POST -H 'content-type: application/json' -d '{{}}' 'http://{admin}/token?user_pool=LOGICAL_ID'"
        );
    }
    for (alb, listeners) in &reach.albs {
        let Some(dns) = albs.get(alb) else { continue };
        for (scheme, lport) in listeners {
            if !vpc.is_empty() {
                let _ = writeln!(
                    s,
                    "  Load balancer {alb} (private), from inside the VPC:  curl --socks5-hostname {vpc} --cacert {ca} {scheme}://{dns}:{lport}/"
                );
            }
            let _ = writeln!(
                s,
                "      from the internet its name resolves but the call times out:  curl --socks5-hostname {internet} -m 2 {scheme}://{dns}:{lport}/"
            );
        }
    }
    s
}
