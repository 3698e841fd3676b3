//! Shared by the Redis tests: where Redis is, unique keys, a raw
//! connection. Redis is required: CI provides it (`.ci/run` starts it), and
//! a test that cannot reach it fails with a message saying so, rather than
//! passing without having run.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The Redis the tests use: `PACER_REDIS_URL`, or 127.0.0.1:6379.
pub fn url() -> String {
    std::env::var("PACER_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The same server, database `db` (tests that kill their own connections
/// use a database of their own, so they can find them).
pub fn url_db(db: u8) -> String {
    format!("{}/{db}", url().trim_end_matches('/'))
}

/// A key no other test run uses: `name` plus the time and a random part.
pub fn unique_key(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("test-{name}-{nanos:x}-{:08x}", rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() as u32
}

/// A plain async connection to [`url`]; fails the test, saying why, if
/// Redis does not answer.
pub async fn connection() -> redis::aio::MultiplexedConnection {
    connection_to(&url()).await
}

/// A plain async connection to `url`; fails the test if Redis does not answer.
pub async fn connection_to(url: &str) -> redis::aio::MultiplexedConnection {
    let attempt = async {
        let client = redis::Client::open(url)?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await?;
        Ok::<_, redis::RedisError>(connection)
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => panic!(
            "these tests need Redis at {url} (set PACER_REDIS_URL; `.ci/run` starts one): {e}"
        ),
        Err(_) => panic!("these tests need Redis at {url}: no answer within 5 s"),
    }
}

/// Redis's clock, in microseconds.
pub async fn redis_time(connection: &mut redis::aio::MultiplexedConnection) -> i64 {
    let (secs, micros): (i64, i64) = redis::cmd("TIME")
        .query_async(connection)
        .await
        .expect("TIME");
    secs * 1_000_000 + micros
}
