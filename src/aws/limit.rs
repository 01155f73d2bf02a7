//! Adaptive rate limiters shared by every call strata makes (refresh, apply, destroy,
//! state): each service client sends through an HTTP connector that waits for the call's
//! limiters before every attempt, the SDK's retries included, and tells them how the answer
//! went. An SDK interceptor cannot wait (its hooks are synchronous); the connector's future
//! can ([`NameCalls`], an interceptor, only names the operation for it).
//!
//! A limiter stands for one of AWS's quotas, so a call waits for the limiters of the quotas
//! it counts against ([`Limiters::route`]), per region: the service's own when its quota is
//! service-wide (SQS, IAM, STS, CloudTrail, the rest of Lambda's control plane and API
//! Gateway's account rate); the operation's own where AWS gives an operation a fixed quota
//! of its own (API Gateway's DeleteRestApi, CreateDeployment, ...; Lambda's GetFunction and
//! GetPolicy); the bucket's own for S3, whose SlowDown is per prefix. A throttling answer,
//! and its `Retry-After`, act on the limiter of the quota it came from: one DeleteRestApi
//! throttled for 30 s holds back the next DeleteRestApi, not every API Gateway read.
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

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_types::config_bag::ConfigBag;
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

/// API Gateway operations with a fixed quota of their own ("API Gateway quotas for creating,
/// deploying and managing an API" in the developer guide: DeleteRestApi 1 per 30 s,
/// CreateRestApi 1 per 3 s, CreateDeployment 1 per 5 s, GetResources 5 per second, ...).
/// They also count against the account's overall rate, as every other call does.
pub const APIGATEWAY_OWN_QUOTAS: &[&str] = &[
    "CreateApiKey",
    "CreateDeployment",
    "CreateDocumentationVersion",
    "CreateDomainName",
    "CreateResource",
    "CreateRestApi",
    "DeleteApiKey",
    "DeleteDomainName",
    "DeleteResource",
    "DeleteRestApi",
    "GetResources",
    "ImportDocumentationParts",
    "ImportRestApi",
    "PutRestApi",
    "UpdateAccount",
    "UpdateDomainName",
    "UpdateUsagePlan",
];

/// Lambda control-plane operations with a quota of their own ("Lambda quotas": GetFunction
/// 100 per second, GetPolicy 15 per second); the remainder share one (15 per second).
pub const LAMBDA_OWN_QUOTAS: &[&str] = &["GetFunction", "GetPolicy"];

/// What the limiters need to know of a call.
#[derive(Clone, Copy, Debug, Default)]
pub struct Call<'a> {
    /// The operation, as the SDK names it (`DeleteRestApi`).
    pub operation: Option<&'a str>,
    /// The S3 bucket the call is addressed to.
    pub bucket: Option<&'a str>,
}

/// The limiters one call waits for, in order: the first is the quota a throttling answer
/// to the call comes from (the operation's or bucket's own when it has one, else the
/// service's).
pub struct Route {
    waits: Vec<Arc<RateLimiter>>,
}

impl Route {
    /// Waits for every limiter of the call; returns when each let it through.
    pub async fn acquire(&self) -> Vec<Instant> {
        let mut sent = Vec::with_capacity(self.waits.len());
        for limiter in &self.waits {
            sent.push(limiter.acquire().await);
        }
        sent
    }

    /// The call was answered without throttling.
    pub fn on_success(&self) {
        for limiter in &self.waits {
            limiter.on_success();
        }
    }

    /// The call, let through at `sent` (as [`Route::acquire`] returned), was throttled:
    /// the quota it counts against alone learns of it.
    pub fn on_throttled(&self, sent: &[Instant], retry_after: Option<Duration>) {
        self.waits[0].on_throttled(sent[0], retry_after);
    }

    /// The limiters, in the order the call waits for them.
    pub fn limiters(&self) -> &[Arc<RateLimiter>] {
        &self.waits
    }
}

/// The limiters of one process, by service, region and quota.
#[derive(Debug, Default)]
pub struct Limiters {
    all: Mutex<HashMap<(String, String, String), Arc<RateLimiter>>>,
}

