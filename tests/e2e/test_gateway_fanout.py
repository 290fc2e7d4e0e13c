"""`apigen gateway --fan-out chat.v1.Chat/Subscribe`: every subscriber of a room, on any protocol,
shares one upstream Subscribe call, in one gateway and (with `--redis`) across gateways. Events
carry the gateway's ids, so a client resumes through any gateway; the feed survives an upstream
restart and the death of the gateway that ran it. The upstream is upstream/server.py (grpcio)."""

import json
import subprocess
import time
from pathlib import Path

import grpc
import pytest
import requests

from conftest import REPO, bin_dir
from redis_support import redis_server
from support import Http, open_channel
from test_fanout import Sse, sse_path
from test_gateway import gateway_command
from test_graphql import CHAT_SUBSCRIBE
from test_graphql import Socket as GraphQLSocket
from upstream_support import start_upstream

pytestmark = pytest.mark.timeout(120)

FAN_OUT = ("--fan-out", "chat.v1.Chat/Subscribe")
METHOD = "/chat.v1.Chat/Subscribe"
WAIT = 10.0  # the longest one event may take; a gateway's lease on a feed runs out after 3 s
QUIET = 1.0  # how long "nothing more arrives" is watched for


@pytest.fixture(scope="module")
def upstream(pb):
    with start_upstream(stubs=Path(pb.bookstore.__file__).parents[1]) as server:
        yield server


@pytest.fixture(scope="module")
def redis():
    with redis_server() as server:
        yield server


def new_room(label):
    return f"rooms/{label}-{time.time_ns()}"


def subscribe_calls(upstream, since):
    return [e for e in upstream.events()[since:] if e["event"] == "call" and e["method"] == METHOD]


def post(address, room, *texts):
    with Http(address) as http:
        for text in texts:
            response = http.connect("chat.v1.Chat/PostMessage", {"room": room, "author": "ann", "text": text})
            assert response.status_code == 200, response.text


def subscribe(address, room, last_event_id=None):
    """An open SSE subscription to ROOM (test_fanout.Sse), after LAST_EVENT_ID when given."""
    headers = {"last-event-id": last_event_id} if last_event_id is not None else None
    return Sse(address, sse_path(room), headers).wait_open()


def take(stream, count):
    """The next COUNT events of an SSE stream, as (id, text)."""
    return [(event_id, message["text"]) for event_id, message in (stream.next() for _ in range(count))]


def test_subscribers_of_a_room_share_one_upstream_call_on_every_protocol(launch, upstream, pb):
    gateway = launch("apigen", *FAN_OUT, command=gateway_command(upstream.address))
    room = new_room("shared")
    since = len(upstream.events())
    first = subscribe(gateway.address, room)
    call = upstream.wait_for(lambda e: e["event"] == "call" and e["method"] == METHOD, since=since)
    assert "x-forwarded-for" not in call["metadata"], "a shared call carries no one client's metadata"
    second = subscribe(gateway.address, room)
    with GraphQLSocket(gateway.address) as socket, open_channel(gateway.address) as channel:
        socket.init()
        socket.subscribe("s", CHAT_SUBSCRIBE, {"r": room})
        stream = pb.chat_grpc.ChatStub(channel).Subscribe(pb.chat.SubscribeRequest(room=room), timeout=30)
        time.sleep(0.5)  # the GraphQL and gRPC subscriptions are in (SSE's are once their headers came)
        post(gateway.address, room, "one", "two", "three")
        expected = [("1", "one"), ("2", "two"), ("3", "three")]
        assert take(first, 3) == expected
        assert take(second, 3) == expected
        assert [socket.next("s")["subscribe"]["text"] for _ in range(3)] == ["one", "two", "three"]
        assert [next(stream).text for _ in range(3)] == ["one", "two", "three"]
        stream.cancel()
    calls = subscribe_calls(upstream, since)
    assert len(calls) == 1, f"four subscribers, one upstream call: {calls}"

    # The last subscriber leaving ends the upstream call.
    first.close()
    second.close()
    upstream.wait_for(lambda e: e["event"] == "cancelled" and e["id"] == call["id"], since=since)


def test_a_reconnect_resumes_from_the_gateways_ids_even_after_the_feed_stopped(launch, upstream):
    gateway = launch("apigen", *FAN_OUT, command=gateway_command(upstream.address))
    room = new_room("resume")
    since = len(upstream.events())
    first = subscribe(gateway.address, room)
    call = upstream.wait_for(lambda e: e["event"] == "call" and e["method"] == METHOD, since=since)
    post(gateway.address, room, "one", "two", "three")
    # All three were fed (so the feed's last cursor is 3); the client comes back after the second.
    assert take(first, 3) == [("1", "one"), ("2", "two"), ("3", "three")]
    first.close()
    upstream.wait_for(lambda e: e["event"] == "cancelled" and e["id"] == call["id"], since=since)
    # Posted while no one listens: the next feed resumes upstream after the last message it saw.
    post(gateway.address, room, "four")
    again = subscribe(gateway.address, room, last_event_id="2")
    assert take(again, 2) == [("3", "three"), ("4", "four")], "three from the gateway's history, four from upstream"
    resumed = upstream.wait_for(lambda e: e["event"] == "call" and e["method"] == METHOD, since=since + 1)
    assert resumed["metadata"].get("last-event-id") == "3", resumed
    again.quiet()
    again.close()

    stranger = Sse(gateway.address, sse_path(room), {"last-event-id": "abc"})
    assert stranger.status == 400, stranger.body
    assert "Last-Event-ID `abc`" in stranger.body, stranger.body


