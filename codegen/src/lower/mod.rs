//! Lowering: descriptors to the model. The only module that reads
//! descriptors; it resolves names, options, HTTP rules and spans, and rejects
//! what cannot work with a diagnostic that says where and how to fix it.

mod checks;
mod http;
pub mod names;
mod relations;
pub mod template;
mod validate;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use prost_reflect::{
    Cardinality as PbCardinality, DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, FileDescriptor,
    Kind, MessageDescriptor, MethodDescriptor, ServiceDescriptor, Value,
};

use crate::diagnostics::{Diagnostic, Error};
use crate::frontend::{ANNOTATION_FILES, Compiled};
use crate::model::*;

/// Builds the model for `compiled`, or every diagnostic found.
pub fn lower(compiled: &Compiled) -> Result<Api, Error> {
    let mut l = Lowerer::new(compiled);
    l.check_files();
    if !l.diags.is_empty() {
        return Err(Error::Schema(l.diags));
    }
    let files = l.files_to_generate();
    let mut packages: BTreeMap<String, Package> = BTreeMap::new();
    for file in &files {
        let package = packages
            .entry(file.package_name().to_owned())
            .or_insert_with(|| Package { name: file.package_name().to_owned(), ..Package::default() });
        package.files.push(file.name().to_owned());
        for message in file_messages(file) {
            l.message(&message, package);
        }
        for en in file_enums(file) {
            l.enumeration(&en, package);
        }
        for service in file_services(file) {
            let service = l.service(&service);
            package.services.push(service);
        }
    }
    let mut api = Api { packages: packages.into_values().collect(), roots: compiled.roots.clone() };
    l.prefix_imported_graphql_names(&mut api);
    l.resolve_relations(&mut api);
    l.check_names(&api);
    l.check_duplicate_bindings(&api);
    if l.diags.is_empty() { Ok(api) } else { Err(Error::Schema(l.diags)) }
}

pub(crate) struct Lowerer<'a> {
    c: &'a Compiled,
    pub(crate) diags: Vec<Diagnostic>,
    locations: HashMap<String, HashMap<Vec<i32>, prost_types::source_code_info::Location>>,
    ext_http: Option<ExtensionDescriptor>,
    ext_behavior: Option<ExtensionDescriptor>,
    ext_method: Option<ExtensionDescriptor>,
    ext_service: Option<ExtensionDescriptor>,
    ext_message: Option<ExtensionDescriptor>,
    ext_enum: Option<ExtensionDescriptor>,
    ext_validate_field: Option<ExtensionDescriptor>,
    ext_validate_oneof: Option<ExtensionDescriptor>,
    ext_validate_message: Option<ExtensionDescriptor>,
    /// Relations read from messages, resolved once every method is lowered.
    relations: Vec<relations::Pending>,
    /// Batch loaders whose options were wrong (already reported).
    broken_loaders: BTreeSet<String>,
    /// Types whose GraphQL name an option sets.
    explicit_graphql_names: BTreeSet<String>,
}

/// A resolved source position: the model's span and the byte range for diagnostics.
#[derive(Clone)]
pub(crate) struct Pos {
    pub(crate) span: Span,
    pub(crate) range: Option<(usize, usize)>,
}

impl<'a> Lowerer<'a> {
    fn new(c: &'a Compiled) -> Self {
        let mut locations = HashMap::new();
        for file in &c.files.file {
            let map =
                file.source_code_info.iter().flat_map(|i| &i.location).map(|l| (l.path.clone(), l.clone())).collect();
            locations.insert(file.name().to_owned(), map);
        }
        Lowerer {
            c,
            diags: Vec::new(),
            locations,
            ext_http: c.pool.get_extension_by_name("google.api.http"),
            ext_behavior: c.pool.get_extension_by_name("google.api.field_behavior"),
            ext_method: c.pool.get_extension_by_name("apigen.method"),
            ext_service: c.pool.get_extension_by_name("apigen.service"),
            ext_message: c.pool.get_extension_by_name("apigen.message"),
            ext_enum: c.pool.get_extension_by_name("apigen.enum"),
            ext_validate_field: c.pool.get_extension_by_name("buf.validate.field"),
            ext_validate_oneof: c.pool.get_extension_by_name("buf.validate.oneof"),
            ext_validate_message: c.pool.get_extension_by_name("buf.validate.message"),
            relations: Vec::new(),
            broken_loaders: BTreeSet::new(),
            explicit_graphql_names: BTreeSet::new(),
        }
    }

