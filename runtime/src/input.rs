//! What every request goes through before a method sees it, whatever the
//! protocol: `OUTPUT_ONLY` fields are cleared and `REQUIRED` fields checked.
//! Generated code implements [`Input`] per message from its annotations.

use crate::Status;

/// A field path being checked, `shelf.theme` or `books[2].title`.
#[derive(Debug, Default)]
pub struct FieldPath(String);

impl FieldPath {
    /// Checks `value` under `field`, extending the path for messages inside it.
    pub fn nested<T: Input + ?Sized>(&mut self, field: &str, value: &T) -> Result<(), Status> {
        let len = self.0.len();
        if !self.0.is_empty() {
            self.0.push('.');
        }
        self.0.push_str(field);
        let result = value.validate(self);
        self.0.truncate(len);
        result
    }

    /// Checks each message of a repeated field.
    pub fn each<'a, T: Input + 'a>(
        &mut self,
        field: &str,
        values: impl IntoIterator<Item = &'a T>,
    ) -> Result<(), Status> {
        for (i, value) in values.into_iter().enumerate() {
            self.nested(&format!("{field}[{i}]"), value)?;
        }
        Ok(())
    }

    /// Fails with `INVALID_ARGUMENT` naming `field` when it is not set.
    pub fn require(&self, field: &str, set: bool) -> Result<(), Status> {
        if set {
            return Ok(());
        }
        let path = if self.0.is_empty() { field.to_owned() } else { format!("{}.{field}", self.0) };
        Err(Status::invalid_argument(format!("missing required field `{path}`")))
    }
}

/// Per-message input rules, from `google.api.field_behavior`.
pub trait Input {
    /// Fails when a `REQUIRED` field (here or in a message below) is unset.
    fn validate(&self, _path: &mut FieldPath) -> Result<(), Status> {
        Ok(())
    }

    /// Clears `OUTPUT_ONLY` fields (here and in messages below).
    fn clear_output_only(&mut self) {}
}

impl<T: Input + ?Sized> Input for Box<T> {
    fn validate(&self, path: &mut FieldPath) -> Result<(), Status> {
        (**self).validate(path)
    }

    fn clear_output_only(&mut self) {
        (**self).clear_output_only()
    }
}

/// Prepares a decoded request for the method.
pub fn prepare<T: Input>(mut request: T) -> Result<T, Status> {
    request.clear_output_only();
    request.validate(&mut FieldPath::default())?;
    Ok(request)
}

macro_rules! no_rules {
    ($($t:ident),*) => { $(impl Input for crate::wkt::$t {})* };
}

no_rules!(
    Any,
    BoolValue,
    BytesValue,
    DoubleValue,
    Duration,
    Empty,
    FieldMask,
    FloatValue,
    Int32Value,
    Int64Value,
    ListValue,
    StringValue,
    Struct,
    Timestamp,
    UInt32Value,
    UInt64Value,
    Value
);
