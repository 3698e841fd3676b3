//! [`GrpcPacerLayer`]: a [`Pacer`]'s stack for gRPC calls.

use std::sync::Arc;

use http::Request;
use tower::util::MapRequest;
use tower_layer::Layer;

use super::{BufferUnary, GrpcBody};
use crate::classify::{BoxErrors, GrpcClassifier, MinWait};
use crate::concurrency::{ConcurrencyLimit, ConcurrencyLimitLayer};
use crate::rate::{RateLimit, RateLimitLayer};
use crate::retry::{HttpReplay, Retry, RetryLayer};
use crate::stats::{EachGrpcAttempt, EachGrpcRequest, Record, RecordLayer};
use crate::{ConfigError, Pacer};

/// Default [`GrpcPacerLayer::max_buffer`]: 1 MiB, a quarter of gRPC's
/// default 4 MiB message limit. Unary requests of API clients are far
/// smaller; a larger one goes out once instead of being held in memory.
pub const DEFAULT_MAX_BUFFER: usize = 1024 * 1024;

/// How the gRPC stack classifies an attempt: `grpc-status` and
/// `grpc-retry-pushback-ms` ([`GrpcClassifier`]), with the policy's floor
/// under rate-limited waits, over the stack's boxed errors.
pub type GrpcPolicyClassifier = BoxErrors<MinWait<GrpcClassifier>>;

/// Hands the stack's [`GrpcBody`] to the channel as tonic's body type.
pub type IntoTonic = fn(Request<GrpcBody>) -> Request<::tonic::body::Body>;

/// The service [`GrpcPacerLayer`] builds around a channel `S`.
pub type GrpcPacerService<S> = BufferUnary<
    Record<
        Retry<
            ConcurrencyLimit<RateLimit<Record<MapRequest<S, IntoTonic>, EachGrpcAttempt>>>,
            GrpcPolicyClassifier,
            HttpReplay,
        >,
        EachGrpcRequest,
    >,
>;

/// A paced `tonic::transport::Channel`: what a generated client (or
/// `tonic::client::Grpc`) takes in place of the channel.
pub type PacedChannel = GrpcPacerService<::tonic::transport::Channel>;

/// A [`Pacer`]'s stack for a gRPC channel; see the [module docs](super).
///
/// ```text
/// BufferUnary      read the body of the calls named for retries (≤ max_buffer)
///  └ RecordRequests     count calls; a non-OK grpc-status is a failure
///    └ Retry            grpc-status 8 / 14, grpc-retry-pushback-ms, the pacer's budget
///      └ ConcurrencyLimit   the pacer's cap
///        └ RateLimit        the pacer's limiter (paused by pushback)
///          └ RecordAttempts RESOURCE_EXHAUSTED counts as a 429
///            └ the channel
/// ```
#[derive(Debug, Clone)]
pub struct GrpcPacerLayer {
    pacer: Pacer,
    retry: RetryLayer<GrpcPolicyClassifier, HttpReplay>,
    methods: Vec<String>,
    max_buffer: usize,
}

impl GrpcPacerLayer {
    /// The stack of `pacer`, with its policy's retry settings and its retry
    /// budget; no method is retried until named with
    /// [`retry_method`](Self::retry_method).
    ///
    /// # Errors
    ///
    /// `retry.…`, should the pacer's policy not give a retry layer (it
    /// always does once `Pacer::new` accepted it).
    pub fn new(pacer: &Pacer) -> Result<Self, ConfigError> {
        let policy = pacer.policy();
        let grpc = GrpcClassifier::default();
        let classifier = BoxErrors(match policy.classify.rate_limited_min_wait {
            Some(min) => MinWait::new(grpc, min),
            None => MinWait::none(grpc),
        });
        // Which calls may be repeated is decided by naming them (only
        // their bodies are buffered); every buffered call is fair game.
        let builder = RetryLayer::builder()
            .classifier(classifier)
            .replay(HttpReplay::new().retry_unsafe_methods(true));
        let mut builder = policy.retry_settings(builder, pacer.limiter())?;
        if let Some(budget) = pacer.retry_budget() {
            // One budget for the destination, whatever the protocol.
            builder = builder.budget(budget.clone());
        }
        Ok(Self {
            pacer: pacer.clone(),
            retry: builder.build()?,
            methods: Vec::new(),
            max_buffer: DEFAULT_MAX_BUFFER,
        })
    }

    /// Retry this unary method (`"/package.Service/Method"`, as the
    /// generated client sends it) on `RESOURCE_EXHAUSTED` and
    /// `UNAVAILABLE`: its request body is buffered so it can be sent again.
    ///
    /// Name only unary methods that are safe to repeat (gRFC A6 leaves that
    /// to the service owner as well). A streaming method named here would
    /// have its request stream read to the end before the call starts.
    pub fn retry_method(mut self, path: impl Into<String>) -> Self {
        self.methods.push(path.into());
        self
    }

    /// [`retry_method`](Self::retry_method) for each of `paths`.
    pub fn retry_methods<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.methods.extend(paths.into_iter().map(Into::into));
        self
    }

    /// The largest request body kept for a retry (default
    /// [`DEFAULT_MAX_BUFFER`]); a larger one goes out once.
    pub fn max_buffer(mut self, bytes: usize) -> Self {
        self.max_buffer = bytes;
        self
    }

    /// The pacer whose state the stacks share.
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }
}

impl<S> Layer<S> for GrpcPacerLayer {
    type Service = GrpcPacerService<S>;

    fn layer(&self, channel: S) -> Self::Service {
        let pacer = &self.pacer;
        let into_tonic: IntoTonic = |request| request.map(GrpcBody::into_tonic);
        let bottom = MapRequest::new(channel, into_tonic);
        let attempts = RecordLayer::<EachGrpcAttempt>::new(pacer.counters().clone()).layer(bottom);
        let paced = RateLimitLayer::new(pacer.limiter().clone()).layer(attempts);
        // With adaptive concurrency the static cap is unlimited and the
        // controller's cap is the one that holds; gRPC calls respect it at
        // whatever size the controller last set.
        let cap = match pacer.concurrency_controller() {
            Some(controller) => controller.limiter().clone(),
            None => pacer.concurrency().clone(),
        };
        let capped = ConcurrencyLimitLayer::new(cap).layer(paced);
        let retried = self.retry.layer(capped);
        let requests = RecordLayer::<EachGrpcRequest>::new(pacer.counters().clone()).layer(retried);
        BufferUnary::new(requests, Arc::from(self.methods.clone()), self.max_buffer)
    }
}
