//! Seeded random choices: faults, latency, slow responses, failing batch items.
//!
//! Each request gets its own generator seeded from the server seed and the
//! request id, so no lock is shared on the hot path and the n-th request of
//! a server with a given seed always meets the same fate.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::config::MockConfig;

/// What happens to a request before the quotas see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Served normally.
    None,
    /// Answered 503.
    Unavailable,
    /// Answered 500.
    Internal,
    /// Connection dropped mid-response.
    Reset,
}

/// The random source of one request.
#[derive(Debug)]
pub(crate) struct Dice(SmallRng);

impl Dice {
    /// The generator of request `id` on a server seeded with `seed`.
    pub(crate) fn new(seed: u64, id: u64) -> Self {
        // Spread ids with the golden-ratio constant so consecutive ids get
        // unrelated seeds (SmallRng's seeding then mixes them further).
        Self(SmallRng::seed_from_u64(
            seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ))
    }

    fn chance(&mut self, p: f64) -> bool {
        // `random_bool` panics outside [0, 1]; a comparison never does.
        p > 0.0 && self.0.random::<f64>() < p
    }

    /// Draws the request's fault from one uniform number, so the three
    /// fractions are disjoint and add up exactly.
    pub(crate) fn fault(&mut self, config: &MockConfig) -> Fault {
        let f = &config.faults;
        if f.status_503 + f.status_500 + f.reset <= 0.0 {
            return Fault::None;
        }
        let x: f64 = self.0.random();
        if x < f.status_503 {
            Fault::Unavailable
        } else if x < f.status_503 + f.status_500 {
            Fault::Internal
        } else if x < f.status_503 + f.status_500 + f.reset {
            Fault::Reset
        } else {
            Fault::None
        }
    }

    /// The real delay before an accepted request is answered: latency base,
    /// jitter, and the slow-response delay for the unlucky ones.
    pub(crate) fn delay(&mut self, config: &MockConfig) -> Duration {
        let l = config.latency;
        // Saturating: each delay is validated alone, not their sum.
        let mut nominal = l.base;
        if !l.jitter.is_zero() {
            nominal = nominal.saturating_add(l.jitter.mul_f64(self.0.random::<f64>()));
        }
        if self.chance(config.faults.slow) {
            nominal = nominal.saturating_add(config.faults.slow_delay);
        }
        if nominal.is_zero() {
            Duration::ZERO
        } else {
            config.scaled(nominal)
        }
    }

    /// Whether one batch item fails on its own.
    pub(crate) fn item_fails(&mut self, config: &MockConfig) -> bool {
        self.chance(config.batch_item_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Faults;

    #[test]
    fn same_seed_and_id_same_fate() {
        let c = MockConfig::default().with_faults(Faults {
            status_503: 0.3,
            status_500: 0.3,
            reset: 0.3,
            ..Faults::default()
        });
        let fates = |seed| {
            (1..200)
                .map(|id| Dice::new(seed, id).fault(&c))
                .collect::<Vec<_>>()
        };
        assert_eq!(fates(7), fates(7));
        assert_ne!(fates(7), fates(8));
    }

    #[test]
    fn delays_valid_alone_never_overflow_together() {
        // Each delay passes validation once scaled; their sum overflows.
        let huge = Duration::MAX / 2 + Duration::from_secs(1);
        let c = MockConfig::default()
            .with_time_scale(1e-12)
            .with_latency(huge, huge)
            .with_faults(Faults {
                slow: 1.0,
                slow_delay: huge,
                ..Faults::default()
            });
        assert_eq!(c.validate(), Ok(()));
        let delay = Dice::new(1, 1).delay(&c);
        assert!(delay > Duration::ZERO);
    }

    #[test]
    fn fractions_are_respected() {
        let c = MockConfig::default().with_faults(Faults {
            status_503: 0.2,
            status_500: 0.1,
            ..Faults::default()
        });
        let n = 20_000;
        let fates: Vec<_> = (0..n).map(|id| Dice::new(1, id).fault(&c)).collect();
        let share = |f| fates.iter().filter(|&&x| x == f).count() as f64 / n as f64;
        assert!(
            (share(Fault::Unavailable) - 0.2).abs() < 0.02,
            "{}",
            share(Fault::Unavailable)
        );
        assert!(
            (share(Fault::Internal) - 0.1).abs() < 0.02,
            "{}",
            share(Fault::Internal)
        );
        assert_eq!(share(Fault::Reset), 0.0);
    }

    #[test]
    fn delay_is_scaled_and_bounded() {
        let c = MockConfig::default()
            .with_latency(Duration::from_millis(100), Duration::from_millis(50))
            .with_time_scale(0.1);
        for id in 0..100 {
            let d = Dice::new(3, id).delay(&c);
            assert!(
                d >= Duration::from_millis(10) && d <= Duration::from_millis(15),
                "{d:?}"
            );
        }
    }
}
