//! Future types.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::BatchError;

/// The response future of [`Batch`](super::Batch): the item's own result.
#[derive(Debug)]
pub struct ResponseFuture<Out> {
    state: State<Out>,
}

#[derive(Debug)]
enum State<Out> {
    Waiting(oneshot::Receiver<Result<Out, BatchError>>),
    Failed(Option<BatchError>),
}

impl<Out> ResponseFuture<Out> {
    pub(crate) fn new(result: oneshot::Receiver<Result<Out, BatchError>>) -> Self {
        Self {
            state: State::Waiting(result),
        }
    }

    pub(crate) fn failed(error: BatchError) -> Self {
        Self {
            state: State::Failed(Some(error)),
        }
    }
}

impl<Out> Future for ResponseFuture<Out> {
    type Output = Result<Out, BatchError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            // The worker answers every item it takes; a dropped sender means
            // the worker itself is gone.
            State::Waiting(result) => Pin::new(result)
                .poll(cx)
                .map(|answer| answer.unwrap_or(Err(BatchError::Closed))),
            State::Failed(error) => Poll::Ready(Err(error.take().unwrap_or(BatchError::Closed))),
        }
    }
}
