//! Dead letters in Redis (feature `redis`): one store shared by every
//! process, with leases on Redis's clock.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use redis::Script;

use super::letter::{
    decode_headers, decode_parts, encode_headers, encode_parts, from_unix_millis, new_id,
    unix_millis,
};
use super::{DeadLetter, DeadLetterStore, FailedAgain, FailureKind, StoreError, StoreFuture};
use crate::redis_connection::RedisConnection;

/// Marks up to ARGV[2] letters not leased at Redis time, oldest first, as
/// leased for ARGV[1] ms; their ids.
static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = string.format('%.0f', now + tonumber(ARGV[1]))
local limit = tonumber(ARGV[2])
local taken = {}
local from = 0
while #taken < limit do
  local ids = redis.call('ZRANGE', KEYS[1], from, from + 99)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local leased = redis.call('ZSCORE', KEYS[2], id)
    if (not leased) or tonumber(leased) <= now then
      redis.call('ZADD', KEYS[2], until_ms, id)
      taken[#taken + 1] = id
      if #taken >= limit then break end
    end
  end
  from = from + 100
end
return taken
",
    )
});

/// Deletes letter ARGV[1]: 1 if it was there.
static ACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return removed
",
    )
});

/// Ends letter ARGV[1]'s lease with one more attempt, at ARGV[2] ms, and
/// message ARGV[3]: 1 if it was there.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local state = redis.call('HGET', KEYS[4], ARGV[1]) or '0:0:'
local attempts = tonumber(string.match(state, '^(%d+):')) or 0
redis.call('HSET', KEYS[4], ARGV[1], (attempts + 1) .. ':' .. ARGV[2] .. ':' .. ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
",
    )
});

/// Stores the letters of ARGV[2..] (id, fixed part, state; three by three)
/// unless key ARGV[1] was seen: the ids kept under it, space-separated.
static PUT_ONCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local seen = redis.call('HGET', KEYS[4], ARGV[1])
if seen then return seen end
local ids = {}
for i = 2, #ARGV, 3 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2])
  redis.call('ZADD', KEYS[1], 0, ARGV[i])
  ids[#ids + 1] = ARGV[i]
end
local joined = table.concat(ids, ' ')
redis.call('HSET', KEYS[4], ARGV[1], joined)
return joined
",
    )
});

/// Ends letter ARGV[1]'s lease, changing nothing else: 1 if it was there.
static UNLEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
",
    )
});

/// Dead letters in Redis, shared by every process that opens the same
/// `name`: a worker fleet sharing one quota keeps one set of dead letters
/// too, and any one of them may replay them.
///
/// Under one hash tag (`pacer:{name}:dlq:…`, so it works on Redis
/// Cluster): a sorted set of ids (time-ordered, so oldest first), a
/// sorted set of leases scored by their end on Redis's clock (so leases
/// hold across processes whatever their clocks), and two hashes holding
/// each letter (its fixed part, and attempts with the last failure).
/// Leasing, acking and releasing are Lua scripts, so two replayers never
/// lease one letter.
///
/// Every call has a timeout; the connection is made on first use and
/// reconnects by itself. Durability is the server's: with `appendonly yes`
/// and `appendfsync always`, a letter is on disk when
/// [`put`](DeadLetterStore::put) returns; a server that keeps nothing on
/// disk loses its letters when it stops.
///
/// ```no_run
/// use tower_pacer::dlq::{DeadLetterStore, RedisStore};
///
/// # async fn demo() -> Result<(), tower_pacer::BoxError> {
/// let store = RedisStore::open("redis://127.0.0.1:6379", "crm")?;
/// println!("{} letters waiting", store.len().await?);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RedisStore {
    connection: RedisConnection,
    ids: String,
    leases: String,
    letters: String,
    states: String,
    /// The keys of `put_many_once`, with the ids kept under each.
    put_keys: String,
}

/// The timeout of each store call unless set: a dead letter is on the
/// failure path, where a little patience is better than a lost letter.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);

fn backend(reason: String) -> StoreError {
    StoreError::Backend(reason)
}

