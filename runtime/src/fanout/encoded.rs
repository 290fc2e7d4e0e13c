//! A fan-out message as every subscriber in the process shares it: stamped
//! with its sequence number and encoded (JSON, protobuf) at most once, by
//! whichever subscriber's protocol asks first. What each subscriber does on
//! its own is framing those bytes for its protocol.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use super::Stamp;
use crate::Status;
use crate::core::message::{ApiMessage, DynMessage};

/// One published message, shared by the topic's subscribers.
pub(crate) struct Encoded<T> {
    sequence: u64,
    /// The sequence number as the event id every protocol carries.
    cursor: String,
    /// As published, before stamping.
    raw: T,
    stamped: OnceLock<T>,
    text: OnceLock<Result<Arc<str>, Status>>,
    proto: OnceLock<Vec<u8>>,
}

impl<T> Encoded<T> {
    pub(crate) fn new(sequence: u64, raw: T) -> Arc<Encoded<T>> {
        Arc::new(Encoded {
            sequence,
            cursor: sequence.to_string(),
            raw,
            stamped: OnceLock::new(),
            text: OnceLock::new(),
            proto: OnceLock::new(),
        })
    }
}

/// One subscriber's event: the shared message, and how the topic stamps it
/// (the same for every subscriber of one `Topics`).
pub(crate) struct Event<T> {
    pub(crate) shared: Arc<Encoded<T>>,
    pub(crate) stamp: Stamp<T>,
}

impl<T: Clone> Event<T> {
    fn message(&self) -> &T {
        let shared = &self.shared;
        shared.stamped.get_or_init(|| {
            let mut message = shared.raw.clone();
            (self.stamp)(&mut message, shared.sequence);
            message
        })
    }

    fn proto(&self) -> &Vec<u8>
    where
        T: ApiMessage,
    {
        self.shared.proto.get_or_init(|| DynMessage::encode_proto(self.message()))
    }
}

impl<T: ApiMessage + Clone + Send + Sync> DynMessage for Event<T> {
    fn encode_proto(&self) -> Vec<u8> {
        self.proto().clone()
    }

    fn encoded_len(&self) -> usize {
        self.proto().len()
    }

    fn to_json_value(&self) -> Result<serde_json::Value, Status> {
        // GraphQL reads the value to select from it: that is per subscriber anyway.
        DynMessage::to_json_value(self.message())
    }

    fn to_json(&self) -> Result<Vec<u8>, Status> {
        self.json_text().map(|json| json.as_bytes().to_vec())
    }

    fn json_text(&self) -> Result<Arc<str>, Status> {
        self.shared.text.get_or_init(|| DynMessage::json_text(self.message())).clone()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.message().clone())
    }

    fn cursor(&self) -> Option<&str> {
        Some(&self.shared.cursor)
    }
}
