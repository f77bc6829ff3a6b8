//! The classifier over http_desync_guardian's published case corpus
//! (`tests/data/desync`, see its README): every case's request is written out as raw bytes and
//! classified; the class and reason must be the corpus's, except for the cases listed in
//! `tests/data/desync/differences.yaml`, where airlock's documented choice
//! (docs/aws-fidelity.md) gives another answer, which must then be exactly the one listed.

use super::{Class, classify};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
struct Case {
    name: String,
    uri: Scalar,
    method: Scalar,
    version: Scalar,
    #[serde(default)]
    headers: Vec<Header>,
    expected: Expected,
}

#[derive(Deserialize)]
struct Header {
    name: Scalar,
    value: Scalar,
}

#[derive(Deserialize)]
struct Expected {
    tier: String,
    reason: String,
}

/// A YAML scalar as the text it spells (`Content-Length: 100` is a number to YAML).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(i64),
    Null(()),
}

impl Scalar {
    /// The bytes: the corpus writes bytes 0x80-0xFF as `\xNN` escapes, which YAML reads as the
    /// characters U+0080-U+00FF, so those characters stand for one byte each.
    fn bytes(&self) -> Vec<u8> {
        match self {
            Scalar::Text(s) => s
                .chars()
                .flat_map(|c| match u8::try_from(u32::from(c)) {
                    Ok(b) => vec![b],
                    Err(_) => c.to_string().into_bytes(),
                })
                .collect(),
            Scalar::Number(n) => n.to_string().into_bytes(),
            Scalar::Null(()) => Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct Difference {
    file: String,
    name: String,
    /// What airlock gives: `Tier/Reason`, or `Refused NNN` for a head refused in every mode.
    airlock: String,
    why: String,
}

/// The request as bytes on the wire: `METHOD URI VERSION` (no version: `METHOD URI`), one
/// `name: value` line per header, and the empty line.
fn head(case: &Case) -> Vec<u8> {
    let mut out = case.method.bytes();
    out.push(b' ');
    out.extend(case.uri.bytes());
    let version = case.version.bytes();
    if !version.is_empty() {
        out.push(b' ');
        out.extend(version);
    }
    out.extend_from_slice(b"\r\n");
    for h in &case.headers {
        out.extend(h.name.bytes());
        out.extend_from_slice(b": ");
        out.extend(h.value.bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// airlock's answer in the corpus's terms.
fn outcome(head: &[u8]) -> String {
    let c = classify(head);
    if let Some(status) = c.refuse {
        return format!("Refused {}", status.as_u16());
    }
    let tier = match c.class() {
        Class::Compliant => "Compliant",
        Class::Acceptable => "Acceptable",
        Class::Ambiguous => "Ambiguous",
        Class::Severe => "Severe",
    };
    format!("{tier}/{}", c.reason.map_or("Compliant", |r| r.as_str()))
}

#[test]
fn the_desync_guardian_corpus_is_classified_as_published_or_as_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/desync");
    let differences: Vec<Difference> =
        yaml_serde::from_str(&std::fs::read_to_string(dir.join("differences.yaml")).unwrap())
            .unwrap();
    let mut listed: BTreeMap<(String, String), &Difference> = differences
        .iter()
        .map(|d| ((d.file.clone(), d.name.clone()), d))
        .collect();
    assert!(
        differences.iter().all(|d| !d.why.trim().is_empty()),
        "every difference says why"
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("differences.yaml"))
        .collect();
    files.sort();
    let (mut cases, mut failures) = (0, Vec::new());
    for file in &files {
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        let parsed: Vec<Case> =
            yaml_serde::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for case in parsed {
            cases += 1;
            let got = outcome(&head(&case));
            let published = format!("{}/{}", case.expected.tier, case.expected.reason);
            let want = match listed.remove(&(file_name.clone(), case.name.clone())) {
                Some(d) => d.airlock.clone(),
                None => published.clone(),
            };
            if got != want {
                failures.push(format!(
                    "{file_name}: {:?}: airlock {got}, expected {want} (published {published})",
                    case.name
                ));
            }
        }
    }
    assert!(cases >= 150, "the corpus is there: {cases} cases");
    assert!(
        listed.is_empty(),
        "differences.yaml lists cases the corpus does not have: {:?}",
        listed.keys().collect::<Vec<_>>()
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