impl Limiters {
    /// The process's limiters.
    pub fn shared() -> &'static Limiters {
        static ALL: OnceLock<Limiters> = OnceLock::new();
        ALL.get_or_init(Limiters::default)
    }

    /// The limiter of `quota` (empty: the service-wide one) of `service` in `region`.
    pub fn get(&self, service: &str, region: &str, quota: &str) -> Arc<RateLimiter> {
        self.all
            .lock()
            .expect("limiters")
            .entry((service.to_string(), region.to_string(), quota.to_string()))
            .or_default()
            .clone()
    }

    /// The limiters `call` of `service` in `region` waits for (see the module
    /// documentation).
    pub fn route(&self, service: &str, region: &str, call: Call<'_>) -> Route {
        let get = |quota: &str| self.get(service, region, quota);
        let own = |list: &[&str]| call.operation.filter(|op| list.contains(op));
        let (own, shared) = match service {
            "apigateway" => (own(APIGATEWAY_OWN_QUOTAS), true),
            "lambda" => match own(LAMBDA_OWN_QUOTAS) {
                Some(op) => (Some(op), false),
                None => (None, true),
            },
            "s3" => match call.bucket {
                Some(bucket) => (Some(bucket), false),
                None => (None, true),
            },
            _ => (None, true),
        };
        // The operation's (or bucket's) own first: a call held there for long does not
        // keep others of the service waiting behind it.
        let mut waits = Vec::new();
        if let Some(quota) = own {
            let prefix = if service == "s3" {
                "bucket"
            } else {
                "operation"
            };
            waits.push(get(&format!("{prefix}:{quota}")));
        }
        if shared {
            waits.push(get(""));
        }
        Route { waits }
    }
}

/// The bucket an S3 request is addressed to: the host's first labels before `.s3.` or
/// `.s3-` (virtual-hosted style), else the path's first segment (path style).
pub fn bucket_of(uri: &str) -> Option<String> {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.split(':').next().unwrap_or(host);
    let hosted = [".s3.", ".s3-"]
        .iter()
        .filter_map(|marker| host.rfind(marker))
        .max();
    if let Some(end) = hosted {
        return Some(host[..end].to_string());
    }
    let first = path.split(['/', '?']).next().unwrap_or("");
    (!first.is_empty()).then(|| first.to_string())
}

/// The operation a request is for, as an extension of the request ([`NameCalls`]).
#[derive(Clone, Debug)]
struct Operation(String);

/// Names each request for the limiters: the connector sees only the HTTP request, and the
/// operation is in the SDK's metadata.
#[derive(Debug, Default)]
pub struct NameCalls;

impl Intercept for NameCalls {
    fn name(&self) -> &'static str {
        "NameCalls"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let operation = Operation(metadata.name().to_string());
            context.request_mut().add_extension(operation);
        }
        Ok(())
    }
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

/// An HTTP client of `service` in `region` whose every request waits for its limiters
/// first ([`Limiters::route`]; requests are named by [`NameCalls`]).
pub fn limited(inner: SharedHttpClient, service: &str, region: &str) -> SharedHttpClient {
    SharedHttpClient::new(LimitedClient {
        inner,
        service: service.to_string(),
        region: region.to_string(),
    })
}

#[derive(Debug)]
struct LimitedClient {
    inner: SharedHttpClient,
    service: String,
    region: String,
}

