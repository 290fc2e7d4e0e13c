//! Authentication: one hook for every protocol. Each protocol finds the
//! credentials where its clients put them (headers, gRPC metadata, …) and
//! asks the server's [`Authenticator`]; the result reaches methods through
//! [`Context::identity`](crate::Context::identity).

use crate::dispatch::BoxFuture;
use crate::{Identity, Status};

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
        let presented = authorization
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| Status::unauthenticated("send `authorization: Bearer <token>`"))?;
        // Compare in constant time so the token cannot be guessed byte by byte.
        let (a, b) = (presented.as_bytes(), self.token.as_bytes());
        let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        if same {
            Ok(Identity { subject: "bearer".to_owned() })
        } else {
            Err(Status::unauthenticated("the bearer token is not valid"))
        }
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
    use crate::Code;

    #[test]
    fn bearer_tokens_must_match_exactly() {
        let auth = BearerToken::new("s3cret");
        assert!(auth.check(Some("Bearer s3cret")).is_ok());
        for bad in [None, Some("s3cret"), Some("Bearer s3cre"), Some("Bearer s3cret2"), Some("Basic s3cret")] {
            assert_eq!(auth.check(bad).map_err(|e| e.code()), Err(Code::Unauthenticated), "{bad:?}");
        }
    }
}
