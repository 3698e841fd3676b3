//! The stamp an attempt carries up the stack, and the classifier that
//! reads it.

use std::error::Error;
use std::fmt;

use http::Response;

use crate::BoxError;
use crate::classify::{Classification, Classify};

/// The verdict on one attempt, in its response's extensions (put there by
/// [`Classified`](super::Classified)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict(pub Classification);

/// An attempt's error with the verdict given on it (made by
/// [`Classified`](super::Classified)). Its `Display` is the error's own,
/// and `source()` leads to it.
#[derive(Debug)]
pub struct ClassifiedError {
    verdict: Classification,
    error: BoxError,
}

impl ClassifiedError {
    pub(crate) fn new(verdict: Classification, error: BoxError) -> Self {
        Self { verdict, error }
    }

    /// The verdict on the attempt.
    pub fn verdict(&self) -> &Classification {
        &self.verdict
    }

    /// The client's error.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }

    /// The client's error, without the verdict.
    pub fn into_inner(self) -> BoxError {
        self.error
    }
}

impl fmt::Display for ClassifiedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl Error for ClassifiedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.error)
    }
}

/// `error` without its [`ClassifiedError`] wrapper, if it has one: what a
/// caller expects to see (and downcast).
pub fn unstamp(error: BoxError) -> BoxError {
    match error.downcast::<ClassifiedError>() {
        Ok(classified) => classified.into_inner(),
        Err(other) => other,
    }
}

/// A classifier that reads the stamp [`Classified`](super::Classified)
/// put on a result, and asks `C` only about results without one (errors
/// raised above the client, or a stack without a `ClassifyLayer`).
#[derive(Debug, Clone, Default)]
pub struct Stamped<C>(pub C);

impl<B, C> Classify<Response<B>, BoxError> for Stamped<C>
where
    C: Classify<Response<B>, BoxError>,
{
    fn classify(&self, result: &Result<Response<B>, BoxError>) -> Classification {
        let stamp = match result {
            Ok(response) => response.extensions().get::<Verdict>().map(|v| &v.0),
            Err(error) => error
                .downcast_ref::<ClassifiedError>()
                .map(ClassifiedError::verdict),
        };
        match stamp {
            Some(verdict) => verdict.clone(),
            None => self.0.classify(result),
        }
    }
}
