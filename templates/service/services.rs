{% for s in services %}
{{ s.docs }}
pub trait {{ s.rust_name }}: ::core::marker::Send + ::core::marker::Sync + 'static {
{% for m in s.methods %}
    {{ m.docs }}
{% if m.self_convention %}
    #[allow(clippy::wrong_self_convention)] // The name comes from the schema.
{% endif %}
    fn {{ m.rust_name }}(
        &self,
        ctx: ::apigen_runtime::Context,
        {{ m.param }},
    ) -> impl ::core::future::Future<Output = ::apigen_runtime::Result<{{ m.ret }}>> + ::core::marker::Send;
{% endfor %}
}

#[doc = " What protocol adapters need to know about `{{ s.full_name }}`."]
pub static {{ s.info_name }}: ::apigen_runtime::ServiceInfo = ::apigen_runtime::ServiceInfo::new(
    "{{ s.full_name }}",
    &[
{% for m in s.methods %}
        ::apigen_runtime::MethodInfo::new(
            "{{ m.name }}",
            ::apigen_runtime::MethodKind::{{ m.kind }},
            "{{ m.input }}",
            "{{ m.output }}",
        ){% if m.no_side_effects %}
        .no_side_effects(true){% endif %}{% if m.reads %}
        .reads(true){% endif %}{% if m.http != "&[]" %}
        .http({{ m.http }}){% endif %}{% if !m.graphql.is_empty() %}
        .graphql("{{ m.graphql }}"){% endif %}{% if !m.cache.is_empty() %}
        .cache({{ m.cache }}){% endif %}{% if !m.scopes.is_empty() %}
        .scopes({{ m.scopes }}){% endif %}{% if !m.rate_limit.is_empty() %}
        .rate_limit({{ m.rate_limit }}){% endif %}{% if !m.cursor.is_empty() %}
        .cursor("{{ m.cursor }}"){% endif %}{% if m.excluded != "&[]" %}
        .excluded({{ m.excluded }}){% endif %},
{% endfor %}
    ],
    FILE_DESCRIPTOR_SET,
)
.openapi({{ s.openapi }})
.portal({{ s.portal }}, {{ s.typescript }}){% if s.has_sdl %}
.graphql({{ s.graphql }}){% endif %}{% if !s.relations.is_empty() %}
.graphql_relations({{ s.relations }}){% endif %}{% if s.max_depth != 0 || s.max_complexity != 0 %}
.graphql_limits({{ s.max_depth }}, {{ s.max_complexity }}){% endif %};

#[doc = " Wraps an implementation of [`{{ s.rust_name }}`] so that protocol adapters can call it through one interface."]
pub fn {{ s.fn_name }}<T: {{ s.rust_name }}>(service: T) -> ::apigen_runtime::ServiceDef {
    register_json_types();{% if !s.prepare_rules.is_empty() %}
    {{ s.prepare_rules }}{% endif %}
{% if s.methods.is_empty() %}
    ::apigen_runtime::ServiceDef::new(&{{ s.info_name }}, service, |_, method, _| ::apigen_runtime::__private::unknown(method))
{% else %}
    ::apigen_runtime::ServiceDef::new(&{{ s.info_name }}, service, |service, method, call| match method {
{% for m in s.methods %}
        {{ loop.index0 }} => ::apigen_runtime::__private::{{ m.dispatch }}(call, move |ctx, request| async move {
            service.{{ m.rust_name }}(ctx, request).await
        }),
{% endfor %}
        _ => ::apigen_runtime::__private::unknown(method),
    })
{% endif %}
}

#[doc = " A typed gRPC client of `{{ s.full_name }}`."]
#[derive(Debug, Clone)]
pub struct {{ s.client_name }} {
    inner: ::apigen_runtime::client::grpc::Client,
}

impl {{ s.client_name }} {
    #[doc = " Connects to a server, for example `http://127.0.0.1:8080`."]
    pub async fn connect(uri: impl ::core::convert::Into<::std::string::String>) -> ::apigen_runtime::Result<Self> {
        ::core::result::Result::Ok(Self { inner: ::apigen_runtime::client::grpc::Client::connect(uri).await? })
    }

    #[doc = " Metadata sent with every call, for example `authorization`."]
    pub fn metadata_mut(&mut self) -> &mut ::apigen_runtime::http::HeaderMap {
        self.inner.metadata_mut()
    }
{% for m in s.methods %}
    {{ m.docs }}
{% if m.self_convention %}
    #[allow(clippy::wrong_self_convention)] // The name comes from the schema.
{% endif %}
    pub async fn {{ m.grpc_client_fn }}(&mut self, {{ m.client_param }}) -> ::apigen_runtime::Result<{{ m.ret }}> {
        self.inner.{{ m.dispatch }}("/{{ s.full_name }}/{{ m.name }}", {{ m.client_arg }}).await
    }
{% endfor %}
}

#[doc = " A typed REST client of `{{ s.full_name }}`: its methods that have an HTTP binding."]
#[derive(Debug, Clone)]
pub struct {{ s.rest_client_name }} {
    inner: ::apigen_runtime::client::rest::Client,
}

