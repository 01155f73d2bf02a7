//! One adaptive rate limiter per service and region, shared by every call strata makes
//! (refresh, apply, destroy, state): each service client sends through an HTTP connector
//! that waits for the limiter before every attempt, the SDK's retries included, and tells
//! it how the answer went. An SDK interceptor cannot wait (its hooks are synchronous); the
//! connector's future can.
//!
//! The limiter starts fast, at [`START_RATE`] calls per second, and doubles its rate for
//! each second of answers without throttling (up to [`MAX_RATE`]), so a service that never
//! throttles is soon not slowed at all. The first throttling answer (HTTP 429, S3's 503
//! `SlowDown`, a `Throttling`, `ThrottlingException`, `TooManyRequestsException`,
//! `RequestLimitExceeded` or `RequestThrottled` error) sets the rate to [`BETA`] times the
//! rate calls were being sent at; each later throttling answer to a call sent after the
//! last cut multiplies it by [`BETA`] again (answers to calls sent before the cut say
//! nothing about the new rate). From the first throttling answer on, every successful
//! second adds [`STEP`] calls per second. A `Retry-After` (or `x-amz-retry-after`) holds every call until it has
//! passed. Waiters are served in turn (a fair async mutex): one sleeper at a time, however
//! many calls wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use tokio::time::Instant;

/// The first rate, in calls per second.
pub const START_RATE: f64 = 50.0;
/// The highest rate, in calls per second.
pub const MAX_RATE: f64 = 5000.0;
/// The factor a throttling answer multiplies the rate by.
pub const BETA: f64 = 0.5;
/// Calls per second added for each second of answers without throttling.
pub const STEP: f64 = 2.0;
/// The rate never falls below this (calls per second).
pub const MIN_RATE: f64 = 0.5;
/// Calls that may go at once after a quiet spell, once limited.
pub const BURST: f64 = 5.0;
/// How far back the send rate is measured when the first throttling answer comes.
const WINDOW: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub struct RateLimiter {
    /// Waiters take turns: only the first in line sleeps until its token.
    turn: tokio::sync::Mutex<()>,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Calls per second.
    rate: f64,
    /// No throttling answer yet: the rate doubles every second.
    slow_start: bool,
    tokens: f64,
    refilled: Instant,
    /// Nothing is sent before this (a `Retry-After`).
    held_until: Option<Instant>,
    /// When the rate was last cut: throttling of calls sent before it is not counted.
    cut: Option<Instant>,
    /// When the rate last grew.
    grown: Instant,
    /// Calls sent in the current and the previous window, to measure the send rate.
    window_start: Instant,
    sent_now: u32,
    sent_before: u32,
    throttled: u64,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new()
    }
}

impl RateLimiter {
    pub fn new() -> RateLimiter {
        let now = Instant::now();
        RateLimiter {
            turn: tokio::sync::Mutex::new(()),
            bucket: Mutex::new(Bucket {
                rate: START_RATE,
                slow_start: true,
                tokens: BURST,
                refilled: now,
                held_until: None,
                cut: None,
                grown: now,
                window_start: now,
                sent_now: 0,
                sent_before: 0,
                throttled: 0,
            }),
        }
    }

    /// The allowed rate in calls per second.
    pub fn rate(&self) -> f64 {
        self.bucket.lock().expect("limiter").rate
    }

    /// Throttling answers seen.
    pub fn throttled(&self) -> u64 {
        self.bucket.lock().expect("limiter").throttled
    }

