//! Waking a call on its slot to a fraction of a millisecond.
//!
//! tokio's timer works in whole milliseconds: a sleeper wakes up to a
//! millisecond or two after its deadline (the deadline is rounded up to a
//! tick, and the driver's wait again). At 200 calls a second against a
//! server without burst, every late wake is lost capacity: the next call
//! must keep the band's spacing from the late one. So in real time a
//! waiting call sleeps on tokio's timer until [`LEAD`] before its slot,
//! and the rest on one shared thread that sleeps with the operating
//! system's fine timer and wakes the call's task.
//!
//! In tokio's paused test clock (`tokio::time::pause`) none of this runs:
//! the wait stays on tokio's timer, so tests keep exact, virtual time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

/// How long before a slot the coarse tokio sleep ends and the fine wait
/// takes over: two ticks of tokio's timer.
pub(crate) const LEAD: Duration = Duration::from_millis(2);

/// True when tokio's clock is the real one (not paused for a test).
///
/// Unpaused, tokio's `Instant::now()` reads the monotonic clock, so it
/// falls between two readings of it taken around it; paused, it is frozen
/// at a virtual instant that practically never does.
pub(crate) fn real_time() -> bool {
    let before = std::time::Instant::now();
    let tokio_now = Instant::now().into_std();
    let after = std::time::Instant::now();
    before <= tokio_now && tokio_now <= after
}

/// Where the coarse tokio sleep for a call due at `slot` ends (`fine`:
/// whether the limiter waits the rest on the fine timer).
pub(crate) fn coarse_deadline(slot: Instant, fine: bool) -> Instant {
    if fine && real_time() {
        slot.checked_sub(LEAD).unwrap_or(slot)
    } else {
        slot
    }
}

/// The fine wait for the last moments before `deadline`; ready at once in
/// paused time or once `deadline` has passed. Dropping it forgets the wake.
#[derive(Debug)]
pub(crate) struct FineWait {
    deadline: Instant,
    entry: Option<u64>,
}

impl FineWait {
    pub(crate) fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            entry: None,
        }
    }
}

impl Future for FineWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline || !real_time() {
            if let Some(entry) = self.entry.take() {
                timer().forget(entry);
            }
            return Poll::Ready(());
        }
        let Some(timer) = started() else {
            // No thread for fine waits: the tokio sleep before has done
            // what it could; go a little early rather than never.
            return Poll::Ready(());
        };
        let deadline = self.deadline.into_std();
        let entry = timer.schedule(self.entry, deadline, cx.waker());
        self.entry = Some(entry);
        Poll::Pending
    }
}

impl Drop for FineWait {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            timer().forget(entry);
        }
    }
}

/// The one thread that wakes fine waits, and its queue.
#[derive(Debug, Default)]
struct Timer {
    queue: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    /// (deadline, entry), earliest first; forgotten entries stay until due.
    due: BinaryHeap<Reverse<(std::time::Instant, u64)>>,
    wakers: HashMap<u64, Waker>,
    next: u64,
    /// Whether the thread could be started.
    running: Option<bool>,
}

fn timer() -> &'static Arc<Timer> {
    static TIMER: OnceLock<Arc<Timer>> = OnceLock::new();
    TIMER.get_or_init(Arc::default)
}

/// The timer, its thread started; `None` if the thread cannot be.
fn started() -> Option<&'static Arc<Timer>> {
    let timer = timer();
    let mut queue = timer.lock();
    match queue.running {
        Some(running) => running.then_some(timer),
        None => {
            let worker = Arc::clone(timer);
            let spawned = std::thread::Builder::new()
                .name("tower-pacer-timer".into())
                .spawn(move || worker.run())
                .is_ok();
            queue.running = Some(spawned);
            spawned.then_some(timer)
        }
    }
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue stays consistent between statements.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake `waker` at `deadline`; `entry` is this wait's earlier entry.
    fn schedule(&self, entry: Option<u64>, deadline: std::time::Instant, waker: &Waker) -> u64 {
        let mut queue = self.lock();
        if let Some(entry) = entry
            && let Some(known) = queue.wakers.get_mut(&entry)
        {
            if !known.will_wake(waker) {
                known.clone_from(waker);
            }
            return entry;
        }
        queue.next = queue.next.wrapping_add(1);
        let entry = queue.next;
        queue.wakers.insert(entry, waker.clone());
        let earliest = queue.due.peek().is_none_or(|Reverse((d, _))| deadline < *d);
        queue.due.push(Reverse((deadline, entry)));
        drop(queue);
        if earliest {
            self.changed.notify_one();
        }
        entry
    }

    fn forget(&self, entry: u64) {
        self.lock().wakers.remove(&entry);
    }

    fn run(&self) {
        let mut queue = self.lock();
        loop {
            let now = std::time::Instant::now();
            let mut woken = Vec::new();
            while let Some(Reverse((deadline, entry))) = queue.due.peek().copied() {
                if deadline > now {
                    break;
                }
                queue.due.pop();
                woken.extend(queue.wakers.remove(&entry));
            }
            if !woken.is_empty() {
                drop(queue);
                woken.into_iter().for_each(Waker::wake);
                queue = self.lock();
                continue;
            }
            queue = match queue.due.peek().copied() {
                None => self.changed.wait(queue).unwrap_or_else(|p| p.into_inner()),
                Some(Reverse((deadline, _))) => {
                    let wait = deadline.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(queue, wait)
                        .map(|(queue, _)| queue)
                        .unwrap_or_else(|p| p.into_inner().0)
                }
            };
        }
    }
}

/// Sleep until `deadline`: on tokio's timer, then (if `fine`) the fine
/// wait.
pub(crate) async fn sleep_until(deadline: Instant, fine: bool) {
    tokio::time::sleep_until(coarse_deadline(deadline, fine)).await;
    if fine {
        FineWait::new(deadline).await;
    }
}
