//! The seeded per-device sampler of a behaviour profile.

use std::sync::Arc;
use std::time::Duration;

use coap_lite::ResponseType;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::BehaviourProfile;

/// What a device does with one incoming request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Disposition {
    /// Drop the request: no ACK, no response.
    NoReply,
    /// Answer with the error `code` after `delay`.
    Fail {
        /// The injected error.
        code: ResponseType,
        /// Delay before the answer.
        delay: Duration,
    },
    /// Handle the request normally and answer after `delay`.
    Answer {
        /// Delay before the answer.
        delay: Duration,
    },
}

/// A seeded sampler of a [`BehaviourProfile`] for one device. Devices of one fleet share the
/// profile.
#[derive(Debug, Clone)]
pub struct Behaviour {
    profile: Arc<BehaviourProfile>,
    rng: ChaCha8Rng,
}

impl Behaviour {
    /// A sampler for `profile` seeded with `seed` (derive it per device).
    /// Invalid ratios are clamped into `0..=1`; call [`BehaviourProfile::validate`] first.
    pub fn new(profile: impl Into<Arc<BehaviourProfile>>, seed: u64) -> Self {
        Self {
            profile: profile.into(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The profile.
    pub fn profile(&self) -> &BehaviourProfile {
        &self.profile
    }

    /// Decides the fate of one request.
    pub fn decide(&mut self) -> Disposition {
        let draw: f64 = self.rng.random();
        let no_reply = clamp_ratio(self.profile.no_reply_ratio);
        let failure = clamp_ratio(self.profile.failure_ratio);
        if draw < no_reply {
            return Disposition::NoReply;
        }
        let delay = self.sample_delay();
        if draw < no_reply + failure {
            let codes = &self.profile.error_codes;
            let code = match codes.len() {
                0 => ResponseType::InternalServerError,
                1 => codes[0],
                n => codes[self.rng.random_range(0..n)],
            };
            Disposition::Fail { code, delay }
        } else {
            Disposition::Answer { delay }
        }
    }

    /// Draws one response delay, clamped into `[0, MAX_DELAY]`.
    pub fn sample_delay(&mut self) -> Duration {
        self.profile.delay.sample(&mut self.rng)
    }
}

fn clamp_ratio(ratio: f64) -> f64 {
    if ratio.is_nan() {
        0.0
    } else {
        ratio.clamp(0.0, 1.0)
    }
}