impl {{ s.rest_client_name }} {
    #[doc = " A client of the server at `base_url`, for example `http://127.0.0.1:8080`."]
    pub fn new(base_url: impl ::core::convert::Into<::std::string::String>) -> Self {
        register_json_types();
        Self { inner: ::apigen_runtime::client::rest::Client::new(base_url) }
    }

    #[doc = " Headers sent with every call, for example `authorization`."]
    pub fn headers_mut(&mut self) -> &mut ::apigen_runtime::http::HeaderMap {
        self.inner.headers_mut()
    }
{% for m in s.methods %}{% if m.rest %}
    {{ m.docs }}
{% if m.self_convention %}
    #[allow(clippy::wrong_self_convention)] // The name comes from the schema.
{% endif %}
    pub async fn {{ m.rest_client_fn }}(&self, request: {{ m.input_rust }}) -> ::apigen_runtime::Result<{{ m.ret }}> {
        self.inner.call({{ s.info_name }}.methods[{{ loop.index0 }}].http, &request).await
    }
{% endif %}{% endfor %}
}

#[doc = " A typed Connect client of `{{ s.full_name }}` (binary protobuf over HTTP, gzip accepted): its unary and"]
#[doc = " server-streaming methods. Client and bidi streaming are left out: they need the request body to stream"]
#[doc = " while the response is read, which reqwest over HTTP/1.1 cannot do well; the gRPC client has them."]
#[derive(Debug, Clone)]
pub struct {{ s.connect_client_name }} {
    inner: ::apigen_runtime::client::connect::Client,
}

impl {{ s.connect_client_name }} {
    #[doc = " A client of the server at `base_url`, for example `http://127.0.0.1:8080`."]
    pub fn new(base_url: impl ::core::convert::Into<::std::string::String>) -> Self {
        register_json_types();
        Self { inner: ::apigen_runtime::client::connect::Client::new(base_url) }
    }

    #[doc = " Headers sent with every call, for example `authorization`."]
    pub fn headers_mut(&mut self) -> &mut ::apigen_runtime::http::HeaderMap {
        self.inner.headers_mut()
    }

    #[doc = " Gives every call this deadline (sent as `Connect-Timeout-Ms`, enforced by both sides)."]
    pub fn with_timeout(self, timeout: ::core::time::Duration) -> Self {
        Self { inner: self.inner.with_timeout(timeout) }
    }
{% for m in s.methods %}{% if m.connect %}
    {{ m.docs }}
{% if m.self_convention %}
    #[allow(clippy::wrong_self_convention)] // The name comes from the schema.
{% endif %}
    pub async fn {{ m.connect_client_fn }}(&self, request: {{ m.input_rust }}) -> ::apigen_runtime::Result<{{ m.ret }}> {
        self.inner.{{ m.dispatch }}("/{{ s.full_name }}/{{ m.name }}", &request).await
    }
{% endif %}{% endfor %}
}
{% if !s.graphql_client_name.is_empty() %}

#[doc = " A typed GraphQL client of `{{ s.full_name }}`: its queries and mutations, each reading every field of the result (relations when asked for), and its subscriptions over `/graphql/ws`."]
#[derive(Debug, Clone)]
pub struct {{ s.graphql_client_name }} {
    inner: ::apigen_runtime::client::graphql::Client,
}

impl {{ s.graphql_client_name }} {
    #[doc = " A client of the server at `base_url`, for example `http://127.0.0.1:8080`."]
    pub fn new(base_url: impl ::core::convert::Into<::std::string::String>) -> Self {
        register_json_types();
        Self { inner: ::apigen_runtime::client::graphql::Client::new(base_url, {{ s.graphql }}){% if !s.relations.is_empty() %}.relations({{ s.relations }}){% endif %} }
    }

    #[doc = " Headers sent with every call, for example `authorization`."]
    pub fn headers_mut(&mut self) -> &mut ::apigen_runtime::http::HeaderMap {
        self.inner.headers_mut()
    }

    #[doc = " Runs any GraphQL document and returns its `data`."]
    pub async fn raw(&self, query: &str, variables: ::apigen_runtime::serde_json::Value) -> ::apigen_runtime::Result<::apigen_runtime::serde_json::Value> {
        self.inner.raw(query, variables).await
    }

    #[doc = " Calls the query or mutation `field` (`listShelves`) as its method does, also selecting the GraphQL relations named by their path from the result (`shelves.books`), and returns the result as proto3 JSON."]
    pub async fn with_relations<Req: ::apigen_runtime::ApiMessage>(&self, field: &str, request: &Req, relations: &[&str]) -> ::apigen_runtime::Result<::apigen_runtime::serde_json::Value> {
        self.inner.call_selecting(field, request, relations).await
    }
{% for m in s.methods %}{% if m.graphql_call %}
    {{ m.docs }}
{% if m.self_convention %}
    #[allow(clippy::wrong_self_convention)] // The name comes from the schema.
{% endif %}
    pub async fn {{ m.graphql_client_fn }}(&self, request: {{ m.input_rust }}) -> ::apigen_runtime::Result<{{ m.ret }}> {
        self.inner.{% if m.kind == "ServerStreaming" %}subscribe{% else %}call{% endif %}("{{ m.graphql }}", &request).await
    }
{% endif %}{% endfor %}
}
{% endif %}
{% endfor %}
