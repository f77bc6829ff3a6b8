//! Stage throttling (docs/aws-rules.md §HTTP-3.3): one token bucket per route per stage, shared by
//! every client.

use std::sync::Mutex;
use tokio::time::Instant;

/// A route's throttling settings, after merging `route_settings` over `default_route_settings`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RouteSettings {
    /// `throttling_burst_limit`: the bucket size.
    pub throttling_burst_limit: Option<u32>,
    /// `throttling_rate_limit`: tokens added per second.
    pub throttling_rate_limit: Option<f64>,
}

impl RouteSettings {
    /// `self` with the fields it leaves unset taken from `fallback`.
    pub fn or(self, fallback: RouteSettings) -> RouteSettings {
        RouteSettings {
            throttling_burst_limit: self
                .throttling_burst_limit
                .or(fallback.throttling_burst_limit),
            throttling_rate_limit: self
                .throttling_rate_limit
                .or(fallback.throttling_rate_limit),
        }
    }
}

/// A token bucket; starts full.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A bucket for `settings`, or `None` when neither limit is set (only the account limit,
    /// which airlock does not enforce, would apply). A missing field is unlimited.
    pub fn new(settings: RouteSettings) -> Option<Bucket> {
        if settings.throttling_burst_limit.is_none() && settings.throttling_rate_limit.is_none() {
            return None;
        }
        let burst = settings.throttling_burst_limit.map_or(f64::MAX, f64::from);
        let rate = settings.throttling_rate_limit.unwrap_or(f64::MAX).max(0.0);
        Some(Bucket {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        })
    }

    /// Takes one token; `false` means throttle (429).
    pub fn try_take(&self) -> bool {
        let now = Instant::now();
        let Ok(mut state) = self.state.lock() else {
            return true;
        };
        let (tokens, last) = *state;
        let refilled =
            (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
        if refilled >= 1.0 {
            *state = (refilled - 1.0, now);
            true
        } else {
            *state = (refilled, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn settings(burst: Option<u32>, rate: Option<f64>) -> RouteSettings {
        RouteSettings {
            throttling_burst_limit: burst,
            throttling_rate_limit: rate,
        }
    }

    /// docs/aws-rules.md §HTTP-3.3: burst is the bucket size, rate the refill; 0/0 refuses everything.
    #[tokio::test(start_paused = true)]
    async fn token_bucket() {
        let b = Bucket::new(settings(Some(2), Some(1.0))).unwrap();
        assert!(b.try_take());
        assert!(b.try_take());
        assert!(!b.try_take());
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert!(b.try_take());
        assert!(!b.try_take());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(
            b.try_take() && b.try_take() && !b.try_take(),
            "never above burst"
        );

        let zero = Bucket::new(settings(Some(0), Some(0.0))).unwrap();
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!zero.try_take());
        assert!(Bucket::new(settings(None, None)).is_none());
    }

    #[test]
    fn route_settings_override_the_default_per_field() {
        let default = settings(Some(10), Some(5.0));
        assert_eq!(
            settings(Some(1), None).or(default),
            settings(Some(1), Some(5.0))
        );
    }
}
