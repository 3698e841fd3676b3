//! The Lua script that reserves slots in Redis: its keys, its arguments
//! and its replies. The script itself is `script.lua`, beside this file.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{Script, ScriptInvocation};

use crate::rate::gcra::GcraParams;
use crate::rate::window::{EXACT_LIMIT, WINDOW_GUARD, WindowParams};
use crate::rate::{Headroom, Quota};

/// Loaded once per server and called by its SHA (`EVALSHA`); `redis`
/// loads it again when the server answers `NOSCRIPT` (after a restart).
static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("script.lua")));

/// Microseconds, the script's unit, rounded up (never faster than asked).
pub(super) fn micros_ceil(nanos: u64) -> u64 {
    nanos.div_ceil(1000)
}

/// Whole microseconds of `d`, rounded up, within what Lua counts exactly.
pub(super) fn micros(d: Duration) -> i64 {
    let us = d.as_nanos().div_ceil(1000);
    // 2^53: Lua's numbers are doubles.
    i64::try_from(us).map_or(1 << 53, |us| us.min(1 << 53))
}

/// One band as the script sees it, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RemoteBand {
    /// GCRA: one call per `interval`, bursts of `burst`.
    Rate { interval: u64, burst: u64 },
    /// An exact window: one sorted-set member per unit of cost.
    Window { limit: u64, window: u64 },
    /// A large window counted in buckets, as the local limiter does.
    Buckets { limit: u64, window: u64 },
}

impl RemoteBand {
    /// The band for `quota`, narrowed by `headroom` exactly as locally.
    pub(super) fn new(quota: &Quota, headroom: &Headroom) -> Self {
        if let Some(p) = GcraParams::new(quota, headroom) {
            return RemoteBand::Rate {
                interval: micros_ceil(p.interval).max(1),
                burst: p.burst,
            };
        }
        let p = WindowParams::new(quota, headroom).unwrap_or(WindowParams {
            limit: quota.capacity(),
            window: 1,
        });
        let window = micros_ceil(p.window).max(1);
        if p.limit <= EXACT_LIMIT {
            RemoteBand::Window {
                limit: p.limit,
                window,
            }
        } else {
            RemoteBand::Buckets {
                limit: p.limit,
                window,
            }
        }
    }

    /// The letter naming the band's kind in its key and arguments; a key
    /// never changes kind, so two configurations cannot clash on a type.
    fn kind(&self) -> &'static str {
        match self {
            RemoteBand::Rate { .. } => "r",
            RemoteBand::Window { .. } => "w",
            RemoteBand::Buckets { .. } => "b",
        }
    }

    fn figures(&self) -> (u64, u64) {
        match *self {
            RemoteBand::Rate { interval, burst } => (interval, burst),
            RemoteBand::Window { limit, window } | RemoteBand::Buckets { limit, window } => {
                (limit, window)
            }
        }
    }

    /// The most one call may cost.
    pub(super) fn capacity(&self) -> u64 {
        match *self {
            RemoteBand::Rate { burst, .. } => burst,
            RemoteBand::Window { limit, .. } | RemoteBand::Buckets { limit, .. } => limit,
        }
    }

    /// How long the band counts over: a window's length, or the time a
    /// rate takes to refill its burst. The shortest one binds first.
    fn span(&self) -> u64 {
        match *self {
            RemoteBand::Rate { interval, burst } => interval.saturating_mul(burst),
            RemoteBand::Window { window, .. } | RemoteBand::Buckets { window, .. } => window,
        }
    }

    /// A window's sustained spacing (0 for a rate, which paces itself).
    fn spacing(&self) -> u64 {
        match *self {
            RemoteBand::Rate { .. } => 0,
            RemoteBand::Window { limit, window } | RemoteBand::Buckets { limit, window } => {
                window.div_ceil(limit).max(1)
            }
        }
    }
}

/// The keys of one destination. One hash tag (`{key}`) for all of them, so
/// the script's keys share a slot on Redis Cluster.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    slot: String,
    pause: String,
    ramp: String,
    seen: String,
    bands: Vec<String>,
}