    /// What apigen cannot generate from at all: files without a package
    /// (Rust modules and RPC paths need one) and editions syntax.
    fn check_files(&mut self) {
        for file in &self.c.files.file {
            let name = file.name().to_owned();
            let declares = !file.message_type.is_empty() || !file.enum_type.is_empty() || !file.service.is_empty();
            if file.package().is_empty() && declares {
                let pos = self.pos(&name, &[]);
                self.error(&pos, Some((0, 0)), format!("{name} has no package declaration"), "add one after the syntax line, for example `package myapi.v1;`: apigen names Rust modules and RPC paths after it");
            }
            // Well-known types come from the runtime: naming one is a mistake to say, not skip.
            if is_well_known(&name, file.package()) && self.c.roots.contains(&name) {
                let pos = self.pos(&name, &[]);
                self.error(
                    &pos,
                    Some((0, 0)),
                    format!("{name} holds protobuf's well-known types, which apigen never generates"),
                    "import it from your own .proto file instead: its types are `apigen_runtime::wkt::*` in generated code",
                );
            }
            if !matches!(file.syntax(), "" | "proto2" | "proto3") {
                let pos = self.pos(&name, &[12]);
                self.error(
                    &pos,
                    None,
                    format!("{name} uses `{}`, which apigen does not support yet", file.syntax()),
                    "write the file with `syntax = \"proto3\";` (or proto2)",
                );
            }
        }
    }

    /// The files code is generated for: every file in the closure except the
    /// well-known types (they come from the runtime) and annotation files no
    /// generated type refers to. Other files under `google/protobuf/` (say
    /// protobuf's own test messages) are generated like any other.
    fn files_to_generate(&self) -> Vec<FileDescriptor> {
        let all: Vec<FileDescriptor> = self
            .c
            .files
            .file
            .iter()
            .filter_map(|f| self.c.pool.get_file_by_name(f.name()))
            .filter(|f| !is_well_known(f.name(), f.package_name()))
            .collect();
        let is_annotation =
            |f: &FileDescriptor| ANNOTATION_FILES.contains(&f.name()) && !self.c.roots.iter().any(|r| r == f.name());
        let mut included: BTreeSet<String> =
            all.iter().filter(|f| !is_annotation(f)).map(|f| f.name().to_owned()).collect();
        loop {
            let mut referenced = BTreeSet::new();
            for f in all.iter().filter(|f| included.contains(f.name())) {
                for m in file_messages(f) {
                    referenced_files(&m, &mut referenced);
                }
                for s in file_services(f) {
                    for m in s.methods() {
                        referenced.insert(m.input().parent_file().name().to_owned());
                        referenced.insert(m.output().parent_file().name().to_owned());
                    }
                }
            }
            let before = included.len();
            included.extend(referenced.into_iter().filter(|n| all.iter().any(|f| f.name() == n)));
            if included.len() == before {
                break;
            }
        }
        all.into_iter().filter(|f| included.contains(f.name())).collect()
    }

    /// The position of the element at `path` in `file`, or of its closest
    /// enclosing element that has one.
    pub(crate) fn pos(&self, file: &str, path: &[i32]) -> Pos {
        let map = self.locations.get(file);
        let mut path = path;
        loop {
            if let Some(loc) = map.and_then(|m| m.get(path)) {
                let s = &loc.span;
                let (line, col) = (s.first().copied().unwrap_or(0), s.get(1).copied().unwrap_or(0));
                let (end_line, end_col) =
                    if s.len() >= 4 { (s[2], s[3]) } else { (line, s.get(2).copied().unwrap_or(col)) };
                let range = self.c.sources.get(file).and_then(|src| {
                    let start = src.offset_of(line, col)?;
                    let end = src.offset_of(end_line, end_col).unwrap_or(start);
                    Some((start, end.saturating_sub(start)))
                });
                return Pos {
                    span: Span { file: file.to_owned(), line: line as u32 + 1, column: col as u32 + 1 },
                    range,
                };
            }
            match path.split_last() {
                Some((_, rest)) => path = rest,
                None => return Pos { span: Span { file: file.to_owned(), line: 0, column: 0 }, range: None },
            }
        }
    }

