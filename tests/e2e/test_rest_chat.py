"""The chat example over REST (PostMessage's google.api.http binding) and Connect's unary JSON
(GetHistory has no binding), called with `requests`."""

import pytest
from google.protobuf import json_format

from support import TOKEN, assert_recent_json, connect_error, ok, rest_error

INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED = 3, 5, 16


@pytest.fixture
def room(unique):
    return f"rooms/{unique}"


def post(http, room, text, author="alice", **kwargs):
    return http.post(f"/v1/{room}/messages", json={"author": author, "text": text}, **kwargs)


def history(http, room, **request):
    return ok(http.connect("chat.v1.Chat/GetHistory", {"room": room, **request})).get("messages", [])


# ---------------------------------------------------------------------------------------------
# PostMessage


def test_post_message_answers_the_message_in_proto3_json(chat_http, room):
    message = ok(post(chat_http, room, "hello"))
    assert message["name"].startswith(room + "/messages/") and len(message["name"]) > len(room + "/messages/")
    assert (message["room"], message["author"], message["text"]) == (room, "alice", "hello")
    assert message["sequence"] == "1"  # uint64: a string
    assert_recent_json(message["postTime"], "postTime")
    assert set(message) == {"name", "room", "author", "text", "sequence", "postTime"}


def test_post_message_numbers_the_messages_of_each_room_from_one(chat_http, room, unique):
    sequences = [ok(post(chat_http, room, f"message {i}"))["sequence"] for i in range(3)]
    assert sequences == ["1", "2", "3"]
    assert ok(post(chat_http, f"rooms/{unique}-other", "elsewhere"))["sequence"] == "1"


def test_post_message_takes_the_room_from_the_path_not_the_body(chat_http, room, unique):
    elsewhere = f"rooms/{unique}-body"
    message = ok(chat_http.post(f"/v1/{room}/messages", json={"room": elsewhere, "author": "alice", "text": "hi"}))
    assert message["room"] == room and message["name"].startswith(room + "/")
    assert history(chat_http, elsewhere) == []
    assert history(chat_http, room) == [message]


@pytest.mark.parametrize("field", ["author", "text"])
def test_post_message_without_a_required_field_is_400_naming_it(chat_http, room, field):
    body = {"author": "alice", "text": "hi"}
    del body[field]
    rest_error(chat_http.post(f"/v1/{room}/messages", json=body), 400, INVALID_ARGUMENT, field)


@pytest.mark.parametrize("body,field", [({"author": "alice", "text": 5}, "text"), ({"author": ["alice"], "text": "hi"}, "author")])
def test_post_message_with_a_wrong_json_type_is_400_naming_the_field(chat_http, room, body, field):
    rest_error(chat_http.post(f"/v1/{room}/messages", json=body), 400, INVALID_ARGUMENT, field)


def test_post_message_with_a_body_that_is_not_json_is_415(chat_http, room):
    response = chat_http.post(f"/v1/{room}/messages", data=b"hello", headers={"content-type": "text/plain"})
    rest_error(response, 415, None)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_the_messages_path_answers_other_methods_with_405(chat_http, room, method):
    response = chat_http.request(method, f"/v1/{room}/messages")
    rest_error(response, 405, None)
    assert [m.strip() for m in response.headers.get("allow", "").split(",")] == ["POST"], response.headers


@pytest.mark.parametrize("path", ["/v1/rooms", "/v1/rooms/lobby", "/v1/rooms/lobby/messages/1", "/v1/nothing"])
def test_an_unknown_path_is_404(chat_http, path):
    rest_error(chat_http.get(path), 404, NOT_FOUND)


# ---------------------------------------------------------------------------------------------
# GetHistory over Connect, and the same room over every protocol


def test_get_history_over_connect_returns_the_posted_messages_oldest_first(chat_http, room):
    posted = [ok(post(chat_http, room, text, author=author)) for text, author in [("one", "alice"), ("two", "bob"), ("three", "alice")]]
    assert history(chat_http, room) == posted
    assert history(chat_http, room, limit=2) == posted[1:]


def test_get_history_of_an_empty_room_is_an_empty_object(chat_http, room):
    assert ok(chat_http.connect("chat.v1.Chat/GetHistory", {"room": room})) == {}


@pytest.mark.parametrize(
    "request_body,mentions",
    [({}, ("room",)), ({"room": "lobby"}, ("room",)), ({"room": 7}, ("room",)), ({"room": "rooms/x", "limit": "many"}, ("limit",))],
    ids=["missing room", "room not shaped rooms/id", "room of the wrong type", "limit of the wrong type"],
)
def test_get_history_with_bad_input_is_invalid_argument_in_connects_form(chat_http, request_body, mentions):
    connect_error(chat_http.connect("chat.v1.Chat/GetHistory", request_body), 400, "invalid_argument", *mentions)


def test_get_history_has_a_default_rest_binding_at_its_rpc_path(chat_http, room):
    # The same path and body as Connect's call: without Connect's header it is REST, errors included.
    post(chat_http, room, "hello")
    answer = chat_http.post("/chat.v1.Chat/GetHistory", json={"room": room})
    assert [m["text"] for m in ok(answer)["messages"]] == ["hello"]
    rest_error(chat_http.post("/chat.v1.Chat/GetHistory", json={"room": "lobby"}), 400, INVALID_ARGUMENT, "room")


def test_every_protocol_shares_the_rooms_sequence(chat_http, chat, pb, room):
    over_rest = ok(post(chat_http, room, "by REST"))
    over_connect = ok(chat_http.connect("chat.v1.Chat/PostMessage", {"room": room, "author": "bob", "text": "by Connect"}))
    over_grpc = chat.PostMessage(pb.chat.PostMessageRequest(room=room, author="carol", text="by gRPC"))
    assert [over_rest["sequence"], over_connect["sequence"], over_grpc.sequence] == ["1", "2", 3]


def test_a_message_posted_over_rest_reads_the_same_over_grpc(chat_http, chat, pb, room):
    message = ok(post(chat_http, room, "hello, gRPC"))
    [over_grpc] = chat.GetHistory(pb.chat.GetHistoryRequest(room=room)).messages
    assert json_format.MessageToDict(over_grpc) == message


# ---------------------------------------------------------------------------------------------
# Authentication


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer not-the-token"}], ids=["no authorization", "a wrong token"])
def test_with_token_posting_without_the_right_token_is_401(chat_http_with_token, room, headers):
    response = post(chat_http_with_token, room, "hi", headers=headers)
    rest_error(response, 401, UNAUTHENTICATED)
    assert response.headers.get("www-authenticate", "").split(" ")[0] == "Bearer", response.headers


def test_with_token_connect_json_without_it_is_unauthenticated(chat_http_with_token, room):
    connect_error(chat_http_with_token.connect("chat.v1.Chat/GetHistory", {"room": room}), 401, "unauthenticated")


def test_with_token_the_right_token_works(chat_http_with_token, room):
    auth = {"authorization": f"Bearer {TOKEN}"}
    message = ok(post(chat_http_with_token, room, "secret", headers=auth))
    assert message["sequence"] == "1"
    got = ok(chat_http_with_token.connect("chat.v1.Chat/GetHistory", {"room": room}, headers=auth))
    assert got == {"messages": [message]}
