//! JWT bearer tokens (feature `jwt`): an [`Authenticator`] that accepts
//! `authorization: Bearer <JWT>` signed with a key of a JSON Web Key Set,
//! as an OpenID Connect provider publishes at its `jwks_uri`.
//!
//! - Algorithms: RS256/384/512, PS256/384/512, ES256/384 and EdDSA. HMAC
//!   and `none` are refused: a key set holds public keys.
//! - Claims: `exp` is required, `nbf` is checked when present, both with a
//!   small leeway (30 s unless set); `iss` and `aud` when configured.
//! - Keys come from a URL (fetched on the first call and cached for the
//!   response's `max-age`, one hour without one) or a local file. A token
//!   whose `kid` is not in the cached set fetches the set again, at most
//!   once per cool-down (10 s unless set), so that a key rotated in at the
//!   provider works at once and made-up `kid`s cannot flood it. A refresh
//!   that fails keeps the keys already known.
//! - The identity: `sub` as the subject, the scopes of `scope` (space
//!   separated, OAuth 2.0) or `scp` (a list or a string), and every claim.
//! - A token once verified is remembered (up to [`VERIFIED`] of them), so a
//!   client's next calls with it skip the signature check, which costs more
//!   than the rest of a small call: only `exp` and `nbf` are checked again.
//!   A new key set, or another setting, forgets them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::core::auth::Authenticator;
use crate::core::call::BoxFuture;
use crate::core::context::Identity;
use crate::core::status::Status;

/// The algorithms a key set's public keys sign with.
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Verified tokens remembered; at the cap, expired ones go, then all.
const VERIFIED: usize = 10_000;

/// How long a fetched key set is kept when its response says nothing.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

/// Validates JWT bearer tokens against a JSON Web Key Set.
#[derive(Clone)]
pub struct Jwt {
    config: Arc<Config>,
    /// The keys and their fetching, shared by every clone.
    state: Arc<State>,
    /// Tokens verified with `config`: shared by clones with the same settings.
    /// (foldhash: a whole token is hashed on every call; only verified tokens get in.)
    verified: Arc<std::sync::Mutex<HashMap<Box<str>, Verified, foldhash::fast::RandomState>>>,
}

/// A token that passed every check.
#[derive(Clone)]
struct Verified {
    identity: Identity,
    /// `exp` and `nbf`, in seconds since the epoch.
    exp: u64,
    nbf: Option<u64>,
    /// The key set it was checked against.
    generation: u64,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt").field("keys", &self.config.source).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
enum Source {
    Url(String),
    File(PathBuf),
}

#[derive(Clone)]
struct Config {
    source: Source,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    cool_down: Duration,
}

struct State {
    keys: RwLock<Keys>,
    /// One fetch at a time; callers that waited use its result.
    fetching: tokio::sync::Mutex<()>,
    http: reqwest::Client,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, Key>,
    /// Keys without a `kid`, tried for tokens without one.
    anonymous: Vec<Key>,
    fetched: Option<Instant>,
    expires: Option<Instant>,
    /// Counts the sets fetched: a token verified with an older one is checked again.
    generation: u64,
}

#[derive(Clone)]
struct Key {
    key: DecodingKey,
    /// The key's `alg`, when the set names one.
    alg: Option<Algorithm>,
    /// The set it came with.
    generation: u64,
}

impl Jwt {
    /// Keys from the JSON Web Key Set at `url` (an OpenID Connect
    /// provider's `jwks_uri`).
    pub fn jwks_url(url: &str) -> Result<Jwt, Status> {
        reqwest::Url::parse(url).map_err(|e| Status::invalid_argument(format!("{url} is not a JWKS URL: {e}")))?;
        Ok(Jwt::with_source(Source::Url(url.to_owned())))
    }

    /// Keys from a JSON Web Key Set in a local file, read again when a
    /// token names a key it lacks.
    pub fn jwks_file(path: impl Into<PathBuf>) -> Jwt {
        Jwt::with_source(Source::File(path.into()))
    }

    fn with_source(source: Source) -> Jwt {
        Jwt {
            config: Arc::new(Config {
                source,
                issuers: Vec::new(),
                audiences: Vec::new(),
                leeway: Duration::from_secs(30),
                cool_down: Duration::from_secs(10),
            }),
            verified: Arc::default(),
            state: Arc::new(State {
                keys: RwLock::default(),
                fetching: tokio::sync::Mutex::new(()),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap_or_else(|_| reqwest::Client::new()),
            }),
        }
    }

    fn configure(mut self, change: impl FnOnce(&mut Config)) -> Jwt {
        // Copied when a clone shares it, so that no setting is ever lost.
        change(Arc::make_mut(&mut self.config));
        // Tokens verified under the old settings may not pass the new ones.
        self.verified = Arc::default();
        self
    }

