"""redis-server for the tests that share fan-out through Redis (test_fanout, test_gateway_fanout):
started on a loopback port without persistence, spoken to over raw sockets."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

WAIT = 10.0  # the longest Redis may take to start or stop


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out += [f"${len(data)}\r\n".encode(), data, b"\r\n"]
    return b"".join(out)


def _reply(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError(f"Redis closed the connection mid-reply: {line!r}")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(f"Redis error: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_reply(f) for _ in range(n)]
    raise RuntimeError(f"not a RESP reply: {line!r}")


class RedisServer:
    """A `redis-server` on a loopback port, without persistence; stop() and start() again keep the port."""

    def __init__(self, port=None):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(self.binary, os.X_OK):
            pytest.fail("redis-server is not installed (apt-get install redis-server)", pytrace=False)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process = None
        self.log = tempfile.TemporaryFile()

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def ping(self):
        """True when the server answers a raw `PING` with `+PONG`."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.makefile("rb").readline() == b"+PONG\r\n"
        except OSError:
            return False

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=tempfile.gettempdir(), stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + WAIT
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server on port {self.port} never answered PING:\n{self.output()}", pytrace=False)
            time.sleep(0.05)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=WAIT)
        assert not self.ping(), f"redis-server on port {self.port} still answers after being stopped"

    def command(self, *args):
        """One command over its own connection; the reply as Python values."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=WAIT) as s:
            s.sendall(_resp(*args))
            return _reply(s.makefile("rb"))

    def close(self):
        self.stop(signal.SIGKILL)
        self.log.close()


@contextlib.contextmanager
def redis_server():
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()
