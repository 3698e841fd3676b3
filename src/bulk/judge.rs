//! What counts as a record done.

/// What one item's result means to a bulk run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verdict {
    /// The item was delivered.
    pub succeeded: bool,
    /// Attempts the stack made for it, if it says (the retry layer's
    /// [`Attempts`](crate::feedback::Attempts) extension).
    pub attempts: Option<u32>,
}

/// Judges each item's result; any `Fn(&Result<Res, E>) -> Verdict` is one.
pub trait Judge<Res, E> {
    /// The verdict on one item.
    fn judge(&self, result: &Result<Res, E>) -> Verdict;
}

impl<Res, E, F> Judge<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Verdict,
{
    fn judge(&self, result: &Result<Res, E>) -> Verdict {
        self(result)
    }
}

/// `Ok` is success, `Err` failure (for services whose failures are errors,
/// such as the batch layer's per-item results).
#[derive(Debug, Clone, Copy, Default)]
pub struct OkIsSuccess;

impl<Res, E> Judge<Res, E> for OkIsSuccess {
    fn judge(&self, result: &Result<Res, E>) -> Verdict {
        Verdict {
            succeeded: result.is_ok(),
            attempts: None,
        }
    }
}

/// For `http::Response`s: a 1xx–3xx response is success; a 4xx or 5xx
/// response (a final 429 after the retries ran out, say) and errors are
/// failures. Attempts come from the retry layer's extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpSuccess;

impl<B, E> Judge<http::Response<B>, E> for HttpSuccess {
    fn judge(&self, result: &Result<http::Response<B>, E>) -> Verdict {
        match result {
            Ok(response) => Verdict {
                succeeded: !response.status().is_client_error()
                    && !response.status().is_server_error(),
                attempts: response
                    .extensions()
                    .get::<crate::feedback::Attempts>()
                    .map(|attempts| attempts.0),
            },
            Err(_) => Verdict {
                succeeded: false,
                attempts: None,
            },
        }
    }
}