    /// Accepts tokens whose `iss` is `issuer` (repeat for several); the
    /// claim is then required.
    pub fn issuer(self, issuer: impl Into<String>) -> Jwt {
        let issuer = issuer.into();
        self.configure(|config| config.issuers.push(issuer))
    }

    /// Accepts tokens whose `aud` holds `audience` (repeat for several); the
    /// claim is then required.
    pub fn audience(self, audience: impl Into<String>) -> Jwt {
        let audience = audience.into();
        self.configure(|config| config.audiences.push(audience))
    }

    /// The clock skew allowed on `exp` and `nbf` (30 s by default).
    pub fn leeway(self, leeway: Duration) -> Jwt {
        self.configure(|config| config.leeway = leeway)
    }

    /// The least time between two fetches of the key set for a `kid` it
    /// lacks (10 s by default).
    pub fn refresh_cool_down(self, cool_down: Duration) -> Jwt {
        self.configure(|config| config.cool_down = cool_down)
    }

    /// Checks `token` and returns the identity it carries.
    pub async fn verify(&self, token: &str) -> Result<Identity, Status> {
        if let Some(identity) = self.remembered(token) {
            return Ok(identity);
        }
        let (identity, generation) = self.check(token).await?;
        self.remember(token, &identity, generation);
        Ok(identity)
    }

    /// The identity of `token`, verified before, when it is still in time.
    fn remembered(&self, token: &str) -> Option<Identity> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let hit = verified.get(token)?;
        let now = now();
        let leeway = self.config.leeway.as_secs();
        let in_time =
            now < hit.exp.saturating_add(leeway) && hit.nbf.is_none_or(|nbf| nbf <= now.saturating_add(leeway));
        let current = hit.generation == self.read().generation;
        (in_time && current).then(|| hit.identity.clone())
    }

    /// Remembers that `token` passed, against key set `generation`.
    fn remember(&self, token: &str, identity: &Identity, generation: u64) {
        let claims = identity.claims.as_deref();
        let seconds = |name: &str| claims.and_then(|c| c.get(name)).and_then(serde_json::Value::as_u64);
        let Some(exp) = seconds("exp") else { return };
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED {
            let now = now();
            verified.retain(|_, v| v.exp > now);
            if verified.len() >= VERIFIED {
                verified.clear();
            }
        }
        let entry = Verified { identity: identity.clone(), exp, nbf: seconds("nbf"), generation };
        verified.insert(token.into(), entry);
    }

