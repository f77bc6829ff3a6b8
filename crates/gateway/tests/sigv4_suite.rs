//! AWS's Signature Version 4 test suite (`tests/data/sigv4`, see its README), run through the
//! gateway's SigV4 verifier: every signed request (`*.sreq`) in the suite is read as written
//! and must verify with the suite's credentials, at the suite's time, for its service and
//! region; the same request with one byte of its signature changed must not. Cases are found on
//! disk, so a case added to the directory is run without touching this file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_gateway::auth::sigv4::{IamAuthorizer, IamCredential, IamError, SignedRequest};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// The suite's credentials, scope and signing time (its README states them).
const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const SERVICE: &str = "service";
/// 2015-08-30T12:36:00Z, every case's `X-Amz-Date`.
const SIGNED_AT: u64 = 1_440_938_160;

/// Cases whose published `.sreq` is wrong, with why: the case's `.sreq` must be refused as a
/// signature mismatch, and the request signed with the case's `.authz` (the suite's own answer,
/// which its `.sts` confirms) must verify.
///
/// Every case of the suite runs: no case is left out as unsupported. The one request that
/// airlock's HTTP layer refuses before any authorizer runs (`get-header-value-multiline`: obsolete
/// line folding) still verifies here, unfolded as the suite means it (see the README).
const ERRATA: &[(&str, &str)] = &[(
    "get-vanilla-with-session-token",
    "the .sreq carries get-vanilla's signature (5fa00fa3...), not the one its .authz and .sts give",
)];

fn authorizer() -> IamAuthorizer {
    IamAuthorizer::new(
        REGION,
        "123456789012",
        vec![IamCredential {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
            principal_arn: "arn:aws:iam::123456789012:user/example".into(),
            allowed_resources: vec!["*".into()],
        }],
    )
}

/// One signed request of the suite, parsed as written.
struct Case {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads a `.sreq`: the request line (the target may hold spaces, as in `get-space`), header
/// lines (`Name:value`; a line that starts with whitespace continues the previous value, which
/// is HTTP's obsolete line folding, read as one space), a blank line, then the body.
fn parse(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let (head, body) = match text.split_once("\n\n") {
        Some((head, body)) => (head, body),
        None => (text.as_str(), ""),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let target = rest.strip_suffix(" HTTP/1.1").unwrap();
    let (path_part, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line.trim());
            continue;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_owned(), value.trim_start().to_owned()));
    }
    Case {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        method: method.to_owned(),
        path: path_part.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

impl Case {
    fn verify(&self, authorization: Option<&str>) -> Result<(), IamError> {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &self.headers {
            let value = match (name.eq_ignore_ascii_case("authorization"), authorization) {
                (true, Some(replaced)) => replaced,
                _ => value.as_str(),
            };
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        let req = SignedRequest {
            method: &self.method,
            raw_path: &self.path,
            raw_query: &self.query,
            headers: &headers,
            body: &self.body,
        };
        authorizer()
            .verify(&req, SERVICE, UNIX_EPOCH + Duration::from_secs(SIGNED_AT))
            .map(drop)
    }

    fn set_authorization(&mut self, value: &str) {
        for (name, v) in &mut self.headers {
            if name.eq_ignore_ascii_case("authorization") {
                value.clone_into(v);
            }
        }
    }

    fn authorization(&self) -> &str {
        &self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .expect("a signed request has an Authorization header")
            .1
    }
}

fn signed_requests(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            signed_requests(&path, out);
        } else if path.extension().is_some_and(|e| e == "sreq") {
            out.push(path);
        }
    }
}

#[test]
fn every_signed_request_of_the_aws_suite_verifies_and_a_changed_signature_does_not() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4");
    let mut files = Vec::new();
    signed_requests(&dir, &mut files);
    files.sort();
    assert!(
        files.len() >= 30,
        "the suite is there: {} cases",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let mut case = parse(file);
        let corrected = if ERRATA.iter().any(|(name, _)| *name == case.name) {
            if case.verify(None) != Err(IamError::SignatureMismatch) {
                failures.push(format!("{}: the published .sreq verified", case.name));
            }
            let authz = std::fs::read_to_string(file.with_extension("authz")).unwrap();
            Some(authz.trim().to_owned())
        } else {
            None
        };
        if let Some(authz) = &corrected {
            case.set_authorization(authz);
        }
        if let Err(e) = case.verify(None) {
            failures.push(format!("{}: {e}", case.name));
            continue;
        }
        // The last hex digit of the signature changed: the verifier compares the signature,
        // not merely its shape.
        let auth = case.authorization();
        let last = auth.chars().last().unwrap();
        let changed = format!(
            "{}{}",
            &auth[..auth.len() - 1],
            if last == '0' { '1' } else { '0' }
        );
        match case.verify(Some(&changed)) {
            Err(IamError::SignatureMismatch) => {}
            other => failures.push(format!("{}: a changed signature gave {other:?}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
