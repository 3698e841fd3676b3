//! One lazily made, self-reconnecting Redis connection with a timeout on
//! every call: shared by the Redis limiter and the Redis dead-letter store.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use redis::AsyncConnectionConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

/// A Redis connection made on first use; the manager then reconnects by
/// itself after a failure.
pub(crate) struct RedisConnection {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    timeout: Duration,
}

impl RedisConnection {
    pub(crate) fn new(client: redis::Client, timeout: Duration) -> Self {
        Self {
            client,
            connection: OnceCell::new(),
            timeout,
        }
    }

    /// Run `call` on the connection (connecting first if needed), within
    /// the timeout; the error in words.
    pub(crate) async fn run<T, F, Fut>(&self, call: F) -> Result<T, String>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let connection = self.connection().await?;
            call(connection).await
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            // Never a password, should an error ever repeat the URL.
            Ok(Err(error)) => Err(crate::redact::default_rules().text(&format!("Redis: {error}"))),
            Err(_) => Err(format!("Redis did not answer within {:?}", self.timeout)),
        }
    }

    /// Run a script on the connection, within the timeout.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'static>,
    ) -> Result<T, String> {
        self.run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            // One attempt per reconnection, no retry inside the manager:
            // its first retry sleeps the backoff's minimum delay (1 s, which
            // `max_delay` does not cap) plus up to as much again of jitter,
            // and every call waits on that attempt, so a Redis back after an
            // outage went on failing calls for up to 2 s. Callers have a
            // timeout (and the limiter a fallback), and the next call after
            // a failure starts a new attempt.
            .set_number_of_retries(0);
        self.connection
            .get_or_try_init(|| async {
                // One plain connection first: the manager retries every
                // failure with a backoff of its own, so a wrong password
                // would read as a timeout; this says what Redis said.
                let probe = AsyncConnectionConfig::new()
                    .set_connection_timeout(self.timeout)
                    .set_response_timeout(self.timeout);
                drop(
                    self.client
                        .get_multiplexed_async_connection_with_config(&probe)
                        .await?,
                );
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await
            .cloned()
    }
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("timeout", &self.timeout)
            .field("connected", &self.connection.initialized())
            .finish_non_exhaustive()
    }
}
