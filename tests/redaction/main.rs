//! No credential survives into what the crate stores, logs, labels or
//! publishes. A corpus of credential shapes (each preset's auth header,
//! OAuth tokens, Google keys, signed URLs, userinfo, basic auth), each with
//! a secret of its own, goes through the crate's stacks; every sink is then
//! searched for every secret:
//!
//! - stored: dead letters in SQLite (the file's bytes) and in Redis;
//! - logged: every event and span field at TRACE;
//! - labelled: every metric name and label value;
//! - published: the mock's `GET /__stats` and the bodies it echoes;
//! - error messages the crate writes (dead-letter messages, routing and
//!   batch errors).
#![cfg(all(feature = "sqlite", feature = "metrics"))]

#[path = "../support/mod.rs"]
mod support;

use support::files;
#[cfg(feature = "redis")]
use support::redis as redis_common;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::BoxError;
use tower_pacer::destinations::{DestinationsLayer, PolicyTable};
use tower_pacer::dlq::{DeadLetter, DeadLetterLayer, DeadLetterStore, SqliteStore};
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::presets::AUTH_HEADERS;
use tower_pacer::redact::fingerprint;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One way a request carries a credential.
struct Shape {
    name: &'static str,
    /// The text that must never reappear.
    secret: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
}

fn shape(
    name: &'static str,
    secret: &'static str,
    url: &str,
    headers: &[(&'static str, &str)],
) -> Shape {
    Shape {
        name,
        secret,
        url: url.to_owned(),
        headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
    }
}

/// The corpus: every preset's auth header, then the shapes seen in the wild.
fn corpus() -> Vec<Shape> {
    const API: &str = "https://api.test/v1/things";
    let mut shapes = Vec::new();
    // Each preset's own credential, as that API takes it.
    let preset_secrets = [
        (
            "hubspot",
            "Bearer pat-na1-11aa22bb-hubspot",
            "pat-na1-11aa22bb-hubspot",
        ),
        (
            "salesforce",
            "Bearer 00D5g000004salesforceSECRET",
            "00D5g000004salesforceSECRET",
        ),
        (
            "mailchimp",
            "Basic YW55c3RyaW5nOm1haWxjaGltcC11czY=",
            "YW55c3RyaW5nOm1haWxjaGltcC11czY=",
        ),
        (
            "github",
            "token ghp_githubSECRET0123456789",
            "ghp_githubSECRET0123456789",
        ),
        (
            "stripe",
            "Bearer sk_live_stripeSECRET0123",
            "sk_live_stripeSECRET0123",
        ),
        (
            "slack",
            "Bearer xoxb-slack-SECRET-0123",
            "xoxb-slack-SECRET-0123",
        ),
        (
            "shopify",
            "shpat_shopifySECRET0123456789",
            "shpat_shopifySECRET0123456789",
        ),
    ];
    for (preset, name) in AUTH_HEADERS {
        if *preset == "ga4" {
            shapes.push(shape(
                "ga4 api_secret (query)",
                "ga4SECRETmeasurement",
                &format!("{API}?measurement_id=G-1&api_secret=ga4SECRETmeasurement"),
                &[],
            ));
            continue;
        }
        let (_, value, secret) = preset_secrets
            .iter()
            .find(|(p, _, _)| p == preset)
            .expect("a secret for every preset");
        shapes.push(Shape {
            name: preset,
            secret,
            url: API.to_owned(),
            headers: vec![(name, (*value).to_owned())],
        });
    }
    shapes.extend([
        shape(
            "oauth bearer",
            "ya29.a0AfH6SMBoauthSECRET",
            API,
            &[("authorization", "Bearer ya29.a0AfH6SMBoauthSECRET")],
        ),
        shape(
            "basic auth",
            "dXNlcjpiYXNpY1NFQ1JFVA==",
            API,
            &[("authorization", "Basic dXNlcjpiYXNpY1NFQ1JFVA==")],
        ),
        shape(
            "proxy basic auth",
            "cHJveHk6cHJveHlTRUNSRVQ=",
            API,
            &[("proxy-authorization", "Basic cHJveHk6cHJveHlTRUNSRVQ=")],
        ),
        shape(
            "x-goog-api-key",
            "AIzaSyGoogHeaderSECRET01",
            API,
            &[("x-goog-api-key", "AIzaSyGoogHeaderSECRET01")],
        ),
        shape(
            "api-key (Azure)",
            "azureApiKeySECRET0123",
            API,
            &[("api-key", "azureApiKeySECRET0123")],
        ),
        shape(
            "x-auth-token",
            "authTokenSECRET0123",
            API,
            &[("x-auth-token", "authTokenSECRET0123")],
        ),
        shape(
            "x-api-key",
            "xApiKeySECRET0123",
            API,
            &[("x-api-key", "xApiKeySECRET0123")],
        ),
        shape(
            "cookie",
            "cookieSessionSECRET0123",
            API,
            &[("cookie", "session=cookieSessionSECRET0123")],
        ),
        shape(
            "aws session token",
            "awsSessionTokenSECRET",
            API,
            &[("x-amz-security-token", "awsSessionTokenSECRET")],
        ),
        shape(
            "bearer in an odd header",
            "oddHeaderBearerSECRET",
            API,
            &[("x-upstream", "Bearer oddHeaderBearerSECRET")],
        ),
        shape(
            "google key (query)",
            "AIzaSyGoogQuerySECRET02",
            &format!("{API}?key=AIzaSyGoogQuerySECRET02&alt=json"),
            &[],
        ),
        shape(
            "password (query)",
            "queryPasswordSECRET",
            &format!("{API}?user=me&password=queryPasswordSECRET"),
            &[],
        ),
        shape(
            "sas sig (query)",
            "sasSigSECRET%2Bab%3D",
            &format!("{API}?sv=2022-11-02&sig=sasSigSECRET%2Bab%3D&se=2026"),
            &[],
        ),
        shape(
            "percent-encoded name",
            "encodedNameSECRET",
            &format!("{API}?api%5Fkey=encodedNameSECRET"),
            &[],
        ),
        shape(
            "aws signed url",
            "awsSignatureSECRET",
            &format!("{API}?X-Amz-Credential=AKIAcred%2F2026&X-Amz-Signature=awsSignatureSECRET"),
            &[],
        ),
        shape(
            "oauth token (query)",
            "oauthQueryTokenSECRET",
            &format!("{API}?access_token=oauthQueryTokenSECRET"),
            &[],
        ),
        shape(
            "hubspot legacy hapikey",
            "hapikeySECRET0123",
            &format!("{API}?hapikey=hapikeySECRET0123"),
            &[],
        ),
        shape(
            "userinfo",
            "userinfoPasswordSECRET",
            "https://me:userinfoPasswordSECRET@api.test/v1/things",
            &[],
        ),
        shape(
            "key as user name",
            "sk_live_userAsKeySECRET",
            "https://sk_live_userAsKeySECRET:@api.test/v1/things",
            &[],
        ),
    ]);
    shapes
}

fn request(shape: &Shape) -> Request<Full<Bytes>> {
    let mut builder = Request::post(shape.url.as_str()).header("content-type", "application/json");
    for (name, value) in &shape.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(Full::new(Bytes::from_static(br#"{"email":"a@b.test"}"#)))
        .expect("corpus request")
}

/// A transport error as clients write them: the URL and the headers.
fn transport_error(request: &Request<Full<Bytes>>) -> BoxError {
    format!(
        "error sending request for url ({}): connection reset; request headers {:?}",
        request.uri(),
        request.headers()
    )
    .into()
}

/// Every secret of `corpus` found in `text`, by shape name.
fn leaks<'a>(corpus: &'a [Shape], text: &str) -> Vec<&'a str> {
    corpus
        .iter()
        .filter(|shape| text.contains(shape.secret))
        .map(|shape| shape.name)
        .collect()
}

/// Dead letters of every shape, failed both ways (an HTTP refusal and a
/// transport error that repeats the request), put into `store`.
async fn fill(store: Arc<dyn DeadLetterStore>, corpus: &[Shape]) {
    let calls = Arc::new(AtomicUsize::new(0));
    let api = service_fn(move |request: Request<Full<Bytes>>| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        async move {
            if n.is_multiple_of(2) {
                Err(transport_error(&request))
            } else {
                Ok(Response::builder()
                    .status(StatusCode::UNPROCESSABLE_ENTITY)
                    .body(())
                    .expect("response"))
            }
        }
    });
    let client = ServiceBuilder::new()
        .layer(DeadLetterLayer::new(store, "corpus"))
        .service(api);
    for shape in corpus {
        for _ in 0..2 {
            let _ = client.clone().oneshot(request(shape)).await;
        }
    }
}

fn letters_text(letters: &[DeadLetter]) -> String {
    letters
        .iter()
        .map(|letter| {
            let headers: Vec<String> = letter
                .headers
                .iter()
                .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v)))
                .collect();
            format!(
                "{} {} {:?} {} {} {}\n",
                letter.method,
                letter.uri,
                headers,
                letter.message,
                letter.destination,
                String::from_utf8_lossy(&letter.body)
            )
        })
        .collect()
}

