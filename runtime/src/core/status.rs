//! The one error type of every protocol: a gRPC code, a message and details.

use std::fmt;

/// The gRPC status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code for a number; unknown numbers are `Unknown`, as gRPC says.
    pub fn from_i32(n: i32) -> Code {
        usize::try_from(n).ok().and_then(|i| Code::ALL.get(i)).copied().unwrap_or(Code::Unknown)
    }

    /// The number on the wire.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The snake_case name used by Connect, WebSocket and SSE errors (`not_found`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::Cancelled => "canceled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::OutOfRange => "out_of_range",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::DataLoss => "data_loss",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// The code for a snake_case name (`"cancelled"` is accepted too).
    pub fn from_name(name: &str) -> Option<Code> {
        if name == "cancelled" {
            return Some(Code::Cancelled);
        }
        Code::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The HTTP status REST responds with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Code::Ok => 200,
            Code::Cancelled => 499,
            Code::Unknown => 500,
            Code::InvalidArgument => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::FailedPrecondition => 400,
            Code::Aborted => 409,
            Code::OutOfRange => 400,
            Code::Unimplemented => 501,
            Code::Internal => 500,
            Code::Unavailable => 503,
            Code::DataLoss => 500,
            Code::Unauthenticated => 401,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error: what every method returns instead of a response, and what every
/// protocol turns into its own error form.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    code: Code,
    message: String,
    details: Vec<crate::core::wkt::Any>,
    /// An HTTP status more precise than the code's (413, 415), for HTTP protocols.
    http: Option<u16>,
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        $(
            #[doc = concat!("A `", stringify!($code), "` status with `message`.")]
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status { code, message: message.into(), details: Vec::new(), http: None }
    }

    constructors! {
        cancelled => Cancelled,
        unknown => Unknown,
        invalid_argument => InvalidArgument,
        deadline_exceeded => DeadlineExceeded,
        not_found => NotFound,
        already_exists => AlreadyExists,
        permission_denied => PermissionDenied,
        resource_exhausted => ResourceExhausted,
        failed_precondition => FailedPrecondition,
        aborted => Aborted,
        out_of_range => OutOfRange,
        unimplemented => Unimplemented,
        internal => Internal,
        unavailable => Unavailable,
        data_loss => DataLoss,
        unauthenticated => Unauthenticated,
    }

    /// Adds a detail message (for example a `google.rpc.BadRequest`).
    pub fn with_detail(mut self, detail: crate::core::wkt::Any) -> Status {
        self.details.push(detail);
        self
    }

    /// Answers HTTP protocols with `status` instead of the code's usual one
    /// (for example 413 for a body over the limit).
    pub fn with_http_status(mut self, status: u16) -> Status {
        self.http = Some(status);
        self
    }

    /// The HTTP status for HTTP protocols: the code's, unless overridden.
    pub fn http_status(&self) -> u16 {
        self.http.unwrap_or_else(|| self.code.http_status())
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The developer-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details, each a packed message.
    pub fn details(&self) -> &[crate::core::wkt::Any] {
        &self.details
    }
}

/// `google.rpc.Status`, the form gRPC carries details in
/// (`grpc-status-details-bin`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<crate::core::wkt::Any>,
}

impl From<Status> for tonic::Status {
    fn from(s: Status) -> tonic::Status {
        let code = tonic::Code::from_i32(s.code.as_i32());
        if s.details.is_empty() {
            return tonic::Status::new(code, s.message);
        }
        let rpc = RpcStatus { code: s.code.as_i32(), message: s.message.clone(), details: s.details };
        tonic::Status::with_details(code, s.message, prost::Message::encode_to_vec(&rpc).into())
    }
}

impl From<tonic::Status> for Status {
    fn from(s: tonic::Status) -> Status {
        let details = if s.details().is_empty() {
            Vec::new()
        } else {
            <RpcStatus as prost::Message>::decode(s.details()).map(|r| r.details).unwrap_or_default()
        };
        Status { code: Code::from_i32(s.code() as i32), message: s.message().to_owned(), details, http: None }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_map_to_http() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(Code::from_i32(i as i32), *code);
            assert_eq!(Code::from_name(code.as_str()), Some(*code));
        }
        assert_eq!(Code::from_i32(99), Code::Unknown);
        let http: Vec<u16> = Code::ALL.iter().map(|c| c.http_status()).collect();
        assert_eq!(http, [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401]);
    }

    #[test]
    fn details_survive_the_trip_through_grpc() {
        let detail = crate::core::wkt::Any {
            type_url: "type.googleapis.com/google.rpc.BadRequest".into(),
            value: vec![1, 2, 3],
        };
        let status = Status::invalid_argument("bad").with_detail(detail.clone());
        let over_the_wire = tonic::Status::from(status.clone());
        assert_eq!(over_the_wire.code(), tonic::Code::InvalidArgument);
        assert_eq!(Status::from(over_the_wire), status);
        assert_eq!(Status::from(tonic::Status::not_found("x")), Status::not_found("x"));
    }

    #[test]
    fn constructors_set_code_and_message() {
        let s = Status::not_found("no shelf");
        assert_eq!((s.code(), s.message()), (Code::NotFound, "no shelf"));
        assert_eq!(s.to_string(), "not_found: no shelf");
    }
}
