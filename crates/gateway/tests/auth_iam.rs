//! `AWS_IAM` routes through real sockets (docs/aws-rules.md §HTTP-5.3, §HTTP-12 "IAM denied / unsigned"):
//! requests signed by a Rust SigV4 signer written here from the specification, and by
//! botocore's signer when Python has botocore; tampered, expired, unsigned and unauthorised
//! requests get 403.
#![allow(clippy::unwrap_used)]

mod auth_support;

use airlock_gateway::Authorization;
use airlock_gateway::auth::sigv4::{IamAuthorizer, IamCredential};
use auth_support::*;
use ring::{digest, hmac};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const AKID: &str = "AKIAAIRLOCKEXAMPLE01";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYairlockKEY";
const READER: &str = "AKIAAIRLOCKREADER001";

fn iam() -> Authorization {
    Authorization::Iam(Arc::new(IamAuthorizer::new(
        REGION,
        ACCOUNT,
        vec![
            IamCredential {
                access_key_id: AKID.into(),
                secret_access_key: SECRET.into(),
                principal_arn: format!("arn:aws:iam::{ACCOUNT}:user/alice"),
                allowed_resources: vec![format!(
                    "arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/*"
                )],
            },
            IamCredential {
                access_key_id: READER.into(),
                secret_access_key: SECRET.into(),
                principal_arn: format!("arn:aws:iam::{ACCOUNT}:user/reader"),
                allowed_resources: vec![format!(
                    "arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/*/GET/*"
                )],
            },
            IamCredential {
                access_key_id: "AKIAOTHERACCOUNT0001".into(),
                secret_access_key: SECRET.into(),
                principal_arn: "arn:aws:iam::999999999999:user/mallory".into(),
                allowed_resources: vec!["*".into()],
            },
        ],
    )))
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days (Hinnant), kept separate from the crate's code on purpose.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A SigV4 signer for simple requests (path and query already canonical), from
/// "Create a signed AWS API request", https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html.
fn sign(
    akid: &str,
    secret: &str,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
    at: SystemTime,
) -> Vec<(String, String)> {
    let date = amz_date(at);
    let day = &date[..8];
    let scope = format!("{day}/{REGION}/execute-api/aws4_request");
    let canonical = format!(
        "{method}\n{path}\n{query}\nhost:{}\nx-amz-date:{date}\n\nhost;x-amz-date\n{}",
        host(),
        hex(digest::digest(&digest::SHA256, body.as_bytes()).as_ref())
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [day, REGION, "execute-api", "aws4_request"] {
        key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes())
            .as_ref()
            .to_vec();
    }
    let sig = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), to_sign.as_bytes());
    vec![
        ("x-amz-date".into(), date),
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={akid}/{scope}, SignedHeaders=host;x-amz-date, Signature={}",
                hex(sig.as_ref())
            ),
        ),
    ]
}

/// Method, path, headers, body.
type Case<'a> = (&'a str, &'a str, Vec<(String, String)>, &'a str);

