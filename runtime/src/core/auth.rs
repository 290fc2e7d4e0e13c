//! Authentication and authorization: one hook each for every protocol.
//! Each protocol finds the credentials where its clients put them (headers,
//! gRPC metadata, …) and asks the server's [`Authenticator`]; the result
//! reaches methods through [`Context::identity`](crate::core::context::Context::identity).
//! An [`Authorizer`] then decides per method, before the call runs, on
//! every protocol alike.
//!
//! Credentials and other metadata reach the authenticator by one rule on
//! every protocol ([`fill_in`]): a call's metadata is its request's headers
//! (gRPC metadata is headers too); what a client can only send elsewhere,
//! because browsers cannot set headers there (a `connection_init` payload on
//! `/ws` and `/graphql/ws`, tRPC's `?connectionParams=`, SSE's
//! `?access_token=`), fills in names the headers lack and never replaces a
//! header, which a proxy in front of the server may have set.

use crate::core::call::BoxFuture;
use std::sync::Arc;

use crate::core::call::{Call, Output};
use crate::core::context::{Context, Identity};
use crate::core::service::{MethodInfo, ServiceDef, ServiceInfo};
use crate::core::status::Status;

/// Decides whether the (authenticated) caller may call a method. It runs
/// before every call on every protocol; refuse with `PERMISSION_DENIED`.
///
/// ```
/// use apigen_runtime::{Context, MethodInfo, ServiceInfo, Server, Status};
///
/// // Only callers named "admin" may delete.
/// let server = Server::builder().authorizer(|ctx: &Context, _: &ServiceInfo, method: &MethodInfo| {
///     let admin = ctx.identity().is_some_and(|id| id.subject == "admin");
///     if method.name.starts_with("Delete") && !admin {
///         return Err(Status::permission_denied(format!("{} needs the admin role", method.name)));
///     }
///     Ok(())
/// });
/// ```
pub trait Authorizer: Send + Sync + 'static {
    /// `Ok` lets the call run; an error (usually `PERMISSION_DENIED`) is its answer.
    fn authorize(
        &self,
        ctx: &Context,
        service: &'static ServiceInfo,
        method: &'static MethodInfo,
    ) -> BoxFuture<Result<(), Status>>;
}

impl<F> Authorizer for F
where
    F: Fn(&Context, &ServiceInfo, &MethodInfo) -> Result<(), Status> + Send + Sync + 'static,
{
    fn authorize(
        &self,
        ctx: &Context,
        service: &'static ServiceInfo,
        method: &'static MethodInfo,
    ) -> BoxFuture<Result<(), Status>> {
        Box::pin(std::future::ready(self(ctx, service, method)))
    }
}

/// The one place every protocol's calls pass through runs the authorizer:
/// the service's dispatch.
impl ServiceDef {
    /// The same service with `authorizer` deciding before every call.
    pub(crate) fn with_authorizer(self, authorizer: Arc<dyn Authorizer>) -> ServiceDef {
        let (info, inner) = (self.info, self.handler);
        let handler = move |method: usize, call: Call| -> BoxFuture<Result<Output, Status>> {
            let Some(m) = info.methods.get(method) else { return inner(method, call) };
            let check = authorizer.authorize(&call.ctx, info, m);
            let inner = Arc::clone(&inner);
            Box::pin(async move {
                check.await?;
                inner(method, call).await
            })
        };
        ServiceDef { info, handler: Arc::new(handler) }
    }
}

impl ServiceDef {
    /// The same service refusing callers whose credential lacks a scope the
    /// method requires (`(apigen.method).scopes`); unchanged when no method
    /// requires any.
    pub(crate) fn with_scopes(self) -> ServiceDef {
        if self.info.methods.iter().all(|m| m.scopes.is_empty()) {
            return self;
        }
        let (info, inner) = (self.info, self.handler);
        let handler = move |method: usize, call: Call| -> BoxFuture<Result<Output, Status>> {
            if let Some(m) = info.methods.get(method)
                && let Err(status) = check_scopes(&call.ctx, m)
            {
                return Box::pin(std::future::ready(Err(status)));
            }
            inner(method, call)
        };
        ServiceDef { info, handler: Arc::new(handler) }
    }
}

/// Whether the caller's credential grants every scope `method` requires. A
/// call without an identity passes: the server has no authenticator.
pub(crate) fn check_scopes(ctx: &Context, method: &MethodInfo) -> Result<(), Status> {
    let Some(identity) = ctx.identity() else { return Ok(()) };
    let missing: Vec<&str> = method.scopes.iter().copied().filter(|s| !identity.has_scope(s)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let granted = match identity.scopes.as_deref() {
        Some([]) | None => "none".to_owned(),
        Some(scopes) => scopes.join(" "),
    };
    Err(Status::permission_denied(format!(
        "{} needs the scope{} `{}`, which the credential does not grant (it grants: {granted})",
        method.name,
        if missing.len() == 1 { "" } else { "s" },
        missing.join("` `"),
    )))
}

/// Adds `values` to `metadata` under the names it does not have yet (see the
/// module's rule). Names are lowercased; values that are not strings, and
/// names or values that cannot be headers, are skipped.
pub(crate) fn fill_in<'a>(
    metadata: &mut http::HeaderMap,
    values: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>,
) {
    for (name, value) in values {
        let (Ok(name), Some(Ok(value))) = (
            http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            value.as_str().map(http::HeaderValue::from_str),
        ) else {
            continue;
        };
        if !metadata.contains_key(&name) {
            metadata.insert(name, value);
        }
    }
}

