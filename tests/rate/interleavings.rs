//! Property tests over interleavings: random sequences of reserve, cancel
//! (a dropped reservation gives its slot back), send, pause and set_quota
//! across a rate band and a window band, in paused time. Calls go out as
//! the contract says they must — through [`Reservation::wait`], which holds
//! a call a pause has voided and reserves again for it — and the times they
//! go out are checked against simple models of each band: a cancelled
//! reservation never lets a band be exceeded, no call goes out inside a
//! pause, and the newest reservation, cancelled, gives its slot back.

use std::time::Duration;

use crate::support::rate::{max_in_span, paused};
use proptest::prelude::*;
use tokio::time::{self, Instant};
use tower_pacer::rate::{Limiter, Quota, Reservation};

const BURST: u64 = 3;
const WINDOW_MS: u64 = 1_000;

#[derive(Debug, Clone)]
enum Op {
    /// Let time pass (µs).
    Advance(u64),
    /// Reserve; `keep` sends at once (waits for the slot), otherwise the
    /// reservation is held.
    Reserve { cost: u64, keep: bool },
    /// Drop a held reservation (the call never goes out).
    Cancel(usize),
    /// Send a held reservation (wait for its slot, then go).
    Send(usize),
    /// Drop the newest reservation if nothing was reserved after it, then
    /// reserve the same cost again: the slot must be no later.
    Retake,
    /// Pause the limiter for this many ms from now.
    Pause(u64),
    /// The window band's new limit.
    SetWindowLimit(u64),
    /// The rate band's new rate (per second, burst kept).
    SetRate(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop_oneof![Just(0u64), 0u64..20_000, 0u64..1_500_000].prop_map(Op::Advance),
        6 => (1u64..=BURST, any::<bool>()).prop_map(|(cost, keep)| Op::Reserve { cost, keep }),
        2 => any::<usize>().prop_map(Op::Cancel),
        2 => any::<usize>().prop_map(Op::Send),
        1 => Just(Op::Retake),
        1 => (1u64..800).prop_map(Op::Pause),
        1 => (BURST..12).prop_map(Op::SetWindowLimit),
        1 => (2u64..40).prop_map(Op::SetRate),
    ]
}

/// What a run did, in nanoseconds since its start.
#[derive(Debug, Default)]
struct Run {
    /// (time sent, cost) of every call that went out.
    sent: Vec<(u64, u64)>,
    /// Violations seen during the run, in words.
    errors: Vec<String>,
    /// The highest window limit and the fastest rate ever in force.
    max_window_limit: u64,
    max_rate: u64,
    /// Whether the rate band's rate was changed.
    rate_changed: bool,
}