    /// Every check of `token`, its signature included; the identity and the
    /// key set that verified it.
    async fn check(&self, token: &str) -> Result<(Identity, u64), Status> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| refuse(format!("the bearer token is not a JWT: {e}")))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(refuse(format!(
                "the token is signed with {:?}, which this server does not accept (it accepts RS*, PS*, ES256, ES384 and EdDSA)",
                header.alg
            )));
        }
        let key = self.key(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = !self.config.audiences.is_empty();
        let mut required = vec!["exp"];
        if !self.config.issuers.is_empty() {
            validation.set_issuer(&self.config.issuers);
            required.push("iss");
        }
        if !self.config.audiences.is_empty() {
            validation.set_audience(&self.config.audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation)
            .map_err(|e| self.explain(&e, header.kid.as_deref()))?;
        let claims = data.claims;
        let subject = claims.get("sub").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
        Ok((Identity::new(subject).with_scopes(scopes(&claims)).with_claims(claims), key.generation))
    }

    /// The key for `kid`, fetching the set when it is unknown or stale.
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Key, Status> {
        let stale = {
            let keys = self.read();
            if let Some(key) = keys.find(kid, alg)
                && keys.expires.is_none_or(|e| e > Instant::now())
            {
                return Ok(key);
            }
            keys.fetched.is_none_or(|f| f.elapsed() >= self.config.cool_down)
                || keys.expires.is_some_and(|e| e <= Instant::now())
        };
        if stale {
            self.refresh().await;
        }
        let keys = self.read();
        keys.find(kid, alg).ok_or_else(|| match kid {
            Some(kid) => refuse(format!("no key with kid `{kid}` in the server's key set (keys: {})", keys.kids())),
            None => refuse("the token names no key (`kid`) and no key of the server's key set fits it".to_owned()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.state.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Fetches the key set again, once for every caller waiting on it.
    async fn refresh(&self) {
        let started = Instant::now();
        let _one = self.state.fetching.lock().await;
        if self.read().fetched.is_some_and(|f| f >= started) {
            return;
        }
        match self.fetch().await {
            Ok((set, max_age)) => {
                let mut keys = Keys { fetched: Some(Instant::now()), ..Keys::default() };
                keys.expires = Some(Instant::now() + max_age);
                for jwk in &set.keys {
                    let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
                    let key = Key { key, alg: jwk_alg(jwk), generation: 0 };
                    match &jwk.common.key_id {
                        Some(kid) => drop(keys.by_kid.insert(kid.clone(), key)),
                        None => keys.anonymous.push(key),
                    }
                }
                let mut current = self.state.keys.write().unwrap_or_else(|e| e.into_inner());
                keys.generation = current.generation + 1;
                for key in keys.by_kid.values_mut().chain(&mut keys.anonymous) {
                    key.generation = keys.generation;
                }
                *current = keys;
            }
            Err(why) => {
                tracing::warn!(
                    "cannot refresh the JWT key set from {:?}: {why}; keeping the keys known",
                    self.config.source
                );
                let mut keys = self.state.keys.write().unwrap_or_else(|e| e.into_inner());
                keys.fetched = Some(Instant::now());
                // Stale keys serve on; the next try waits out the cool-down.
                let retry = Instant::now() + self.config.cool_down;
                keys.expires = keys.expires.map(|e| e.max(retry));
            }
        }
    }

    async fn fetch(&self) -> Result<(JwkSet, Duration), String> {
        match &self.config.source {
            Source::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let set = serde_json::from_str(&text).map_err(|e| format!("{} is not a JWKS: {e}", path.display()))?;
                Ok((set, DEFAULT_MAX_AGE))
            }
            Source::Url(url) => {
                let response = self.state.http.get(url).send().await.map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("GET {url} answered {}", response.status()));
                }
                let max_age = max_age(response.headers()).unwrap_or(DEFAULT_MAX_AGE);
                let body = response.bytes().await.map_err(|e| e.to_string())?;
                let set = serde_json::from_slice(&body).map_err(|e| format!("{url} did not answer a JWKS: {e}"))?;
                Ok((set, max_age))
            }
        }
    }

    /// A refused token's reason, in words a client's developer can act on.
    fn explain(&self, error: &jsonwebtoken::errors::Error, kid: Option<&str>) -> Status {
        use jsonwebtoken::errors::ErrorKind as K;
        let why = match error.kind() {
            K::ExpiredSignature => "the token has expired (`exp`); get a new one".to_owned(),
            K::ImmatureSignature => "the token is not valid yet (`nbf`)".to_owned(),
            K::InvalidIssuer => format!("the token's issuer (`iss`) is not {}", self.config.issuers.join(" or ")),
            K::InvalidAudience => format!("the token's audience (`aud`) is not {}", self.config.audiences.join(" or ")),
            K::InvalidSignature => {
                format!("the token's signature does not verify with key `{}`", kid.unwrap_or("(no kid)"))
            }
            K::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim, which this server requires"),
            _ => format!("the bearer token is not valid: {error}"),
        };
        refuse(why)
    }
}

impl Keys {
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<Key> {
        let fits = |key: &&Key| key.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => self.by_kid.get(kid).filter(fits).cloned(),
            None => self.anonymous.iter().find(fits).cloned(),
        }
    }

    fn kids(&self) -> String {
        let mut kids: Vec<&str> = self.by_kid.keys().map(String::as_str).collect();
        kids.sort_unstable();
        if kids.is_empty() { "none".to_owned() } else { kids.join(", ") }
    }
}

/// Seconds since the epoch.
fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn refuse(why: String) -> Status {
    Status::unauthenticated(why)
}

/// A JWK's `alg`, when it names a signing algorithm.
fn jwk_alg(jwk: &Jwk) -> Option<Algorithm> {
    let name = serde_json::to_value(jwk.common.key_algorithm?).ok()?;
    name.as_str()?.parse().ok()
}

/// `Cache-Control: max-age=N` of a key set's response.
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse().ok()).map(Duration::from_secs)
}

/// The scopes of a token's claims: OAuth's space-separated `scope`, or `scp`
/// as a list or a string.
fn scopes(claims: &serde_json::Value) -> Vec<String> {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    match (claims.get("scope"), claims.get("scp")) {
        (Some(serde_json::Value::String(s)), _) | (None, Some(serde_json::Value::String(s))) => words(s),
        (None, Some(serde_json::Value::Array(list))) => {
            list.iter().filter_map(serde_json::Value::as_str).map(str::to_owned).collect()
        }
        _ => Vec::new(),
    }
}

