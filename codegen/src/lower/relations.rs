//! GraphQL relations: `(apigen.method).batch` loaders and the
//! `(apigen.message).relations` that call them. A loader is checked against
//! its own request and response when its method is lowered; relations are
//! resolved once the whole API is, since a loader may live in any package.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor, Value};

use super::{Lowerer, Pos, field_type, str_field, u32_field};
use crate::model::*;

/// A relation as written, waiting for every method to be lowered.
pub(super) struct Pending {
    /// The parent message's full name and package.
    message: String,
    package: String,
    name: String,
    method: String,
    key: String,
    group: bool,
    required: bool,
    description: String,
    /// An `entity` option rather than a relation: `key` and `method` only.
    entity: bool,
    pos: Pos,
}

fn scalar_key(f: &FieldDescriptor) -> bool {
    !matches!(f.kind(), Kind::Message(_) | Kind::Double | Kind::Float | Kind::Bytes)
}

fn field_name(f: &FieldDescriptor) -> FieldName {
    FieldName { name: f.name().to_owned(), json_name: f.json_name().to_owned() }
}

fn names(m: &MessageDescriptor, wanted: impl Fn(&FieldDescriptor) -> bool) -> String {
    let names: Vec<String> = m.fields().filter(|f| wanted(f)).map(|f| format!("`{}`", f.name())).collect();
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

impl Lowerer<'_> {
    /// `(apigen.method).batch`, checked: a unary read whose request has a
    /// repeated key field and whose response has a repeated message field
    /// whose messages carry a key of the same type.
    pub(super) fn batch_loader(
        &mut self,
        m: &MethodDescriptor,
        batch: &DynamicMessage,
        reads: bool,
        pos: &Pos,
    ) -> Option<BatchLoader> {
        let name = m.full_name();
        if m.is_client_streaming() || m.is_server_streaming() || !reads {
            self.error(
                pos,
                None,
                format!("batch loader {name} must be a unary method that only reads"),
                "relations load data while a GraphQL query runs: make it unary and mark it `option idempotency_level = NO_SIDE_EFFECTS;` (or bind it to GET)",
            );
            return None;
        }
        let (keys, results, key) = (str_field(batch, "keys"), str_field(batch, "results"), str_field(batch, "key"));
        let input = m.input();
        let Some(keys_field) = input.get_field_by_name(&keys).filter(|f| f.is_list() && scalar_key(f)) else {
            let help = format!(
                "name a repeated string, integer, bool or enum field of {} (candidates: {})",
                input.full_name(),
                names(&input, |f| f.is_list() && scalar_key(f))
            );
            self.error(
                pos,
                None,
                format!("`keys: \"{keys}\"` of batch loader {name} is not a repeated scalar field of its request"),
                help,
            );
            return None;
        };
        let output = m.output();
        let results_field = output.get_field_by_name(&results).filter(|f| f.is_list() && !f.is_map());
        let Some((results_field, result)) = results_field.and_then(|f| match f.kind() {
            Kind::Message(r) => Some((f.clone(), r)),
            _ => None,
        }) else {
            let help = format!(
                "name a repeated message field of {} (candidates: {})",
                output.full_name(),
                names(&output, |f| f.is_list() && !f.is_map() && matches!(f.kind(), Kind::Message(_)))
            );
            self.error(
                pos,
                None,
                format!(
                    "`results: \"{results}\"` of batch loader {name} is not a repeated message field of its response"
                ),
                help,
            );
            return None;
        };
        let key_field = result.get_field_by_name(&key).filter(|f| !f.is_list() && !f.is_map());
        let Some(key_field) = key_field.filter(|f| f.kind() == keys_field.kind()) else {
            let help = format!(
                "name a singular field of {} of the keys' type, `{:?}` (candidates: {})",
                result.full_name(),
                keys_field.kind(),
                names(&result, |f| !f.is_list() && f.kind() == keys_field.kind())
            );
            self.error(
                pos,
                None,
                format!(
                    "`key: \"{key}\"` of batch loader {name} is not a field of each result holding a key like `{keys}`"
                ),
                help,
            );
            return None;
        };
        Some(BatchLoader {
            keys: field_name(&keys_field),
            results: field_name(&results_field),
            key: field_name(&key_field),
            result_type: result.full_name().to_owned(),
            key_type: field_type(&keys_field, m.parent_service().package_name()),
            max_batch_size: u32_field(batch, "max_batch_size"),
        })
    }

    /// Records a message's `(apigen.message).relations` for [`Self::resolve_relations`].
    pub(super) fn read_relations(&mut self, m: &MessageDescriptor, options: &DynamicMessage, pos: Pos) {
        let items = match options.get_field_by_name("relations").as_deref() {
            Some(Value::List(items)) => items.clone(),
            _ => Vec::new(),
        };
        for item in items.iter().filter_map(Value::as_message) {
            self.relations.push(Pending {
                message: m.full_name().to_owned(),
                package: m.package_name().to_owned(),
                name: str_field(item, "name"),
                method: str_field(item, "method"),
                key: str_field(item, "key"),
                group: item.get_field_by_name("group").and_then(|v| v.as_bool()).unwrap_or(false),
                required: item.get_field_by_name("required").and_then(|v| v.as_bool()).unwrap_or(false),
                description: str_field(item, "description"),
                entity: false,
                pos: pos.clone(),
            });
        }
        if let Some(Value::Message(entity)) =
            options.get_field_by_name("entity").as_deref().filter(|_| options.has_field_by_name("entity"))
        {
            self.relations.push(Pending {
                message: m.full_name().to_owned(),
                package: m.package_name().to_owned(),
                name: String::new(),
                method: str_field(entity, "method"),
                key: str_field(entity, "key"),
                group: false,
                required: false,
                description: String::new(),
                entity: true,
                pos,
            });
        }
    }

    /// Resolves every recorded relation against the API's loaders and puts
    /// it on its message; each mistake is a diagnostic at the message's options.
    pub(super) fn resolve_relations(&mut self, api: &mut Api) {
        let mut resolved: Vec<(String, Relation)> = Vec::new();
        let mut entities: Vec<(String, Entity)> = Vec::new();
        for p in std::mem::take(&mut self.relations) {
            if p.entity {
                entities.extend(self.entity(api, &p).map(|e| (p.message.clone(), e)));
                continue;
            }
            if let Some(r) = self.relation(api, &p) {
                let duplicate = resolved.iter().any(|(m, other)| *m == p.message && other.name == r.name);
                if duplicate {
                    self.error(
                        &p.pos,
                        None,
                        format!("{} declares relation `{}` twice", p.message, p.name),
                        "give each relation its own name",
                    );
                    continue;
                }
                resolved.push((p.message.clone(), r));
            }
        }
        for message in api.packages.iter_mut().flat_map(|p| &mut p.messages) {
            message.relations =
                resolved.iter().filter(|(m, _)| *m == message.full_name).map(|(_, r)| r.clone()).collect();
            message.entity = entities.iter().find(|(m, _)| *m == message.full_name).map(|(_, e)| e.clone());
        }
    }

    /// The batch loader `p` names: its service's full name, its name and its batch settings.
    fn loader(&mut self, api: &Api, p: &Pending, what: &str) -> Option<(String, String, BatchLoader)> {
        // `Service.Method` in the message's package, else fully qualified.
        let (service, method) = p.method.rsplit_once('.').unwrap_or(("", p.method.as_str()));
        let local = if p.package.is_empty() { service.to_owned() } else { format!("{}.{service}", p.package) };
        let services: Vec<&Service> = api.packages.iter().flat_map(|s| &s.services).collect();
        let found = [local, service.to_owned()]
            .iter()
            .find_map(|name| services.iter().find(|s| s.full_name == *name))
            .and_then(|s| s.methods.iter().find(|m| m.name == method).map(|m| (*s, m)));
        let loaders: Vec<String> = services
            .iter()
            .flat_map(|s| {
                s.methods.iter().filter(|m| m.batch.is_some()).map(move |m| format!("`{}.{}`", s.full_name, m.name))
            })
            .collect();
        let Some((service, method)) = found else {
            let help = format!(
                "name a method as `Service.Method` (in {}) or `package.Service.Method`; batch loaders in this API: {}",
                if p.package.is_empty() { "the same package" } else { &p.package },
                if loaders.is_empty() { "none".to_owned() } else { loaders.join(", ") }
            );
            self.error(&p.pos, None, format!("{what}: there is no method `{}`", p.method), help);
            return None;
        };
        let Some(batch) = method.batch.clone() else {
            if self.broken_loaders.contains(&format!("{}.{}", service.full_name, method.name)) {
                return None;
            }
            let help = "mark the method as a batch loader: `option (apigen.method) = {batch: {keys: \"names\" results: \"items\" key: \"name\"}};`";
            self.error(
                &p.pos,
                None,
                format!("{what}: {}.{} is not a batch loader", service.full_name, method.name),
                help,
            );
            return None;
        };
        if method.graphql.is_none() || !service.serves(method, Protocol::Graphql) {
            let help = "relations call the loader as GraphQL does: remove PROTOCOL_GRAPHQL from its `exclude`";
            self.error(
                &p.pos,
                None,
                format!("{what}: {}.{} is excluded from GraphQL", service.full_name, method.name),
                help,
            );
            return None;
        }
        Some((service.full_name.clone(), method.name.clone(), batch))
    }

    /// An `entity` option, checked: its loader returns this message by its key.
    fn entity(&mut self, api: &Api, p: &Pending) -> Option<Entity> {
        let what = format!("entity {}", p.message);
        let message = api.messages_by_name().get(p.message.as_str()).copied()?;
        let (service, method, batch) = self.loader(api, p, &what)?;
        if batch.result_type != p.message {
            let help = format!("name a batch loader whose results are {} messages", p.message);
            let message = format!("{what}: {service}.{method} loads {}, not {}", batch.result_type, p.message);
            self.error(&p.pos, None, message, help);
            return None;
        }
        let key = message.fields.iter().find(|f| f.name == p.key);
        let Some(key) = key.filter(|k| {
            k.ty == batch.key_type && !matches!(k.cardinality, Cardinality::Repeated | Cardinality::Map(..))
        }) else {
            let help = format!(
                "name the singular field of {} that the loader's key `{}` matches (of the keys' type)",
                p.message, batch.key.name
            );
            self.error(
                &p.pos,
                None,
                format!("{what}: `{}` is not a singular key field of the loader's key type", p.key),
                help,
            );
            return None;
        };
        Some(Entity {
            key: FieldName { name: key.name.clone(), json_name: key.json_name.clone() },
            service,
            method,
            batch,
            span: p.pos.span.clone(),
        })
    }

    fn relation(&mut self, api: &Api, p: &Pending) -> Option<Relation> {
        let what = format!("relation `{}` of {}", p.name, p.message);
        let message = api.messages_by_name().get(p.message.as_str()).copied()?;
        if !super::is_graphql_name(&p.name) {
            let help = "use letters, digits and `_`, not starting with a digit or `__`";
            self.error(&p.pos, None, format!("{what}: `{}` is not a valid GraphQL name", p.name), help);
            return None;
        }
        if message.fields.iter().any(|f| f.json_name == p.name) {
            let help = "relations add a field beside the message's own: pick a name that is not one of its fields";
            self.error(&p.pos, None, format!("{what}: {} already has a field `{}`", p.message, p.name), help);
            return None;
        }
        let (service, method, batch) = self.loader(api, p, &what)?;
        let Some(key) = message.fields.iter().find(|f| f.name == p.key) else {
            let candidates: Vec<String> = message
                .fields
                .iter()
                .filter(|f| f.ty == batch.key_type && !matches!(f.cardinality, Cardinality::Map(..)))
                .map(|f| format!("`{}`", f.name))
                .collect();
            let help = format!(
                "name the field of {} that holds the key (candidates: {})",
                p.message,
                if candidates.is_empty() { "none".to_owned() } else { candidates.join(", ") }
            );
            self.error(&p.pos, None, format!("{what}: {} has no field `{}`", p.message, p.key), help);
            return None;
        };
        if key.ty != batch.key_type || matches!(key.cardinality, Cardinality::Map(..)) {
            let help = format!(
                "the key field must have the type of {service}.{method}'s keys (`{}`), as a singular or repeated field",
                batch.keys.name
            );
            self.error(
                &p.pos,
                None,
                format!("{what}: field `{}` does not hold keys of the loader's type", p.key),
                help,
            );
            return None;
        }
        let kind = match (key.cardinality == Cardinality::Repeated, p.group) {
            (false, false) => RelationKind::One,
            (true, false) => RelationKind::Many,
            (false, true) => RelationKind::Group,
            (true, true) => {
                let help = "a group gathers the results whose key equals the parent's one key: use a singular key field, or drop `group` to load one result per key";
                self.error(
                    &p.pos,
                    None,
                    format!("{what}: `group` needs a singular key field, `{}` is repeated", p.key),
                    help,
                );
                return None;
            }
        };
        if kind == RelationKind::Group && p.required {
            let help = "a group is a list, empty when nothing matches: drop `required`";
            self.error(&p.pos, None, format!("{what}: `required` does not apply to a group"), help);
            return None;
        }
        Some(Relation {
            name: p.name.clone(),
            service,
            method,
            batch,
            key: FieldName { name: key.name.clone(), json_name: key.json_name.clone() },
            kind,
            required: p.required,
            docs: p.description.lines().map(str::to_owned).collect(),
            span: p.pos.span.clone(),
        })
    }
}
