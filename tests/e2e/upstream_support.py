"""Runs the Python upstream gRPC server (upstream/server.py) for the gateway's end-to-end tests.

    with start_upstream(stubs=stub_dir) as upstream:
        channel = grpc.insecure_channel(upstream.address)
        ...
        event = upstream.wait_for(lambda e: e["event"] == "cancelled" and e["id"] == call_id)

The server's stdout is read on a thread for its whole life: the listening line gives the address,
every later line is one JSON event (see server.py's docstring for the format).
"""

import contextlib
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import stop_process_group

SERVER = Path(__file__).resolve().parent / "upstream" / "server.py"
REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
LISTENING = re.compile(r"^listening on (127\.0\.0\.1:(\d+))$")


class Upstream:
    """One upstream server (restartable on the same port).

    - `address`: "127.0.0.1:PORT", the same after restart();
    - `events()`: the JSON events printed so far, in order, across restarts;
    - `wait_for(predicate, timeout=10.0, since=0)`: the first event from index `since` on for which
      `predicate(event)` is true, waiting up to `timeout` seconds for it (fails the test if none);
    - `stop()`: SIGTERM (SIGKILL after conftest.STOP_TIMEOUT s); `restart()`: stop, then start on the same port;
    - `output()`: its stdout and stderr so far, for failure messages."""

    def __init__(self, stubs=None, args=()):
        self.stubs = stubs
        self.args = tuple(args)
        self.address = None
        self.port = 0  # 0 until the first start: any free port
        self.process = None
        self._lines = []  # every stdout line of every run
        self._events = []
        self._changed = threading.Condition()
        self._stderr = tempfile.TemporaryFile()
        self._stopped_by_us = False

    # -- life cycle

    def start(self):
        command = [sys.executable, str(SERVER), "--port", str(self.port), *self.args]
        if self.stubs is not None:
            command += ["--stubs", str(self.stubs)]
        self._stopped_by_us = False
        self.process = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            start_new_session=True,  # its own process group, so that stopping it stops anything it started
        )  # fmt: skip
        found = threading.Event()
        address = []
        threading.Thread(target=self._read, args=(self.process, found, address), daemon=True).start()
        if not found.wait(STARTUP_TIMEOUT) or not address:
            status = self.process.poll()
            why = f"exited with status {status}" if status is not None else f"printed nothing like it in {STARTUP_TIMEOUT:.0f} s"
            self.stop()
            pytest.fail(f"{SERVER.name} never printed `listening on 127.0.0.1:PORT`: it {why}\n{self.output()}", pytrace=False)
        self.address = address[0]
        self.port = int(self.address.rsplit(":", 1)[1])
        return self

    def _read(self, process, found, address):
        """Drains one run's stdout: the listening line, then JSON events."""
        for raw in process.stdout:
            line = raw.decode(errors="replace")
            with self._changed:
                self._lines.append(line)
                match = LISTENING.match(line.strip())
                if match and not found.is_set():
                    address.append(match.group(1))
                    found.set()
                elif found.is_set():
                    try:
                        self._events.append(json.loads(line))
                    except ValueError:
                        pass  # not an event; output() still shows it
                self._changed.notify_all()
        found.set()  # EOF: the process is gone

    def stop(self):
        """Stops the server (its whole process group): SIGTERM, then SIGKILL after conftest.STOP_TIMEOUT s.
        Returns its exit status; stopping a stopped server does nothing."""
        process = self.process
        if process is None:
            return None
        self._stopped_by_us = True
        stop_process_group(process)
        return process.returncode

    def restart(self):
        """Stops the server and starts a new one on the same port (state starts afresh)."""
        self.stop()
        return self.start()

    def exited_on_its_own(self):
        """The exit status if the server exited without being stopped, else None."""
        status = self.process.poll() if self.process else None
        return None if self._stopped_by_us else status

    def close(self):
        self.stop()
        self._stderr.close()

    # -- observation

    def events(self):
        with self._changed:
            return list(self._events)

    def wait_for(self, predicate, timeout=10.0, since=0):
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self._events[since:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
        pytest.fail(f"the upstream logged no matching event in {timeout} s; its events from {since} on:\n"
                    + "\n".join(map(json.dumps, self.events()[since:])), pytrace=False)  # fmt: skip

    def stderr(self):
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def output(self):
        with self._changed:
            stdout = "".join(self._lines)
        return f"--- stdout ---\n{stdout}--- stderr ---\n{self.stderr()}"


@contextlib.contextmanager
def start_upstream(stubs=None, args=()):
    """Starts upstream/server.py on a free loopback port and yields an Upstream; stops it after.
    `stubs`: a directory holding (or to hold) the generated Python stubs, so that the server does
    not generate its own (conftest.py's `pb` stubs: `Path(pb.bookstore.__file__).parents[1]`)."""
    upstream = Upstream(stubs, args)
    try:
        upstream.start()
        yield upstream
        status = upstream.exited_on_its_own()
        if status is not None:
            pytest.fail(f"the upstream exited on its own with status {status}\n{upstream.output()}", pytrace=False)
    finally:
        upstream.close()
