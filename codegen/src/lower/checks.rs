//! Names that collide once converted to Rust's case conventions.

use std::collections::BTreeMap;

use heck::ToUpperCamelCase;

use super::{Lowerer, names};
use crate::model::*;

impl Lowerer<'_> {
    pub(super) fn check_names(&mut self, api: &Api) {
        // tRPC routes by service name alone, across packages.
        let mut trpc = BTreeMap::new();
        for s in api.packages.iter().flat_map(|p| &p.services).filter(|s| !s.excluded.contains(&Protocol::Trpc)) {
            let what = format!("the tRPC router key `{}` (exclude one from TRPC, or rename it)", s.trpc_key());
            self.collide(&mut trpc, s.trpc_key(), s.full_name.clone(), &s.span, &what);
        }
        for package in &api.packages {
            let mut types = BTreeMap::new();
            let items = package
                .messages
                .iter()
                .map(|m| (m.rust_path.clone(), m.full_name.as_str(), &m.span))
                .chain(package.enums.iter().map(|e| (e.rust_path.clone(), e.full_name.as_str(), &e.span)))
                .chain(package.services.iter().map(|s| (s.rust_name.clone(), s.full_name.as_str(), &s.span)))
                .chain(package.services.iter().map(|s| (s.client_name.clone(), s.full_name.as_str(), &s.span)))
                .chain(package.services.iter().map(|s| (s.rest_client_name.clone(), s.full_name.as_str(), &s.span)))
                .chain(package.services.iter().map(|s| (s.graphql_client_name.clone(), s.full_name.as_str(), &s.span)))
                .chain(package.services.iter().map(|s| (s.connect_client_name.clone(), s.full_name.as_str(), &s.span)));
            for (rust, full, span) in items {
                self.collide(&mut types, rust.clone(), full.to_owned(), span, &format!("the Rust type `{rust}`"));
            }
            for service in &package.services {
                let mut methods = BTreeMap::new();
                for m in &service.methods {
                    let what = format!("the Rust method `{}` of trait {}", m.rust_name, service.rust_name);
                    self.collide(
                        &mut methods,
                        m.rust_name.clone(),
                        format!("{}.{}", service.full_name, m.name),
                        &m.span,
                        &what,
                    );
                }
            }
            for message in &package.messages {
                let mut fields = BTreeMap::new();
                let mut json = BTreeMap::new();
                for f in &message.fields {
                    let full = format!("{}.{}", message.full_name, f.name);
                    let what = format!("the Rust field `{}` of {}", f.rust_name, message.rust_path);
                    self.collide(&mut fields, f.rust_name.clone(), full.clone(), &f.span, &what);
                    let what = format!("the JSON name `{}` of {}", f.json_name, message.full_name);
                    self.collide(&mut json, f.json_name.clone(), full, &f.span, &what);
                }
            }
            for e in &package.enums {
                // prost-build strips the enum's name from its values.
                let prefix = e.name.to_upper_camel_case();
                let mut variants: BTreeMap<String, (i32, &str)> = BTreeMap::new();
                for v in &e.values {
                    let camel = v.name.to_upper_camel_case();
                    let stripped = camel
                        .strip_prefix(&prefix)
                        .filter(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
                        .unwrap_or(&camel);
                    let variant = names::sanitize(stripped);
                    match variants.get(&variant) {
                        Some((number, first)) if *number != v.number => {
                            let pos = self.pos_of_span(&e.span, 4);
                            self.error(
                                &pos,
                                None,
                                format!(
                                    "enum values `{first}` and `{}` of {} both become the Rust variant `{variant}`",
                                    v.name, e.full_name
                                ),
                                "rename one of the values",
                            );
                        }
                        Some(_) => {}
                        None => {
                            variants.insert(variant, (v.number, &v.name));
                        }
                    }
                }
            }
        }
    }

    fn collide(
        &mut self,
        seen: &mut BTreeMap<String, (String, Span)>,
        key: String,
        full: String,
        span: &Span,
        what: &str,
    ) {
        match seen.get(&key) {
            Some((first, first_span)) => {
                let pos = self.pos_of_span(span, 1);
                self.error(
                    &pos,
                    None,
                    format!("`{full}` and `{first}` (line {}) both become {what}", first_span.line),
                    "rename one of them so the names differ by more than case or underscores",
                );
            }
            None => {
                seen.insert(key, (full, span.clone()));
            }
        }
    }
}