    /// Records a diagnostic at `pos` (narrowed to `range` when given).
    pub(crate) fn error(
        &mut self,
        pos: &Pos,
        range: Option<(usize, usize)>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let file = &pos.span.file;
        let text = self.c.sources.get(file).map(|s| Arc::clone(&s.text));
        let display = self.c.sources.display_name(file);
        self.diags.push(Diagnostic::new(&display, text, range.or(pos.range), message, help));
    }

    /// The source text of `file`, when it was read from disk or built in.
    pub(crate) fn text(&self, file: &str) -> Option<Arc<String>> {
        self.c.sources.get(file).map(|s| Arc::clone(&s.text))
    }

    fn docs(&self, file: &str, path: &[i32]) -> Vec<String> {
        let Some(loc) = self.locations.get(file).and_then(|m| m.get(path)) else { return Vec::new() };
        let Some(text) = &loc.leading_comments else { return Vec::new() };
        let mut lines: Vec<String> =
            text.lines().map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end().to_owned()).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
    }

    fn message(&mut self, m: &MessageDescriptor, package: &mut Package) {
        if m.is_map_entry() {
            return;
        }
        let file = m.parent_file();
        let rust_path = names::type_path(m.full_name(), m.package_name(), m.package_name());
        let module = message_module(&rust_path);
        let oneofs: Vec<Oneof> = m
            .oneofs()
            .filter(|o| !o.is_synthetic())
            .map(|o| Oneof {
                name: o.name().to_owned(),
                rust_path: format!("{module}::{}", names::to_upper_camel(o.name())),
                required: self.oneof_required(&o),
            })
            .collect();
        let oneof_names: Vec<String> = oneofs.iter().map(|o| o.name.clone()).collect();
        let fields = m.fields().map(|f| self.field(&f, &oneof_names)).collect();
        let deprecated = m.descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated());
        let options = m.options();
        let graphql_name = self.graphql_type_name(
            m.full_name(),
            m.package_name(),
            &options,
            self.ext_message.clone(),
            file.name(),
            m.path(),
        );
        let (oneof_rules, custom_rules) = self.message_rules(m);
        // `(apigen.message)`: relations and an entity (resolved later), a cache hint.
        let apigen = self
            .ext_message
            .clone()
            .filter(|e| options.has_extension(e))
            .map(|e| options.get_extension(&e).into_owned());
        let apigen = apigen.as_ref().and_then(Value::as_message);
        let cache = apigen.and_then(|a| sub_message(a, "cache")).map(|c| cache_hint(&c));
        if let Some(value) = apigen {
            let pos = self.pos(file.name(), &[m.path(), &[7]].concat());
            self.read_relations(m, value, pos);
        }
        package.messages.push(Message {
            name: m.name().to_owned(),
            full_name: m.full_name().to_owned(),
            rust_path,
            graphql_name,
            fields,
            oneofs,
            is_map_entry: false,
            oneof_rules,
            custom_rules,
            relations: Vec::new(),
            entity: None,
            cache,
            docs: self.docs(file.name(), m.path()),
            span: self.pos(file.name(), m.path()).span,
            deprecated,
        });
        for nested in m.child_messages() {
            self.message(&nested, package);
        }
        for en in m.child_enums() {
            self.enumeration(&en, package);
        }
    }

    /// The GraphQL name of a type: the `graphql_name` option, else its name
    /// inside the package with nested types joined by `_`.
    fn graphql_type_name(
        &mut self,
        full_name: &str,
        package: &str,
        options: &DynamicMessage,
        ext: Option<ExtensionDescriptor>,
        file: &str,
        path: &[i32],
    ) -> String {
        let local = if package.is_empty() { full_name } else { &full_name[package.len() + 1..] };
        let default = local.replace('.', "_");
        let Some(ext) = ext.filter(|e| options.has_extension(e)) else { return default };
        let value = options.get_extension(&ext);
        let name = value.as_message().map(|m| str_field(m, "graphql_name")).unwrap_or_default();
        if name.is_empty() {
            return default;
        }
        if !is_graphql_name(&name) {
            let pos = self.pos(file, &[path, &[7]].concat());
            self.error(
                &pos,
                None,
                format!("`graphql_name: \"{name}\"` of {full_name} is not a valid GraphQL name"),
                "use letters, digits and `_`, not starting with a digit or `__`",
            );
            return default;
        }
        self.explicit_graphql_names.insert(full_name.to_owned());
        name
    }

    /// Two types that would share a GraphQL name, one of them from a file
    /// the user did not name (an import such as `google/rpc/status.proto`):
    /// each imported one takes its package as a prefix (`GoogleRpcStatus`),
    /// since nobody can set an option in a file they do not own. Names an
    /// option sets are kept; two of the user's own types stay an error
    /// (`backend/graphql.rs`), with the option as the fix.
    fn prefix_imported_graphql_names(&self, api: &mut Api) {
        let own = |file: &str| api.roots.iter().any(|r| r == file);
        let mut by_name: BTreeMap<String, BTreeSet<(String, String, bool)>> = BTreeMap::new();
        let types = api.packages.iter().flat_map(|p| {
            let messages = p.messages.iter().map(|m| (&m.graphql_name, &m.full_name, &m.span));
            messages.chain(p.enums.iter().map(|e| (&e.graphql_name, &e.full_name, &e.span))).map(move |t| (p, t))
        });
        for (package, (graphql, full, span)) in types {
            let movable = !own(&span.file) && !self.explicit_graphql_names.contains(full) && !package.name.is_empty();
            by_name.entry(graphql.clone()).or_default().insert((full.clone(), package.name.clone(), movable));
        }
        let mut renamed: BTreeMap<String, String> = BTreeMap::new();
        for (name, owners) in by_name.iter().filter(|(_, owners)| owners.len() > 1) {
            for (full, package, _) in owners.iter().filter(|(_, _, movable)| *movable) {
                let prefix: String = package.split('.').map(heck::ToUpperCamelCase::to_upper_camel_case).collect();
                renamed.insert(full.clone(), format!("{prefix}{name}"));
            }
        }
        for package in &mut api.packages {
            for m in &mut package.messages {
                if let Some(name) = renamed.get(&m.full_name) {
                    m.graphql_name = name.clone();
                }
            }
            for e in &mut package.enums {
                if let Some(name) = renamed.get(&e.full_name) {
                    e.graphql_name = name.clone();
                }
            }
        }
    }

    fn field(&mut self, f: &FieldDescriptor, oneofs: &[String]) -> Field {
        let file = f.parent_file();
        let package = f.parent_message().package_name().to_owned();
        // prost-reflect's map_entry_*_field panic on an entry without its
        // fields, which a descriptor set from elsewhere may hold.
        let entry_fields = match f.kind() {
            Kind::Message(entry) if f.is_map() => Some(entry.get_field(1).zip(entry.get_field(2))),
            _ => None,
        };
        let cardinality = if let Some(entry_fields) = entry_fields {
            match entry_fields {
                Some((key, value)) => {
                    Cardinality::Map(Box::new(field_type(&key, &package)), Box::new(field_type(&value, &package)))
                }
                None => {
                    let pos = self.pos(file.name(), f.path());
                    self.error(
                        &pos,
                        None,
                        format!("map field `{}` has an entry message without a `key` (1) and a `value` (2) field", f.full_name()),
                        "declare the field as `map<K, V>` in the .proto file; a hand-built descriptor needs both entry fields",
                    );
                    Cardinality::Repeated
                }
            }
        } else if f.is_list() {
            Cardinality::Repeated
        } else if f.cardinality() == PbCardinality::Required {
            Cardinality::Required
        } else if f.supports_presence()
            && !matches!(f.kind(), Kind::Message(_))
            && f.containing_oneof().is_none_or(|o| o.is_synthetic())
        {
            Cardinality::Optional
        } else {
            Cardinality::Singular
        };
        let oneof =
            f.containing_oneof().filter(|o| !o.is_synthetic()).and_then(|o| oneofs.iter().position(|n| n == o.name()));
        let behavior = self.behaviors(f);
        let deprecated = f.field_descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated());
        let ty = field_type(f, &package);
        let rules = self.field_rules(f, &ty, &cardinality);
        Field {
            name: f.name().to_owned(),
            json_name: f.json_name().to_owned(),
            rust_name: names::to_snake(f.name()),
            number: f.number(),
            ty,
            cardinality,
            oneof,
            behavior,
            rules,
            docs: self.docs(file.name(), f.path()),
            span: self.pos(file.name(), f.path()).span,
            deprecated,
        }
    }

    fn behaviors(&self, f: &FieldDescriptor) -> Vec<FieldBehavior> {
        let Some(ext) = &self.ext_behavior else { return Vec::new() };
        let options = f.options();
        if !options.has_extension(ext) {
            return Vec::new();
        }
        let value = options.get_extension(ext);
        let numbers: Vec<i32> = match value.as_ref() {
            Value::List(items) => items.iter().filter_map(Value::as_enum_number).collect(),
            Value::EnumNumber(n) => vec![*n],
            _ => Vec::new(),
        };
        numbers
            .into_iter()
            .filter_map(|n| match n {
                1 => Some(FieldBehavior::Optional),
                2 => Some(FieldBehavior::Required),
                3 => Some(FieldBehavior::OutputOnly),
                4 => Some(FieldBehavior::InputOnly),
                5 => Some(FieldBehavior::Immutable),
                6 => Some(FieldBehavior::UnorderedList),
                7 => Some(FieldBehavior::NonEmptyDefault),
                8 => Some(FieldBehavior::Identifier),
                _ => None,
            })
            .collect()
    }

    fn enumeration(&mut self, e: &EnumDescriptor, package: &mut Package) {
        let file = e.parent_file();
        let values = e
            .values()
            .map(|v| EnumValue {
                name: v.name().to_owned(),
                number: v.number(),
                docs: self.docs(file.name(), v.path()),
                deprecated: v.enum_value_descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated()),
            })
            .collect();
        let graphql_name = self.graphql_type_name(
            e.full_name(),
            e.package_name(),
            &e.options(),
            self.ext_enum.clone(),
            file.name(),
            e.path(),
        );
        package.enums.push(Enum {
            name: e.name().to_owned(),
            full_name: e.full_name().to_owned(),
            rust_path: names::type_path(e.full_name(), e.package_name(), e.package_name()),
            graphql_name,
            values,
            docs: self.docs(file.name(), e.path()),
            span: self.pos(file.name(), e.path()).span,
            deprecated: e.enum_descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated()),
        });
    }

    fn service(&mut self, s: &ServiceDescriptor) -> Service {
        let file = s.parent_file();
        let options = s.options();
        let (excluded, graphql_limits) = match self.ext_service.clone().filter(|e| options.has_extension(e)) {
            Some(ext) => {
                let value = options.get_extension(&ext);
                let msg = value.as_message();
                let limits = msg.and_then(|m| sub_message(m, "graphql_limits"));
                (
                    msg.map(|m| self.protocols(m, &self.pos(file.name(), s.path()))).unwrap_or_default(),
                    GraphqlLimits {
                        max_depth: limits.as_ref().map_or(0, |l| u32_field(l, "max_depth")),
                        max_complexity: limits.as_ref().map_or(0, |l| u32_field(l, "max_complexity")),
                    },
                )
            }
            None => (Vec::new(), GraphqlLimits::default()),
        };
        let methods = s.methods().map(|m| self.method(&m)).collect();
        Service {
            name: s.name().to_owned(),
            full_name: s.full_name().to_owned(),
            rust_name: names::to_upper_camel(s.name()),
            client_name: format!("{}Client", names::to_upper_camel(s.name()).trim_start_matches("r#")),
            rest_client_name: format!("{}RestClient", names::to_upper_camel(s.name()).trim_start_matches("r#")),
            graphql_client_name: format!("{}GraphqlClient", names::to_upper_camel(s.name()).trim_start_matches("r#")),
            connect_client_name: format!("{}ConnectClient", names::to_upper_camel(s.name()).trim_start_matches("r#")),
            docs: self.docs(file.name(), s.path()),
            span: self.pos(file.name(), s.path()).span,
            deprecated: s.service_descriptor_proto().options.as_ref().is_some_and(|o| o.deprecated()),
            methods,
            excluded,
            graphql_limits,
        }
    }

    fn protocols(&self, msg: &DynamicMessage, pos: &Pos) -> Vec<Protocol> {
        let _ = pos;
        let mut out: Vec<Protocol> = enum_list(msg, "exclude")
            .into_iter()
            .filter_map(|n| match n {
                1 => Some(Protocol::Grpc),
                2 => Some(Protocol::GrpcWeb),
                3 => Some(Protocol::Rest),
                4 => Some(Protocol::Graphql),
                5 => Some(Protocol::Connect),
                6 => Some(Protocol::Trpc),
                7 => Some(Protocol::WebSocket),
                8 => Some(Protocol::Sse),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn method(&mut self, m: &MethodDescriptor) -> Method {
        let file = m.parent_file();
        let pos = self.pos(file.name(), m.path());
        let package = m.parent_service().package_name().to_owned();
        let kind = match (m.is_client_streaming(), m.is_server_streaming()) {
            (false, false) => MethodKind::Unary,
            (false, true) => MethodKind::ServerStreaming,
            (true, false) => MethodKind::ClientStreaming,
            (true, true) => MethodKind::BidiStreaming,
        };
        let proto_options = m.method_descriptor_proto().options.clone().unwrap_or_default();
        use prost_types::method_options::IdempotencyLevel as L;
        let idempotency = match proto_options.idempotency_level() {
            L::NoSideEffects => Idempotency::NoSideEffects,
            L::Idempotent => Idempotency::Idempotent,
            L::IdempotencyUnknown => Idempotency::Unknown,
        };
        let options = m.options();
        let apigen = self
            .ext_method
            .clone()
            .filter(|e| options.has_extension(e))
            .map(|e| options.get_extension(&e).into_owned());
        let apigen = apigen.as_ref().and_then(Value::as_message);
        let excluded = apigen.map(|a| self.protocols(a, &pos)).unwrap_or_default();
        let graphql_opts = apigen.and_then(|a| sub_message(a, "graphql"));
        let requested = graphql_opts.as_ref().map_or(0, |g| enum_field(g, "operation"));
        let graphql_name = graphql_opts.as_ref().map(|g| str_field(g, "name")).filter(|n| !n.is_empty());
        let option_path = [m.path(), &[4]].concat();
        let http = self.http_rules(m, &options);
        // HTTP GET is safe by HTTP's own rules: a read, as NO_SIDE_EFFECTS is;
        // the GraphQL operation option, when given, decides.
        let get = http.first().is_some_and(|b| b.method == crate::model::HttpMethod::Get);
        let reads = kind == MethodKind::Unary
            && match requested {
                1 => true,
                2 => false,
                _ => idempotency == Idempotency::NoSideEffects || get,
            };
        let graphql = self.graphql_operation(kind, reads, requested, &excluded, &self.pos(file.name(), &option_path));
        if let Some(name) = &graphql_name
            && !is_graphql_name(name)
        {
            let p = self.pos(file.name(), &option_path);
            self.error(
                &p,
                None,
                format!("`{name}` is not a valid GraphQL name"),
                "use letters, digits and `_`, not starting with a digit or `__`",
            );
        }
        let batch = apigen.and_then(|a| sub_message(a, "batch")).and_then(|b| {
            let p = self.pos(file.name(), &option_path);
            let loader = self.batch_loader(m, &b, reads, &p);
            if loader.is_none() {
                self.broken_loaders.insert(m.full_name().to_owned());
            }
            loader
        });
        let cache = apigen.and_then(|a| sub_message(a, "cache")).map(|c| cache_hint(&c));
        if cache.is_some() && !reads {
            let p = self.pos(file.name(), &option_path);
            self.error(
                &p,
                None,
                format!("{} has a cache hint but does not only read", m.full_name()),
                "caches keep reads: mark the method `option idempotency_level = NO_SIDE_EFFECTS;` or bind it to GET, or drop `cache`",
            );
        }
        let scopes = apigen.map(|a| string_list(a, "scopes")).unwrap_or_default();
        if let Some(bad) = scopes.iter().find(|s| s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"')) {
            let p = self.pos(file.name(), &option_path);
            self.error(
                &p,
                None,
                format!("`{bad}` is not a scope"),
                "a scope is one word without spaces or quotes, as OAuth 2.0 writes them: `books.write`",
            );
        }
        let rate_limit = apigen.and_then(|a| sub_message(a, "rate_limit")).and_then(|r| {
            let calls = u32_field(&r, "calls");
            if calls == 0 {
                let p = self.pos(file.name(), &option_path);
                self.error(
                    &p,
                    None,
                    format!("{} has a rate limit of 0 calls", m.full_name()),
                    "set `calls` to 1 or more, for example `rate_limit: {calls: 10 per: MINUTE}`, or exclude the method",
                );
                return None;
            }
            let period_seconds = match enum_field(&r, "per") {
                1 => 60,
                2 => 3600,
                _ => 1,
            };
            let burst = match u32_field(&r, "burst") {
                0 => calls,
                burst => burst,
            };
            Some(crate::model::RateLimit { calls, period_seconds, burst })
        });
        let success_status = apigen.and_then(|a| sub_message(a, "rest")).map_or(0, |r| u32_field(&r, "success_status"));
        let success_status = match success_status {
            0 => 200,
            200..=299 => success_status as u16,
            other => {
                let p = self.pos(file.name(), &option_path);
                self.error(
                    &p,
                    None,
                    format!("`success_status: {other}` is not a 2xx status"),
                    "use a status from 200 to 299, for example 201 or 204",
                );
                200
            }
        };
        let mut http = http;
        if http.is_empty() && kind == MethodKind::Unary {
            http.push(HttpBinding::default_for(m.parent_service().full_name(), m.name(), pos.span.clone()));
        }
        Method {
            name: m.name().to_owned(),
            rust_name: names::to_snake(m.name()),
            kind,
            input: TypeRef {
                full_name: m.input().full_name().to_owned(),
                rust_path: names::type_path(m.input().full_name(), m.input().package_name(), &package),
            },
            output: TypeRef {
                full_name: m.output().full_name().to_owned(),
                rust_path: names::type_path(m.output().full_name(), m.output().package_name(), &package),
            },
            idempotency,
            reads,
            graphql,
            graphql_name,
            http,
            success_status,
            excluded,
            batch,
            cache,
            scopes,
            rate_limit,
            docs: self.docs(file.name(), m.path()),
            span: pos.span,
            deprecated: proto_options.deprecated(),
        }
    }

    fn graphql_operation(
        &mut self,
        kind: MethodKind,
        reads: bool,
        requested: i32,
        excluded: &[Protocol],
        pos: &Pos,
    ) -> Option<GraphqlOperation> {
        if excluded.contains(&Protocol::Graphql) {
            return None;
        }
        let default = match kind {
            MethodKind::Unary if reads => Some(GraphqlOperation::Query),
            MethodKind::Unary => Some(GraphqlOperation::Mutation),
            MethodKind::ServerStreaming => Some(GraphqlOperation::Subscription),
            _ => None,
        };
        let wanted = match requested {
            1 => GraphqlOperation::Query,
            2 => GraphqlOperation::Mutation,
            3 => GraphqlOperation::Subscription,
            _ => return default,
        };
        let fits = match wanted {
            GraphqlOperation::Query | GraphqlOperation::Mutation => kind == MethodKind::Unary,
            GraphqlOperation::Subscription => kind == MethodKind::ServerStreaming,
        };
        if !fits {
            self.error(
                pos,
                None,
                format!("a {kind:?} method cannot be a GraphQL {wanted:?}"),
                "Query and Mutation need a unary method, Subscription a server-streaming one; or exclude PROTOCOL_GRAPHQL",
            );
            return default;
        }
        Some(wanted)
    }
}

fn message_module(rust_path: &str) -> String {
    match rust_path.rsplit_once("::") {
        Some((parent, name)) => format!("{parent}::{}", names::to_snake(name)),
        None => names::to_snake(rust_path),
    }
}

fn referenced_files(m: &MessageDescriptor, out: &mut BTreeSet<String>) {
    for f in m.fields() {
        match f.kind() {
            Kind::Message(t) => {
                out.insert(t.parent_file().name().to_owned());
                if t.is_map_entry() {
                    referenced_files(&t, out);
                }
            }
            Kind::Enum(t) => {
                out.insert(t.parent_file().name().to_owned());
            }
            _ => {}
        }
    }
    for nested in m.child_messages() {
        referenced_files(&nested, out);
    }
}

/// A file's top-level messages, enums and services, looked up by name.
/// prost-reflect's own iterators panic when the pool holds a name under
/// another definition (a hand-made descriptor set can do that); lowering
/// skips what the pool does not hold as this file's.
fn file_messages(f: &FileDescriptor) -> Vec<MessageDescriptor> {
    let pool = f.parent_pool();
    let raw = f.file_descriptor_proto();
    raw.message_type
        .iter()
        .filter_map(|m| pool.get_message_by_name(&qualified(raw.package(), m.name())))
        .filter(|m| m.parent_file() == *f)
        .collect()
}

fn file_enums(f: &FileDescriptor) -> Vec<EnumDescriptor> {
    let pool = f.parent_pool();
    let raw = f.file_descriptor_proto();
    raw.enum_type
        .iter()
        .filter_map(|e| pool.get_enum_by_name(&qualified(raw.package(), e.name())))
        .filter(|e| e.parent_file() == *f)
        .collect()
}

fn file_services(f: &FileDescriptor) -> Vec<ServiceDescriptor> {
    let pool = f.parent_pool();
    let raw = f.file_descriptor_proto();
    raw.service
        .iter()
        .filter_map(|s| pool.get_service_by_name(&qualified(raw.package(), s.name())))
        .filter(|s| s.parent_file() == *f)
        .collect()
}

fn qualified(package: &str, name: &str) -> String {
    if package.is_empty() { name.to_owned() } else { format!("{package}.{name}") }
}

fn field_type(f: &FieldDescriptor, from_package: &str) -> FieldType {
    match f.kind() {
        Kind::Double => FieldType::Double,
        Kind::Float => FieldType::Float,
        Kind::Int32 => FieldType::Int32,
        Kind::Int64 => FieldType::Int64,
        Kind::Uint32 => FieldType::Uint32,
        Kind::Uint64 => FieldType::Uint64,
        Kind::Sint32 => FieldType::Sint32,
        Kind::Sint64 => FieldType::Sint64,
        Kind::Fixed32 => FieldType::Fixed32,
        Kind::Fixed64 => FieldType::Fixed64,
        Kind::Sfixed32 => FieldType::Sfixed32,
        Kind::Sfixed64 => FieldType::Sfixed64,
        Kind::Bool => FieldType::Bool,
        Kind::String => FieldType::String,
        Kind::Bytes => FieldType::Bytes,
        Kind::Message(m) => FieldType::Message(TypeRef {
            full_name: m.full_name().to_owned(),
            rust_path: names::type_path(m.full_name(), m.package_name(), from_package),
        }),
        Kind::Enum(e) => FieldType::Enum(TypeRef {
            full_name: e.full_name().to_owned(),
            rust_path: names::type_path(e.full_name(), e.package_name(), from_package),
        }),
    }
}

/// Byte offset of a 0-based line and column (columns count characters).
pub(crate) fn sub_message(m: &DynamicMessage, name: &str) -> Option<DynamicMessage> {
    if !m.has_field_by_name(name) {
        return None;
    }
    m.get_field_by_name(name).and_then(|v| v.as_message().cloned())
}

pub(crate) fn str_field(m: &DynamicMessage, name: &str) -> String {
    m.get_field_by_name(name).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn cache_hint(m: &DynamicMessage) -> CacheHint {
    let private = m.get_field_by_name("private").and_then(|v| v.as_bool()).unwrap_or(false);
    CacheHint { max_age: u32_field(m, "max_age_seconds"), private }
}

fn u32_field(m: &DynamicMessage, name: &str) -> u32 {
    m.get_field_by_name(name).and_then(|v| v.as_u32()).unwrap_or_default()
}

fn enum_field(m: &DynamicMessage, name: &str) -> i32 {
    m.get_field_by_name(name).and_then(|v| v.as_enum_number()).unwrap_or_default()
}

fn string_list(m: &DynamicMessage, name: &str) -> Vec<String> {
    match m.get_field_by_name(name).as_deref() {
        Some(Value::List(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

fn enum_list(m: &DynamicMessage, name: &str) -> Vec<i32> {
    match m.get_field_by_name(name).as_deref() {
        Some(Value::List(items)) => items.iter().filter_map(Value::as_enum_number).collect(),
        _ => Vec::new(),
    }
}

fn is_graphql_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Whether a file is one of protobuf's well-known types (or `descriptor.proto`),
/// which map to `apigen_runtime::wkt`: a file of package `google.protobuf`
/// under `google/protobuf/`.
fn is_well_known(name: &str, package: &str) -> bool {
    name.starts_with("google/protobuf/") && package == "google.protobuf"
}
