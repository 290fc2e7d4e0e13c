//! What every HTTP-based typed client holds: a reqwest client, the server's
//! base URL and the headers sent with every request.

/// A server to call over HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    http: reqwest::Client,
    base: String,
    headers: http::HeaderMap,
}

impl Endpoint {
    /// The server at `base`, for example `http://127.0.0.1:8080`.
    pub(crate) fn new(base: impl Into<String>) -> Endpoint {
        Endpoint {
            http: reqwest::Client::new(),
            base: base.into().trim_end_matches('/').to_owned(),
            headers: http::HeaderMap::new(),
        }
    }

    /// Headers sent with every request, for example `authorization`.
    pub(crate) fn headers_mut(&mut self) -> &mut http::HeaderMap {
        &mut self.headers
    }

    /// Headers sent with every request.
    pub(crate) fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The URL of `path` (which starts with `/`) on the server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `url` (from [`url`](Self::url)) with the common headers.
    pub(crate) fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url).headers(self.headers.clone())
    }
}