#[tokio::test]
async fn no_secret_is_stored_in_a_sqlite_dead_letter() {
    let corpus = corpus();
    let dir = std::env::temp_dir().join(format!("pacer-redaction-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("letters.sqlite3");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    fill(store.clone(), &corpus).await;
    let letters = store.peek(1_000).await.unwrap();
    assert_eq!(letters.len(), corpus.len() * 2, "every failure is a letter");
    let text = letters_text(&letters);
    assert_eq!(leaks(&corpus, &text), Vec::<&str>::new(), "{text}");
    // The letters still say what failed, with the credential's place kept.
    assert!(
        text.contains("[redacted]") && text.contains("api.test/v1/things"),
        "{text}"
    );
    // And nothing in the file's bytes either (WAL and journal included).
    drop(store);
    let bytes = files::bytes_at_rest(&dir).await;
    let raw = String::from_utf8_lossy(&bytes);
    assert_eq!(leaks(&corpus, &raw), Vec::<&str>::new());
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn no_secret_is_stored_in_a_redis_dead_letter() {
    use tower_pacer::dlq::RedisStore;
    redis_common::connection().await;
    let corpus = corpus();
    let name = redis_common::unique_key("redaction");
    let store = Arc::new(RedisStore::open(&redis_common::url(), &name).unwrap());
    fill(store.clone(), &corpus).await;
    let letters = store.peek(1_000).await.unwrap();
    assert_eq!(letters.len(), corpus.len() * 2);
    let text = letters_text(&letters);
    assert_eq!(leaks(&corpus, &text), Vec::<&str>::new(), "{text}");
    // Every value Redis holds under the store's keys, raw.
    let mut connection = redis_common::connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*{name}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let mut raw = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        let mut read = match kind.as_str() {
            "hash" => redis::cmd("HGETALL"),
            "zset" => redis::cmd("ZRANGE"),
            "list" => redis::cmd("LRANGE"),
            "string" => redis::cmd("GET"),
            _ => continue,
        };
        read.arg(&key);
        if matches!(kind.as_str(), "zset" | "list") {
            read.arg(0).arg(-1);
        }
        let dump: redis::Value = read.query_async(&mut connection).await.unwrap();
        raw.push_str(&format!("{dump:?}"));
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    assert_eq!(leaks(&corpus, &raw), Vec::<&str>::new());
}

/// Everything a subscriber is told, as text: span names and fields, event
/// messages and fields.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<String>>);

struct Write<'a>(&'a mut String);

impl Visit for Write<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut text = self.0.lock().unwrap();
        text.push_str(attributes.metadata().name());
        attributes.record(&mut Write(&mut text));
        text.push('\n');
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut text = self.0.lock().unwrap();
        values.record(&mut Write(&mut text));
        text.push('\n');
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = self.0.lock().unwrap();
        event.record(&mut Write(&mut text));
        text.push('\n');
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The whole way down: dead letters over destinations keyed by the
/// request's credential (as the docs suggest for per-key quotas) over a
/// Pacer that retries a 429 and then meets a transport error that repeats
/// the request. Logs at TRACE and metrics recorded throughout.
#[test]
fn no_secret_is_logged_labelled_or_written_in_an_error() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let logs = Recorder::default();
    let corpus = corpus();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let mut errors = String::new();
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(logs.clone(), || {
            runtime.block_on(async {
                let mut policy = Policy::default();
                policy.quotas = vec![QuotaSpec::window(100, Duration::from_secs(1))];
                let table = PolicyTable::new().with_default(policy);
                // The credential is the destination: the docs' per-key quota.
                let by_credential = |request: &Request<Full<Bytes>>| {
                    let credential = request
                        .headers()
                        .iter()
                        .filter(|(name, _)| *name != http::header::CONTENT_TYPE)
                        .filter_map(|(_, v)| v.to_str().ok())
                        .last()
                        .map(str::to_owned);
                    Some(credential.unwrap_or_else(|| request.uri().to_string()))
                };
                let calls = Arc::new(AtomicUsize::new(0));
                let api = service_fn(move |request: Request<Full<Bytes>>| {
                    let n = calls.fetch_add(1, Ordering::Relaxed);
                    async move {
                        if n.is_multiple_of(2) {
                            return Ok(Response::builder()
                                .status(StatusCode::TOO_MANY_REQUESTS)
                                .header("retry-after", "1")
                                .body(())
                                .expect("response"));
                        }
                        Err(transport_error(&request))
                    }
                });
                let dir = std::env::temp_dir()
                    .join(format!("pacer-redaction-logs-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                let store = Arc::new(SqliteStore::open(dir.join("letters.sqlite3")).unwrap());
                let client = ServiceBuilder::new()
                    .layer(DeadLetterLayer::new(store.clone(), "corpus"))
                    .layer(
                        DestinationsLayer::new(table)
                            .key(by_credential)
                            .max_live(corpus.len())
                            .unwrap(),
                    )
                    .service(api);
                for shape in &corpus {
                    if let Err(error) = client.clone().oneshot(request(shape)).await {
                        errors.push_str(&format!("{error}\n"));
                    }
                }
                // A full table refuses a new credential: the error names it
                // by fingerprint.
                let extra = shape(
                    "extra",
                    "extraKeySECRET0123",
                    "https://api.test/",
                    &[("x-api-key", "extraKeySECRET0123")],
                );
                let refused = client.clone().oneshot(request(&extra)).await.unwrap_err();
                let refused = format!("{refused} {refused:?}");
                assert!(
                    refused.contains(&fingerprint("extraKeySECRET0123")),
                    "{refused}"
                );
                assert!(!refused.contains(extra.secret), "{refused}");
                let letters = store.peek(1_000).await.unwrap();
                errors.push_str(&letters_text(&letters));
                let _ = std::fs::remove_dir_all(&dir);
            });
        });
    });
    let logs = logs.0.lock().unwrap().clone();
    assert!(logs.contains("new destination"), "{logs}");
    assert_eq!(leaks(&corpus, &logs), Vec::<&str>::new(), "{logs}");

    // The crate's own errors: the dead letters' messages (the callers got
    // their client's error, unchanged, as it is theirs).
    assert!(errors.contains("[redacted]"), "{errors}");
    let ours: String = errors.lines().filter(|l| l.starts_with("POST ")).collect();
    assert_eq!(leaks(&corpus, &ours), Vec::<&str>::new(), "{ours}");

    let mut labels = BTreeMap::new();
    for (key, _, _, _) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        for label in key.labels() {
            labels.insert(
                format!("{}={}", label.key(), label.value()),
                key.name().to_owned(),
            );
        }
    }
    let labelled = format!("{labels:?}");
    assert!(labelled.contains("destination=k-"), "{labelled}");
    assert_eq!(leaks(&corpus, &labelled), Vec::<&str>::new(), "{labelled}");
}

