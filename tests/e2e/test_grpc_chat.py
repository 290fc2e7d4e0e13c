"""The chat example over gRPC, called with grpcio: every method, its streams, and the errors users see."""

import grpc
import pytest

from support import (
    TOKEN,
    RequestStream,
    assert_recent,
    bearer,
    call_raw,
    health_status,
    reflection,
    rpc_error,
    take,
    wait_until_open,
)

Code = grpc.StatusCode


@pytest.fixture(scope="module")
def cm(pb):
    """The chat.v1 message types."""
    return pb.chat


@pytest.fixture
def room(unique):
    return f"rooms/{unique}"


def post(chat, cm, room, text, author="alice", metadata=None):
    return chat.PostMessage(cm.PostMessageRequest(room=room, author=author, text=text), metadata=metadata)


def history(chat, cm, room, limit=0):
    return list(chat.GetHistory(cm.GetHistoryRequest(room=room, limit=limit)).messages)


def texts(messages):
    return [m.text for m in messages]


def sequences(messages):
    return [m.sequence for m in messages]


# ---------------------------------------------------------------------------------------------
# PostMessage and GetHistory


def test_post_message_numbers_the_messages_of_each_room_from_one(chat, cm, room, unique):
    first = post(chat, cm, room, "hello", author="alice")
    assert first.name.startswith(room + "/messages/") and len(first.name) > len(room + "/messages/")
    assert (first.room, first.author, first.text, first.sequence) == (room, "alice", "hello", 1)
    assert_recent(first.post_time, "post_time")

    later = [post(chat, cm, room, text, author="bob") for text in ("two", "three")]
    assert sequences(later) == [2, 3]
    assert len({first.name, *(m.name for m in later)}) == 3

    assert post(chat, cm, f"rooms/{unique}-other", "elsewhere").sequence == 1


@pytest.mark.parametrize("field", ["room", "author", "text"])
def test_post_message_without_a_required_field_is_invalid_argument_naming_it(chat, cm, room, field):
    request = dict(room=room, author="alice", text="hi")
    request[field] = ""
    with rpc_error(Code.INVALID_ARGUMENT, field):
        chat.PostMessage(cm.PostMessageRequest(**request))


BAD_ROOMS = ["lobby", "rooms/", "rooms/a/b", "users/alice"]


@pytest.mark.parametrize("bad_room", BAD_ROOMS)
def test_post_message_to_a_room_not_shaped_rooms_id_is_invalid_argument(chat, cm, bad_room):
    with rpc_error(Code.INVALID_ARGUMENT):
        post(chat, cm, bad_room, "hi")


def test_get_history_returns_the_newest_messages_newest_last(chat, cm, room):
    posted = [post(chat, cm, room, f"m{i}") for i in range(5)]

    newest = history(chat, cm, room, limit=3)
    assert texts(newest) == ["m2", "m3", "m4"]
    assert newest == posted[2:]
    assert history(chat, cm, room, limit=10) == posted

    default = history(chat, cm, room, limit=0)
    assert 1 <= len(default) <= 5
    assert default == posted[-len(default):]


# ---------------------------------------------------------------------------------------------
# Streams


def test_subscribe_streams_every_message_posted_after_it_started(chat, cm, room, unique):
    post(chat, cm, room, "before subscribing")
    stream = wait_until_open(chat.Subscribe(cm.SubscribeRequest(room=room), timeout=20))
    try:
        post(chat, cm, f"rooms/{unique}-other", "another room")
        posted = [post(chat, cm, room, text, author=author) for text, author in [("one", "alice"), ("two", "bob"), ("three", "alice")]]
        got = take(stream, 3)
    finally:
        stream.cancel()
    assert texts(got) == ["one", "two", "three"]
    assert sequences(got) == [2, 3, 4]
    assert got == posted


def test_upload_posts_every_message(chat, cm, room):
    requests = [cm.PostMessageRequest(room=room, author="uploader", text=f"batch {i}") for i in range(3)]
    summary = chat.Upload(iter(requests))
    assert summary.posted_count == 3
    stored = history(chat, cm, room, limit=10)
    assert texts(stored) == ["batch 0", "batch 1", "batch 2"]
    assert sequences(stored) == [1, 2, 3]


def converse_request(cm, text, room="", author="alice"):
    return cm.ConverseRequest(room=room, author=author, text=text)


def test_converse_posts_what_the_client_sends_and_returns_everything_posted(chat, cm, room):
    with RequestStream(converse_request(cm, "hi", room=room)) as requests:
        replies = chat.Converse(iter(requests), timeout=20)
        try:
            [echo] = take(replies, 1)
            assert (echo.room, echo.author, echo.text, echo.sequence) == (room, "alice", "hi", 1)

            from_bob = post(chat, cm, room, "hello from another call", author="bob")
            assert take(replies, 1) == [from_bob]

            requests.send(converse_request(cm, "later messages may leave the room empty"))
            [again] = take(replies, 1)
            assert (again.room, again.text, again.sequence) == (room, "later messages may leave the room empty", 3)
        finally:
            replies.cancel()
    assert texts(history(chat, cm, room, limit=10)) == ["hi", "hello from another call", "later messages may leave the room empty"]


