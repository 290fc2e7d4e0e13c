"""JWT authentication (`--jwks URL --issuer ISS --audience AUD`) on every protocol: the authentication
matrix of test_auth_matrix.py walked again with real tokens, signed in the test with RS256, ES256 and
EdDSA keys whose JSON Web Key Set a local HTTP server publishes, and with every kind of bad token
(expired, not yet valid, wrong issuer, wrong audience, wrong key, `alg: none`, HMAC signed with the
public key). Then scopes: `(apigen.method).scopes` refused with PERMISSION_DENIED on every protocol
for a token without them; and keys rotated in at the provider mid-test, fetched again at most once
per cool-down however many unknown `kid`s arrive."""

import base64
import hashlib
import hmac
import http.server
import json
import subprocess
import threading
import time
import uuid

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import bin_dir, running
from support import Http, ok, open_channel
from test_auth_matrix import MATRIX, PROBES, Env, Outcome, header

pytestmark = pytest.mark.timeout(300)

ISSUER = "https://issuer.apigen.test"
AUDIENCE = "apigen-e2e"
SCOPES = "shelves.watch shelves.delete"
COOL_DOWN_MS = 300


class Key:
    def __init__(self, kid, alg, private):
        self.kid, self.alg, self.private = kid, alg, private

    def jwk(self):
        public = self.private.public_key()
        algorithm = jwt.algorithms.get_default_algorithms()[self.alg]
        jwk = algorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, kid=None, **claims):
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "iat": now, "exp": now + 300, "scope": SCOPES}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, self.private, algorithm=self.alg, headers={"kid": kid or self.kid})


