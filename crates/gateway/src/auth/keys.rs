//! A JWT authorizer's signing keys, as API Gateway finds them (docs/aws-rules.md §HTTP-5.1 step 3).
//!
//! For an issuer URL the keys come from OpenID Connect discovery:
//! `{issuer}/.well-known/openid-configuration` names a `jwks_uri`, whose document is the key set.
//! Both fetches have API Gateway's quotas (docs/aws-rules.md §HTTP-8): 1,500 ms and 150,000 bytes. The key set is
//! fetched on first use, kept at most two hours, and fetched again at once when a token names a
//! `kid` the set does not have, at most once per [`KeyStore::with_refetch_interval`] so a stream
//! of forged `kid`s cannot turn the gateway into a load generator against the issuer.
//!
//! A request pays one uncontended read lock and an `Arc` clone to get the current set; a fetch
//! swaps in a new `Arc` under the write lock, so in-flight requests keep the set they started
//! with. A fixed set (a `jwks_file`, or the local issuer's key) never refetches.

use super::fetch::{FetchError, Fetcher, LoopbackUrl, UrlError};
use crate::auth::jwt::{Jwks, JwksError};
use rustls_pki_types::CertificateDer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Discovery and JWKS fetch timeout (docs/aws-rules.md §HTTP-8: "JWKS endpoint timeout", "OIDC discovery timeout").
pub const FETCH_TIMEOUT: Duration = Duration::from_millis(1500);
/// Largest JWKS (and discovery document) accepted (docs/aws-rules.md §HTTP-8).
pub const MAX_JWKS_BYTES: usize = 150_000;
/// How long a fetched key set is used before it is fetched again (docs/aws-rules.md §HTTP-5.1: up to 2 hours).
pub const MAX_KEY_AGE: Duration = Duration::from_secs(2 * 60 * 60);
/// Default minimum time between two refetches caused by unknown `kid`s (unconfirmed; see
/// docs/aws-fidelity.md).
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// Why an issuer's keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The issuer URL (or the discovered `jwks_uri`) is not one airlock may dial.
    #[error("issuer {issuer}: {source}")]
    Url {
        /// The issuer.
        issuer: String,
        /// Why the URL was refused.
        #[source]
        source: UrlError,
    },
    /// Discovery or the JWKS download failed.
    #[error("fetching {url}: {source}")]
    Fetch {
        /// What was fetched.
        url: String,
        /// Why it failed.
        #[source]
        source: FetchError,
    },
    /// The discovery document is not JSON with a string `jwks_uri`.
    #[error("{url}: not an OpenID Connect discovery document with a jwks_uri")]
    Discovery {
        /// The discovery URL.
        url: String,
    },
    /// The JWKS document was refused.
    #[error("{url}: {source}")]
    Jwks {
        /// Where it came from.
        url: String,
        /// Why.
        #[source]
        source: JwksError,
    },
}

enum Source {
    Fixed,
    Discovery {
        discovery_url: LoopbackUrl,
        fetcher: Fetcher,
    },
}

/// The live key set of one JWT authorizer.
pub struct KeyStore {
    issuer: String,
    source: Source,
    current: RwLock<Arc<Jwks>>,
    born: Instant,
    /// Milliseconds after `born` of the last successful fetch, plus one; 0 = never fetched.
    fetched_at: AtomicU64,
    /// Milliseconds after `born` of the last unknown-`kid` refetch, plus one; 0 = never.
    kid_refetch_at: AtomicU64,
    refetch_interval: Duration,
    max_age: Duration,
    /// Serialises fetches so concurrent requests wait for one download instead of starting many.
    fetching: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("issuer", &self.issuer)
            .field("fetches", &self.fetches)
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// A fixed key set: airlock's local issuer, or a `jwks_file` read by the caller.
    pub fn fixed(issuer: impl Into<String>, jwks: Jwks) -> KeyStore {
        KeyStore::build(issuer.into(), Source::Fixed, jwks)
    }