def test_two_conversations_in_one_room_see_each_other(chat, cm, room):
    with RequestStream(converse_request(cm, "a1", room=room, author="ann")) as to_ann, RequestStream() as to_ben:
        ann = chat.Converse(iter(to_ann), timeout=20)
        ben = chat.Converse(iter(to_ben), timeout=20)
        try:
            assert texts(take(ann, 1)) == ["a1"]  # ann's conversation is live
            to_ben.send(converse_request(cm, "b1", room=room, author="ben"))
            assert texts(take(ben, 1)) == ["b1"]  # so is ben's
            assert texts(take(ann, 1)) == ["b1"]
            to_ann.send(converse_request(cm, "a2", author="ann"))
            assert texts(take(ann, 1)) == ["a2"]
            assert texts(take(ben, 1)) == ["a2"]
        finally:
            ann.cancel()
            ben.cancel()


@pytest.mark.parametrize("first_room", ["", "lobby"], ids=["no room", "badly shaped room"])
def test_converse_must_first_name_a_room(chat, cm, first_room):
    with RequestStream(converse_request(cm, "where am I?", room=first_room)) as requests:
        replies = chat.Converse(iter(requests), timeout=10)
        try:
            with rpc_error(Code.INVALID_ARGUMENT, "room"):
                next(replies)
        finally:
            replies.cancel()


# ---------------------------------------------------------------------------------------------
# Health, reflection, unknown methods, authentication


@pytest.mark.parametrize("service", ["", "chat.v1.Chat"])
def test_health_check_is_serving(chat_channel, service):
    assert health_status(chat_channel, service) == "SERVING"


def test_reflection_describes_the_chat(chat_channel):
    services, pool = reflection(chat_channel)
    assert "chat.v1.Chat" in services
    message = pool.FindMessageTypeByName("chat.v1.ChatMessage")
    assert {"name", "room", "author", "text", "sequence", "post_time"} <= set(message.fields_by_name)


@pytest.mark.parametrize("path", ["/chat.v1.Chat/NoSuchMethod", "/chat.v1.NoSuchService/PostMessage"])
def test_an_unknown_method_is_unimplemented(chat_channel, path):
    with rpc_error(Code.UNIMPLEMENTED):
        call_raw(chat_channel, path)


UNAUTHENTICATED_METADATA = {"no authorization": None, "a wrong token": bearer("not-the-token")}


@pytest.mark.parametrize("metadata", list(UNAUTHENTICATED_METADATA.values()), ids=list(UNAUTHENTICATED_METADATA))
def test_with_token_a_call_without_the_right_token_is_unauthenticated(chat_with_token, cm, unique, metadata):
    api, _ = chat_with_token
    room = f"rooms/{unique}"
    with rpc_error(Code.UNAUTHENTICATED):
        post(api, cm, room, "hi", metadata=metadata)
    with rpc_error(Code.UNAUTHENTICATED):
        api.GetHistory(cm.GetHistoryRequest(room=room), metadata=metadata)
    with rpc_error(Code.UNAUTHENTICATED):
        next(api.Subscribe(cm.SubscribeRequest(room=room), metadata=metadata, timeout=10))
    with rpc_error(Code.UNAUTHENTICATED):
        api.Upload(iter([cm.PostMessageRequest(room=room, author="a", text="t")]), metadata=metadata)
    with RequestStream(converse_request(cm, "hi", room=room)) as requests:
        replies = api.Converse(iter(requests), metadata=metadata, timeout=10)
        try:
            with rpc_error(Code.UNAUTHENTICATED):
                next(replies)
        finally:
            replies.cancel()


def test_with_token_the_right_token_works_for_unary_and_streaming_calls(chat_with_token, cm, unique):
    api, _ = chat_with_token
    auth, room = bearer(TOKEN), f"rooms/{unique}"
    stream = wait_until_open(api.Subscribe(cm.SubscribeRequest(room=room), metadata=auth, timeout=20))
    try:
        posted = post(api, cm, room, "for members only", metadata=auth)
        assert take(stream, 1) == [posted]
    finally:
        stream.cancel()
    assert list(api.GetHistory(cm.GetHistoryRequest(room=room), metadata=auth).messages) == [posted]

    with RequestStream(converse_request(cm, "still members only", room=room)) as requests:
        replies = api.Converse(iter(requests), metadata=auth, timeout=20)
        try:
            assert texts(take(replies, 1)) == ["still members only"]
        finally:
            replies.cancel()


@pytest.mark.parametrize("service", ["", "chat.v1.Chat"])
def test_with_token_health_stays_open(chat_with_token, service):
    _, channel = chat_with_token
    assert health_status(channel, service) == "SERVING"