def test_an_upstream_error_ends_every_subscriber_with_its_code_and_details(launch, upstream):
    gateway = launch("apigen", *FAN_OUT, command=gateway_command(upstream.address))
    streams = [subscribe(gateway.address, "lobby") for _ in range(2)]
    for stream in streams:
        end = stream.block()
        assert end is not None and end.get("event") == "end", end
        data = json.loads(end["data"])
        assert data["code"] == "invalid_argument", data
        assert "rooms/lobby" in data["message"], data
        assert [d.get("reason") for d in data.get("details", [])] == ["INVALID_NAME"], "the details came through"
        stream.close()
    # A good room beside it is not affected.
    room = new_room("fine")
    good = subscribe(gateway.address, room)
    time.sleep(0.3)
    post(gateway.address, room, "hello")
    assert take(good, 1) == [("1", "hello")]
    good.close()


def test_the_shared_stream_survives_an_upstream_restart(launch, pb):
    with start_upstream(stubs=Path(pb.bookstore.__file__).parents[1]) as upstream:
        gateway = launch("apigen", *FAN_OUT, command=gateway_command(upstream.address))
        room = new_room("restart")
        subscriber = subscribe(gateway.address, room)
        upstream.wait_for(lambda e: e["event"] == "call" and e["method"] == METHOD)
        post(gateway.address, room, "before")
        assert take(subscriber, 1) == [("1", "before")]
        since = len(upstream.events())
        upstream.restart()
        # The restarted upstream has forgotten the room: the feed asks to resume after message 1,
        # is told that is out of range, and follows the room from now.
        upstream.wait_for(
            lambda e: e["event"] == "call" and e["method"] == METHOD and "last-event-id" not in e["metadata"],
            since=since, timeout=WAIT,
        )  # fmt: skip
        post(gateway.address, room, "after")
        assert take(subscriber, 1) == [("2", "after")], "the client's stream went on, with the gateway's next id"
        subscriber.quiet()
        subscriber.close()


def test_two_gateways_on_redis_share_one_feed_and_take_it_over_when_its_gateway_dies(launch, upstream, redis):
    command = gateway_command(upstream.address)
    a = launch("apigen", *FAN_OUT, "--redis", redis.url, command=command)
    b = launch("apigen", *FAN_OUT, "--redis", redis.url, command=command)
    for gateway in (a, b):
        ready = requests.get(f"http://{gateway.address}/readyz", timeout=10)
        assert (ready.status_code, ready.text) == (200, "ready"), "its fan-out store (Redis) answers"
    room = new_room("redis")
    since = len(upstream.events())
    on_a = subscribe(a.address, room)
    upstream.wait_for(lambda e: e["event"] == "call" and e["method"] == METHOD, since=since)
    on_b = subscribe(b.address, room)
    time.sleep(1.5)  # b's feed has tried for the lease (and found a's)
    post(b.address, room, "one", "two", "three")
    expected = [("1", "one"), ("2", "two"), ("3", "three")]
    assert take(on_a, 3) == expected
    assert take(on_b, 3) == expected
    assert len(subscribe_calls(upstream, since)) == 1, "one upstream call for both gateways"

    # A client of b comes back to b after the event it saw second: the ids are shared.
    on_b.close()
    back = subscribe(b.address, room, last_event_id="2")
    assert take(back, 1) == [("3", "three")]
    post(a.address, room, "four")
    assert take(back, 1) == [("4", "four")]
    assert take(on_a, 1) == [("4", "four")]

    # The gateway that feeds the room dies; b takes the feed over once a's lease runs out and
    # resumes upstream after the last message published.
    killed_at = len(upstream.events())
    a.kill()
    post(b.address, room, "five")
    assert take(back, 1) == [("5", "five")], "the feed moved to b"
    takeover = upstream.wait_for(lambda e: e["event"] == "call" and e["method"] == METHOD, since=killed_at)
    assert takeover["metadata"].get("last-event-id") == "4", takeover
    back.quiet()
    back.close()


def test_fan_out_flags_are_checked_before_the_gateway_starts(upstream):
    apigen = str(bin_dir() / "apigen")
    cases = [
        (("--fan-out", "chat.v1.Chat/PostMessage"), "no server-streaming method by that name"),
        (("--fan-out", "chat.v1.Chat/Nope"), "chat.v1.Chat/Subscribe"),
        (("--redis", "redis://127.0.0.1:1"), "--fan-out"),
    ]
    for flags, mention in cases:
        run = subprocess.run(
            [apigen, *gateway_command(upstream.address), "--addr", "127.0.0.1:0", *flags],
            capture_output=True, text=True, timeout=30, cwd=REPO,
        )  # fmt: skip
        assert run.returncode == 2, (flags, run.returncode, run.stderr)
        assert mention in run.stderr, (flags, run.stderr)


def test_a_shared_stream_is_refused_for_a_grpc_client_with_a_bad_request(launch, upstream, pb):
    gateway = launch("apigen", *FAN_OUT, command=gateway_command(upstream.address))
    with open_channel(gateway.address) as channel:
        stream = pb.chat_grpc.ChatStub(channel).Subscribe(pb.chat.SubscribeRequest(room="lobby"), timeout=10)
        with pytest.raises(grpc.RpcError) as failed:
            next(stream)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failed.value
