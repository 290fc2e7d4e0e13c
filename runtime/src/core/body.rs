//! Request bodies, read whole with the server's limits: every protocol that
//! buffers a body (all but gRPC's streams) reads it here.

use std::time::Duration;

/// Reads a whole request body of at most `max` bytes, allowing at most
/// `idle` between two of its frames (tower-http's `TimeoutBody`).
pub(crate) async fn read_body(
    body: axum::body::Body,
    max: usize,
    idle: Duration,
) -> Result<bytes::Bytes, crate::core::status::Status> {
    use http_body_util::BodyExt;
    // Most GETs have no body: nothing to wait for, no timer to set.
    if http_body::Body::is_end_stream(&body) {
        return Ok(bytes::Bytes::new());
    }
    let body = http_body_util::Limited::new(tower_http::timeout::TimeoutBody::new(idle, body), max);
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(crate::core::status::Status::resource_exhausted(format!("the body is larger than {max} bytes"))
                .with_http_status(413))
        }
        Err(e) if e.is::<tower_http::timeout::TimeoutError>() => Err(crate::core::status::Status::deadline_exceeded(
            format!("no byte of the request body arrived for {} s", idle.as_secs()),
        )
        .with_http_status(408)),
        // The connection failed or the client reset the stream: there is hardly anyone to answer.
        Err(e) => Err(crate::core::status::Status::invalid_argument(format!("the request body broke off: {e}"))),
    }
}
