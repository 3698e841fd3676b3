//! Tracing: a Pacer runs each request in a `pacer_request` span and each
//! attempt in a `pacer_attempt` span below it; the layers' events (a
//! retry, a pause) happen inside them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::{BoxError, Pacer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span as the collector saw it.
#[derive(Debug, Clone)]
struct SpanSeen {
    name: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

/// An event and the spans it happened in, innermost last.
#[derive(Debug, Clone)]
struct EventSeen {
    message: String,
    stack: Vec<u64>,
}

#[derive(Default)]
struct Seen {
    next_id: u64,
    spans: HashMap<u64, SpanSeen>,
    stack: Vec<u64>,
    events: Vec<EventSeen>,
}

/// A subscriber that keeps everything (one thread: a current-thread
/// runtime polls everything on the test's thread).
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Seen>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut seen = self.0.lock().unwrap();
        seen.next_id += 1;
        let id = seen.next_id;
        let parent = if attributes.is_contextual() {
            seen.stack.last().copied()
        } else {
            attributes.parent().map(Id::into_u64)
        };
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        seen.spans.insert(
            id,
            SpanSeen {
                name: attributes.metadata().name(),
                parent,
                fields,
            },
        );
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = self.0.lock().unwrap();
        if let Some(span) = seen.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let mut seen = self.0.lock().unwrap();
        let stack = seen.stack.clone();
        seen.events.push(EventSeen {
            message: fields.remove("message").unwrap_or_default(),
            stack,
        });
    }

    fn enter(&self, span: &Id) {
        self.0.lock().unwrap().stack.push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let mut seen = self.0.lock().unwrap();
        if let Some(at) = seen.stack.iter().rposition(|id| *id == span.into_u64()) {
            seen.stack.remove(at);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_and_its_attempts_are_spans() {
    let collector = Collector::default();
    let _default = tracing::subscriber::set_default(collector.clone());

    let mut policy = Policy::default();
    policy.name = "crm".into();
    policy.quotas = vec![QuotaSpec::window(10, Duration::from_secs(1))];
    let calls = Arc::new(AtomicUsize::new(0));
    let api = service_fn(move |_: http::Request<String>| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let status = if n == 1 { 429 } else { 200 };
            Ok::<_, BoxError>(
                http::Response::builder()
                    .status(status)
                    .header("retry-after", "1")
                    .body(String::new())?,
            )
        }
    });
    let pacer = Pacer::new(policy).unwrap();
    let client = ServiceBuilder::new().layer(pacer.layer()).service(api);
    let response = client
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let seen = collector.0.lock().unwrap();
    let named = |name: &str| {
        let mut spans: Vec<(u64, SpanSeen)> = seen
            .spans
            .iter()
            .filter(|(_, span)| span.name == name)
            .map(|(id, span)| (*id, span.clone()))
            .collect();
        spans.sort_by_key(|(id, _)| *id);
        spans
    };
    let requests = named("pacer_request");
    assert_eq!(requests.len(), 1, "{:?}", seen.spans);
    let (request_id, request) = &requests[0];
    assert_eq!(
        request.fields.get("destination").map(String::as_str),
        Some("crm")
    );
    assert_eq!(
        request.fields.get("status").map(String::as_str),
        Some("200")
    );
    assert_eq!(
        request.fields.get("attempts").map(String::as_str),
        Some("2")
    );

    let attempts = named("pacer_attempt");
    let statuses: Vec<Option<&str>> = attempts
        .iter()
        .map(|(_, span)| span.fields.get("status").map(String::as_str))
        .collect();
    assert_eq!(statuses, [Some("429"), Some("200")]);
    assert!(
        attempts
            .iter()
            .all(|(_, span)| span.parent == Some(*request_id)),
        "attempts are children of their request: {attempts:?}"
    );

    let retrying = seen
        .events
        .iter()
        .find(|event| event.message == "retrying")
        .expect("the retry layer says it retries");
    assert!(
        retrying.stack.contains(request_id),
        "the retry happens inside the request's span: {retrying:?}"
    );
}
