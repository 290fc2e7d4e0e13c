// Starts GraphiQL on /graphql, subscriptions on /graphql/ws, with the
// portal's token (if one is set) on every request and socket.
(function () {
  "use strict";
  var token = sessionStorage.getItem("apigen.token") || "";
  var headers = token ? { authorization: "Bearer " + token } : {};
  var scheme = location.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({
    url: location.origin + "/graphql",
    subscriptionUrl: scheme + "//" + location.host + "/graphql/ws",
    headers: headers,
    wsConnectionParams: headers,
  });
  // The portal links here with ?query=… (a method's example operation).
  var query = new URLSearchParams(location.search).get("query");
  var props = { fetcher: fetcher, defaultEditorToolsVisibility: true };
  if (query) props.query = query;
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
