//! Dead letters: what gets recorded, redaction, leases, replay, durability.

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "sqlite")]
use support::files;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use tokio::time::{self, Instant};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::dlq::{
    BODY_NOT_CAPTURED, DeadLetter, DeadLetterLayer, DeadLetterStore, FailedAgain, FailureKind,
    MemoryStore, Redaction, Replayer,
};
use tower_pacer::rate::{Limiter, Quota, RateError, RateLimitLayer};
use tower_pacer::retry::RetryLayer;
use tower_pacer::{BoxError, Pacer};

fn post(body: &str) -> http::Request<Full<Bytes>> {
    http::Request::post("https://crm.test/contacts?batch=1")
        .header("authorization", "Bearer top-secret-token")
        .header("x-api-key", "key-123")
        .header("content-type", "application/json")
        .header("idempotency-key", "k-1")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

fn status_api(
    status: u16,
) -> impl tower::Service<
    http::Request<Full<Bytes>>,
    Response = http::Response<()>,
    Error = BoxError,
    Future = impl Send,
> + Clone {
    service_fn(move |_req: http::Request<Full<Bytes>>| async move {
        Ok::<_, BoxError>(
            http::Response::builder()
                .status(status)
                .header("retry-after", "1")
                .body(())?,
        )
    })
}

#[tokio::test(start_paused = true)]
async fn each_kind_of_final_failure_makes_exactly_one_letter() {
    let store = Arc::new(MemoryStore::new());
    let dead = DeadLetterLayer::new(store.clone(), "crm");

    // Success: nothing.
    let ok = ServiceBuilder::new()
        .layer(dead.clone())
        .service(status_api(200));
    assert_eq!(ok.oneshot(post("{}")).await.unwrap().status(), 200);
    assert_eq!(store.len().await.unwrap(), 0);

    // Permanent (400): one letter, the caller still gets its 400.
    let bad = ServiceBuilder::new()
        .layer(dead.clone())
        .service(status_api(400));
    assert_eq!(bad.oneshot(post(r#"{"n":1}"#)).await.unwrap().status(), 400);

    // Retries exhausted: 503 three times through the retry layer.
    let retried = ServiceBuilder::new()
        .layer(dead.clone())
        .layer(RetryLayer::builder().max_attempts(3).build().unwrap())
        .layer(RateLimitLayer::new(Limiter::unlimited()))
        .service(status_api(503));
    assert_eq!(
        retried.oneshot(post(r#"{"n":2}"#)).await.unwrap().status(),
        503
    );

    // Retry-After beyond the cap: a typed error, recorded.
    let too_long = service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, BoxError>(
            http::Response::builder()
                .status(429)
                .header("retry-after", "3600")
                .body(())?,
        )
    });
    let capped = ServiceBuilder::new()
        .layer(dead.clone())
        .layer(
            RetryLayer::builder()
                .max_retry_after(Duration::from_secs(10))
                .build()
                .unwrap(),
        )
        .layer(RateLimitLayer::new(Limiter::unlimited()))
        .service(too_long);
    assert!(capped.oneshot(post(r#"{"n":3}"#)).await.is_err());

    // No quota within max_wait.
    let limiter = Limiter::builder()
        .quota(Quota::per_hour(1).unwrap())
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    limiter.try_acquire(1).unwrap();
    let exhausted = ServiceBuilder::new()
        .layer(dead.clone())
        .layer(RateLimitLayer::new(limiter))
        .service(status_api(200));
    let err = exhausted.oneshot(post(r#"{"n":4}"#)).await.unwrap_err();
    assert!(err.downcast_ref::<RateError>().is_some());

    // A transport error.
    let broken = service_fn(|_req: http::Request<Full<Bytes>>| async {
        Err::<http::Response<()>, BoxError>(BoxError::from("connection reset"))
    });
    let transport = ServiceBuilder::new().layer(dead).service(broken);
    assert!(transport.oneshot(post(r#"{"n":5}"#)).await.is_err());

    let letters = store.peek(100).await.unwrap();
    let kinds: Vec<(FailureKind, u32, &str)> = letters
        .iter()
        .map(|l| (l.kind, l.attempts, std::str::from_utf8(&l.body).unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (FailureKind::Permanent, 1, r#"{"n":1}"#),
            (FailureKind::RetriesExhausted, 3, r#"{"n":2}"#),
            (FailureKind::RetryAfterTooLong, 1, r#"{"n":3}"#),
            (FailureKind::QuotaExhausted, 0, r#"{"n":4}"#),
            (FailureKind::Transport, 1, r#"{"n":5}"#),
        ]
    );
    let letter = &letters[0];
    assert_eq!(
        (letter.destination.as_str(), letter.method.as_str()),
        ("crm", "POST")
    );
    assert_eq!(letter.uri, "https://crm.test/contacts?batch=1");
    assert_eq!(letter.message, "HTTP 400 Bad Request");
}

#[tokio::test]
async fn credentials_never_reach_the_store() {
    let store = Arc::new(MemoryStore::new());
    let layer = DeadLetterLayer::new(store.clone(), "crm")
        .redaction(Redaction::default().with("idempotency-key"));
    let client = ServiceBuilder::new().layer(layer).service(status_api(400));
    client.oneshot(post("{}")).await.unwrap();
    let letter = store.peek(1).await.unwrap().remove(0);
    let header = |name: &str| {
        letter
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("authorization").as_deref(), Some(&b"[redacted]"[..]));
    assert_eq!(header("x-api-key").as_deref(), Some(&b"[redacted]"[..]));
    assert_eq!(
        header("idempotency-key").as_deref(),
        Some(&b"[redacted]"[..])
    );
    assert_eq!(
        header("content-type").as_deref(),
        Some(&b"application/json"[..])
    );
}

async fn exercise_leases(store: &dyn DeadLetterStore, wait: impl AsyncFn(Duration)) {
    for n in 0..3 {
        let mut letter = DeadLetter::new("crm", "PUT", format!("https://crm.test/{n}"));
        letter.body = Bytes::from(format!("{n}"));
        store.put(letter).await.unwrap();
    }
    let first = store.lease(2, Duration::from_secs(2)).await.unwrap();
    assert_eq!(first.len(), 2);
    // Leased letters are invisible to a second lease…
    let second = store.lease(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(
        store
            .lease(10, Duration::from_secs(2))
            .await
            .unwrap()
            .is_empty()
    );
    // …until acked (gone), released (back, one more attempt) or expired.
    assert!(store.ack(&first[0].id).await.unwrap());
    assert!(
        store
            .release(&first[1].id, FailedAgain::now("HTTP 503"))
            .await
            .unwrap()
    );
    let again = store.lease(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].attempts, again[0].message.as_str()),
        (2, "HTTP 503")
    );
    wait(Duration::from_millis(2_100)).await;
    assert_eq!(
        store.lease(10, Duration::from_secs(2)).await.unwrap().len(),
        2,
        "expired leases come back"
    );
    assert_eq!(store.len().await.unwrap(), 2);
    assert!(!store.ack("no-such-id").await.unwrap());
    // Unleased (not sent): free again at once, nothing recorded.
    let held = store.peek(1).await.unwrap().remove(0);
    assert!(store.unlease(&held.id).await.unwrap());
    let back = store.lease(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(
        (&back[0].id, back[0].attempts, &back[0].message),
        (&held.id, held.attempts, &held.message)
    );
    assert!(!store.unlease("no-such-id").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn memory_store_leases_acks_and_releases() {
    exercise_leases(&MemoryStore::new(), async |d| time::advance(d).await).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_store_leases_acks_and_releases_and_redacts_on_disk() {
    use tower_pacer::dlq::SqliteStore;
    let dir = std::env::temp_dir().join(format!("pacer-dlq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("leases.sqlite3");
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path).unwrap();
    exercise_leases(&store, async |d| tokio::time::sleep(d).await).await;

    let client = ServiceBuilder::new()
        .layer(DeadLetterLayer::new(Arc::new(store.clone()), "crm"))
        .service(status_api(422));
    client
        .oneshot(post(r#"{"email":"x@example.com"}"#))
        .await
        .unwrap();
    drop(store);
    // Neither the file nor its write-ahead log holds the secrets.
    let bytes = files::bytes_at_rest(&dir).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("top-secret-token") && !text.contains("key-123"));
    let reopened = SqliteStore::open(&path).unwrap();
    let letters = reopened.peek(10).await.unwrap();
    assert!(
        letters
            .iter()
            .any(|l| l.body == r#"{"email":"x@example.com"}"#)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn the_replayer_deletes_only_what_succeeded_at_a_controlled_rate() {
    let store = Arc::new(MemoryStore::new());
    for n in 0..10 {
        let mut letter = DeadLetter::new("crm", "POST", format!("https://crm.test/items/{n}"));
        letter.headers = vec![("authorization".into(), Bytes::from_static(b"[redacted]"))];
        store.put(letter).await.unwrap();
    }
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    // Odd items fail again; every replayed request must carry credentials
    // put back by the replay stack, never the redaction marker.
    let api = service_fn(move |request: http::Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            assert_eq!(request.headers()["authorization"], "Bearer fresh");
            let odd = request.uri().path().ends_with(['1', '3', '5', '7', '9']);
            Ok::<_, BoxError>(
                http::Response::builder()
                    .status(if odd { 500 } else { 200 })
                    .body(())?,
            )
        }
    });
    let replay_stack = ServiceBuilder::new()
        .map_request(|mut request: http::Request<Full<Bytes>>| {
            request
                .headers_mut()
                .insert("authorization", "Bearer fresh".parse().unwrap());
            request
        })
        .layer(RateLimitLayer::new(Limiter::new(
            Quota::per_second(5).unwrap(),
        )))
        .service(api);
    let start = Instant::now();
    let report = Replayer::new(store.clone())
        .run(replay_stack)
        .await
        .unwrap();
    assert_eq!(
        (report.replayed, report.succeeded, report.failed_again),
        (10, 5, 5)
    );
    assert_eq!(sent.load(Ordering::SeqCst), 10);
    // 10 letters at 5 per second.
    assert_eq!(start.elapsed(), Duration::from_millis(1_800));
    let left = store.peek(10).await.unwrap();
    assert_eq!(left.len(), 5);
    assert!(
        left.iter()
            .all(|l| l.attempts == 2 && l.message == "replay: HTTP 500 Internal Server Error")
    );
}

/// One replay pass over `store` holding more letters than a lease takes,
/// against an API that fails every call, while another replayer holds the
/// oldest 20: each letter the pass can lease is tried exactly once, and
/// only then released.
async fn one_pass_tries_each_letter_once(store: Arc<dyn DeadLetterStore>) {
    for n in 0..250 {
        let uri = format!("https://crm.test/items/{n}");
        store
            .put(DeadLetter::new("crm", "POST", uri))
            .await
            .unwrap();
    }
    let theirs = store.lease(20, Duration::from_secs(600)).await.unwrap();
    assert_eq!(theirs.len(), 20);
    let sent = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
    let log = sent.clone();
    let api = service_fn(move |request: http::Request<Full<Bytes>>| {
        *log.lock()
            .unwrap()
            .entry(request.uri().path().to_owned())
            .or_default() += 1;
        async { Ok::<_, BoxError>(http::Response::builder().status(500).body(())?) }
    });
    let replayer = Replayer::new(store.clone()).leases(100, Duration::from_secs(600));
    let report = replayer.run(api.clone()).await.unwrap();
    assert_eq!(
        (report.replayed, report.succeeded, report.failed_again),
        (230, 0, 230)
    );
    {
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 230, "every letter not held elsewhere was tried");
        assert!(sent.values().all(|&n| n == 1), "none twice: {sent:?}");
    }
    let letters = store.peek(1_000).await.unwrap();
    assert_eq!(letters.len(), 250);
    for letter in &letters {
        let held = theirs.iter().any(|t| t.id == letter.id);
        assert_eq!(letter.attempts, if held { 1 } else { 2 }, "{}", letter.uri);
    }
    // Released when the pass ended: the next pass tries them again.
    let again = replayer.run(api).await.unwrap();
    assert_eq!(again.replayed, 230);
    assert!(sent.lock().unwrap().values().all(|&n| n == 2));
}

#[tokio::test(start_paused = true)]
async fn a_replay_pass_tries_each_memory_letter_once() {
    one_pass_tries_each_letter_once(Arc::new(MemoryStore::new())).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_replay_pass_tries_each_sqlite_letter_once() {
    let (dir, path) = sqlite_file("pass");
    let store = tower_pacer::dlq::SqliteStore::open(&path).unwrap();
    one_pass_tries_each_letter_once(Arc::new(store)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory and a SQLite file path in it, for one test.
#[cfg(feature = "sqlite")]
fn sqlite_file(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("pacer-dlq-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("letters.sqlite3");
    (dir, path)
}

/// A lease too long to represent (`Duration::MAX`) holds until released.
async fn endless_leases_hold(store: &dyn DeadLetterStore, wait: impl AsyncFn(Duration)) {
    store
        .put(DeadLetter::new("crm", "PUT", "https://crm.test/1"))
        .await
        .unwrap();
    let leased = store.lease(10, Duration::MAX).await.unwrap();
    assert_eq!(leased.len(), 1);
    wait(Duration::from_millis(50)).await;
    assert!(store.lease(10, Duration::MAX).await.unwrap().is_empty());
    assert!(
        store
            .release(&leased[0].id, FailedAgain::now("HTTP 503"))
            .await
            .unwrap()
    );
    assert_eq!(store.lease(10, Duration::MAX).await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_endless_memory_lease_holds_without_overflow() {
    endless_leases_hold(&MemoryStore::new(), async |d| {
        time::advance(d * 1_000_000).await
    })
    .await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn an_endless_sqlite_lease_holds_without_overflow() {
    let (dir, path) = sqlite_file("endless");
    let store = tower_pacer::dlq::SqliteStore::open(&path).unwrap();
    endless_leases_hold(&store, async |d| tokio::time::sleep(d).await).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two processes (two connections to one file) leasing at once: no
/// `SQLITE_BUSY`, and no letter handed to both.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sqlite_connections_lease_one_file_at_once() {
    use tower_pacer::dlq::{SqliteStore, StoreError};
    let (dir, path) = sqlite_file("busy");
    let first = SqliteStore::open(&path).unwrap();
    let second = SqliteStore::open(&path).unwrap();
    for n in 0..300 {
        let uri = format!("https://crm.test/{n}");
        first.put(DeadLetter::new("crm", "PUT", uri)).await.unwrap();
    }
    let lease_all = |store: SqliteStore| {
        tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let letters = store.lease(1, Duration::from_secs(600)).await?;
                if letters.is_empty() {
                    return Ok::<_, StoreError>(ids);
                }
                ids.extend(letters.into_iter().map(|l| l.id));
            }
        })
    };
    let (a, b) = tokio::join!(lease_all(first), lease_all(second));
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!((all.len(), a.len() + b.len()), (300, 300));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn credentials_in_the_uri_userinfo_are_redacted_and_left_out_of_replays() {
    let store = Arc::new(MemoryStore::new());
    let client = ServiceBuilder::new()
        .layer(DeadLetterLayer::new(store.clone(), "crm"))
        .service(status_api(400));
    let request = http::Request::post("https://alice:s3cret@crm.test/contacts?api_key=k1&n=1")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    client.oneshot(request).await.unwrap();
    let letter = store.peek(1).await.unwrap().remove(0);
    assert_eq!(
        letter.uri,
        "https://[redacted]@crm.test/contacts?api_key=[redacted]&n=1"
    );
    assert!(!letter.uri.contains("alice") && !letter.uri.contains("s3cret"));

    // The replay stack supplies credentials; the redacted userinfo is not sent.
    let seen = Arc::new(Mutex::new(None));
    let log = seen.clone();
    let api = service_fn(move |request: http::Request<Full<Bytes>>| {
        *log.lock().unwrap() = Some(request.uri().to_string());
        async { Ok::<_, BoxError>(http::Response::builder().status(200).body(())?) }
    });
    let report = Replayer::new(store.clone()).run(api).await.unwrap();
    assert_eq!(report.succeeded, 1);
    assert_eq!(
        seen.lock().unwrap().as_deref(),
        Some("https://crm.test/contacts?api_key=[redacted]&n=1")
    );
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_is_marked_and_its_letter_never_replayed() {
    use http_body_util::BodyExt;
    use http_body_util::combinators::BoxBody;
    let store = Arc::new(MemoryStore::new());
    let api = service_fn(|_req: http::Request<BoxBody<Bytes, BoxError>>| async {
        Ok::<_, BoxError>(http::Response::builder().status(400).body(())?)
    });
    let client = ServiceBuilder::new()
        .layer(DeadLetterLayer::new(store.clone(), "crm"))
        .service(api);
    let stream = Full::new(Bytes::from_static(b"a large upload"))
        .map_err(|never| match never {})
        .boxed();
    let request = http::Request::post("https://crm.test/files")
        .body(stream)
        .unwrap();
    client.oneshot(request).await.unwrap();
    let streamed = store.peek(1).await.unwrap().remove(0);
    assert!(streamed.body.is_empty());
    assert!(
        streamed
            .headers
            .iter()
            .any(|(name, value)| name == BODY_NOT_CAPTURED && value == "true")
    );
    // A buffered letter beside it, to show the replayer still works.
    store
        .put(DeadLetter::new("crm", "POST", "https://crm.test/contacts"))
        .await
        .unwrap();

    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    let replay = service_fn(move |request: http::Request<Full<Bytes>>| {
        log.lock().unwrap().push(request.uri().path().to_owned());
        async { Ok::<_, BoxError>(http::Response::builder().status(200).body(())?) }
    });
    let replayer = Replayer::new(store.clone());
    let report = replayer.run(replay.clone()).await.unwrap();
    assert_eq!(
        (report.replayed, report.succeeded, report.skipped),
        (1, 1, 1)
    );
    assert_eq!(*sent.lock().unwrap(), vec!["/contacts"]);
    // Kept as it was, and free for the next run, which skips it again.
    assert_eq!(store.peek(10).await.unwrap(), vec![streamed]);
    let again = replayer.run(replay).await.unwrap();
    assert_eq!((again.replayed, again.skipped), (0, 1));
    assert_eq!(sent.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_pacer_stack_with_dead_letters_loses_nothing() {
    let store = Arc::new(MemoryStore::new());
    let mut policy = tower_pacer::policy::Policy::default();
    policy.retry.max_attempts = 2;
    let pacer = Pacer::new(policy).unwrap();
    let client = ServiceBuilder::new()
        .layer(DeadLetterLayer::new(store.clone(), "crm").classifier(pacer.policy().classifier()))
        .layer(pacer.layer())
        .service(service_fn(
            |request: http::Request<Full<Bytes>>| async move {
                let fail = request.uri().path().ends_with('3');
                Ok::<_, BoxError>(
                    http::Response::builder()
                        .status(if fail { 503 } else { 200 })
                        .body(())?,
                )
            },
        ));
    let mut ok = 0;
    for n in 0..20 {
        let request = http::Request::put(format!("https://crm.test/items/{n}"))
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        if client.clone().oneshot(request).await.unwrap().status() == 200 {
            ok += 1;
        }
    }
    let dead = store.len().await.unwrap();
    assert_eq!((ok, dead), (18, 2));
    assert_eq!(ok + dead, 20);
}

/// The kill test: a child process writes letters and prints each id as its
/// `put` returns; the parent kills it mid-run (SIGKILL) and reopens the file:
/// every printed id must be there, readable.
#[cfg(feature = "sqlite")]
#[test]
fn letters_survive_the_process_being_killed() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use tower_pacer::dlq::SqliteStore;

    let dir = std::env::temp_dir().join(format!("pacer-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dead-letters.sqlite3");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_test_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PACER_KILL_TEST_FILE", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acknowledged = Vec::new();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("stored ") {
            acknowledged.push(id.to_owned());
            if acknowledged.len() == 200 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no goodbye
    child.wait().unwrap();
    assert_eq!(
        acknowledged.len(),
        200,
        "the child stored letters before it was killed"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let found = runtime.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        store.peek(1_000_000).await.unwrap()
    });
    for id in &acknowledged {
        let letter = found
            .iter()
            .find(|l| &l.id == id)
            .unwrap_or_else(|| panic!("letter {id} lost"));
        assert_eq!(letter.destination, "kill-test");
        assert!(letter.body.starts_with(b"payload-"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child side of the kill test (run only by it).
#[cfg(feature = "sqlite")]
#[test]
#[ignore = "the child process of letters_survive_the_process_being_killed"]
fn kill_test_writer() {
    use std::io::Write;
    use tower_pacer::dlq::SqliteStore;

    let Some(path) = std::env::var_os("PACER_KILL_TEST_FILE") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        for n in 0u64.. {
            let mut letter = DeadLetter::new("kill-test", "POST", "https://crm.test/");
            letter.body = Bytes::from(format!("payload-{n}"));
            let id = store.put(letter).await.unwrap();
            let mut out = std::io::stdout().lock();
            writeln!(out, "stored {id}").unwrap();
            out.flush().unwrap();
        }
    });
}

/// `put_many` keeps every letter, in order; `put_many_once` keeps a key's
/// letters once, even after they were acked.
async fn put_many_and_once(store: &dyn DeadLetterStore) {
    let letter = |n: usize| {
        let mut letter = DeadLetter::new("crm", "POST", "https://crm.test/batch");
        letter.body = Bytes::from(format!("record-{n}"));
        letter
    };
    let ids = store.put_many((0..3).map(letter).collect()).await.unwrap();
    assert_eq!(ids.len(), 3);
    let bodies: Vec<Bytes> = store
        .peek(10)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.body)
        .collect();
    assert_eq!(bodies, ["record-0", "record-1", "record-2"]);
    assert!(store.put_many(Vec::new()).await.unwrap().is_empty());

    let first = store
        .put_many_once("batch-1", vec![letter(3), letter(4)])
        .await
        .unwrap();
    let again = store
        .put_many_once("batch-1", vec![letter(3), letter(4)])
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(store.len().await.unwrap(), 5);
    // Replayed and deleted: the key still stores nothing.
    assert!(store.ack(&first[0]).await.unwrap());
    let later = store
        .put_many_once("batch-1", vec![letter(3)])
        .await
        .unwrap();
    assert_eq!(later, first);
    assert_eq!(store.len().await.unwrap(), 4);
    let other = store
        .put_many_once("batch-2", vec![letter(5)])
        .await
        .unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(store.len().await.unwrap(), 5);
}

#[tokio::test]
async fn memory_store_puts_many_and_once() {
    put_many_and_once(&MemoryStore::new()).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_store_puts_many_and_once() {
    let (dir, path) = sqlite_file("many");
    put_many_and_once(&tower_pacer::dlq::SqliteStore::open(&path).unwrap()).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "redis")]
use support::redis as redis_common;

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_store_puts_many_and_once() {
    use tower_pacer::dlq::RedisStore;
    redis_common::connection().await;
    let name = redis_common::unique_key("many");
    put_many_and_once(&RedisStore::open(&redis_common::url(), &name).unwrap()).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_store_leases_acks_and_releases_across_processes() {
    use tower_pacer::dlq::RedisStore;
    redis_common::connection().await; // fails clearly without Redis
    let name = redis_common::unique_key("dlq");
    let store = RedisStore::open(&redis_common::url(), &name).unwrap();
    exercise_leases(&store, async |d| tokio::time::sleep(d).await).await;

    // A second process sees the same letters; a lease holds for both.
    let other = RedisStore::open(&redis_common::url(), &name).unwrap();
    assert_eq!(other.len().await.unwrap(), 2);
    // Both are still leased by the last lease above: give them back.
    for letter in other.peek(10).await.unwrap() {
        assert!(
            other
                .release(&letter.id, FailedAgain::now("503"))
                .await
                .unwrap()
        );
    }
    let mine = store.lease(1, Duration::from_secs(5)).await.unwrap();
    let theirs = other.lease(10, Duration::from_secs(5)).await.unwrap();
    assert_eq!((mine.len(), theirs.len()), (1, 1));
    assert_ne!(mine[0].id, theirs[0].id);
    for letter in mine.iter().chain(&theirs) {
        assert!(other.ack(&letter.id).await.unwrap());
    }
    assert!(store.is_empty().await.unwrap());
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_store_keeps_every_field_and_redacts() {
    use tower_pacer::dlq::{FailureKind, RedisStore};
    redis_common::connection().await;
    let store = Arc::new(
        RedisStore::open(&redis_common::url(), &redis_common::unique_key("fields")).unwrap(),
    );
    let mut letter = DeadLetter::new("crm", "POST", "https://crm.test/x?y=1");
    letter.headers = vec![("x-bin".into(), Bytes::from_static(b"\x00\xff:"))];
    letter.body = Bytes::from_static(b"\x00binary:\xfe body");
    letter.kind = FailureKind::RetriesExhausted;
    letter.message = "HTTP 503: a:b:c".into();
    letter.attempts = 4;
    let id = store.put(letter.clone()).await.unwrap();
    let stored = store.peek(10).await.unwrap().remove(0);
    letter.id = id;
    // Times are kept to the millisecond.
    let ms =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    assert_eq!(ms(stored.first_attempt), ms(letter.first_attempt));
    assert_eq!(ms(stored.last_attempt), ms(letter.last_attempt));
    letter.first_attempt = stored.first_attempt;
    letter.last_attempt = stored.last_attempt;
    assert_eq!(stored, letter);

    // Through the layer, credentials are redacted before Redis sees them.
    let client = ServiceBuilder::new()
        .layer(DeadLetterLayer::new(store.clone(), "crm"))
        .service(status_api(422));
    client
        .oneshot(post(r#"{"email":"x@example.com"}"#))
        .await
        .unwrap();
    let letters = store.peek(10).await.unwrap();
    assert_eq!(letters.len(), 2);
    for letter in &letters {
        for (_, value) in &letter.headers {
            let text = String::from_utf8_lossy(value);
            assert!(!text.contains("top-secret-token") && !text.contains("key-123"));
        }
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn an_unreachable_redis_store_fails_fast_with_an_error() {
    use tower_pacer::dlq::RedisStore;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = RedisStore::with_timeout(
        &format!("redis://127.0.0.1:{port}"),
        "nowhere",
        Duration::from_millis(300),
    )
    .unwrap();
    let start = std::time::Instant::now();
    assert!(store.put(DeadLetter::new("crm", "GET", "/")).await.is_err());
    assert!(store.len().await.is_err());
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(RedisStore::open("http://nope", "x").is_err());
    assert!(RedisStore::open(&redis_common::url(), "a{b}").is_err());
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_replay_pass_tries_each_redis_letter_once() {
    use tower_pacer::dlq::RedisStore;
    redis_common::connection().await;
    let name = redis_common::unique_key("pass");
    let store = RedisStore::open(&redis_common::url(), &name).unwrap();
    one_pass_tries_each_letter_once(Arc::new(store)).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn an_endless_redis_lease_holds_without_overflow() {
    use tower_pacer::dlq::RedisStore;
    redis_common::connection().await;
    let name = redis_common::unique_key("endless");
    let store = RedisStore::open(&redis_common::url(), &name).unwrap();
    endless_leases_hold(&store, async |d| tokio::time::sleep(d).await).await;
}

/// Puts per second into a SQLite store: `writers` tasks putting at once
/// (the slots of a bulk run whose every item fails), `total` letters in all.
#[cfg(feature = "sqlite")]
async fn sqlite_puts_per_second(writers: usize, total: usize) -> f64 {
    use tower_pacer::dlq::SqliteStore;
    let (dir, path) = sqlite_file(&format!("throughput-{writers}"));
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in (w..total).step_by(writers) {
                    let mut letter = DeadLetter::new("bench", "POST", "https://crm.test/batch");
                    letter.body = Bytes::from(format!(r#"{{"inputs":[{{"id":"r{n}"}}]}}"#));
                    store.put(letter).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    assert_eq!(store.len().await.unwrap(), total as u64);
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

/// The figure behind group commit: run with
/// `cargo test --features sqlite --test dlq sqlite_put_throughput -- --ignored --nocapture`.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints puts per second"]
async fn sqlite_put_throughput() {
    for writers in [1, 8, 64] {
        let total = if writers == 1 { 500 } else { 3_000 };
        let rate = sqlite_puts_per_second(writers, total).await;
        println!("sqlite puts: {writers:>2} concurrent writers, {total} letters: {rate:.0} puts/s");
    }
}
