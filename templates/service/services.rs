{% for s in services %}
{{ s.docs }}
pub trait {{ s.rust_name }}: Send + Sync + 'static {
{% for m in s.methods %}
    {{ m.docs }}
    fn {{ m.rust_name }}(
        &self,
        ctx: ::apigen_runtime::Context,
        {{ m.param }},
    ) -> impl ::core::future::Future<Output = ::apigen_runtime::Result<{{ m.ret }}>> + Send;
{% endfor %}
}

#[doc = " What protocol adapters need to know about `{{ s.full_name }}`."]
pub static {{ s.info_name }}: ::apigen_runtime::ServiceInfo = ::apigen_runtime::ServiceInfo {
    name: "{{ s.full_name }}",
    methods: &[
{% for m in s.methods %}
        ::apigen_runtime::MethodInfo {
            name: "{{ m.name }}",
            kind: ::apigen_runtime::MethodKind::{{ m.kind }},
            input: "{{ m.input }}",
            output: "{{ m.output }}",
            no_side_effects: {{ m.no_side_effects }},
        },
{% endfor %}
    ],
};

#[doc = " Wraps an implementation of [`{{ s.rust_name }}`] so that protocol adapters can call it through one interface."]
pub fn {{ s.fn_name }}<T: {{ s.rust_name }}>(service: T) -> ::apigen_runtime::ServiceDef {
{% if s.methods.is_empty() %}
    ::apigen_runtime::ServiceDef::new(&{{ s.info_name }}, service, |_, method, _| ::apigen_runtime::dispatch::unknown(method))
{% else %}
    ::apigen_runtime::ServiceDef::new(&{{ s.info_name }}, service, |service, method, call| match method {
{% for m in s.methods %}
        {{ loop.index0 }} => ::apigen_runtime::dispatch::{{ m.dispatch }}(call, move |ctx, request| async move {
            service.{{ m.rust_name }}(ctx, request).await
        }),
{% endfor %}
        _ => ::apigen_runtime::dispatch::unknown(method),
    })
{% endif %}
}
{% endfor %}
