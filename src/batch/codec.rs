//! Building a batch request from items, splitting its response per item.

use std::future::Future;

use super::BatchError;
use crate::BoxError;

/// Turns a batch of items into one request for the inner service, and its
/// response back into one result per item, in the items' order.
///
/// Decoding is asynchronous, since a response body arrives as a stream.
/// A response that lists fewer results than items leaves the rest
/// [`BatchError::Missing`]; none is left unanswered.
pub trait BatchCodec<Item>: Send + Sync + 'static {
    /// The batch call's request.
    type Request;
    /// The batch call's response.
    type Response;
    /// What each item's caller gets back.
    type Output: Send + 'static;
    /// The future that decodes a response.
    type Decode: Future<Output = Result<Vec<Result<Self::Output, BatchError>>, BoxError>>
        + Send
        + 'static;

    /// The request for these items.
    ///
    /// # Errors
    ///
    /// If the items cannot be encoded; every item then gets the error.
    fn encode(&self, items: Vec<Item>) -> Result<Self::Request, BoxError>;

    /// One result per item (`items` of them) from the batch response.
    fn decode(&self, response: Self::Response, items: usize) -> Self::Decode;
}