/// SSE's `?access_token=`: EventSource cannot set headers, so a token in
/// the query stands for `authorization: Bearer <token>` when that header is
/// missing.
pub(crate) fn fill_in_access_token(metadata: &mut http::HeaderMap, query: Option<&str>) {
    if metadata.contains_key(http::header::AUTHORIZATION) {
        return;
    }
    let token = crate::core::query::pairs(query.unwrap_or_default()).find(|(k, _)| k == "access_token");
    if let Some(value) = token.and_then(|(_, t)| http::HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        metadata.insert(http::header::AUTHORIZATION, value);
    }
}

/// The token of `authorization: Bearer <token>` in `metadata`, if any.
#[cfg(feature = "jwt")]
pub(crate) fn bearer(metadata: &http::HeaderMap) -> Option<&str> {
    bearer_of(metadata.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()))
}

fn bearer_of(authorization: Option<&str>) -> Option<&str> {
    authorization.and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
}

/// Decides who a caller is from its metadata.
pub trait Authenticator: Send + Sync + 'static {
    /// The caller's identity, or `UNAUTHENTICATED` (or another status) to refuse the call.
    fn authenticate(&self, metadata: &http::HeaderMap) -> BoxFuture<Result<Identity, Status>>;
}

/// Accepts calls that carry `authorization: Bearer <token>` with one fixed token.
#[derive(Clone)]
pub struct BearerToken {
    token: String,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl BearerToken {
    /// Accepts exactly `token`.
    pub fn new(token: impl Into<String>) -> BearerToken {
        BearerToken { token: token.into() }
    }

    /// Whether `authorization` carries the token.
    pub fn check(&self, authorization: Option<&str>) -> Result<Identity, Status> {
        let presented =
            bearer_of(authorization).ok_or_else(|| Status::unauthenticated("send `authorization: Bearer <token>`"))?;
        // Compare in constant time so the token cannot be guessed byte by byte.
        let (a, b) = (presented.as_bytes(), self.token.as_bytes());
        let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        if same { Ok(Identity::new("bearer")) } else { Err(Status::unauthenticated("the bearer token is not valid")) }
    }
}

impl Authenticator for BearerToken {
    fn authenticate(&self, metadata: &http::HeaderMap) -> BoxFuture<Result<Identity, Status>> {
        let result = self.check(metadata.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::status::Code;

    #[test]
    fn transport_values_fill_in_and_never_replace_headers() {
        let mut metadata = http::HeaderMap::new();
        metadata.insert("authorization", http::HeaderValue::from_static("Bearer from-proxy"));
        let payload: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"Authorization": "Bearer from-payload", "X-Tenant": "a", "n": 1, "bad name": "x", "x-bad": "\n"}"#,
        )
        .expect("json");
        fill_in(&mut metadata, &payload);
        assert_eq!(metadata["authorization"], "Bearer from-proxy");
        assert_eq!(metadata["x-tenant"], "a");
        assert_eq!(metadata.len(), 2, "{metadata:?}");
        let mut sse = http::HeaderMap::new();
        fill_in_access_token(&mut sse, Some("a=1&access_token=t%20k"));
        assert_eq!(sse["authorization"], "Bearer t k");
        fill_in_access_token(&mut metadata, Some("access_token=other"));
        assert_eq!(metadata["authorization"], "Bearer from-proxy");
    }

    #[test]
    fn a_method_with_scopes_needs_every_one_unless_the_credential_is_unlimited() {
        static METHOD: MethodInfo = MethodInfo::new("DeleteBook", crate::MethodKind::Unary, "a.In", "a.Out")
            .scopes(&["books.write", "books.admin"]);
        let ctx = |identity: Option<Identity>| Context::default().with_identity(identity);
        assert!(check_scopes(&ctx(None), &METHOD).is_ok(), "no authenticator, no check");
        assert!(check_scopes(&ctx(Some(Identity::new("bearer"))), &METHOD).is_ok(), "the static token is unlimited");
        let both = Identity::new("ann").with_scopes(["books.admin".to_owned(), "books.write".to_owned()]);
        assert!(check_scopes(&ctx(Some(both)), &METHOD).is_ok());
        let one = Identity::new("ann").with_scopes(["books.write".to_owned(), "other".to_owned()]);
        let refused = check_scopes(&ctx(Some(one)), &METHOD).expect_err("one is missing");
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(
            refused.message(),
            "DeleteBook needs the scope `books.admin`, which the credential does not grant (it grants: books.write other)"
        );
    }

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let auth = BearerToken::new("s3cret");
        assert!(auth.check(Some("Bearer s3cret")).is_ok());
        for bad in [None, Some("s3cret"), Some("Bearer s3cre"), Some("Bearer s3cret2"), Some("Basic s3cret")] {
            assert_eq!(auth.check(bad).map_err(|e| e.code()), Err(Code::Unauthenticated), "{bad:?}");
        }
    }
}