impl RedisStore {
    /// The store `name` on the Redis at `url`; it connects on first use.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if `url` is not a Redis URL or `name` is
    /// empty or holds `{` or `}`.
    pub fn open(url: &str, name: &str) -> Result<Self, StoreError> {
        Self::with_timeout(url, name, DEFAULT_STORE_TIMEOUT)
    }

    /// As [`open`](Self::open), with `timeout` on each call.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and a zero `timeout`.
    pub fn with_timeout(url: &str, name: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client =
            redis::Client::open(url).map_err(|e| backend(format!("not a Redis URL: {e}")))?;
        if name.is_empty() || name.contains(['{', '}']) {
            return Err(backend(
                "a store name must be non-empty, without `{` or `}`".into(),
            ));
        }
        if timeout.is_zero() {
            return Err(backend("the timeout must be longer than zero".into()));
        }
        let key = |part: &str| format!("pacer:{{{name}}}:dlq:{part}");
        Ok(Self {
            connection: RedisConnection::new(client, timeout),
            ids: key("ids"),
            leases: key("leases"),
            letters: key("letters"),
            states: key("states"),
            put_keys: key("put-keys"),
        })
    }

    fn keys<'a>(
        &self,
        invocation: &'a mut redis::ScriptInvocation<'static>,
    ) -> &'a mut redis::ScriptInvocation<'static> {
        invocation
            .key(&self.ids)
            .key(&self.leases)
            .key(&self.letters)
            .key(&self.states)
    }

    /// The letters with these ids, in this order (gone ones skipped).
    async fn fetch(&self, ids: Vec<String>) -> Result<Vec<DeadLetter>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (letters, states) = (self.letters.clone(), self.states.clone());
        let query = ids.clone();
        let (blobs, state_lines): (Vec<Option<Vec<u8>>>, Vec<Option<String>>) = self
            .connection
            .run(|mut c| async move {
                redis::pipe()
                    .cmd("HMGET")
                    .arg(&letters)
                    .arg(&query)
                    .cmd("HMGET")
                    .arg(&states)
                    .arg(&query)
                    .query_async(&mut c)
                    .await
            })
            .await
            .map_err(backend)?;
        Ok(ids
            .into_iter()
            .zip(blobs.into_iter().zip(state_lines))
            .filter_map(|(id, (blob, state))| Some(decode(id, &blob?, state.as_deref())))
            .collect())
    }
}

/// The fixed part of a letter, as stored.
fn encode(letter: &DeadLetter) -> Vec<u8> {
    let first = unix_millis(letter.first_attempt).to_string();
    let headers = encode_headers(&letter.headers);
    encode_parts([
        letter.destination.as_bytes(),
        letter.method.as_bytes(),
        letter.uri.as_bytes(),
        headers.as_slice(),
        letter.body.as_ref(),
        letter.kind.as_str().as_bytes(),
        first.as_bytes(),
    ])
}

/// A new id, the fixed part and the state (`attempts:last_ms:message`) of
/// a letter to store.
fn row(letter: &DeadLetter) -> (String, Vec<u8>, String) {
    let state = format!(
        "{}:{}:{}",
        letter.attempts,
        unix_millis(letter.last_attempt),
        letter.message
    );
    (new_id(), encode(letter), state)
}

/// A letter from its fixed part and its state (`attempts:last_ms:message`).
fn decode(id: String, blob: &[u8], state: Option<&str>) -> DeadLetter {
    let mut parts = decode_parts(blob).into_iter();
    let mut raw = || parts.next().unwrap_or_default();
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let (destination, method, uri) = (text(raw()), text(raw()), text(raw()));
    let headers = decode_headers(&raw());
    let body = Bytes::from(raw());
    let kind = FailureKind::parse(&text(raw()));
    let first_attempt = from_unix_millis(text(raw()).parse().unwrap_or(0));
    let mut state = state.unwrap_or("1:0:").splitn(3, ':');
    let attempts = state.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let last_attempt = from_unix_millis(state.next().and_then(|t| t.parse().ok()).unwrap_or(0));
    let message = state.next().unwrap_or_default().to_owned();
    DeadLetter {
        id,
        destination,
        method,
        uri,
        headers,
        body,
        kind,
        message,
        attempts,
        first_attempt,
        last_attempt,
    }
}