    /// Waits for the turn to send one call; returns when it was let through.
    pub async fn acquire(&self) -> Instant {
        let _turn = self.turn.lock().await;
        loop {
            let now = Instant::now();
            let wait = self.bucket.lock().expect("limiter").take(now);
            match wait {
                None => return now,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// A call was answered without throttling.
    pub fn on_success(&self) {
        let now = Instant::now();
        let mut b = self.bucket.lock().expect("limiter");
        // Idle time is no evidence the service would take more.
        let elapsed = (now - b.grown).min(Duration::from_secs(1)).as_secs_f64();
        b.rate = if b.slow_start {
            b.rate * elapsed.exp2()
        } else {
            b.rate + STEP * elapsed
        }
        .min(MAX_RATE);
        b.grown = now;
    }

    /// A call let through at `sent` was throttled; the answer asked to wait `retry_after`.
    pub fn on_throttled(&self, sent: Instant, retry_after: Option<Duration>) {
        let now = Instant::now();
        let mut b = self.bucket.lock().expect("limiter");
        b.throttled += 1;
        if let Some(wait) = retry_after {
            let until = now + wait;
            b.held_until = Some(b.held_until.map_or(until, |h| h.max(until)));
        }
        if b.cut.is_some_and(|cut| sent < cut) {
            return;
        }
        // The rate may have grown beyond what was sent: cut from what was sent.
        let base = b.rate.min(b.measured(now).max(MIN_RATE));
        b.rate = (base * BETA).max(MIN_RATE);
        b.slow_start = false;
        b.tokens = b.tokens.min(1.0);
        b.refilled = now;
        b.cut = Some(now);
        b.grown = now;
    }
}

impl Bucket {
    /// Takes a token at `now`, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Option<Duration> {
        if let Some(until) = self.held_until {
            if now < until {
                return Some(until - now);
            }
            self.held_until = None;
        }
        let elapsed = (now - self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(BURST);
        self.refilled = now;
        if self.tokens < 1.0 {
            return Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate));
        }
        self.tokens -= 1.0;
        self.count(now);
        None
    }

    fn roll(&mut self, now: Instant) {
        while now - self.window_start >= WINDOW {
            self.sent_before = self.sent_now;
            self.sent_now = 0;
            self.window_start += WINDOW;
            if now - self.window_start >= WINDOW * 2 {
                self.sent_before = 0;
                self.window_start = now;
            }
        }
    }

    fn count(&mut self, now: Instant) {
        self.roll(now);
        self.sent_now += 1;
    }

    /// Calls per second sent over about the last window.
    fn measured(&mut self, now: Instant) -> f64 {
        self.roll(now);
        let into = (now - self.window_start).as_secs_f64();
        let span = WINDOW.as_secs_f64() + into;
        f64::from(self.sent_before + self.sent_now) / span.max(WINDOW.as_secs_f64())
    }
}

/// The limiters by (service, region).
type Limiters = Mutex<HashMap<(String, String), Arc<RateLimiter>>>;

/// The limiter of `service` in `region`, one per process.
pub fn limiter(service: &str, region: &str) -> Arc<RateLimiter> {
    static ALL: OnceLock<Limiters> = OnceLock::new();
    ALL.get_or_init(Default::default)
        .lock()
        .expect("limiters")
        .entry((service.to_string(), region.to_string()))
        .or_default()
        .clone()
}

/// Whether an answer is a throttling one, from its status, headers and (small) body.
pub fn is_throttling(status: u16, headers: &[(&str, &str)], body: &[u8]) -> bool {
    const CODES: [&str; 6] = [
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
    ];
    if status == 429 {
        return true;
    }
    if !matches!(status, 400 | 503) {
        return false;
    }
    let named = |text: &str| {
        CODES.iter().any(|code| {
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .any(|word| word == *code || word.ends_with(&format!(".{code}")))
        })
    };
    headers.iter().any(|(name, value)| {
        (name.eq_ignore_ascii_case("x-amzn-query-error")
            || name.eq_ignore_ascii_case("x-amzn-errortype"))
            && named(value)
    }) || named(&String::from_utf8_lossy(body))
}

/// An HTTP client whose every request waits for `limiter` first.
pub fn limited(inner: SharedHttpClient, limiter: Arc<RateLimiter>) -> SharedHttpClient {
    SharedHttpClient::new(LimitedClient { inner, limiter })
}

#[derive(Debug)]
struct LimitedClient {
    inner: SharedHttpClient,
    limiter: Arc<RateLimiter>,
}

impl HttpClient for LimitedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limiter: self.limiter.clone(),
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    limiter: Arc<RateLimiter>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let limiter = self.limiter.clone();
        HttpConnectorFuture::new(async move {
            let sent = limiter.acquire().await;
            let mut response = inner.call(request).await?;
            let status = response.status().as_u16();
            if !matches!(status, 400 | 429 | 503) {
                limiter.on_success();
                return Ok(response);
            }
            // Error answers are small: read the body to find the error code, and hand the
            // SDK the same bytes.
            let body = match ByteStream::new(response.take_body()).collect().await {
                Ok(bytes) => bytes.into_bytes(),
                Err(error) => {
                    return Err(aws_smithy_runtime_api::client::result::ConnectorError::io(
                        error.into(),
                    ));
                }
            };
            let headers: Vec<(&str, &str)> = response.headers().iter().collect();
            if is_throttling(status, &headers, &body) {
                limiter.on_throttled(sent, super::retry::retry_after(&response));
            } else {
                limiter.on_success();
            }
            *response.body_mut() = SdkBody::from(body);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends `n` calls one after the other; returns the times they were let through,
    /// relative to `start`.
    async fn send(limiter: &RateLimiter, n: usize, start: Instant) -> Vec<Duration> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(limiter.acquire().await - start);
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn an_unthrottled_rate_starts_fast_and_doubles_every_second() {
        let limiter = RateLimiter::new();
        let start = Instant::now();
        // The first calls go at START_RATE, after a burst.
        let times = send(&limiter, 11, start).await;
        let expected = Duration::from_secs_f64((11.0 - BURST) / START_RATE);
        assert!(
            times[10] >= expected - ms(2) && times[10] <= expected + ms(2),
            "{:?}",
            times[10]
        );
        // A second of answers without throttling doubles it.
        limiter.on_success();
        let rate = limiter.rate();
        for _ in 0..100 {
            tokio::time::sleep(ms(10)).await;
            limiter.on_success();
        }
        assert!(
            (limiter.rate() - 2.0 * rate).abs() < 1e-6,
            "{}",
            limiter.rate()
        );
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            limiter.on_success();
        }
        assert_eq!(limiter.rate(), MAX_RATE);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_throttle_halves_the_measured_send_rate_and_paces_later_calls() {
        let limiter = RateLimiter::new();
        // 40 calls per second for a second, while the allowed rate grows beyond.
        let mut last = Instant::now();
        for _ in 0..40 {
            last = limiter.acquire().await;
            limiter.on_success();
            tokio::time::sleep(ms(25)).await;
        }
        assert!(limiter.rate() > 90.0, "{}", limiter.rate());
        limiter.on_throttled(last, None);
        let rate = limiter.rate();
        assert!((rate - 20.0).abs() < 2.0, "{rate}");
        // At most one token in hand, then one call every 1/rate.
        let t0 = Instant::now();
        let times = send(&limiter, 11, t0).await;
        let expected = Duration::from_secs_f64(10.0 / rate);
        let took = times[10];
        assert!(
            took >= expected - ms(2) && took <= expected + ms(60),
            "{took:?} vs {expected:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttles_of_calls_sent_before_a_cut_do_not_cut_again() {
        let limiter = RateLimiter::new();
        let early = limiter.acquire().await;
        tokio::time::sleep(ms(10)).await;
        limiter.on_throttled(early, None);
        let after_one = limiter.rate();
        // Nine more answers to calls sent with the first: no further cut.
        for _ in 0..9 {
            limiter.on_throttled(early, None);
        }
        assert_eq!(limiter.rate(), after_one);
        assert_eq!(limiter.throttled(), 10);
        // A call sent after the cut and throttled cuts again, multiplicatively.
        let late = limiter.acquire().await;
        limiter.on_throttled(late, None);
        assert_eq!(limiter.rate(), (after_one * BETA).max(MIN_RATE));
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_never_falls_below_the_floor() {
        let limiter = RateLimiter::new();
        for _ in 0..50 {
            let sent = limiter.acquire().await;
            tokio::time::sleep(ms(1)).await;
            limiter.on_throttled(sent, None);
        }
        assert_eq!(limiter.rate(), MIN_RATE);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_throttle_successes_recover_the_rate_additively() {
        let limiter = RateLimiter::new();
        let sent = limiter.acquire().await;
        tokio::time::sleep(ms(500)).await;
        limiter.on_throttled(sent, None);
        let cut = limiter.rate();
        // Ten seconds of answers without throttling, one every 100 ms.
        for _ in 0..100 {
            tokio::time::sleep(ms(100)).await;
            limiter.on_success();
        }
        let now = limiter.rate();
        assert!((now - (cut + 10.0 * STEP)).abs() < 1e-6, "{cut} -> {now}");
        // Idle time does not count as success.
        tokio::time::sleep(Duration::from_secs(60)).await;
        limiter.on_success();
        assert!((limiter.rate() - (now + STEP)).abs() < 1e-6);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_holds_every_call_until_it_has_passed() {
        let limiter = RateLimiter::new();
        let start = Instant::now();
        let sent = limiter.acquire().await;
        limiter.on_throttled(sent, Some(Duration::from_secs(3)));
        let next = limiter.acquire().await - start;
        assert!(
            next >= Duration::from_secs(3) && next < Duration::from_secs(4),
            "{next:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_turn_at_the_allowed_rate() {
        let limiter = Arc::new(RateLimiter::new());
        let sent = limiter.acquire().await;
        tokio::time::sleep(ms(100)).await;
        limiter.on_throttled(sent, None);
        let rate = limiter.rate();
        let start = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move { l.acquire().await })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap() - start);
        }
        times.sort();
        // One token in hand, then one every 1/rate.
        let expected = Duration::from_secs_f64(19.0 / rate);
        assert!(
            times[19] >= expected - ms(5) && times[19] <= expected + ms(50),
            "{:?} vs {expected:?}",
            times[19]
        );
    }

    #[test]
    fn throttling_answers_are_recognised_in_each_protocol() {
        let sqs = [(
            "x-amzn-query-error",
            "AWS.SimpleQueueService.RequestThrottled;Sender",
        )];
        assert!(is_throttling(400, &sqs, b""));
        assert!(is_throttling(
            400,
            &[("x-amzn-query-error", "Throttling;Sender")],
            b""
        ));
        assert!(is_throttling(
            400,
            &[],
            br#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#
        ));
        assert!(is_throttling(
            400,
            &[],
            b"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"
        ));
        assert!(is_throttling(
            503,
            &[],
            b"<Error><Code>SlowDown</Code></Error>"
        ));
        assert!(is_throttling(429, &[], b""));
        assert!(!is_throttling(
            400,
            &[],
            br#"{"__type":"QueueDoesNotExist","message":"The queue does not exist"}"#
        ));
        assert!(!is_throttling(503, &[], b"Service Unavailable"));
        assert!(!is_throttling(200, &[], b"Throttling"));
    }
}