    /// Keys discovered from `issuer` (a loopback URL), trusting `roots` for HTTPS. Nothing is
    /// fetched yet: like API Gateway, the first request that needs the keys fetches them.
    pub fn discover(
        issuer: impl Into<String>,
        roots: &[CertificateDer<'static>],
    ) -> Result<KeyStore, KeyError> {
        let issuer = issuer.into();
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery_url = LoopbackUrl::parse(&discovery).map_err(|source| KeyError::Url {
            issuer: issuer.clone(),
            source,
        })?;
        Ok(KeyStore::build(
            issuer,
            Source::Discovery {
                discovery_url,
                fetcher: Fetcher::new(roots),
            },
            Jwks::default(),
        ))
    }

    fn build(issuer: String, source: Source, jwks: Jwks) -> KeyStore {
        KeyStore {
            issuer,
            source,
            current: RwLock::new(Arc::new(jwks)),
            born: Instant::now(),
            fetched_at: AtomicU64::new(0),
            kid_refetch_at: AtomicU64::new(0),
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            max_age: MAX_KEY_AGE,
            fetching: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    /// Sets the minimum time between unknown-`kid` refetches.
    pub fn with_refetch_interval(mut self, interval: Duration) -> KeyStore {
        self.refetch_interval = interval;
        self
    }

    /// Sets how long a fetched key set is used (at most two hours makes sense).
    pub fn with_max_age(mut self, max_age: Duration) -> KeyStore {
        self.max_age = max_age;
        self
    }

    /// The issuer these keys belong to.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How many times keys were downloaded (discovery + JWKS counts as one).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The key set in memory now, without any fetch.
    pub fn current(&self) -> Arc<Jwks> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the key set (tests, and a reloaded `jwks_file`).
    pub fn replace(&self, jwks: Jwks) {
        let jwks = Arc::new(jwks);
        match self.current.write() {
            Ok(mut guard) => *guard = jwks,
            Err(poisoned) => *poisoned.into_inner() = jwks,
        }
    }

    /// The key set for a request: the one in memory, fetched first when it never was or is
    /// older than the maximum age. A failed refresh of an old set keeps the old set.
    pub async fn keys(&self) -> Result<Arc<Jwks>, KeyError> {
        if matches!(self.source, Source::Fixed) {
            return Ok(self.current());
        }
        let fetched = self.fetched_at.load(Ordering::Acquire);
        let fresh = fetched != 0 && self.since(fetched) < self.max_age;
        if fresh {
            return Ok(self.current());
        }
        // Boxed: the fetch is rare, and its future (an HTTP exchange) would otherwise make
        // every request's future kilobytes larger, copied at each await that creates it.
        Box::pin(self.refresh(fetched)).await
    }

    /// `keys` when the set in memory is missing or stale: fetches once for all waiting requests.
    async fn refresh(&self, fetched: u64) -> Result<Arc<Jwks>, KeyError> {
        let _guard = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let again = self.fetched_at.load(Ordering::Acquire);
        if again != fetched {
            return Ok(self.current());
        }
        match self.fetch().await {
            Ok(jwks) => Ok(jwks),
            Err(e) if fetched != 0 => {
                tracing::warn!(issuer = %self.issuer, error = %e, "refreshing keys failed; keeping the previous set");
                Ok(self.current())
            }
            Err(e) => Err(e),
        }
    }

    /// Called when a token names a `kid` missing from `seen` (the set the request used): fetches
    /// again unless another request already did or the last such refetch is too recent. Returns
    /// the new set when one was obtained that differs from `seen`.
    pub async fn refetch_for_unknown_kid(&self, seen: &Arc<Jwks>) -> Option<Arc<Jwks>> {
        if matches!(self.source, Source::Fixed) {
            return None;
        }
        let _guard = self.fetching.lock().await;
        let now = self.current();
        if !Arc::ptr_eq(&now, seen) {
            return Some(now);
        }
        let last = self.kid_refetch_at.load(Ordering::Acquire);
        if last != 0 && self.since(last) < self.refetch_interval {
            tracing::debug!(issuer = %self.issuer, "unknown kid; refetch rate-limited");
            return None;
        }
        self.kid_refetch_at.store(self.stamp(), Ordering::Release);
        // Boxed for the reason given in `keys`.
        match Box::pin(self.fetch()).await {
            Ok(jwks) => Some(jwks),
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "refetching keys for an unknown kid failed");
                None
            }
        }
    }

    /// Discovery then JWKS; swaps the set in on success. Callers hold `fetching`.
    async fn fetch(&self) -> Result<Arc<Jwks>, KeyError> {
        let Source::Discovery {
            discovery_url,
            fetcher,
        } = &self.source
        else {
            return Ok(self.current());
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let fetch_err = |url: &LoopbackUrl| {
            let url = url.to_string();
            move |source| KeyError::Fetch { url, source }
        };
        let doc = fetcher
            .get(discovery_url, FETCH_TIMEOUT, MAX_JWKS_BYTES)
            .await
            .map_err(fetch_err(discovery_url))?;
        let jwks_uri = serde_json::from_slice::<serde_json::Value>(&doc)
            .ok()
            .and_then(|v| v.get("jwks_uri")?.as_str().map(str::to_owned))
            .ok_or_else(|| KeyError::Discovery {
                url: discovery_url.to_string(),
            })?;
        let jwks_url = LoopbackUrl::parse(&jwks_uri).map_err(|source| KeyError::Url {
            issuer: self.issuer.clone(),
            source,
        })?;
        let body = fetcher
            .get(&jwks_url, FETCH_TIMEOUT, MAX_JWKS_BYTES)
            .await
            .map_err(fetch_err(&jwks_url))?;
        let text = String::from_utf8_lossy(&body);
        let jwks = Jwks::from_json(&text).map_err(|source| KeyError::Jwks {
            url: jwks_uri.clone(),
            source,
        })?;
        tracing::debug!(
            issuer = %self.issuer,
            %jwks_uri,
            keys = jwks.len(),
            latency_ms = started.elapsed().as_millis() as u64,
            "fetched signing keys"
        );
        self.replace(jwks);
        self.fetched_at.store(self.stamp(), Ordering::Release);
        Ok(self.current())
    }

    fn stamp(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    fn since(&self, stamp: u64) -> Duration {
        let now = self.born.elapsed();
        now.saturating_sub(Duration::from_millis(stamp.saturating_sub(1)))
    }
}
