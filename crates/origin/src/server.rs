//! The HTTP surface (docs/ARCHITECTURE.md, "Origin ledger protocol"): thin axum handlers that check
//! documents with [`crate::intake`] and hand them to the ledger's single writer. Every route
//! but `/v1/health` and the JWKS needs a bearer token ([`crate::auth`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use http_body_util::BodyExt;
use invoice_edge_core::document::model::is_uuid;
use invoice_edge_core::keys::{EdKey, Jwks};
use invoice_edge_core::ledger::{
    BatchResponse, BatchResult, MAX_BATCH_BYTES, MAX_BATCH_DOCUMENTS, MAX_PUT_BYTES,
};
use invoice_edge_core::problem::PROBLEM_CONTENT_TYPE;
use invoice_edge_core::{Code, Problem};
use serde_json::{json, Value};

use crate::auth::{bearer, TokenHashes};
use crate::intake::{check, document_id, Checked};
use crate::ledger::{self, Outcome, Writer};
use crate::metrics::Metrics;
use crate::pg;
use crate::store::{backend_metric, SqliteStore, Store};

/// `PUT` bodies: one signed document, up to twice the edge's 256 KiB request limit, since a
/// signed document is larger than the request it was made from (docs/ARCHITECTURE.md).
pub const PUT_BODY_LIMIT: usize = MAX_PUT_BYTES;
/// Most documents in one batch (docs/ARCHITECTURE.md, "Origin ledger protocol").
pub const BATCH_MAX_DOCUMENTS: usize = MAX_BATCH_DOCUMENTS;
/// Batch bodies: 500 documents of 32 KiB on average. A typical invoice is 1-4 KiB, so a full
/// batch of ordinary invoices fits many times over, while the worst case (500 documents at the
/// single-document limit) would let one request pin that much memory. The edge sends at most
/// 100 documents or 4 MiB per batch; a sender with very large invoices PUTs them one by one.
pub const BATCH_BODY_LIMIT: usize = MAX_BATCH_BYTES;

/// What `serve` needs, from flags or environment variables.
pub struct ServeConfig {
    /// A SQLite file, or a `postgres://` URL.
    pub db: String,
    /// Most PostgreSQL connections of this process.
    pub pool_size: usize,
    pub trust: PathBuf,
    pub key: PathBuf,
    pub listen: String,
    /// SHA-256 digests of the edge's `ORIGIN_TOKEN`s (one a line; two during a rotation).
    pub edge_tokens: PathBuf,
    /// SHA-256 digests of the tokens `/metrics` accepts; without it `/metrics` is closed.
    pub metrics_tokens: Option<PathBuf>,
}

/// Which token file guards a route.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guard {
    Ledger,
    Metrics,
}

struct App {
    trust_path: PathBuf,
    trust: RwLock<Arc<Jwks>>,
    edge_tokens_path: PathBuf,
    edge_tokens: RwLock<Arc<TokenHashes>>,
    metrics_tokens_path: Option<PathBuf>,
    metrics_tokens: RwLock<Option<Arc<TokenHashes>>>,
    store: Arc<dyn Store>,
    origin_jwks: Jwks,
    origin_kid: String,
    metrics: Metrics,
}