async fn run(ops: &[Op], rate: u64, window_limit: u64) -> Run {
    let start = Instant::now();
    let ns = |t: Instant| (t - start).as_nanos() as u64;
    let limiter = Limiter::builder()
        .quota(Quota::per_second(rate).unwrap().with_burst(BURST).unwrap())
        .quota(Quota::window(window_limit, Duration::from_millis(WINDOW_MS)).unwrap())
        .build()
        .unwrap();
    let mut out = Run {
        max_window_limit: window_limit,
        max_rate: rate,
        ..Run::default()
    };
    // Held reservations: each with its number (to know the newest) and cost.
    let mut held: Vec<(Reservation, u64, u64)> = Vec::new();
    let mut paused_until: Option<Instant> = None;
    let mut reservations = 0u64;
    // The number of the last reservation made before the latest pause or
    // quota change: those can no longer be given back (the limiter's
    // "Giving slots back" says so), so retaking one proves nothing.
    let mut voided_up_to = 0u64;
    let reserve = |limiter: &Limiter, cost: u64, out: &mut Run, paused_until: Option<Instant>| {
        let now = Instant::now();
        let reservation = limiter.reserve(cost).expect("cost fits every band");
        if reservation.slot() < now {
            out.errors
                .push(format!("slot {:?} before now", reservation.slot()));
        }
        if let Some(until) = paused_until.filter(|until| *until > now)
            && reservation.slot() < until
        {
            out.errors.push(format!(
                "slot {} inside a pause until {}",
                ns(reservation.slot()),
                ns(until)
            ));
        }
        reservation
    };
    // Sends the call of `reservation` as the contract says, and checks it
    // did not go out inside a pause.
    async fn send(
        reservation: Reservation,
        cost: u64,
        paused_until: Option<Instant>,
        start: Instant,
        out: &mut Run,
    ) {
        reservation.wait().await;
        let now = Instant::now();
        if paused_until.is_some_and(|until| now < until) {
            out.errors.push(format!(
                "a call went out inside a pause at {:?}",
                now - start
            ));
        }
        out.sent.push(((now - start).as_nanos() as u64, cost));
    }
    for op in ops {
        match op {
            Op::Advance(us) => time::advance(Duration::from_micros(*us)).await,
            Op::Reserve { cost, keep } => {
                let reservation = reserve(&limiter, *cost, &mut out, paused_until);
                reservations += 1;
                if *keep {
                    send(reservation, *cost, paused_until, start, &mut out).await;
                } else {
                    held.push((reservation, reservations, *cost));
                }
            }
            Op::Cancel(i) if !held.is_empty() => {
                let i = i % held.len();
                drop(held.remove(i));
            }
            Op::Send(i) if !held.is_empty() => {
                let (reservation, _, cost) = held.remove(i % held.len());
                send(reservation, cost, paused_until, start, &mut out).await;
                // A held call may have reserved again as it went (after a
                // pause, or a stall): that reservation is the newest now.
                voided_up_to = reservations;
            }
            Op::Retake => {
                let newest = held
                    .iter()
                    .position(|(_, id, _)| *id == reservations && *id > voided_up_to);
                if let Some(i) = newest {
                    let (reservation, _, cost) = held.remove(i);
                    let slot = reservation.slot();
                    drop(reservation);
                    let again = reserve(&limiter, cost, &mut out, paused_until);
                    reservations += 1;
                    // No later than the slot given back (or now, if
                    // that slot has passed).
                    if again.slot() > slot.max(Instant::now()) {
                        out.errors.push(format!(
                            "retaken slot {} later than the given-back {}",
                            ns(again.slot()),
                            ns(slot)
                        ));
                    }
                    held.push((again, reservations, cost));
                }
            }
            Op::Pause(ms) => {
                let until = Instant::now() + Duration::from_millis(*ms);
                limiter.pause_until(until);
                paused_until = Some(paused_until.map_or(until, |p| p.max(until)));
                voided_up_to = reservations;
            }
            Op::SetWindowLimit(limit) => {
                let quota = Quota::window(*limit, Duration::from_millis(WINDOW_MS)).unwrap();
                limiter.set_quota(1, quota).unwrap();
                out.max_window_limit = out.max_window_limit.max(*limit);
                voided_up_to = reservations;
            }
            Op::SetRate(rate) => {
                let quota = Quota::per_second(*rate).unwrap().with_burst(BURST).unwrap();
                limiter.set_quota(0, quota).unwrap();
                out.max_rate = out.max_rate.max(*rate);
                out.rate_changed = true;
                voided_up_to = reservations;
            }
            Op::Cancel(_) | Op::Send(_) => {}
        }
    }
    // What is still held goes out, in the order it was reserved.
    for (reservation, _, cost) in held {
        send(reservation, cost, paused_until, start, &mut out).await;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn interleavings_never_exceed_a_band(
        rate in 2u64..40,
        window_limit in BURST..12,
        ops in prop::collection::vec(op(), 1..160),
    ) {
        let run = paused(run(&ops, rate, window_limit));
        prop_assert!(run.errors.is_empty(), "{:?}", run.errors);
        // The window band, at the highest limit it ever had, as a server
        // counts it (pacer-mock does): a send at t counts against
        // (t - window, t], so sends less than a window apart. Sends, not
        // slots: slots keep WINDOW_GUARD more between them, which a send
        // late by a timer tick uses up.
        let window = WINDOW_MS * 1_000_000 - 1;
        let most = max_in_span(&run.sent, window);
        prop_assert!(most <= run.max_window_limit,
            "{} in one window, limit {}; sent {:?}", most, run.max_window_limit, run.sent);
        // The rate band: at most BURST + d/T in any span d, at the fastest
        // rate it ever had. A rate change keeps the band's theoretical
        // arrival time, so the cost in use is read again at the new rate:
        // a cut can let up to one more burst through at once (set_quota's
        // "briefly overshoot"; in a real run the 429 behind a cut also
        // pauses the band, which then starts full at the new rate anyway).
        let burst = if run.rate_changed { 2 * BURST } else { BURST };
        let interval = 1_000_000_000u64.div_ceil(run.max_rate);
        let mut sent = run.sent.clone();
        sent.sort();
        for i in 0..sent.len() {
            let mut sum = 0;
            for j in i..sent.len() {
                sum += sent[j].1;
                let span = sent[j].0 - sent[i].0;
                prop_assert!(sum <= burst + span / interval,
                    "{} units in {} ns at {}/s", sum, span, run.max_rate);
            }
        }
    }
}
