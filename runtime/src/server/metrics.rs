//! `GET /metrics` (Prometheus text), on the server's port behind its
//! authenticator, or alone and open on an address of its own.

use std::sync::Arc;

use crate::core::pipeline::Pipeline;

/// `GET /metrics`: the text, after the authenticator's check when
/// `headers` are given (on the server's own port).
pub(super) async fn metrics_response(
    pipeline: &Pipeline,
    headers: Option<&http::HeaderMap>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(headers) = headers
        && let Err(status) = pipeline.authenticate(headers).await
    {
        // The edge adds `WWW-Authenticate` to a 401, as to every other.
        return crate::core::wire::http_error(&status);
    }
    ([(http::header::CONTENT_TYPE, crate::core::metrics::CONTENT_TYPE)], pipeline.metrics().render()).into_response()
}

/// Serves `GET /metrics` alone on `listener`, open, until the process ends.
pub(super) fn serve_metrics(listener: tokio::net::TcpListener, pipeline: Arc<Pipeline>) -> std::io::Result<()> {
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let pipeline = Arc::clone(&pipeline);
            async move { metrics_response(&pipeline, None).await }
        }),
    );
    tracing::info!("metrics on http://{bound}/metrics");
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "metrics on http://{bound}/metrics")?;
        out.flush()?;
    }
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the metrics listener stopped: {e}");
        }
    });
    Ok(())
}
