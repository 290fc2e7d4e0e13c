//! `google.rpc.RetryInfo`, the one google.rpc detail the runtime itself
//! sends (with refusals that may succeed later), so its JSON form is known
//! to every server.

use super::{Any, Duration};

/// `google.rpc.RetryInfo`: how long a client should wait before it tries again.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<Duration>,
}

impl RetryInfo {
    pub(crate) const NAME: &'static str = "google.rpc.RetryInfo";

    /// Advice to retry after `seconds`.
    pub(crate) fn after(seconds: i64) -> Any {
        let delay = Duration { seconds, nanos: 0 };
        Any::pack(RetryInfo::NAME, &RetryInfo { retry_delay: Some(delay) })
    }

    /// Advice to retry after `wait`.
    pub(crate) fn delay(wait: std::time::Duration) -> Any {
        let seconds = i64::try_from(wait.as_secs()).unwrap_or(i64::MAX);
        let nanos = i32::try_from(wait.subsec_nanos()).unwrap_or(0);
        let delay = Duration { seconds, nanos };
        Any::pack(RetryInfo::NAME, &RetryInfo { retry_delay: Some(delay) })
    }
}