impl DeadLetterStore for RedisStore {
    fn put(&self, letter: DeadLetter) -> StoreFuture<'_, String> {
        Box::pin(async move {
            self.put_many(vec![letter])
                .await?
                .pop()
                .ok_or_else(|| backend("the letter got no id".into()))
        })
    }

    fn put_many(&self, letters: Vec<DeadLetter>) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let rows: Vec<(String, Vec<u8>, String)> = letters.iter().map(row).collect();
            let ids: Vec<String> = rows.iter().map(|(id, _, _)| id.clone()).collect();
            if rows.is_empty() {
                return Ok(ids);
            }
            let keys = (&self.ids, &self.letters, &self.states);
            self.connection
                .run(|mut c| async move {
                    // All of them or none.
                    let mut pipe = redis::pipe();
                    pipe.atomic();
                    for (id, blob, state) in rows {
                        pipe.hset(keys.1, &id, blob)
                            .hset(keys.2, &id, state)
                            .zadd(keys.0, &id, 0);
                    }
                    pipe.exec_async(&mut c).await
                })
                .await
                .map_err(backend)?;
            Ok(ids)
        })
    }

    fn put_many_once<'a>(
        &'a self,
        key: &'a str,
        letters: Vec<DeadLetter>,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut invocation = PUT_ONCE.prepare_invoke();
            invocation
                .key(&self.ids)
                .key(&self.letters)
                .key(&self.states)
                .key(&self.put_keys)
                .arg(key);
            for (id, blob, state) in letters.iter().map(row) {
                invocation.arg(id).arg(blob).arg(state);
            }
            let joined: String = self.connection.invoke(invocation).await.map_err(backend)?;
            Ok(joined.split_whitespace().map(str::to_owned).collect())
        })
    }

    fn peek(&self, limit: usize) -> StoreFuture<'_, Vec<DeadLetter>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let stop = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
            let ids_key = self.ids.clone();
            let ids: Vec<String> = self
                .connection
                .run(|mut c| async move {
                    redis::cmd("ZRANGE")
                        .arg(&ids_key)
                        .arg(0)
                        .arg(stop)
                        .query_async(&mut c)
                        .await
                })
                .await
                .map_err(backend)?;
            self.fetch(ids).await
        })
    }

    fn lease(&self, limit: usize, lease_for: Duration) -> StoreFuture<'_, Vec<DeadLetter>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let mut invocation = LEASE.prepare_invoke();
            self.keys(&mut invocation)
                .arg(u64::try_from(lease_for.as_millis()).unwrap_or(u64::MAX))
                .arg(limit);
            let ids: Vec<String> = self.connection.invoke(invocation).await.map_err(backend)?;
            self.fetch(ids).await
        })
    }

    fn ack<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut invocation = ACK.prepare_invoke();
            self.keys(&mut invocation).arg(id);
            let removed: i64 = self.connection.invoke(invocation).await.map_err(backend)?;
            Ok(removed > 0)
        })
    }

    fn release<'a>(&'a self, id: &'a str, failure: FailedAgain) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut invocation = RELEASE.prepare_invoke();
            self.keys(&mut invocation)
                .arg(id)
                .arg(unix_millis(failure.at))
                .arg(failure.message);
            let found: i64 = self.connection.invoke(invocation).await.map_err(backend)?;
            Ok(found > 0)
        })
    }

    fn unlease<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut invocation = UNLEASE.prepare_invoke();
            self.keys(&mut invocation).arg(id);
            let found: i64 = self.connection.invoke(invocation).await.map_err(backend)?;
            Ok(found > 0)
        })
    }

    fn len(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let ids = self.ids.clone();
            self.connection
                .run(|mut c| async move { redis::cmd("ZCARD").arg(&ids).query_async(&mut c).await })
                .await
                .map_err(backend)
        })
    }
}