impl App {
    fn trust(&self) -> Arc<Jwks> {
        self.trust.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the trusted JWKS. A bad file keeps the keys in force, so a typo during a key
    /// rotation never makes the origin refuse every edge.
    fn reload_trust(&self) {
        match read_jwks(&self.trust_path) {
            Ok(jwks) => {
                let count = jwks.keys.len();
                *self.trust.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(jwks);
                self.metrics.trust_reloads.fetch_add(1, Ordering::Relaxed);
                eprintln!("invoice-origin: reloaded trust JWKS ({count} keys)");
            }
            Err(error) => {
                eprintln!("invoice-origin: trust JWKS not reloaded, keeping the old one: {error}")
            }
        }
    }

    /// Re-reads the token files on SIGHUP, for a rotation without a restart. A bad file keeps
    /// the tokens in force, as for the trust JWKS.
    fn reload_tokens(&self) {
        match TokenHashes::read(&self.edge_tokens_path) {
            Ok(tokens) => {
                *self.edge_tokens.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tokens);
                eprintln!("invoice-origin: reloaded --edge-tokens");
            }
            Err(error) => {
                eprintln!(
                    "invoice-origin: --edge-tokens not reloaded, keeping the old ones: {error}"
                )
            }
        }
        if let Some(path) = &self.metrics_tokens_path {
            match TokenHashes::read(path) {
                Ok(tokens) => {
                    *self
                        .metrics_tokens
                        .write()
                        .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(tokens));
                }
                Err(error) => eprintln!(
                    "invoice-origin: --metrics-tokens not reloaded, keeping the old ones: {error}"
                ),
            }
        }
    }

    fn authorized(&self, guard: Guard, headers: &HeaderMap) -> Result<(), Problem> {
        let tokens = match guard {
            Guard::Ledger => Some(
                self.edge_tokens
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
            ),
            Guard::Metrics => self
                .metrics_tokens
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        };
        let Some(tokens) = tokens else {
            return Err(Problem::single(
                Code::LedgerTokenInvalid,
                "/metrics is closed: start the origin with --metrics-tokens FILE",
            ));
        };
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        match given {
            None => Err(Problem::single(
                Code::Unauthenticated,
                "send Authorization: Bearer <token>",
            )),
            Some(token) if tokens.accepts(token) => Ok(()),
            Some(_) => Err(Problem::single(
                Code::LedgerTokenInvalid,
                "the bearer token is not one this origin is configured with",
            )),
        }
    }

    fn count(&self, outcome: &Outcome) {
        match outcome {
            Outcome::Created {
                duplicate_order: Some(description),
                ..
            } => {
                self.metrics.document("created", None);
                self.metrics.duplicate_order();
                // docs/ARCHITECTURE.md: the same order in two series is archived, but the operator hears of it.
                eprintln!("invoice-origin: DUPLICATE_ORDER: {description}");
            }
            Outcome::Created { .. } => self.metrics.document("created", None),
            Outcome::Replayed(_) => self.metrics.document("replayed", None),
            Outcome::Rejected(problem) => self
                .metrics
                .document("rejected", Some(problem.code.as_str())),
        }
    }
}

pub fn read_jwks(path: &std::path::Path) -> Result<Jwks, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a JWKS {{\"keys\": [...]}}: {e}", path.display()))
}

/// `invoice-origin migrate`: brings the ledger's schema to this binary's; the version.
pub fn migrate(db: &str) -> Result<usize, String> {
    if pg::is_postgres(db) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        return runtime.block_on(async {
            let pool = pg::pool(db, 1)?;
            let mut client = pool
                .get()
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            pg::migrate(&mut client).await
        });
    }
    let mut conn = ledger::open(std::path::Path::new(db), true).map_err(|e| e.to_string())?;
    ledger::migrate(&mut conn).map_err(|e| e.to_string())?;
    conn.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
        .map(|v| usize::try_from(v).unwrap_or(0))
        .map_err(|e| e.to_string())
}

