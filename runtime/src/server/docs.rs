//! `/openapi.json`: the services' OpenAPI document.

use std::sync::Arc;

use crate::ServiceDef;

/// One OpenAPI document for every service: the generated document when the
/// services come from one generation run, else their paths, tags and
/// schemas merged.
pub(crate) fn openapi_document(services: &[ServiceDef], authenticated: bool) -> Arc<str> {
    let mut docs: Vec<&'static str> = services.iter().map(|s| s.info().openapi).collect();
    docs.sort();
    docs.dedup();
    if let [one] = docs.as_slice()
        && !authenticated
        && !one.contains("\"securitySchemes\"")
    {
        return Arc::from(*one);
    }
    if let [one] = docs.as_slice()
        && let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(one)
    {
        secure(&mut doc, authenticated);
        return Arc::from(doc.to_string());
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
    secure(&mut merged, authenticated);
    Arc::from(merged.to_string())
}

/// The served document says what this server asks for: with an
/// authenticator every operation needs the bearer credential (a global
/// `security`); without one none does, so the operations that require scopes
/// lose their `security` (keeping `x-apigen-scopes`), as the server checks
/// none. The file `apigen generate` writes keeps the schema's own view.
fn secure(doc: &mut serde_json::Value, authenticated: bool) {
    use serde_json::{Value, json};
    if authenticated {
        doc["components"]["securitySchemes"]["bearerAuth"] = json!({
            "type": "http",
            "scheme": "bearer",
            "description": "`authorization: Bearer <token>`: the server's token, or a JWT whose `scope` claim grants what an operation requires.",
        });
        doc["security"] = json!([{"bearerAuth": []}]);
        return;
    }
    if let Some(Value::Object(components)) = doc.get_mut("components") {
        components.remove("securitySchemes");
    }
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|p| p.values_mut()) {
            if let Value::Object(operation) = operation {
                operation.remove("security");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::secure;

    fn document() -> serde_json::Value {
        serde_json::json!({
            "paths": {"/v1/{name}": {
                "get": {"operationId": "Get"},
                "delete": {"operationId": "Delete", "security": [{"bearerAuth": []}], "x-apigen-scopes": ["x.delete"]},
            }},
            "components": {"schemas": {}, "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        })
    }

    #[test]
    fn the_served_document_says_what_this_server_asks_for() {
        let mut open = document();
        secure(&mut open, false);
        assert!(open["paths"]["/v1/{name}"]["delete"].get("security").is_none(), "an open server checks no scope");
        assert_eq!(open["paths"]["/v1/{name}"]["delete"]["x-apigen-scopes"][0], "x.delete");
        assert!(open["components"].get("securitySchemes").is_none() && open.get("security").is_none());

        let mut guarded = document();
        secure(&mut guarded, true);
        assert_eq!(guarded["security"], serde_json::json!([{"bearerAuth": []}]), "every call needs the credential");
        assert_eq!(guarded["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
        assert_eq!(guarded["paths"]["/v1/{name}"]["delete"]["security"][0], serde_json::json!({"bearerAuth": []}));
    }
}