impl HttpClient for LimitedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            service: self.service.clone(),
            region: self.region.clone(),
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    service: String,
    region: String,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let operation = request.extension::<Operation>().map(|o| o.0.clone());
        let bucket = (self.service == "s3")
            .then(|| bucket_of(request.uri()))
            .flatten();
        let route = Limiters::shared().route(
            &self.service,
            &self.region,
            Call {
                operation: operation.as_deref(),
                bucket: bucket.as_deref(),
            },
        );
        HttpConnectorFuture::new(async move {
            let sent = route.acquire().await;
            let mut response = inner.call(request).await?;
            let status = response.status().as_u16();
            if !matches!(status, 400 | 429 | 503) {
                route.on_success();
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
                route.on_throttled(&sent, super::retry::retry_after(&response));
            } else {
                route.on_success();
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

    fn call<'a>(operation: &'a str, bucket: Option<&'a str>) -> Call<'a> {
        Call {
            operation: Some(operation),
            bucket,
        }
    }

    #[test]
    fn each_call_waits_for_the_quotas_it_counts_against() {
        let limiters = Limiters::default();
        let route = |service, c| limiters.route(service, "eu-west-1", c);
        let same = |a: &Arc<RateLimiter>, b: &Arc<RateLimiter>| Arc::ptr_eq(a, b);
        let api = limiters.get("apigateway", "eu-west-1", "");
        // A fixed-quota operation: its own quota first, then the account's rate.
        let delete = route("apigateway", call("DeleteRestApi", None));
        assert_eq!(delete.limiters().len(), 2);
        assert!(same(&delete.limiters()[1], &api));
        let get = route("apigateway", call("GetRestApi", None));
        assert_eq!(get.limiters().len(), 1);
        assert!(same(&get.limiters()[0], &api));
        assert!(!same(&delete.limiters()[0], &api));
        let deployment = route("apigateway", call("CreateDeployment", None));
        assert!(!same(&deployment.limiters()[0], &delete.limiters()[0]));
        // Lambda: GetFunction has a quota apart from the rest of the control plane.
        let get_function = route("lambda", call("GetFunction", None));
        let update = route("lambda", call("UpdateFunctionCode", None));
        let tag = route("lambda", call("TagResource", None));
        assert_eq!(get_function.limiters().len(), 1);
        assert!(!same(&get_function.limiters()[0], &update.limiters()[0]));
        assert!(same(&update.limiters()[0], &tag.limiters()[0]));
        // S3: one per bucket; a call for no bucket shares the service's.
        let a = route("s3", call("PutObject", Some("a")));
        let a_again = route("s3", call("DeleteObjects", Some("a")));
        let b = route("s3", call("PutObject", Some("b")));
        assert!(same(&a.limiters()[0], &a_again.limiters()[0]));
        assert!(!same(&a.limiters()[0], &b.limiters()[0]));
        let list = route("s3", call("ListBuckets", None));
        assert!(same(
            &list.limiters()[0],
            &limiters.get("s3", "eu-west-1", "")
        ));
        // Service-wide quotas: one limiter per service and region.
        let sqs = route("sqs", call("CreateQueue", None));
        let sqs_read = route("sqs", call("GetQueueAttributes", None));
        assert!(same(&sqs.limiters()[0], &sqs_read.limiters()[0]));
        let elsewhere = limiters.route("sqs", "us-east-1", call("CreateQueue", None));
        assert!(!same(&sqs.limiters()[0], &elsewhere.limiters()[0]));
    }

    /// Issue 22: one DeleteRestApi answered 429 with a 30 s Retry-After held every API
    /// Gateway call of the region for 30 s.
    #[tokio::test(start_paused = true)]
    async fn a_throttled_operation_holds_back_itself_not_the_rest_of_the_service() {
        let limiters = Limiters::default();
        let route = |operation| limiters.route("apigateway", "us-east-1", call(operation, None));
        let start = Instant::now();
        let delete = route("DeleteRestApi");
        let sent = delete.acquire().await;
        delete.on_throttled(&sent, Some(Duration::from_secs(30)));
        // Reads go at once (paused time: nothing advances the clock unless something waits).
        for _ in 0..3 {
            let get = route("GetRestApi");
            get.acquire().await;
            get.on_success();
        }
        let resources = route("GetResources").acquire().await;
        assert_eq!(resources[0] - start, Duration::ZERO);
        assert_eq!(Instant::now() - start, Duration::ZERO);
        // The next DeleteRestApi waits out the Retry-After.
        let next = route("DeleteRestApi").acquire().await;
        assert!(
            next[0] - start >= Duration::from_secs(30) && next[0] - start < Duration::from_secs(31),
            "{:?}",
            next[0] - start
        );
        // The account rate was not cut, the operation's was.
        assert_eq!(limiters.get("apigateway", "us-east-1", "").throttled(), 0);
        assert_eq!(delete.limiters()[0].throttled(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_of_the_service_wide_quota_still_slows_every_call() {
        let limiters = Limiters::default();
        let route = |operation| limiters.route("apigateway", "us-east-1", call(operation, None));
        let start = Instant::now();
        let get = route("GetRestApi");
        let sent = get.acquire().await;
        get.on_throttled(&sent, Some(Duration::from_secs(2)));
        // A fixed-quota operation also counts against the account's rate: it waits too.
        let delete = route("DeleteRestApi").acquire().await;
        assert!(
            delete[1] - start >= Duration::from_secs(2),
            "{:?}",
            delete[1] - start
        );
        assert_eq!(limiters.get("apigateway", "us-east-1", "").throttled(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_down_for_one_bucket_leaves_other_buckets_alone() {
        let limiters = Limiters::default();
        let route = |bucket| limiters.route("s3", "us-east-1", call("PutObject", Some(bucket)));
        let start = Instant::now();
        let busy = route("busy");
        let sent = busy.acquire().await;
        busy.on_throttled(&sent, Some(Duration::from_secs(5)));
        let other = route("other").acquire().await;
        assert_eq!(other[0] - start, Duration::ZERO);
        let again = route("busy").acquire().await;
        assert!(
            again[0] - start >= Duration::from_secs(5),
            "{:?}",
            again[0] - start
        );
    }

    #[test]
    fn the_bucket_of_an_s3_request_is_read_from_its_host_or_path() {
        for (uri, bucket) in [
            (
                "https://logs.s3.us-east-1.amazonaws.com/a/b?x-id=GetObject",
                Some("logs"),
            ),
            (
                "https://my.logs.s3.eu-west-1.amazonaws.com/key",
                Some("my.logs"),
            ),
            ("https://logs.s3.amazonaws.com/", Some("logs")),
            ("https://logs.s3-accelerate.amazonaws.com/key", Some("logs")),
            ("https://s3.us-east-1.amazonaws.com/logs/key", Some("logs")),
            ("http://127.0.0.1:4566/logs/key?uploads", Some("logs")),
            ("http://127.0.0.1:4566/logs?versioning", Some("logs")),
            ("http://127.0.0.1:4566/", None),
            ("https://s3.us-east-1.amazonaws.com/", None),
        ] {
            assert_eq!(bucket_of(uri).as_deref(), bucket, "{uri}");
        }
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
