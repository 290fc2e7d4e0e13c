//! `/openapi.json` and `/docs`: the services' OpenAPI document and a page
//! that renders it without network access.

use std::sync::Arc;

use crate::ServiceDef;

/// The API reference page: renders `/openapi.json` with no network access.
pub(crate) const DOCS_PAGE: &str = include_str!("docs.html");

/// One OpenAPI document for every service: the generated document when the
/// services come from one generation run, else their paths, tags and
/// schemas merged.
pub(crate) fn openapi_document(services: &[ServiceDef]) -> Arc<str> {
    let mut docs: Vec<&'static str> = services.iter().map(|s| s.info().openapi).collect();
    docs.sort();
    docs.dedup();
    if let [one] = docs.as_slice() {
        return Arc::from(*one);
    }
    let mut merged = serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "API", "version": "v1"},
        "tags": [],
        "paths": {},
        "components": {"schemas": {}}
    });
    for doc in docs {
        let Ok(serde_json::Value::Object(doc)) = serde_json::from_str::<serde_json::Value>(doc) else { continue };
        for (key, pointer) in [("paths", "/paths"), ("components", "/components/schemas")] {
            let from = match key {
                "paths" => doc.get("paths"),
                _ => doc.get("components").and_then(|c| c.get("schemas")),
            };
            if let (Some(serde_json::Value::Object(from)), Some(serde_json::Value::Object(to))) =
                (from, merged.pointer_mut(pointer))
            {
                to.extend(from.clone());
            }
        }
        if let (Some(serde_json::Value::Array(tags)), Some(serde_json::Value::Array(to))) =
            (doc.get("tags"), merged.get_mut("tags"))
        {
            to.extend(tags.iter().cloned());
        }
    }
    Arc::from(merged.to_string())
}
