//! The built-in sample apps: "container images" that need no Docker. Each task runs its own
//! instance, with its own state, as separate containers would: on its own loopback port for the
//! host, and in-process at its private addresses for the emulated VPC (so a load balancer's
//! request to a built-in task costs no kernel round trip).

use crate::config::BuiltinApp;
use airlock_net::sync::lock;
use airlock_net::{Accepted, ConnectionLimit, EmulatedListener, accept_loop};
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue, LOCATION};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The largest request body the pets app reads (`POST /pets`).
const MAX_BODY: usize = 64 * 1024;
/// Slow clients may not hold a connection open without sending a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Who a sample app instance is: what `GET /whoami` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskIdentity {
    /// The task id (32 hex digits).
    pub task_id: String,
    /// The task's private IPv4 address.
    pub private_ip: Ipv4Addr,
}

/// Serves a built-in app on `listener` (a loopback socket) and on `vpc` (its private addresses
/// in the emulated network) until `shutdown` fires; connections run in `tracker` and finish
/// their in-flight request before closing.
pub async fn serve_builtin(
    app: BuiltinApp,
    listener: TcpListener,
    vpc: Vec<EmulatedListener>,
    identity: TaskIdentity,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let identity = Arc::new(identity);
    match app {
        BuiltinApp::Pets => {
            let store = Arc::new(Mutex::new(PetStore::seeded()));
            serve_http("pets", listener, vpc, shutdown, tracker, move |req| {
                pets(req, identity.clone(), store.clone())
            })
            .await
        }
        BuiltinApp::Echo => {
            serve_http("echo", listener, vpc, shutdown, tracker, move |req| {
                let body = whoami(&req, &identity);
                async move { json_response(StatusCode::OK, &body) }
            })
            .await
        }
    }
}

/// Serves HTTP/1.1 with `handler` on a loopback socket and on in-process listeners, through
/// the one accept loop, closing connections gracefully when `shutdown` fires.
pub(crate) async fn serve_http<H, Fut>(
    name: &'static str,
    listener: TcpListener,
    vpc: Vec<EmulatedListener>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    // The in-VPC loops end with the same shutdown; dropping them releases the addresses.
    for l in vpc {
        let (handler, conn_shutdown) = (handler.clone(), shutdown.clone());
        tokio::spawn(accept_loop(
            name,
            l,
            ConnectionLimit::default(),
            shutdown.clone(),
            tracker.clone(),
            move |accepted: Accepted, _peer| {
                serve_connection(accepted.stream, handler.clone(), conn_shutdown.clone())
            },
        ));
    }
    let conn_shutdown = shutdown.clone();
    let on_host = accept_loop(
        name,
        listener,
        ConnectionLimit::default(),
        shutdown,
        tracker,
        move |stream, _peer| serve_connection(stream, handler.clone(), conn_shutdown.clone()),
    );
    on_host.await;
}

/// Header lines a sample app parses: what reaches it through the gateway and a load balancer.
const MAX_HEADER_LINES: usize =
    airlock_net::MAX_CLIENT_HEADER_LINES + 2 * airlock_net::HEADER_LINES_ADDED_PER_HOP;

/// One HTTP/1.1 connection of a sample app.
async fn serve_connection<S, H, Fut>(stream: S, handler: H, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let service = service_fn(move |req| {
        let response = handler(req);
        async move { Ok::<_, Infallible>(response.await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // Whatever a load balancer forwards: the most header lines the gateway takes, plus
        // what the gateway and the load balancer add (hyper's default of 100 refused
        // requests the chain had accepted, with an empty 431 of its own).
        .max_headers(MAX_HEADER_LINES)
        .serve_connection(TokioIo::new(stream), service);
    let result = airlock_net::serve_gracefully(conn, &shutdown, |c| c.graceful_shutdown()).await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// The pets app's router.
async fn pets(
    req: Request<Incoming>,
    identity: Arc<TaskIdentity>,
    store: Arc<Mutex<PetStore>>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (segments.as_slice(), req.method()) {
        (["health"], &Method::GET) => json_response(StatusCode::OK, &json!({"status": "ok"})),
        (["whoami"], &Method::GET) => json_response(StatusCode::OK, &whoami(&req, &identity)),
        (["pets"], &Method::GET) => {
            let list = lock(&store).list();
            json_response(StatusCode::OK, &Value::Array(list))
        }
        (["pets"], &Method::POST) => create_pet(req, &store).await,
        (["pets", id], &Method::GET) => {
            let pet = id.parse::<u64>().ok().and_then(|id| lock(&store).get(id));
            match pet {
                Some(pet) => json_response(StatusCode::OK, &pet),
                None => json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"message": format!("Pet {id} not found")}),
                ),
            }
        }
        (["health"] | ["whoami"] | ["pets", _], _) => method_not_allowed("GET"),
        (["pets"], _) => method_not_allowed("GET, POST"),
        _ => json_response(StatusCode::NOT_FOUND, &json!({"message": "Not Found"})),
    }
}

async fn create_pet(req: Request<Incoming>, store: &Mutex<PetStore>) -> Response<Full<Bytes>> {
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let (status, message) = if e.is::<http_body_util::LengthLimitError>() {
                (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            } else {
                (StatusCode::BAD_REQUEST, "Could not read the request body")
            };
            return json_response(status, &json!({ "message": message }));
        }
    };
    let fields = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"message": "A pet must be a JSON object"}),
            );
        }
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "message": format!("Invalid JSON body: {e}") }),
            );
        }
    };
    let (id, pet) = lock(store).insert(fields);
    let mut response = json_response(StatusCode::CREATED, &pet);
    if let Ok(location) = HeaderValue::from_str(&format!("/pets/{id}")) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// What the task received, as `GET /whoami` reports it: exactly the keys `method`, `path`,
/// `query`, `headers`, `task_id` and `private_ip`. Repeated headers are joined with `, `.
pub(crate) fn whoami<B>(req: &Request<B>, identity: &TaskIdentity) -> Value {
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "headers": headers,
        "task_id": identity.task_id,
        "private_ip": identity.private_ip.to_string(),
    })
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"message": "Method Not Allowed"}),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// One task's pets, seeded like the API Gateway pet store example.
struct PetStore {
    pets: Vec<(u64, Value)>,
    next_id: u64,
}

impl PetStore {
    fn seeded() -> PetStore {
        let pets = [
            (1, "Rex", "dog", 249.99),
            (2, "Tom", "cat", 124.99),
            (3, "Nemo", "fish", 0.99),
        ]
        .into_iter()
        .map(|(id, name, kind, price)| {
            (
                id,
                json!({"id": id, "name": name, "type": kind, "price": price}),
            )
        })
        .collect();
        PetStore { pets, next_id: 4 }
    }

    fn list(&self) -> Vec<Value> {
        self.pets.iter().map(|(_, pet)| pet.clone()).collect()
    }

    fn get(&self, id: u64) -> Option<Value> {
        self.pets
            .iter()
            .find(|(pet_id, _)| *pet_id == id)
            .map(|(_, pet)| pet.clone())
    }

    /// Stores a new pet under the next id (any `id` the client sent is replaced).
    fn insert(&mut self, mut fields: Map<String, Value>) -> (u64, Value) {
        let id = self.next_id;
        self.next_id += 1;
        fields.insert("id".to_owned(), json!(id));
        let pet = Value::Object(fields);
        self.pets.push((id, pet.clone()));
        (id, pet)
    }
}