/// The mock names keys by fingerprint: its statistics and echoed bodies
/// carry no credential.
#[tokio::test]
async fn the_mock_publishes_no_secret() {
    let corpus = corpus();
    let server = support::spawn(pacer_mock::MockConfig::preset(pacer_mock::Preset::Hubspot)).await;
    let client = support::client();
    let mut published = String::new();
    for shape in &corpus {
        let url = shape
            .url
            .replace("https://", "http://")
            .replace("api.test", &server.addr().to_string());
        for path in ["/echo", "/batch"] {
            let url = url.replace("/v1/things", path);
            // userinfo is not sent on the wire: keep it out of the URI.
            let url = url
                .split_once('@')
                .map_or(url.clone(), |(_, host)| format!("http://{host}"));
            let mut req = support::request(Method::POST, &url, None, r#"{"inputs":[{"id":"1"}]}"#);
            for (name, value) in &shape.headers {
                req.headers_mut().insert(*name, value.parse().unwrap());
            }
            let reply = support::send(&client, req).await.unwrap();
            published.push_str(&String::from_utf8_lossy(&reply.body));
        }
    }
    published
        .push_str(&serde_json::to_string(&support::http_stats(&client, &server).await).unwrap());
    published.push_str(&serde_json::to_string(&server.stats()).unwrap());
    assert!(published.contains("k-"), "{published}");
    assert_eq!(
        leaks(&corpus, &published),
        Vec::<&str>::new(),
        "{published}"
    );
}