impl Keys {
    pub(super) fn new(key: &str, bands: &[RemoteBand]) -> Self {
        let name = |part: &str| format!("pacer:{{{key}}}:{part}");
        Self {
            slot: name("slot"),
            pause: name("pause"),
            ramp: name("ramp"),
            seen: name("seen"),
            bands: bands
                .iter()
                .enumerate()
                .map(|(i, band)| name(&format!("{}{i}", band.kind())))
                .collect(),
        }
    }

    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut invocation = SCRIPT.prepare_invoke();
        invocation
            .key(&self.slot)
            .key(&self.pause)
            .key(&self.ramp)
            .key(&self.seen);
        for key in &self.bands {
            invocation.key(key);
        }
        invocation
    }
}

fn add_bands(invocation: &mut ScriptInvocation<'static>, bands: &[RemoteBand]) {
    for band in bands {
        let (a, b) = band.figures();
        invocation.arg(band.kind()).arg(a).arg(b);
    }
}

/// The paced restart after a pause goes at the pace of the band that binds
/// (the shortest), never a daily band's average: that would hold a
/// destination at a fraction of its quota for the rest of a run.
fn spacing(bands: &[RemoteBand]) -> u64 {
    bands
        .iter()
        .min_by_key(|band| band.span())
        .map_or(0, RemoteBand::spacing)
}

/// Bands this long or longer are not fenced when Redis has lost their
/// state: the fence would stop the destination for a day.
const UNFENCED_SPAN: u64 = 86_400_000_000;

/// The span the lost-state fence waits out (µs): the longest band shorter
/// than a day (0: none, no fence). See `script.lua`.
pub(super) fn fenced_span(bands: &[RemoteBand]) -> u64 {
    bands
        .iter()
        .map(RemoteBand::span)
        .filter(|&span| span < UNFENCED_SPAN)
        .max()
        .unwrap_or(0)
}

/// What one reservation asks of the script.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ask<'a> {
    pub(super) cost: u64,
    /// `None`: wait as long as it takes.
    pub(super) max_wait: Option<Duration>,
    /// This process's own pause, not yet in Redis perhaps.
    pub(super) extra_wait: Duration,
    /// Unique among every process's reservations: window members.
    pub(super) nonce: &'a str,
    /// The latest slot this process was granted (µs of Redis time; 0:
    /// none): it tells the script when Redis has lost the bands' state.
    pub(super) latest: i64,
}

/// The script call that reserves `ask` in every band.
pub(super) fn reserve(
    keys: &Keys,
    bands: &[RemoteBand],
    ask: Ask<'_>,
) -> ScriptInvocation<'static> {
    let mut invocation = keys.invocation();
    invocation
        .arg("reserve")
        .arg(ask.cost)
        .arg(ask.max_wait.map_or(-1, micros))
        .arg(micros(ask.extra_wait))
        .arg(ask.nonce)
        .arg(spacing(bands))
        .arg(micros(WINDOW_GUARD))
        .arg(ask.latest)
        .arg(fenced_span(bands));
    add_bands(&mut invocation, bands);
    invocation
}

/// The script call that pauses every process for `length`.
pub(super) fn pause(
    keys: &Keys,
    bands: &[RemoteBand],
    length: Duration,
) -> ScriptInvocation<'static> {
    let mut invocation = keys.invocation();
    invocation
        .arg("pause")
        .arg(micros(length))
        .arg(spacing(bands));
    add_bands(&mut invocation, bands);
    invocation
}

/// The script's answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reply {
    /// The slot is `slot` µs of Redis time, `wait` after the script ran
    /// at `now`.
    Granted { wait: Duration, slot: i64, now: i64 },
    /// The slot would be `wait` away, beyond the max wait.
    TooFar { wait: Duration },
    /// Band `band` can never hold the cost.
    TooCostly { band: usize, capacity: u64 },
}

impl Reply {
    /// The reply of a `reserve` call, `None` if it is not one.
    pub(super) fn parse(values: &[i64]) -> Option<Reply> {
        let wait = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
        match *values {
            [0, us, slot] => Some(Reply::Granted {
                wait: wait(us),
                slot,
                now: slot - us,
            }),
            [1, us, _] => Some(Reply::TooFar { wait: wait(us) }),
            [2, band, capacity] => Some(Reply::TooCostly {
                band: usize::try_from(band).ok()?,
                capacity: u64::try_from(capacity).ok()?,
            }),
            _ => None,
        }
    }
}