impl Authenticator for Jwt {
    fn authenticate(&self, metadata: &http::HeaderMap) -> BoxFuture<Result<Identity, Status>> {
        let token = crate::core::auth::bearer(metadata).map(str::to_owned);
        let jwt = self.clone();
        Box::pin(async move {
            let token = token.ok_or_else(|| refuse("send `authorization: Bearer <JWT>`".to_owned()))?;
            jwt.verify(token.trim()).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let of = |v: serde_json::Value| scopes(&v);
        assert_eq!(of(serde_json::json!({"scope": "books.read  books.write"})), ["books.read", "books.write"]);
        assert_eq!(of(serde_json::json!({"scp": ["a", "b"]})), ["a", "b"]);
        assert_eq!(of(serde_json::json!({"scp": "a b"})), ["a", "b"]);
        assert!(of(serde_json::json!({"sub": "x"})).is_empty());
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=120"));
        assert_eq!(max_age(&headers), Some(Duration::from_secs(120)));
        assert_eq!(max_age(&http::HeaderMap::new()), None);
    }

    /// A test-only Ed25519 key and its public half as a JWK.
    const TEST_KEY: &str = "MC4CAQAwBQYDK2VwBCIEIBBfvotZMOZaIdhd+l1clNdx3JY2Nzj0077wKJiHXGqq";
    const TEST_JWKS: &str = r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "ID38o1pKf4I69Cd-n3rzaXgu3bTQE5SYpGB6SbqC-wA", "kid": "k1"}]}"#;

    #[tokio::test]
    async fn a_remembered_token_still_expires_and_new_settings_check_it_again() {
        let path = std::env::temp_dir().join(format!("apigen-jwks-remembered-{}.json", std::process::id()));
        std::fs::write(&path, TEST_JWKS).expect("writes");
        let jwt = Jwt::jwks_file(&path).leeway(Duration::ZERO);
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD.decode(TEST_KEY).expect("base64");
        let key = jsonwebtoken::EncodingKey::from_ed_der(&der);
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".to_owned());
        let exp = jsonwebtoken::get_current_timestamp() + 2;
        let token = jsonwebtoken::encode(&header, &serde_json::json!({"sub": "ann", "aud": "api", "exp": exp}), &key)
            .expect("signs");
        assert_eq!(jwt.verify(&token).await.expect("accepted").subject, "ann");
        assert!(jwt.remembered(&token).is_some(), "the second call skips the signature");
        // Other settings forget what the old ones accepted.
        let strict = jwt.clone().audience("other");
        assert!(strict.remembered(&token).is_none());
        assert!(strict.verify(&token).await.is_err(), "wrong audience");
        // Expiry is checked on every call, remembered or not.
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let expired = jwt.verify(&token).await.expect_err("expired");
        assert!(expired.message().contains("expired"), "{}", expired.message());
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_valid_token_gives_its_subject_scopes_and_claims() {
        let path = std::env::temp_dir().join(format!("apigen-jwks-{}.json", std::process::id()));
        std::fs::write(&path, TEST_JWKS).expect("writes");
        let jwt = Jwt::jwks_file(&path).issuer("https://issuer.test").audience("api");
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD.decode(TEST_KEY).expect("base64");
        let key = jsonwebtoken::EncodingKey::from_ed_der(&der);
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".to_owned());
        let now = jsonwebtoken::get_current_timestamp();
        let claims = serde_json::json!({
            "sub": "ann", "iss": "https://issuer.test", "aud": "api", "exp": now + 60,
            "scope": "books.read books.write", "tenant": "t1",
        });
        let token = jsonwebtoken::encode(&header, &claims, &key).expect("signs");
        let identity = jwt.verify(&token).await.expect("accepted");
        assert_eq!(identity.subject, "ann");
        assert!(identity.has_scope("books.write") && !identity.has_scope("admin"));
        assert_eq!(identity.claims.as_deref().and_then(|c| c.get("tenant")), Some(&serde_json::json!("t1")));

        let mut other = claims.clone();
        other["aud"] = serde_json::json!("elsewhere");
        let token = jsonwebtoken::encode(&header, &other, &key).expect("signs");
        let refused = jwt.verify(&token).await.expect_err("wrong audience");
        assert!(refused.message().contains("audience"), "{}", refused.message());
        // A setting made after a clone is shared still applies.
        let shared = Jwt::jwks_file(&path);
        let _kept = shared.clone();
        let strict = shared.audience("api");
        let refused = strict.verify(&token).await.expect_err("the audience still checked");
        assert!(refused.message().contains("audience"), "{}", refused.message());

        header.kid = Some("k2".to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &key).expect("signs");
        let refused = jwt.verify(&token).await.expect_err("unknown kid");
        assert!(refused.message().contains("no key with kid `k2`"), "{}", refused.message());
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn tokens_that_are_not_jwts_or_use_refused_algorithms_are_unauthenticated() {
        let jwt = Jwt::jwks_file("/nonexistent/jwks.json");
        // {"alg":"none"} and {"alg":"HS256"} headers.
        for token in ["not a token", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"] {
            let refused = jwt.verify(token).await.expect_err("refused");
            assert_eq!(refused.code(), crate::Code::Unauthenticated, "{token}");
        }
        let hs = jwt.verify("eyJhbGciOiJIUzI1NiJ9.e30.c2ln").await.expect_err("refused");
        assert!(hs.message().contains("HS256"), "{}", hs.message());
    }
}