fn refs(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn sigv4_signed_requests_pass_and_everything_else_is_403() {
    let h = start(vec![("GET /pets/{id}", iam()), ("POST /pets", iam())]).await;
    let now = SystemTime::now();

    let signed = sign(AKID, SECRET, "GET", "/pets/1", "a=1&b=2", "", now);
    let a = h.get("/pets/1?b=2&a=1", &refs(&signed)).await;
    assert_eq!(a.status, 200, "{}", a.body);

    let body = r#"{"name":"rex"}"#;
    let signed = sign(AKID, SECRET, "POST", "/pets", "", body, now);
    let a = h.send("POST", "/pets", &refs(&signed), body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json()["body"],
        body,
        "the buffered body still reaches the backend"
    );

    // A GET of /pets/1 signed as one, by `key` with `secret` at `at`.
    let get_pet_1 = |key: &str, secret: &str, at: SystemTime| -> Case<'static> {
        let signed = sign(key, secret, "GET", "/pets/1", "", "", at);
        ("GET", "/pets/1", signed, "")
    };
    // Tampered body, path, query; wrong secret; unknown key.
    let cases: Vec<Case> = vec![
        ("POST", "/pets", signed.clone(), r#"{"name":"rexx"}"#),
        (
            "GET",
            "/pets/2",
            sign(AKID, SECRET, "GET", "/pets/1", "", "", now),
            "",
        ),
        (
            "GET",
            "/pets/1?admin=1",
            sign(AKID, SECRET, "GET", "/pets/1", "", "", now),
            "",
        ),
        get_pet_1(AKID, "not-the-secret", now),
        get_pet_1("AKIAUNKNOWN000000000", SECRET, now),
        // Expired (outside the 15-minute window) and from the future.
        get_pet_1(AKID, SECRET, now - Duration::from_secs(20 * 60)),
        get_pet_1(AKID, SECRET, now + Duration::from_secs(20 * 60)),
        // Signed correctly, but the identity policy does not allow POST.
        (
            "POST",
            "/pets",
            sign(READER, SECRET, "POST", "/pets", "", "", now),
            "",
        ),
        // Signed correctly by another account: HTTP APIs have no resource policies.
        get_pet_1("AKIAOTHERACCOUNT0001", SECRET, now),
        // Unsigned.
        ("GET", "/pets/1", vec![], ""),
        // A payload hash header that does not vouch for this body.
        (
            "POST",
            "/pets",
            [
                signed.clone(),
                vec![("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into())],
            ]
            .concat(),
            body,
        ),
    ];
    for (i, (method, path, headers, body)) in cases.iter().enumerate() {
        let a = h.send(method, path, &refs(headers), body).await;
        assert_refusal(&a, 403, "Forbidden");
        assert!(!a.headers.contains_key("www-authenticate"), "case {i}");
    }

    // A payload hash header equal to the body's hash is fine.
    let hash = hex(digest::digest(&digest::SHA256, body.as_bytes()).as_ref());
    let with_hash = [signed.clone(), vec![("x-amz-content-sha256".into(), hash)]].concat();
    let a = h.send("POST", "/pets", &refs(&with_hash), body).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // Within the skew window is fine, and the reader may GET.
    let signed = sign(
        READER,
        SECRET,
        "GET",
        "/pets/1",
        "",
        "",
        now - Duration::from_secs(10 * 60),
    );
    assert_eq!(h.get("/pets/1", &refs(&signed)).await.status, 200);
}

/// botocore's own signer (what the AWS CLI and boto3 use) must be accepted as is.
#[tokio::test]
async fn botocore_signed_requests_pass() {
    if !airlock_net::testing::python_module("botocore", "pip install botocore") {
        return;
    }
    let h = start(vec![("ANY /pets/{proxy+}", iam())]).await;
    let script = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
method, url, body, akid, secret, region = sys.argv[1:7]
req = AWSRequest(method=method, url=url, data=body.encode() if body else None,
                 headers={"content-type": "application/json"} if body else {})
SigV4Auth(Credentials(akid, secret), "execute-api", region).add_auth(req)
print(json.dumps(dict(req.headers.items())))
"#;
    let cases = [
        ("GET", "/pets/a/b?z=1&a=hello%20world&a=0", ""),
        ("POST", "/pets/new", r#"{"name":"rex","tags":["a b"]}"#),
        ("DELETE", "/pets/with~tilde/and-dash_", ""),
        ("PUT", "/pets/x?empty=&flag", "plain body"),
    ];
    for (method, path, body) in cases {
        let url = format!("https://{}{path}", host());
        let out = std::process::Command::new("python3")
            .args(["-c", script, method, &url, body, AKID, SECRET, REGION])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let headers: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&out.stdout).unwrap();
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
            .collect();
        let a = h.send(method, path, &refs(&headers), body).await;
        assert_eq!(
            a.status, 200,
            "{method} {path}: {} (headers {headers:?})",
            a.body
        );

        // The same request with one byte changed in the body or path is refused.
        let (tpath, tbody) = if body.is_empty() {
            (path.replacen("/pets/", "/pets/z", 1), body.to_owned())
        } else {
            (path.to_owned(), format!("{body} "))
        };
        let a = h.send(method, &tpath, &refs(&headers), &tbody).await;
        assert_refusal(&a, 403, "Forbidden");
    }
}

/// `$context.identity.*` on IAM routes, for parameter mapping.
#[tokio::test]
async fn caller_identity_reaches_the_backend_through_mappings() {
    let h = start_with(
        vec![("GET /me", iam())],
        Default::default(),
        &[
            ("overwrite:header.x-user-arn", "$context.identity.userArn"),
            ("overwrite:header.x-account", "$context.identity.accountId"),
            (
                "overwrite:header.x-access-key",
                "$context.identity.accessKey",
            ),
        ],
    )
    .await;
    let signed = sign(AKID, SECRET, "GET", "/me", "", "", SystemTime::now());
    let a = h.get("/me", &refs(&signed)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let headers = &a.json()["headers"];
    assert_eq!(
        headers["x-user-arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/alice")
    );
    assert_eq!(headers["x-account"], ACCOUNT);
    assert_eq!(headers["x-access-key"], AKID);
}
