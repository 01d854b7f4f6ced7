"""The byte pumps of port forwards and the labelling socket, on socketpairs and loopback (no Docker)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from harness.tunnel import LabellingSocket, PortForward, pump, serve


def test_pump_copies_both_ways_and_closes_both_ends_when_one_ends() -> None:
    left_outer, left_inner = socket.socketpair()
    right_inner, right_outer = socket.socketpair()
    worker = threading.Thread(target=pump, args=(left_inner, right_inner), daemon=True)
    worker.start()
    left_outer.sendall(b"ping" * 50_000)
    received = b""
    while len(received) < 200_000:
        received += right_outer.recv(1 << 16)
    assert received == b"ping" * 50_000
    right_outer.sendall(b"pong")
    assert left_outer.recv(16) == b"pong"
    left_outer.close()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert right_outer.recv(16) == b"", "the other side sees the end"


def test_serve_keeps_accepting_after_idle_timeouts() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    closed = threading.Event()
    handled: list[bytes] = []

    def handle(client: socket.socket) -> None:
        handled.append(client.recv(16))
        client.close()

    threading.Thread(target=serve, args=(listener, closed, handle), daemon=True).start()
    time.sleep(0.3)  # several accept() timeouts with nobody connecting
    with socket.create_connection(listener.getsockname(), timeout=2) as client:
        client.sendall(b"late")
    deadline = time.monotonic() + 5
    while not handled and time.monotonic() < deadline:
        time.sleep(0.01)
    closed.set()
    listener.close()
    assert handled == [b"late"]


def test_port_forward_carries_a_connection_opened_after_an_idle_spell() -> None:
    echo_outer, echo_inner = socket.socketpair()

    def open_channel() -> socket.socket:
        return echo_inner

    forward = PortForward(open_channel, "test")
    try:
        time.sleep(0.5)  # longer than the listener's 0.2 s accept timeout
        with socket.create_connection(("127.0.0.1", forward.port), timeout=2) as client:
            client.sendall(b"hello")
            assert echo_outer.recv(16) == b"hello"
            echo_outer.sendall(b"world")
            assert client.recv(16) == b"world"
    finally:
        forward.close()
        echo_outer.close()


def through_labelling_socket(
    tmp_path: Path, requests: list[bytes], complete: Callable[[bytes], bool], answer: bytes
) -> tuple[bytes, bytes]:
    """Send ``requests`` on one connection to a LabellingSocket (labels ``vps-harness.session=s1``) in front of
    a fake engine, which reads until ``complete(what it got)`` and then sends ``answer``; the client's
    reply and what the engine got."""
    upstream_path = tmp_path / "engine.sock"
    engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    engine.bind(str(upstream_path))
    engine.listen(1)
    seen: list[bytes] = []

    def fake_engine() -> None:
        connection, _ = engine.accept()
        data = b""
        while not complete(data):
            data += connection.recv(1 << 16)
        seen.append(data)
        connection.sendall(answer)
        connection.close()

    threading.Thread(target=fake_engine, daemon=True).start()
    labelling = LabellingSocket(tmp_path / "vps.sock", str(upstream_path), {"vps-harness.session": "s1"})
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(str(labelling.path))
            for request in requests:
                client.sendall(request)
            reply = client.recv(1 << 16)
    finally:
        labelling.close()
        engine.close()
    return reply, seen[0]


def test_labelling_socket_adds_labels_to_create_calls_only(tmp_path: Path) -> None:
    body = json.dumps({"Image": "x", "Labels": {"mine": "1"}}).encode()
    reply, request = through_labelling_socket(
        tmp_path,
        [
            b"GET /v1.41/version HTTP/1.1\r\nHost: docker\r\n\r\n",
            b"POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body,
        ],
        lambda data: data.count(b"\r\n\r\n") >= 2 and data.endswith(b"}"),
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
    )
    assert reply.startswith(b"HTTP/1.1 201")
    assert request.startswith(b"GET /v1.41/version HTTP/1.1\r\n")
    sent = json.loads(request[request.rindex(b"\r\n\r\n") + 4 :])
    assert sent["Labels"] == {"mine": "1", "vps-harness.session": "s1"}


def test_labelling_socket_labels_image_builds_through_their_query(tmp_path: Path) -> None:
    query = urllib.parse.urlencode({"t": "app:1", "labels": json.dumps({"mine": "1"})})
    reply, request = through_labelling_socket(
        tmp_path,
        [f"POST /v1.41/build?{query} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n".encode()],
        lambda data: b"\r\n\r\n" in data,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    )
    assert reply.startswith(b"HTTP/1.1 200")
    method, target, version = request.split(b"\r\n")[0].decode().split(" ")
    assert (method, version) == ("POST", "HTTP/1.1")
    path, _, sent = target.partition("?")
    params = dict(urllib.parse.parse_qsl(sent))
    assert path == "/v1.41/build" and params["t"] == "app:1"
    assert json.loads(params["labels"]) == {"mine": "1", "vps-harness.session": "s1"}
