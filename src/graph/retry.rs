//! When to retry and how long to wait.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// First backoff step when the service gives no `Retry-After`; doubles per attempt up to the cap.
const BACKOFF_BASE: Duration = Duration::from_millis(500);

/// Statuses that mean "try again later": throttled, unavailable, gateway timeout.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 503 | 504)
}

/// Reads `Retry-After` as delta-seconds or as an HTTP date; a date in the past means now.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // Fractional seconds are not in RFC 9110 but cost nothing to honour.
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// How long to wait before attempt `attempt + 1`: the server's word if given, else capped
/// exponential backoff with jitter; never more than `cap`.
pub(crate) fn wait_before_retry(
    retry_after: Option<Duration>,
    attempt: u32,
    cap: Duration,
) -> Duration {
    match retry_after {
        Some(wait) => wait.min(cap),
        None => {
            let exp = BACKOFF_BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
            // Half fixed, half random, so parallel callers spread out but still back off.
            let ceiling = exp.min(cap);
            ceiling / 2 + ceiling.mul_f64(random_fraction() / 2.0)
        }
    }
}

fn random_fraction() -> f64 {
    // A failing OS RNG only costs the jitter, not the retry.
    getrandom::u32().map_or(0.5, |r| f64::from(r) / f64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now()),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-3", now()), None);
    }

    #[test]
    fn waits_are_capped_and_grow() {
        let cap = Duration::from_secs(30);
        assert_eq!(
            wait_before_retry(Some(Duration::from_secs(120)), 1, cap),
            cap
        );
        for attempt in 1..10 {
            let wait = wait_before_retry(None, attempt, cap);
            let ceiling = BACKOFF_BASE.saturating_mul(1 << (attempt - 1)).min(cap);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{attempt}: {wait:?}"
            );
        }
        assert!(
            wait_before_retry(None, 40, Duration::from_millis(10)) <= Duration::from_millis(10)
        );
    }

    #[test]
    fn retryable_statuses() {
        assert!(is_retryable_status(429));
        assert!(is_retryable_status(503));
        assert!(is_retryable_status(504));
        for s in [400, 401, 403, 404, 409, 500, 502] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}