def rsa_key(kid):
    return Key(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


RSA = rsa_key("rsa-1")
EC = Key("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()))
ED = Key("ed-1", "EdDSA", ed25519.Ed25519PrivateKey.generate())
UNPUBLISHED = rsa_key("rsa-1")  # claims to be rsa-1, but is another key


class JwksServer:
    """Serves `keys` as a JWKS at /jwks.json on a loopback port, counting the fetches."""

    def __init__(self, keys):
        self.keys = list(keys)
        self.fetches = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                owner.fetches += 1
                body = json.dumps({"keys": [k.jwk() for k in owner.keys]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("cache-control", "max-age=300")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def unsigned(**claims):
    """`alg: none`: a token with no signature at all."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300, "scope": SCOPES, **claims}
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'rsa-1'})}.{part(payload)}."


def hmac_with_public_key():
    """The algorithm-confusion attack: HS256 keyed with the RSA public key's PEM."""
    pem = RSA.private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header_part = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode()).rstrip(b"=")
    now = int(time.time())
    body = base64.urlsafe_b64encode(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300}).encode()).rstrip(b"=")
    signature = base64.urlsafe_b64encode(hmac.new(pem, header_part + b"." + body, hashlib.sha256).digest()).rstrip(b"=")
    return (header_part + b"." + body + b"." + signature).decode()


def credentials():
    """Every token the matrix is walked with; made when the test runs, so that none expires first."""
    now = int(time.time())
    return {
        "none": None,
        "RS256": RSA.sign(),
        "ES256": EC.sign(),
        "EdDSA": ED.sign(),
        "expired": RSA.sign(exp=now - 120),
        "not yet valid": RSA.sign(nbf=now + 120),
        "wrong issuer": RSA.sign(iss="https://elsewhere.test"),
        "wrong audience": EC.sign(aud="someone-else"),
        "no audience": RSA.sign(aud=None),
        "wrong key": UNPUBLISHED.sign(),
        "alg none": unsigned(),
        "HS256 with the public key": hmac_with_public_key(),
        "not a JWT": "this-is-not-a-jwt",
    }


GOOD = {"RS256", "ES256", "EdDSA"}


@pytest.fixture(scope="module")
def jwks():
    server = JwksServer([RSA, EC, ED])
    try:
        yield server
    finally:
        server.close()


def jwt_flags(jwks):
    return ("--jwks", jwks.url, "--issuer", ISSUER, "--audience", AUDIENCE, "--jwks-cool-down-ms", str(COOL_DOWN_MS))


@pytest.fixture(scope="module")
def servers(jwks):
    with running("bookstore-example", *jwt_flags(jwks)) as bookstore, running("chat-example", *jwt_flags(jwks)) as chat:
        yield bookstore, chat


@pytest.fixture(scope="module")
def env(pb, servers):
    bookstore, chat = servers
    with open_channel(bookstore.address) as bc, open_channel(chat.address) as cc:
        with Http(bookstore.address) as h:
            shelf = ok(h.post("/v1/shelves", json={"theme": "JWT matrix"}, headers=header(RSA.sign())))["name"]
        yield Env(
            pb=pb, bookstore=bookstore.address, chat=chat.address,
            bookstore_grpc=pb.bookstore_grpc.BookstoreStub(bc), chat_grpc=pb.chat_grpc.ChatStub(cc),
            bookstore_channel=bc, chat_channel=cc, shelf=shelf, room=f"rooms/jwt-{uuid.uuid4().hex[:10]}",
        )  # fmt: skip


def attempt(probe, env, token):
    try:
        return probe.run(env, token)
    except Exception as err:  # noqa: BLE001 - every failure is an outcome of the cell
        return Outcome(f"raised {type(err).__name__}: {err}"[:200])


def test_every_protocol_accepts_good_jwts_and_refuses_bad_ones(env):
    tokens = credentials()
    wrong = []
    for probe in MATRIX:
        for name, token in tokens.items():
            want = "ok" if probe.rejection is None or name in GOOD else probe.rejection
            got = attempt(probe, env, token).text
            if got != want:
                wrong.append(f"{probe.name}, {name}: expected {want!r}, got {got!r}")
    assert not wrong, f"{len(wrong)} of {len(MATRIX) * len(tokens)} cells differ:\n" + "\n".join(wrong)


def test_refusals_say_what_is_wrong_with_the_token(env):
    tokens = credentials()
    reasons = {
        "expired": "expired",
        "not yet valid": "not valid yet",
        "wrong issuer": "issuer",
        "wrong audience": "audience",
        "no audience": "`aud`",
        "wrong key": "signature",
        "alg none": "not a JWT",
        "HS256 with the public key": "HS256",
        "not a JWT": "not a JWT",
    }
    for name, mention in reasons.items():
        with Http(env.bookstore) as h:
            response = h.get("/v1/shelves", headers=header(tokens[name]))
        assert response.status_code == 401, (name, response.text)
        assert mention in response.json()["message"], (name, response.text)


# Scopes: WatchShelf needs `shelves.watch` and DeleteShelf `shelves.delete` (schemas/examples/bookstore.proto).
# A token without them is refused with PERMISSION_DENIED in each protocol's own form.
WATCH_SHELF = [p for p in PROBES if any(w in p.name for w in ("WatchShelf", "watchShelf", ":watch"))]


def test_a_token_without_a_methods_scope_is_refused_on_every_protocol(env):
    no_scope = RSA.sign(scope="shelves.read")
    assert len(WATCH_SHELF) >= 10, [p.name for p in WATCH_SHELF]
    seen = {}
    for probe in PROBES:
        got = attempt(probe, env, no_scope).text
        if probe in WATCH_SHELF:
            seen[probe.name] = got
        else:
            assert got == "ok", f"{probe.name} needs no scope, yet: {got}"
    forbidden = {"PERMISSION_DENIED", "grpc-status 7", "permission_denied", "code 7", "FORBIDDEN", "close 4403"}
    refused = {name: got for name, got in seen.items() if not any(word in got for word in forbidden)}
    assert not refused, f"not refused as PERMISSION_DENIED: {json.dumps(refused, indent=1)}"


def test_a_unary_method_checks_its_scope_on_every_protocol(env, pb):
    missing = "shelves/no-such-shelf"
    for token, expect in [(RSA.sign(scope="shelves.read"), "denied"), (RSA.sign(), "not found")]:
        got = {}
        with Http(env.bookstore) as h:
            rest = h.delete(f"/v1/{missing}", headers=header(token))
            got["REST"] = rest.status_code
            connect = h.connect("bookstore.v1.Bookstore/DeleteShelf", {"name": missing}, headers=header(token))
            got["Connect"] = (connect.status_code, connect.json()["code"])
            gql = h.post("/graphql", json={"query": f'mutation {{ deleteShelf(name: "{missing}") }}'}, headers=header(token))
            got["GraphQL"] = gql.json()["errors"][0]["extensions"]["code"]
            trpc = h.post("/trpc/bookstore.deleteShelf", json={"name": missing}, headers=header(token))
            got["tRPC"] = trpc.json()["error"]["data"]["code"]
        try:
            env.bookstore_grpc.DeleteShelf(pb.bookstore.DeleteShelfRequest(name=missing), metadata=[("authorization", f"Bearer {token}")])
            got["gRPC"] = "OK"
        except grpc.RpcError as err:
            got["gRPC"] = err.code().name
        if expect == "denied":
            assert got == {
                "REST": 403, "Connect": (403, "permission_denied"), "GraphQL": "PERMISSION_DENIED",
                "tRPC": "FORBIDDEN", "gRPC": "PERMISSION_DENIED",
            }, got  # fmt: skip
        else:
            assert got == {
                "REST": 404, "Connect": (404, "not_found"), "GraphQL": "NOT_FOUND", "tRPC": "NOT_FOUND", "gRPC": "NOT_FOUND",
            }, got  # fmt: skip


def test_the_openapi_document_and_the_sdl_show_the_scopes(env):
    with Http(env.bookstore) as h:
        document = h.get("/openapi.json").json()
        sdl = h.get("/graphql/schema.graphql").text
    delete = document["paths"]["/v1/shelves/{shelf}"]["delete"]
    assert delete["security"] == [{"bearerAuth": []}] and delete["x-apigen-scopes"] == ["shelves.delete"], delete
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["security"] == [{"bearerAuth": []}], "with an authenticator every call needs a credential"
    assert "Requires the scope `shelves.watch`" in sdl


def test_a_key_rotated_in_is_fetched_and_unknown_kids_cannot_flood_the_provider(env, jwks):
    with Http(env.bookstore) as h:
        assert h.get("/v1/shelves", headers=header(RSA.sign())).status_code == 200
        before = jwks.fetches
        # A burst of tokens naming keys nobody published: one fetch at most per cool-down.
        for _ in range(30):
            assert h.get("/v1/shelves", headers=header(RSA.sign(kid=f"made-up-{uuid.uuid4().hex}"))).status_code == 401
        assert jwks.fetches - before <= 2, f"{jwks.fetches - before} fetches for 30 unknown kids"
        # The provider rotates a new key in; once the cool-down has passed, its first token fetches it.
        rotated = rsa_key("rsa-2")
        jwks.keys.append(rotated)
        time.sleep(COOL_DOWN_MS / 1000 + 0.2)
        assert h.get("/v1/shelves", headers=header(rotated.sign())).status_code == 200
        # And the old key, still published, still works.
        assert h.get("/v1/shelves", headers=header(RSA.sign())).status_code == 200


def test_the_flags_are_checked(jwks):
    for flags, mention in [
        (("--token", "t", "--jwks", jwks.url), "choose one"),
        (("--issuer", ISSUER), "--jwks"),
    ]:
        run = subprocess.run([str(bin_dir() / "bookstore-example"), *flags], capture_output=True, text=True, timeout=30)
        assert run.returncode == 2, (flags, run.stderr)
        assert mention in run.stderr, (flags, run.stderr)
