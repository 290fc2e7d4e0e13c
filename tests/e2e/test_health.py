"""Liveness and readiness: `GET /healthz` says the process is alive; `GET /readyz` and the gRPC health
service say whether it can serve. A chat server on Redis is not ready while Redis is down (its
fan-out cannot work) and ready again once Redis is back, while staying alive throughout."""

import time

import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import running
from redis_support import redis_server
from support import open_channel

pytestmark = pytest.mark.timeout(120)

WAIT = 15.0  # readiness is checked every second; each check may take up to 2 s


def grpc_health(channel, service=""):
    stub = health_pb2_grpc.HealthStub(channel)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)


def until(probe, want, what):
    deadline, got = time.monotonic() + WAIT, None
    while time.monotonic() < deadline:
        got = probe()
        if got == want:
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: expected {want!r}, still {got!r} after {WAIT:.0f} s", pytrace=False)


def test_a_server_without_readiness_checks_is_ready():
    with running("bookstore-example") as server:
        ready = requests.get(f"http://{server.address}/readyz", timeout=5)
        assert (ready.status_code, ready.text) == (200, "ready")
        assert requests.get(f"http://{server.address}/healthz", timeout=5).status_code == 200


def test_the_chat_server_is_not_ready_while_its_redis_is_down(pb):
    with redis_server() as redis, running("chat-example", "--redis", redis.url) as chat:
        url = f"http://{chat.address}"
        with open_channel(chat.address) as channel:
            assert requests.get(f"{url}/readyz", timeout=5).status_code == 200
            assert grpc_health(channel) == "SERVING"

            redis.stop()
            until(lambda: requests.get(f"{url}/readyz", timeout=10).status_code, 503, "/readyz with Redis down")
            refused = requests.get(f"{url}/readyz", timeout=10)
            assert refused.json()["code"] == 14 and "fan-out" in refused.json()["message"], refused.text
            until(lambda: grpc_health(channel), "NOT_SERVING", "gRPC health with Redis down")
            until(lambda: grpc_health(channel, "chat.v1.Chat"), "NOT_SERVING", "the service's gRPC health")
            assert requests.get(f"{url}/healthz", timeout=5).status_code == 200, "alive all the same"

            redis.start()
            until(lambda: requests.get(f"{url}/readyz", timeout=10).status_code, 200, "/readyz with Redis back")
            until(lambda: grpc_health(channel), "SERVING", "gRPC health with Redis back")


def test_a_draining_server_is_not_ready_but_still_serves_until_it_stops(pb):
    import signal

    with running("bookstore-example", "--drain-seconds", "3") as server:
        base = f"http://{server.address}"
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        server.killed = True  # stopped on purpose: `running` must not fail the test
        server.process.send_signal(signal.SIGTERM)
        until(lambda: requests.get(f"{base}/readyz", timeout=5).status_code, 503, "readiness while draining")
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert "draining" in ready.json()["message"], ready.text
        # New connections and calls are still served on every protocol meanwhile.
        assert requests.get(f"{base}/v1/shelves", timeout=5).status_code == 200
        with open_channel(server.address) as channel:
            assert grpc_health(channel) == "NOT_SERVING"
            stub = pb.bookstore_grpc.BookstoreStub(channel)
            stub.ListShelves(pb.bookstore.ListShelvesRequest(), timeout=5)
        # Then it shuts down on its own.
        assert server.process.wait(timeout=15) == 0
