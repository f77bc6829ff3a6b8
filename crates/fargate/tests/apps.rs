//! The built-in sample apps over real sockets.
#![allow(clippy::unwrap_used)]

mod common;

use airlock_fargate::{BuiltinApp, TaskIdentity, serve_builtin};
use bytes::Bytes;
use common::{get, via_loopback};
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const TASK_ID: &str = "0123456789abcdef0123456789abcdef";

async fn start(app: BuiltinApp) -> (SocketAddr, CancellationToken, TaskTracker) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let identity = TaskIdentity {
        task_id: TASK_ID.into(),
        private_ip: Ipv4Addr::new(10, 0, 100, 7),
    };
    tokio::spawn(serve_builtin(
        app,
        listener,
        Vec::new(),
        identity,
        shutdown.clone(),
        tracker.clone(),
    ));
    (addr, shutdown, tracker)
}

fn post(path: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "task.test")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test]
async fn whoami_reports_exactly_the_spec_keys() {
    let (addr, _shutdown, _) = start(BuiltinApp::Pets).await;
    let req = Request::get("/whoami?b=2&a=1")
        .header("host", "task.test")
        .header("x-multi", "one")
        .header("x-multi", "two")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = via_loopback(addr, req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    let body = reply.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "headers",
            "method",
            "path",
            "private_ip",
            "query",
            "task_id"
        ]
    );
    assert_eq!(body["method"], "GET");
    assert_eq!(body["path"], "/whoami");
    assert_eq!(body["query"], "b=2&a=1");
    assert_eq!(body["headers"]["host"], "task.test");
    assert_eq!(body["headers"]["x-multi"], "one, two");
    assert_eq!(body["task_id"], TASK_ID);
    assert_eq!(body["private_ip"], "10.0.100.7");

    let body = via_loopback(addr, get("/whoami")).await.json();
    assert!(body["query"].is_null());
}

#[tokio::test]
async fn pets_lists_gets_and_creates() {
    let (addr, _shutdown, _) = start(BuiltinApp::Pets).await;

    let health = via_loopback(addr, get("/health")).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json(), json!({"status": "ok"}));

    let list = via_loopback(addr, get("/pets")).await;
    assert_eq!(list.status, StatusCode::OK);
    let pets = list.json();
    let ids: Vec<u64> = pets
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    for pet in pets.as_array().unwrap() {
        assert!(pet["name"].is_string() && pet["type"].is_string() && pet["price"].is_number());
    }

    let one = via_loopback(addr, get("/pets/2")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["id"], 2);

    let created = via_loopback(
        addr,
        post("/pets", r#"{"name":"Kit","type":"cat","price":9.5}"#),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        created.json(),
        json!({"id": 4, "name": "Kit", "type": "cat", "price": 9.5})
    );
    assert_eq!(created.headers["location"], "/pets/4");
    let fetched = via_loopback(addr, get("/pets/4")).await;
    assert_eq!(fetched.json(), created.json());
}

#[tokio::test]
async fn pets_refuses_bad_input_with_json_errors() {
    let (addr, _shutdown, _) = start(BuiltinApp::Pets).await;

    let missing = via_loopback(addr, get("/pets/99")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.headers["content-type"], "application/json");
    assert!(missing.json()["message"].is_string());

    let not_a_number = via_loopback(addr, get("/pets/rex")).await;
    assert_eq!(not_a_number.status, StatusCode::NOT_FOUND);

    let unknown = via_loopback(addr, get("/nope")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json(), json!({"message": "Not Found"}));

    let invalid = via_loopback(addr, post("/pets", "{not json")).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert!(
        invalid.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON body")
    );

    let not_object = via_loopback(addr, post("/pets", "[1,2]")).await;
    assert_eq!(not_object.status, StatusCode::BAD_REQUEST);

    let wrong_method = via_loopback(addr, post("/health", "{}")).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers["allow"], "GET");
}

#[tokio::test]
async fn echo_answers_any_request_with_whoami() {
    let (addr, _shutdown, _) = start(BuiltinApp::Echo).await;
    let reply = via_loopback(addr, post("/any/where?x=1", "ignored")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/any/where");
    assert_eq!(body["query"], "x=1");
    assert_eq!(body["task_id"], TASK_ID);
    assert_eq!(body["headers"]["content-type"], "application/json");
}

#[tokio::test]
async fn shutdown_ends_the_server_and_its_connections() {
    let (addr, shutdown, tracker) = start(BuiltinApp::Pets).await;
    // An idle keep-alive connection must not hold the app open after shutdown.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let reply = sender.send_request(get("/health")).await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    shutdown.cancel();
    tracker.close();
    common::bounded("connections to close", tracker.wait()).await;
    common::bounded("the client connection to end", conn)
        .await
        .unwrap()
        .unwrap();
}
