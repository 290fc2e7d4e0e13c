// The developer portal: renders /docs/api.json (the services, their methods
// on every protocol, the schema's types), builds ready-to-paste examples from
// it, and calls methods from the page. Plain script, no dependencies: the
// server serves it from its binary.
(function () {
  "use strict";

  var api = null;
  var origin = location.origin;
  var wsOrigin = (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host;
  var live = null; // the open stream of a "Try it" section, closed on navigation

  // ---- DOM helpers -------------------------------------------------------

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(node, c); });
    else node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }

  /** A code block that keyboard users can scroll, with a copy button. */
  function code(text, label) {
    var pre = el("pre", { tabindex: "0", role: "region", "aria-label": label || "example" }, el("code", { text: text }));
    var copy = el("button", {
      type: "button",
      class: "copy",
      text: "Copy",
      onclick: function () {
        if (navigator.clipboard) navigator.clipboard.writeText(text).catch(function () {});
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = "Copy"; }, 1200);
      },
    });
    return el("div", { class: "code" }, pre, copy);
  }

  function token() {
    return sessionStorage.getItem("apigen.token") || "";
  }

  function authHeaders() {
    var t = token();
    return t ? { authorization: "Bearer " + t } : {};
  }

  // ---- Schema ------------------------------------------------------------

  function message(name) {
    return api.messages[name];
  }

  function isScalarType(type) {
    return !message(type) || type.indexOf("google.protobuf.") === 0;
  }

  /** The JSON name of each proto field path segment (`book.name` → `book`, `name`). */
  function jsonPath(typeName, protoPath) {
    var out = [];
    var type = typeName;
    protoPath.split(".").forEach(function (part) {
      var m = message(type);
      var field = m && m.fields.find(function (f) { return f.name === part || f.jsonName === part; });
      out.push(field ? field.jsonName : part);
      type = field ? field.type : "";
    });
    return out;
  }

  function getPath(object, path) {
    return path.reduce(function (o, key) { return o && typeof o === "object" ? o[key] : undefined; }, object);
  }

  function deletePath(object, path) {
    var parent = getPath(object, path.slice(0, -1));
    if (parent && typeof parent === "object") delete parent[path[path.length - 1]];
  }

  function clone(value) {
    return JSON.parse(JSON.stringify(value === undefined ? {} : value));
  }

  /** `a.b=1&c=2&c=3`: a request's fields as a query string, nested ones dotted. */
  function toQuery(object, prefix, out) {
    out = out || [];
    Object.keys(object || {}).forEach(function (key) {
      var value = object[key];
      var name = prefix ? prefix + "." + key : key;
      if (Array.isArray(value)) {
        value.forEach(function (v) {
          if (typeof v !== "object") out.push(encodeURIComponent(name) + "=" + encodeURIComponent(String(v)));
        });
      } else if (value !== null && typeof value === "object") {
        toQuery(value, name, out);
      } else if (value !== null && value !== undefined) {
        out.push(encodeURIComponent(name) + "=" + encodeURIComponent(String(value)));
      }
    });
    return out;
  }

  /** A REST call of `binding` with `request`: its URL path and query, and its body. */
  function restCall(method, binding, request) {
    var rest = clone(request);
    var path = binding.path.replace(/\{([^}=]+)(=[^}]*)?\}/g, function (_, field, pattern) {
      var jp = jsonPath(method.input, field);
      var value = String(getPath(rest, jp) === undefined ? "" : getPath(rest, jp));
      deletePath(rest, jp);
      // A resource-name pattern (`=shelves/*`) spans segments: its slashes stay; a plain variable is one segment.
      return pattern && pattern.indexOf("/") >= 0 || pattern === "=**"
        ? value.split("/").map(encodeURIComponent).join("/")
        : encodeURIComponent(value);
    });
    var body = null;
    if (binding.body === "*") {
      body = rest;
      rest = {};
    } else if (binding.body) {
      var bp = jsonPath(method.input, binding.body);
      body = getPath(rest, bp);
      deletePath(rest, bp);
      if (body === undefined) body = {};
    }
    var query = toQuery(rest);
    return { verb: binding.method, url: path + (query.length ? "?" + query.join("&") : ""), body: body };
  }

  function shellQuote(text) {
    return "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function compact(value) {
    return JSON.stringify(value);
  }

  // ---- GraphQL -----------------------------------------------------------

  function enumType(type) {
    return Object.prototype.hasOwnProperty.call(api.enums, type);
  }

  /** A JSON value as a GraphQL literal of the field `field` (enums bare, maps as entries). */
  function gqlLiteral(value, type, label) {
    if (label === "map") {
      var valueType = (type.match(/^map<[^,]+, (.*)>$/) || [])[1] || "";
      return "[" + Object.keys(value || {}).map(function (k) {
        return "{key: " + JSON.stringify(k) + ", value: " + gqlLiteral(value[k], valueType, "") + "}";
      }).join(", ") + "]";
    }
    if (Array.isArray(value)) {
      return "[" + value.map(function (v) { return gqlLiteral(v, type, ""); }).join(", ") + "]";
    }
    if (value === null || value === undefined) return "null";
    if (enumType(type) && typeof value === "string") return value;
    if (typeof value === "object" && message(type) && !isScalarType(type)) return "{" + gqlArgs(value, type) + "}";
    return JSON.stringify(value);
  }

  function gqlArgs(object, typeName) {
    var m = message(typeName);
    return Object.keys(object || {}).map(function (key) {
      var field = m && m.fields.find(function (f) { return f.jsonName === key; });
      return key + ": " + gqlLiteral(object[key], field ? field.type : "", field ? field.label : "");
    }).join(", ");
  }

  function gqlSelection(typeName, depth) {
    var m = message(typeName);
    if (!m || isScalarType(typeName)) return "";
    var parts = [];
    m.fields.forEach(function (f) {
      if (f.label === "map") {
        var valueType = (f.type.match(/^map<[^,]+, (.*)>$/) || [])[1] || "";
        var inner = isScalarType(valueType) ? "" : gqlSelection(valueType, depth + 1);
        if (isScalarType(valueType)) parts.push(f.jsonName + " { key value }");
        else if (inner) parts.push(f.jsonName + " { key value " + inner + " }");
      } else if (isScalarType(f.type)) {
        parts.push(f.jsonName);
      } else if (depth < 2) {
        var sub = gqlSelection(f.type, depth + 1);
        if (sub) parts.push(f.jsonName + " " + sub);
      }
    });
    return parts.length ? "{ " + parts.join(" ") + " }" : "{ __typename }";
  }

  function gqlQuery(method, request) {
    var g = method.graphql;
    var args = gqlArgs(request, method.input);
    var selection = method.output === "google.protobuf.Empty" ? "" : " " + gqlSelection(method.output, 0);
    return g.operation + " { " + g.field + (args ? "(" + args + ")" : "") + selection + " }";
  }

  // ---- Examples ----------------------------------------------------------

  function examples(method, request) {
    var out = [];
    // Double quotes: the shell fills in $TOKEN.
    var auth = api.server.authenticated ? ' -H "authorization: Bearer $TOKEN"' : "";
    var streams = method.kind === "server_streaming";
    method.rest.forEach(function (binding, i) {
      var call = restCall(method, binding, request);
      var cmd = "curl" + (call.verb === "GET" ? "" : " -X " + call.verb) + auth +
        (streams ? " -N -H 'accept: text/event-stream'" : "") +
        (call.body !== null ? " -H 'content-type: application/json' -d " + shellQuote(compact(call.body)) : "") +
        " " + shellQuote(origin + call.url);
      out.push({
        protocol: i === 0 ? "REST" : "REST (another binding)",
        where: binding.method + " " + binding.path + (streams ? " (SSE)" : ""),
        text: cmd,
      });
    });
    if (method.connect && method.kind === "unary") {
      out.push({
        protocol: "Connect",
        where: "POST " + method.connect,
        text: "curl" + auth + " -H 'content-type: application/json' -d " + shellQuote(compact(request)) + " " +
          shellQuote(origin + method.connect) + "\n\n# or, from the schema:\nbuf curl --schema descriptors.binpb -d " +
          shellQuote(compact(request)) + " " + origin + method.connect,
      });
    } else if (method.connect) {
      out.push({
        protocol: "Connect",
        where: "POST " + method.connect + " (streaming)",
        text: "buf curl --schema descriptors.binpb -d " + shellQuote(compact(request)) + " " + origin + method.connect,
      });
    }
    if (method.grpc) {
      out.push({
        protocol: "gRPC" + (method.grpcWeb ? " and gRPC-Web" : ""),
        where: method.grpc,
        text: "grpcurl -plaintext" + auth +
          " -d " + shellQuote(compact(request)) + " " + location.host + " " + method.grpc.slice(1),
      });
    }
    if (method.graphql) {
      var query = gqlQuery(method, request);
      out.push({
        protocol: "GraphQL",
        where: method.graphql.operation + " field " + method.graphql.field +
          (method.graphql.operation === "subscription" ? " (over /graphql/ws)" : " (POST /graphql)"),
        text: method.graphql.operation === "subscription" ? query : query + "\n\n# with curl:\ncurl" + auth +
          " -H 'content-type: application/json' -d " + shellQuote(compact({ query: query })) + " " +
          shellQuote(origin + "/graphql"),
      });
    }
    if (method.trpc) {
      var t = method.trpc;
      var link = t.type === "subscription" ? "httpSubscriptionLink" : "httpBatchLink";
      var call = t.type === "subscription"
        ? "client." + t.procedure + ".subscribe(" + JSON.stringify(request) + ", {\n  onData: (event) => console.log(event),\n});"
        : "const result = await client." + t.procedure + "." + t.type + "(" + JSON.stringify(request) + ");";
      out.push({
        protocol: "tRPC",
        where: t.type + " " + t.procedure + " (/trpc/" + t.procedure + ")",
        text: "import { createTRPCClient, " + link + " } from \"@trpc/client\";\n" +
          "import type { AppRouter } from \"./index\"; // /docs/ts/index.ts\n\n" +
          "const client = createTRPCClient<AppRouter>({\n  links: [" + link + "({ url: \"" + origin + "/trpc\" })],\n});\n" +
          call,
      });
    }
    if (method.websocket) {
      out.push({
        protocol: "WebSocket",
        where: "GET /ws, subprotocol apigen.v1, method " + method.websocket,
        text: "const socket = new WebSocket(\"" + wsOrigin + "/ws\", \"apigen.v1\");\n" +
          "socket.onopen = () => {\n" +
          "  socket.send(JSON.stringify({ type: \"connection_init\", payload: {" +
          (api.server.authenticated ? " authorization: \"Bearer \" + token " : "") + "} }));\n" +
          "  socket.send(JSON.stringify({ type: \"subscribe\", id: \"1\", method: \"" + method.websocket +
          "\", payload: " + JSON.stringify(request) + " }));\n};\n" +
          "socket.onmessage = (frame) => console.log(JSON.parse(frame.data));",
      });
    }
    if (method.sse) {
      out.push({
        protocol: "SSE",
        where: "GET " + sseUrl(method, request).split("?")[0] + " (Accept: text/event-stream)",
        text: "const events = new EventSource(\"" + sseUrl(method, request) + "\");\n" +
          "events.onmessage = (event) => console.log(event.lastEventId, JSON.parse(event.data));\n" +
          "// After a drop the browser reconnects by itself and sends Last-Event-ID.",
      });
    }
    return out;
  }

  /** A GET URL for a stream: its REST route when that is a GET without a body, else /sse/…. */
  function sseUrl(method, request) {
    var binding = method.rest[0];
    if (binding && binding.method === "GET" && !binding.body) return restCall(method, binding, request).url;
    var query = toQuery(request);
    return method.sse + (query.length ? "?" + query.join("&") : "");
  }

  // ---- Pages -------------------------------------------------------------

  var KINDS = {
    unary: "unary",
    server_streaming: "server stream",
    client_streaming: "client stream",
    bidi_streaming: "bidirectional stream",
  };

  function findMethod(service, name) {
    var s = api.services.find(function (x) { return x.fullName === service; });
    return s && { service: s, method: s.methods.find(function (m) { return m.name === name; }) };
  }

  function methodHref(s, m) {
    return "#/method/" + encodeURIComponent(s.fullName) + "/" + encodeURIComponent(m.name);
  }

  function typeLink(type) {
    if (message(type) || enumType(type)) return el("a", { href: "#/type/" + encodeURIComponent(type), text: type });
    return el("code", { text: type });
  }

  function renderNav() {
    var nav = document.getElementById("methods");
    nav.textContent = "";
    api.services.forEach(function (s) {
      nav.appendChild(el("h2", { text: s.name }));
      nav.appendChild(el("ul", {}, s.methods.map(function (m) {
        return el("li", {}, el("a", { href: methodHref(s, m) }, m.name, " ",
          el("span", { class: "kind kind-" + m.kind, text: KINDS[m.kind] })));
      })));
    });
  }

  function renderDownloads() {
    var nav = document.getElementById("downloads");
    var links = [["OpenAPI", "/openapi.json"]];
    if (api.server.graphql) links.push(["GraphQL SDL", "/graphql/schema.graphql"], ["GraphiQL", "/docs/graphiql"]);
    api.server.typescript.forEach(function (name) { links.push([name, "/docs/ts/" + name]); });
    links.push(["Descriptor set", "/docs/descriptors.binpb"]);
    nav.textContent = "";
    nav.appendChild(el("ul", {}, links.map(function (l) {
      return el("li", {}, el("a", { href: l[1], download: l[1].indexOf("/docs/graphiql") === 0 ? null : true, text: l[0] }));
    })));
  }

  function home(main) {
    main.appendChild(el("h2", { text: "Services" }));
    api.services.forEach(function (s) {
      main.appendChild(el("section", { class: "service" },
        el("h3", { text: s.fullName }),
        s.docs ? el("p", { text: s.docs }) : null,
        el("ul", {}, s.methods.map(function (m) {
          return el("li", {}, el("a", { href: methodHref(s, m), text: m.name }), " ",
            el("span", { class: "kind kind-" + m.kind, text: KINDS[m.kind] }),
            m.docs ? " — " + m.docs.split("\n")[0] : "");
        }))));
    });
    main.appendChild(el("h2", { text: "One port, every protocol" }));
    main.appendChild(el("ul", {},
      el("li", {}, "REST: the routes below, described by ", el("a", { href: "/openapi.json", text: "/openapi.json" })),
      el("li", {}, "gRPC, gRPC-Web and Connect: POST /package.Service/Method"),
      api.server.graphql ? el("li", {}, "GraphQL: POST /graphql, subscriptions on /graphql/ws; ",
        el("a", { href: "/docs/graphiql", text: "open GraphiQL" })) : null,
      el("li", {}, "tRPC: /trpc/service.method; types in ", el("a", { href: "/docs/ts/index.ts", text: "index.ts" })),
      el("li", {}, "WebSocket: /ws with the apigen.v1 subprotocol"),
      el("li", {}, "SSE: server streams, on their REST route or /sse/package.Service/Method")));
  }

  function fieldsTable(typeName, caption) {
    var m = message(typeName);
    if (!m) return el("p", {}, caption + ": ", typeLink(typeName));
    return el("table", {},
      el("caption", {}, caption + ": ", typeLink(typeName)),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: "Field" }), el("th", { scope: "col", text: "Type" }),
        el("th", { scope: "col", text: "Rules" }), el("th", { scope: "col", text: "Description" }))),
      el("tbody", {}, m.fields.map(function (f) {
        var notes = [];
        if (f.oneof) notes.push("oneof " + f.oneof);
        f.behavior.forEach(function (b) { notes.push(b); });
        if (f.deprecated) notes.push("deprecated");
        return el("tr", {},
          el("td", {}, el("code", { text: f.jsonName })),
          el("td", {}, f.label && f.label !== "map" ? f.label + " " : "", typeLink(f.type.replace(/^map<.*>$/, f.type))),
          el("td", {}, f.rules.map(function (r) { return el("div", {}, el("code", { text: r })); })),
          el("td", {}, notes.length ? el("div", { class: "notes", text: notes.join(", ") }) : null, f.docs));
      })));
  }

  function typePage(main, name) {
    main.appendChild(el("h2", { text: name }));
    var m = message(name);
    if (m) {
      if (m.docs) main.appendChild(el("p", { class: "docs", text: m.docs }));
      if (m.rules) main.appendChild(el("p", { text: m.rules }));
      main.appendChild(fieldsTable(name, "Fields"));
      return;
    }
    var e = api.enums[name];
    if (!e) {
      main.appendChild(el("p", { text: "No type of this name in the schema." }));
      return;
    }
    if (e.docs) main.appendChild(el("p", { class: "docs", text: e.docs }));
    main.appendChild(el("table", {},
      el("caption", { text: "Values (JSON: the name)" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Name" }), el("th", { scope: "col", text: "Number" }),
        el("th", { scope: "col", text: "Description" }))),
      el("tbody", {}, e.values.map(function (v) {
        return el("tr", {}, el("td", {}, el("code", { text: v.name })), el("td", { text: String(v.number) }),
          el("td", { text: v.docs }));
      }))));
  }

  function methodPage(main, found) {
    var s = found.service, m = found.method;
    main.appendChild(el("h2", {}, m.name, " ", el("span", { class: "kind kind-" + m.kind, text: KINDS[m.kind] })));
    main.appendChild(el("p", { class: "service-name" }, s.fullName, m.deprecated ? " — deprecated" : ""));
    if (m.docs) main.appendChild(el("p", { class: "docs", text: m.docs }));
    var facts = [];
    if (m.scopes.length) facts.push("Requires the scopes " + m.scopes.join(", ") + ".");
    if (m.rateLimit) facts.push("Limited to " + m.rateLimit + ".");
    if (m.cursor) facts.push("Resumable: each event carries its " + m.cursor + " as its id; reconnect with the last id to get what came after.");
    if (facts.length) main.appendChild(el("ul", { class: "facts" }, facts.map(function (f) { return el("li", { text: f }); })));

    main.appendChild(tryIt(m));

    main.appendChild(el("h3", { text: "Call it" }));
    examples(m, m.example).forEach(function (x) {
      var graphiql = x.protocol === "GraphQL" && api.server.graphql
        ? el("p", {}, el("a", { href: "/docs/graphiql?query=" + encodeURIComponent(gqlQuery(m, m.example)), text: "Open in GraphiQL" }))
        : null;
      main.appendChild(el("section", { class: "example" },
        el("h4", {}, x.protocol, " ", el("span", { class: "where", text: x.where })),
        code(x.text, x.protocol + " example"), graphiql));
    });
    main.appendChild(el("h3", { text: "Schemas" }));
    main.appendChild(fieldsTable(m.input, "Request"));
    main.appendChild(fieldsTable(m.output, m.kind === "server_streaming" || m.kind === "bidi_streaming" ? "Each response" : "Response"));
  }

  // ---- Try it ------------------------------------------------------------

  function tryIt(m) {
    var section = el("section", { class: "try", "aria-labelledby": "try-heading" });
    section.appendChild(el("h3", { id: "try-heading", text: "Try it" }));
    var unary = m.kind === "unary";
    var options = [];
    if (unary) {
      if (m.rest.length) options.push(["rest", "REST"]);
      if (m.connect) options.push(["connect", "Connect"]);
      if (m.graphql) options.push(["graphql", "GraphQL"]);
    } else if (m.kind === "server_streaming") {
      if (m.sse) options.push(["sse", "SSE"]);
      if (m.websocket) options.push(["ws", "WebSocket"]);
    }
    if (!options.length) {
      section.appendChild(el("p", { text: "Request streams are called from code: see the examples below." }));
      return section;
    }
    var request = el("textarea", { id: "try-request", spellcheck: "false" });
    request.value = JSON.stringify(m.example, null, 2);
    request.rows = Math.max(3, Math.min(16, request.value.split("\n").length + 1));
    var protocol = el("select", { id: "try-protocol" }, options.map(function (o) {
      return el("option", { value: o[0], text: o[1] });
    }));
    var status = el("p", { id: "try-status", role: "status", "aria-live": "polite" });
    var headers = el("pre", { id: "try-headers", tabindex: "0", role: "region", "aria-label": "Response headers" });
    var body = el("pre", { id: "try-body", tabindex: "0", role: "region", "aria-label": "Response" });
    var events = el("ol", { id: "try-events", "aria-label": "Events", "aria-live": "polite" });
    var parse = function () {
      try {
        return JSON.parse(request.value || "{}");
      } catch (e) {
        status.textContent = "The request is not valid JSON: " + e.message;
        return null;
      }
    };
    section.appendChild(el("div", { class: "field" }, el("label", { for: "try-request", text: "Request (JSON)" }), request));
    section.appendChild(el("div", { class: "field" }, el("label", { for: "try-protocol", text: "Protocol" }), protocol));
    if (unary) {
      section.appendChild(el("button", {
        type: "button",
        id: "try-send",
        text: "Send",
        onclick: function () {
          var value = parse();
          if (value !== null) send(m, protocol.value, value, status, headers, body);
        },
      }));
      section.appendChild(status);
      section.appendChild(el("h4", { text: "Headers" }));
      section.appendChild(headers);
      section.appendChild(el("h4", { text: "Body" }));
      section.appendChild(body);
      return section;
    }
    section.appendChild(el("div", { class: "buttons" },
      el("button", {
        type: "button", id: "try-open", text: "Open stream",
        onclick: function () {
          var value = parse();
          if (value === null) return;
          closeLive();
          events.textContent = "";
          live = (protocol.value === "sse" ? openSse : openWs)(m, value, status, events);
        },
      }),
      el("button", {
        type: "button", id: "try-drop", text: "Drop connection",
        onclick: function () { if (live) live.drop(); },
      }),
      el("button", { type: "button", id: "try-close", text: "Close", onclick: closeLive })));
    section.appendChild(status);
    section.appendChild(el("h4", { text: "Events" }));
    section.appendChild(events);
    return section;
  }

  function closeLive() {
    if (live) live.close();
    live = null;
  }

  function showHeaders(target, response) {
    var lines = [];
    response.headers.forEach(function (value, name) { lines.push(name + ": " + value); });
    target.textContent = lines.join("\n");
  }

  function pretty(text) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (e) {
      return text;
    }
  }

  function send(m, protocol, request, status, headers, body) {
    var init = { headers: authHeaders() };
    var url;
    if (protocol === "rest") {
      var call = restCall(m, m.rest[0], request);
      url = call.url;
      init.method = call.verb;
      if (call.body !== null) {
        init.headers["content-type"] = "application/json";
        init.body = JSON.stringify(call.body);
      }
    } else if (protocol === "connect") {
      url = m.connect;
      init.method = "POST";
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(request);
    } else {
      url = "/graphql";
      init.method = "POST";
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify({ query: gqlQuery(m, request) });
    }
    status.textContent = "Calling " + (init.method || "GET") + " " + url + "…";
    fetch(url, init).then(function (response) {
      showHeaders(headers, response);
      return response.text().then(function (text) {
        status.textContent = response.status + " " + response.statusText + " from " + init.method + " " + url;
        body.textContent = pretty(text);
      });
    }, function (error) {
      status.textContent = "The call failed: " + error.message;
    });
  }

  function addEvent(list, text, kind, id, payload) {
    list.appendChild(el("li", { class: kind || "event", "data-kind": kind || "event", "data-id": id, "data-payload": payload, text: text }));
  }

  /** An SSE stream read with fetch, so that it carries the token; a drop resumes with Last-Event-ID. */
  function openSse(m, request, status, events) {
    var lastId = "";
    var controller = null;
    var closed = false;
    var url = sseUrl(m, request);
    function connect(resuming) {
      controller = new AbortController();
      var headers = authHeaders();
      headers.accept = "text/event-stream";
      if (lastId) headers["last-event-id"] = lastId;
      status.textContent = (resuming ? "Reconnecting with Last-Event-ID: " + lastId : "Connecting to " + url) + "…";
      fetch(url, { headers: headers, signal: controller.signal }).then(function (response) {
        if (!response.ok) {
          return response.text().then(function (text) {
            status.textContent = response.status + " " + response.statusText + ": " + text;
          });
        }
        status.textContent = resuming ? "Resumed after event " + (lastId || "(none)") + " (Last-Event-ID: " + lastId + ")" : "Open: " + url;
        if (resuming) addEvent(events, "resumed with Last-Event-ID: " + lastId, "note");
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        var event = { id: "", data: [], type: "" };
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) {
              if (!closed) status.textContent = "The stream ended.";
              return;
            }
            buffer += decoder.decode(chunk.value, { stream: true });
            var lines = buffer.split(/\r\n|\r|\n/);
            buffer = lines.pop();
            lines.forEach(function (line) {
              if (line === "") {
                if (event.data.length) {
                  if (event.id) lastId = event.id;
                  var data = event.data.join("\n");
                  addEvent(events, (event.id ? "id " + event.id + ": " : "") + (event.type ? event.type + " " : "") + data,
                    event.type || "event", event.id, data);
                }
                event = { id: "", data: [], type: "" };
                return;
              }
              var colon = line.indexOf(":");
              if (colon === 0) return;
              var field = colon < 0 ? line : line.slice(0, colon);
              var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (field === "data") event.data.push(value);
              else if (field === "id") event.id = value;
              else if (field === "event") event.type = value;
            });
            return pump();
          });
        }
        return pump();
      }).catch(function (error) {
        if (error.name !== "AbortError" && !closed) status.textContent = "The stream failed: " + error.message;
      });
    }
    connect(false);
    return {
      drop: function () {
        controller.abort();
        addEvent(events, "connection dropped", "note");
        setTimeout(function () { if (!closed) connect(true); }, 300);
      },
      close: function () {
        closed = true;
        controller.abort();
        status.textContent = "Closed.";
      },
    };
  }

  /** A stream over the apigen.v1 WebSocket protocol; a drop resubscribes after the last event id. */
  function openWs(m, request, status, events) {
    var lastId = "";
    var socket = null;
    var closed = false;
    var calls = 0;
    function connect(resuming) {
      socket = new WebSocket(wsOrigin + "/ws", "apigen.v1");
      var id = String(++calls);
      status.textContent = (resuming ? "Reconnecting" : "Connecting") + " to /ws…";
      socket.onopen = function () {
        var t = token();
        socket.send(JSON.stringify({ type: "connection_init", payload: t ? { authorization: "Bearer " + t } : {} }));
      };
      socket.onmessage = function (frame) {
        var msg = JSON.parse(frame.data);
        if (msg.type === "connection_ack") {
          var subscribe = { type: "subscribe", id: id, method: m.websocket, payload: request };
          if (resuming && lastId) subscribe.lastEventId = lastId;
          socket.send(JSON.stringify(subscribe));
          status.textContent = resuming && lastId ? "Resumed after event " + lastId : "Open: " + m.websocket;
          if (resuming) addEvent(events, "resubscribed with lastEventId: " + (lastId || "(none)"), "note");
        } else if (msg.type === "next") {
          if (msg.eventId) lastId = msg.eventId;
          var payload = JSON.stringify(msg.payload);
          addEvent(events, (msg.eventId ? "id " + msg.eventId + ": " : "") + payload, "event", msg.eventId, payload);
        } else if (msg.type === "error") {
          status.textContent = "Error: " + JSON.stringify(msg.payload);
        } else if (msg.type === "complete") {
          status.textContent = "The stream completed.";
        } else if (msg.type === "ping") {
          socket.send(JSON.stringify({ type: "pong" }));
        }
      };
      socket.onclose = function (event) {
        if (!closed && event.code !== 1000) status.textContent = "Closed by the server (" + event.code + ").";
      };
    }
    connect(false);
    return {
      drop: function () {
        socket.onclose = null;
        socket.close();
        addEvent(events, "connection dropped", "note");
        setTimeout(function () { if (!closed) connect(true); }, 300);
      },
      close: function () {
        closed = true;
        socket.close(1000);
        status.textContent = "Closed.";
      },
    };
  }

  // ---- Routing -----------------------------------------------------------

  function route() {
    closeLive();
    var main = document.getElementById("main");
    main.textContent = "";
    var parts = location.hash.replace(/^#\/?/, "").split("/").map(function (part) {
      try {
        return decodeURIComponent(part);
      } catch (e) {
        return part; // a malformed escape: shown as typed, not a blank page
      }
    });
    if (parts[0] === "method" && parts.length === 3) {
      var found = findMethod(parts[1], parts[2]);
      if (found && found.method) {
        document.title = found.method.name + " · API portal";
        return methodPage(main, found);
      }
    }
    if (parts[0] === "type" && parts[1]) {
      document.title = parts[1] + " · API portal";
      return typePage(main, parts[1]);
    }
    document.title = "API portal";
    home(main);
  }

  function start() {
    var input = document.getElementById("token");
    input.value = token();
    input.addEventListener("input", function () { sessionStorage.setItem("apigen.token", input.value.trim()); });
    fetch("/docs/api.json").then(function (r) {
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      return r.json();
    }).then(function (doc) {
      api = doc;
      renderNav();
      renderDownloads();
      window.addEventListener("hashchange", route);
      route();
    }).catch(function (error) {
      document.getElementById("main").textContent = "Cannot read /docs/api.json: " + error.message;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
