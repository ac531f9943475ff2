//! Requests per second per caller: a token bucket per bearer token (or per client address for
//! requests without one), answered 429 with `Retry-After` past the limit and counted in
//! `/metrics`. The probes (`/healthz`, `/readyz`, `/metrics`) are never limited.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Catalog;
use super::auth::Principal;
use super::error::ApiError;

/// How many requests a caller may make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second per caller.
    pub per_second: f64,
    /// Requests a caller may make at once after being idle (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` sustained, with bursts of as many.
    pub fn per_second(per_second: f64) -> Self {
        Self {
            per_second,
            burst: per_second.ceil().max(1.0) as u32,
        }
    }
}

/// Callers idle this long lose their bucket (a full one is the same as none).
const IDLE: Duration = Duration::from_secs(60);
/// Past this many buckets, idle ones are swept on the next refusal-free call.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every caller seen recently.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    // Held for a map lookup and a little arithmetic, never across an await.
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::default(),
        }
    }

    /// Takes one request from `caller`'s bucket; `Err` carries the seconds until one is
    /// available.
    fn take(&self, caller: &str, now: Instant) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > SWEEP_AT {
            buckets.retain(|_, b| now.duration_since(b.at) < IDLE);
        }
        let burst = f64::from(self.limit.burst.max(1));
        let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.limit.per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.limit.per_second.max(f64::MIN_POSITIVE);
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

/// Who a request counts against, and how `/metrics` names them (domains by name; token ids
/// and addresses are not metric labels).
fn caller(request: &Request) -> (String, String) {
    match request.extensions().get::<Principal>() {
        Some(Principal::Domain { domain, token }) => {
            (format!("token:{token}"), format!("domain:{domain}"))
        }
        Some(Principal::Admin { token }) => (format!("token:{token}"), "admin".to_owned()),
        Some(Principal::Dev) | None => {
            let address = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
            (format!("address:{address}"), "anonymous".to_owned())
        }
    }
}

/// The middleware: after authentication, before the handlers.
pub(crate) async fn limit(
    State(catalog): State<Catalog>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = catalog.limiter() else {
        return next.run(request).await;
    };
    if matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(request).await;
    }
    let (key, label) = caller(&request);
    match limiter.take(&key, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(seconds) => {
            catalog.metrics().rate_limited(&label);
            ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                42901,
                format!(
                    "Too many requests: the limit is {} per second; retry in {seconds} s.",
                    limiter.limit.per_second
                ),
            )
            .retry_after(seconds)
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = Limiter::new(RateLimit {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take("a", t0), Ok(()));
        }
        assert_eq!(limiter.take("a", t0), Err(1));
        // Another caller has its own bucket.
        assert_eq!(limiter.take("b", t0), Ok(()));
        // Half a second later one request (2 per second) is back.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limiter.take("a", t1), Ok(()));
        assert_eq!(limiter.take("a", t1), Err(1));
        // Long idle: the bucket is full again, never fuller than the burst.
        let t2 = t1 + Duration::from_secs(100);
        for _ in 0..3 {
            assert_eq!(limiter.take("a", t2), Ok(()));
        }
        assert!(limiter.take("a", t2).is_err());
    }
}