/// Starts the origin and runs it until SIGTERM or SIGINT.
pub fn serve(config: ServeConfig) -> Result<(), String> {
    let key_text = std::fs::read_to_string(&config.key)
        .map_err(|e| format!("--key {}: {e}", config.key.display()))?;
    let key = EdKey::from_jwk_json(&key_text)
        .map_err(|e| format!("--key {}: {e}", config.key.display()))?;
    let trust = read_jwks(&config.trust).map_err(|e| format!("--trust {e}"))?;
    let edge_tokens =
        TokenHashes::read(&config.edge_tokens).map_err(|e| format!("--edge-tokens {e}"))?;
    let metrics_tokens = match &config.metrics_tokens {
        Some(path) => Some(Arc::new(
            TokenHashes::read(path).map_err(|e| format!("--metrics-tokens {e}"))?,
        )),
        None => None,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let metrics = Metrics::default();
    let origin_kid = key.kid().to_string();
    let mut writer_thread = None;
    let (store, origin_jwks): (Arc<dyn Store>, _) = if pg::is_postgres(&config.db) {
        let db_error = |e: String| format!("--db {}: {e}", pg::redact(&config.db));
        let size = metrics.ledger_size.clone();
        runtime.block_on(async {
            let pool = pg::prepare(&config.db, Some(&key), config.pool_size)
                .await
                .map_err(db_error)?;
            let client = pool.get().await.map_err(|e| db_error(e.to_string()))?;
            let origin_jwks = pg::origin_keys(&**client).await.map_err(db_error)?;
            size.store(
                pg::size(&**client).await.map_err(db_error)?,
                Ordering::Relaxed,
            );
            drop(client);
            let store: Arc<dyn Store> = Arc::new(pg::PgStore::start(pool, key, size));
            Ok::<_, String>((store, origin_jwks))
        })?
    } else {
        let path = std::path::Path::new(&config.db);
        let db_error = |e: rusqlite::Error| format!("--db {}: {e}", config.db);
        let mut conn = ledger::open(path, true).map_err(db_error)?;
        ledger::migrate(&mut conn).map_err(db_error)?;
        ledger::record_origin_key(&conn, &key).map_err(db_error)?;
        let origin_jwks = ledger::origin_keys(&conn).map_err(db_error)?;
        let size = ledger::size(&conn).map_err(db_error)?;
        let reader = ledger::open(path, false).map_err(db_error)?;
        metrics.ledger_size.store(size, Ordering::Relaxed);
        let (writer, thread) = Writer::start(conn, key, metrics.ledger_size.clone())
            .map_err(|e| format!("cannot start the ledger writer: {e}"))?;
        writer_thread = Some(thread);
        let store: Arc<dyn Store> = Arc::new(SqliteStore {
            writer,
            reader: Arc::new(Mutex::new(reader)),
        });
        (store, origin_jwks)
    };
    let app = Arc::new(App {
        trust_path: config.trust.clone(),
        trust: RwLock::new(Arc::new(trust)),
        edge_tokens_path: config.edge_tokens.clone(),
        edge_tokens: RwLock::new(Arc::new(edge_tokens)),
        metrics_tokens_path: config.metrics_tokens.clone(),
        metrics_tokens: RwLock::new(metrics_tokens),
        store,
        origin_jwks,
        origin_kid,
        metrics,
    });

    runtime.block_on(run(app, &config.listen))?;
    // Every request has been answered; the writer finishes its last transaction and stops.
    drop(runtime);
    if let Some(thread) = writer_thread {
        let _ = thread.join();
    }
    Ok(())
}

async fn run(app: Arc<App>, listen: &str) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    // Installed before the port opens: SIGHUP's default action would kill the process.
    let mut hangup = signal(SignalKind::hangup()).map_err(|e| format!("SIGHUP: {e}"))?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| format!("--listen {listen}: {e}"))?;
    {
        use std::io::Write;
        // Tests and scripts read this line to learn the port of `--listen 127.0.0.1:0`.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "invoice-origin listening on http://{addr}");
        let _ = stdout.flush();
    }

    let reloader = app.clone();
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            let app = reloader.clone();
            let _ = tokio::task::spawn_blocking(move || {
                app.reload_trust();
                app.reload_tokens();
            })
            .await;
        }
    });

    let router = router(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            eprintln!("invoice-origin: shutting down");
        })
        .await
        .map_err(|e| format!("server: {e}"))
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/v1/ledger/invoices/{id}",
            put(put_invoice)
                .get(get_invoice)
                .fallback(method_not_allowed),
        )
        .route(
            "/v1/ledger/batch",
            post(post_batch).fallback(method_not_allowed),
        )
        .route("/v1/health", get(health).fallback(method_not_allowed))
        .route(
            "/.well-known/jwks.json",
            get(jwks).fallback(method_not_allowed),
        )
        .route("/metrics", get(metrics).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// Counts every request by route and status, and times the ingest routes.
async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = match *request.method() {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        _ => "OTHER",
    };
    let path = request.uri().path();
    // Route templates, not raw paths, keep the label set small.
    let route = if path.starts_with("/v1/ledger/invoices/") {
        "/v1/ledger/invoices/{id}"
    } else {
        match path {
            "/v1/ledger/batch" => "/v1/ledger/batch",
            "/v1/health" => "/v1/health",
            "/.well-known/jwks.json" => "/.well-known/jwks.json",
            "/metrics" => "/metrics",
            _ => "other",
        }
    };
    let guard = match route {
        "/v1/health" | "/.well-known/jwks.json" | "other" => None,
        "/metrics" => Some(Guard::Metrics),
        _ => Some(Guard::Ledger),
    };
    let response = match guard.map(|guard| app.authorized(guard, request.headers())) {
        Some(Err(problem)) => {
            let mut response = problem_response(&problem);
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            response
        }
        _ => next.run(request).await,
    };
    app.metrics
        .request(method, route, response.status().as_u16());
    match (method, route) {
        ("PUT", "/v1/ledger/invoices/{id}") => app.metrics.ingest("put", started.elapsed()),
        ("POST", "/v1/ledger/batch") => app.metrics.ingest("batch", started.elapsed()),
        _ => {}
    }
    response
}

fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(CONTENT_TYPE, PROBLEM_CONTENT_TYPE)],
        problem.to_json(),
    )
        .into_response()
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => (status, [(CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => problem_response(&Problem::single(
            Code::Internal,
            format!("cannot encode: {e}"),
        )),
    }
}

fn outcome_response(outcome: &Outcome) -> Response {
    match outcome {
        Outcome::Created { final_, .. } => json_response(StatusCode::CREATED, final_),
        Outcome::Replayed(final_) => json_response(StatusCode::OK, final_),
        Outcome::Rejected(problem) => problem_response(problem),
    }
}

async fn not_found() -> Response {
    problem_response(&Problem::single(Code::NotFound, "no such route"))
}

async fn method_not_allowed() -> Response {
    problem_response(&Problem::single(
        Code::MethodNotAllowed,
        "this route does not take that method",
    ))
}

/// Reads a JSON body of at most `limit` bytes. A declared `Content-Type` must be JSON.
async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, Problem> {
    if let Some(content_type) = headers.get(CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(Problem::single(
                Code::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
    }
    let too_large = || {
        Problem::single(
            Code::BodyTooLarge,
            format!("the body is over the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A body somewhat over the limit is read and dropped, so that a client that writes its
    // whole body before reading (most do) sees the 413 instead of a reset connection. Past
    // the drain limit the connection is simply closed after the answer.
    let drain_limit = limit.saturating_mul(4);
    if declared.is_some_and(|n| n > drain_limit as u64) {
        return Err(too_large());
    }
    let mut body = body;
    let mut bytes = Vec::with_capacity(declared.map_or(8 * 1024, |n| n.min(limit as u64) as usize));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Problem::single(Code::MalformedJson, format!("cannot read the body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > drain_limit {
                break;
            }
            if seen <= limit {
                bytes.extend_from_slice(&data);
            }
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    // The core's reader, as at the edge: UTF-8, depth and duplicate keys each have their code,
    // so a document means the same here as where it was signed.
    invoice_edge_core::json_reader::parse_json(&bytes)
        .map_err(|error| Problem::from_errors(vec![error]))
}

async fn put_invoice(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(Path(id)) = path else {
        return problem_response(&Problem::single(Code::NotFound, "no such invoice path"));
    };
    let document = match read_json(&headers, body, PUT_BODY_LIMIT).await {
        Ok(document) => document,
        Err(problem) => {
            app.metrics
                .document("rejected", Some(problem.code.as_str()));
            return problem_response(&problem);
        }
    };
    // About 0.1 ms of hashing and one signature check: cheaper inline than a thread hop.
    let outcome = match check(document, Some(&id), &app.trust()) {
        Ok(checked) => app
            .store
            .archive(vec![checked])
            .await
            .pop()
            .unwrap_or_else(|| Outcome::Rejected(Problem::single(Code::Internal, "no outcome"))),
        Err(problem) => Outcome::Rejected(problem),
    };
    app.count(&outcome);
    outcome_response(&outcome)
}

async fn post_batch(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let value = match read_json(&headers, body, BATCH_BODY_LIMIT).await {
        Ok(value) => value,
        Err(problem) => return problem_response(&problem),
    };
    let documents = match value {
        Value::Object(mut members) => match members.remove("documents") {
            Some(Value::Array(documents)) => documents,
            _ => {
                return problem_response(&Problem::from_errors(vec![
                    invoice_edge_core::FieldError::new(
                        "/documents",
                        Code::WrongType,
                        "a batch is {\"documents\": [ ... ]}",
                    ),
                ]))
            }
        },
        _ => {
            return problem_response(&Problem::single(
                Code::WrongType,
                "a batch is {\"documents\": [ ... ]}",
            ))
        }
    };
    if documents.len() > BATCH_MAX_DOCUMENTS {
        return problem_response(&Problem::single(
            Code::BatchTooLarge,
            format!(
                "{} documents; a batch holds at most {BATCH_MAX_DOCUMENTS}",
                documents.len()
            ),
        ));
    }

    // Signature checks take about 0.1 ms each: off the async workers, so a batch of 500 does
    // not stall the other connections.
    let trust = app.trust();
    let checked = tokio::task::spawn_blocking(move || {
        documents
            .into_iter()
            .map(|document| (document_id(&document), check(document, None, &trust)))
            .collect::<Vec<_>>()
    })
    .await;
    let checked = match checked {
        Ok(checked) => checked,
        Err(e) => {
            return problem_response(&Problem::single(
                Code::Internal,
                format!("checking the batch failed: {e}"),
            ))
        }
    };

    let mut ids = Vec::with_capacity(checked.len());
    let mut valid: Vec<Checked> = Vec::with_capacity(checked.len());
    let mut slots: Vec<Result<usize, Problem>> = Vec::with_capacity(checked.len());
    for (id, result) in checked {
        ids.push(id);
        slots.push(match result {
            Ok(document) => {
                valid.push(document);
                Ok(valid.len() - 1)
            }
            Err(problem) => Err(problem),
        });
    }
    let mut numbered: Vec<Option<Outcome>> = if valid.is_empty() {
        Vec::new()
    } else {
        app.store
            .archive(valid)
            .await
            .into_iter()
            .map(Some)
            .collect()
    };

    let results: Vec<BatchResult> = ids
        .into_iter()
        .zip(slots)
        .map(|(id, slot)| {
            let outcome = match slot {
                Ok(index) => numbered
                    .get_mut(index)
                    .and_then(Option::take)
                    .unwrap_or_else(|| {
                        Outcome::Rejected(Problem::single(Code::Internal, "no outcome"))
                    }),
                Err(problem) => Outcome::Rejected(problem),
            };
            app.count(&outcome);
            let status = outcome.status();
            match outcome {
                Outcome::Created { final_, .. } | Outcome::Replayed(final_) => {
                    BatchResult::archived(id, status, final_)
                }
                Outcome::Rejected(problem) => BatchResult::refused(id, problem),
            }
        })
        .collect();
    json_response(StatusCode::OK, &BatchResponse { results })
}

async fn get_invoice(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path(id)) = path else {
        return not_found().await;
    };
    if !is_uuid(&id) {
        return problem_response(&Problem::single(Code::NotFound, format!("no invoice {id}")));
    }
    match app.store.entry_by_id(id.clone()).await {
        Ok(Some(entry)) => {
            let mut document: Value = match serde_json::from_str(&entry.document) {
                Ok(document) => document,
                Err(e) => {
                    return problem_response(&Problem::single(
                        Code::Internal,
                        format!("stored document unreadable: {e}"),
                    ))
                }
            };
            if let Value::Object(members) = &mut document {
                members.insert("status".into(), json!("final"));
                members.insert("final".into(), json!(entry.final_()));
                members.insert("rejection".into(), Value::Null);
            }
            json_response(StatusCode::OK, &document)
        }
        Ok(None) => problem_response(&Problem::single(
            Code::NotFound,
            format!("no invoice {id} in the ledger"),
        )),
        Err(e) => problem_response(&Problem::single(
            Code::Internal,
            format!("ledger read: {e}"),
        )),
    }
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let trust = app.trust();
    json_response(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "version": invoice_edge_core::VERSION,
            "ledger_size": app.metrics.ledger_size.load(Ordering::Relaxed),
            "origin_kid": app.origin_kid,
            "trusted_kids": trust.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        }),
    )
}

async fn jwks(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, &app.origin_jwks)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        {
            let mut text = app.metrics.render();
            backend_metric(&mut text, app.store.backend());
            app.store.metrics(&mut text);
            text
        },
    )
        .into_response()
}
