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

/// A `redis-server` of a test's own, on a free port, that the test may
/// kill and start again (the shared Redis at [`url`] is never touched).
/// No persistence: a restarted server comes back empty. Killed on drop.
pub struct OwnRedis {
    binary: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// The binary: `PACER_REDIS_SERVER`, else `redis-server` on `PATH`.
    /// Like the rest of these tests, a test that needs one fails, saying
    /// so, when there is none, rather than passing without having run.
    pub fn binary() -> std::path::PathBuf {
        if let Some(path) = std::env::var_os("PACER_REDIS_SERVER") {
            return path.into();
        }
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("redis-server"))
                .find(|candidate| candidate.is_file())
        });
        match found {
            Some(path) => path,
            None => panic!(
                "this test starts, kills and restarts a redis-server of its own: \
                 install one (`apt-get install redis-server`) or set PACER_REDIS_SERVER \
                 to its path; none is on PATH"
            ),
        }
    }

    /// Starts a server on a free port and waits until it answers.
    pub async fn start() -> OwnRedis {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("its address").port()
        };
        let mut redis = OwnRedis {
            binary: Self::binary(),
            port,
            child: None,
        };
        redis.restart().await;
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: a crash; nothing is saved).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty, and waits until it
    /// answers (at most 5 s).
    pub async fn restart(&mut self) {
        self.kill();
        let child = std::process::Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let url = self.url();
        let start = std::time::Instant::now();
        loop {
            let ping = async {
                let client = redis::Client::open(url.as_str())?;
                let mut connection = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
            };
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), ping).await {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{} did not answer on port {} within 5 s",
                self.binary.display(),
                self.port
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
