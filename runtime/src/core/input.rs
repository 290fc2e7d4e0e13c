//! What every request goes through before a method sees it, whatever the
//! protocol: `OUTPUT_ONLY` fields are cleared and `REQUIRED` fields checked.
//! Generated code implements [`Input`] per message from its annotations.

use crate::core::status::Status;

/// A field path being checked, `shelf.theme` or `books[2].title`.
#[derive(Debug, Default)]
pub struct FieldPath {
    path: String,
    /// While inside a message updated through a field mask: where that
    /// message starts in `path`, and the masked paths relative to it.
    mask: Option<(usize, Vec<String>)>,
}

impl FieldPath {
    /// Checks `value` under `field`, extending the path for messages inside it.
    pub fn nested<T: Input + ?Sized>(&mut self, field: &str, value: &T) -> Result<(), Status> {
        let len = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(field);
        let result = value.validate(self);
        self.path.truncate(len);
        result
    }

    /// Like [`nested`](Self::nested) for the resource of an update request:
    /// with a non-empty `update_mask`, only the masked fields must be set.
    pub fn nested_masked<T: Input + ?Sized>(
        &mut self,
        field: &str,
        value: &T,
        mask: Option<&crate::core::wkt::FieldMask>,
    ) -> Result<(), Status> {
        let paths = mask.map(|m| m.paths.clone()).filter(|p| !p.is_empty());
        let Some(paths) = paths else { return self.nested(field, value) };
        let start = self.path.len() + usize::from(!self.path.is_empty()) + field.len();
        let outer = self.mask.replace((start, paths));
        let result = self.nested(field, value);
        self.mask = outer;
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
        let path = if self.path.is_empty() { field.to_owned() } else { format!("{}.{field}", self.path) };
        if let Some((start, masked)) = &self.mask {
            let relative = path.get(start + 1..).unwrap_or_default();
            let covered = masked.iter().any(|m| relative == m || relative.starts_with(&format!("{m}.")));
            if !covered {
                return Ok(());
            }
        }
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
    ($($t:ident),*) => { $(impl Input for crate::core::wkt::$t {})* };
}

crate::core::wkt::every_message!(no_rules);

#[cfg(test)]
mod tests {
    use super::*;

    struct Book {
        title: String,
    }

    impl Input for Book {
        fn validate(&self, path: &mut FieldPath) -> Result<(), Status> {
            path.require("title", !self.title.is_empty())
        }
    }

    fn check(mask: Option<&[&str]>) -> Result<(), Status> {
        let mask = mask.map(|p| crate::core::wkt::FieldMask { paths: p.iter().map(|s| s.to_string()).collect() });
        FieldPath::default().nested_masked("book", &Book { title: String::new() }, mask.as_ref())
    }

    #[test]
    fn an_update_mask_limits_required_fields_to_masked_ones() {
        assert_eq!(check(None).unwrap_err().message(), "missing required field `book.title`");
        assert_eq!(
            check(Some(&[])).unwrap_err().message(),
            "missing required field `book.title`",
            "an empty mask means every field"
        );
        assert!(check(Some(&["price"])).is_ok());
        assert!(check(Some(&["title"])).is_err());
    }
}
