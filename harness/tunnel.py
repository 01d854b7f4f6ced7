"""Byte pumps: ``ssh -L`` port forwards, and a labelling Docker API socket.

Both run on daemon threads of the test process and live as long as the VPS
they serve.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

_BUFFER = 1 << 16


def pump(a: Any, b: Any) -> None:
    """Copy bytes both ways between two sockets (or paramiko channels) until one side ends."""
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 1.0)
            for source in ready:
                data = source.recv(_BUFFER)
                if not data:
                    return
                (b if source is a else a).sendall(data)
    except OSError:
        return
    finally:
        for end in (a, b):
            with contextlib.suppress(Exception):
                end.close()


def serve(listener: socket.socket, closed: threading.Event, handle: Callable[[socket.socket], None]) -> None:
    """Accept connections until ``closed`` (the listener has a timeout), each handled on its own thread."""
    while not closed.is_set():
        try:
            client, _ = listener.accept()
        except socket.timeout:  # an idle listener; before Python 3.10 not a TimeoutError, but an OSError
            continue
        except OSError:
            return
        threading.Thread(target=handle, args=(client,), daemon=True).start()


class PortForward:
    """A port on 127.0.0.1 whose connections are carried by ``open_channel()`` (an SSH channel)."""

    def __init__(self, open_channel: Callable[[], Any], where: str) -> None:
        self._open = open_channel
        self.where = where
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._serve, name=f"forward {where}", daemon=True).start()

    def _serve(self) -> None:
        serve(self._listener, self._closed, self._connection)

    def _connection(self, client: socket.socket) -> None:
        try:
            channel = self._open()
        except Exception:  # noqa: BLE001 - the peer refused: the client sees a closed connection, as with ssh -L
            client.close()
            return
        pump(client, channel)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


#: Docker API calls that make something the harness must label.
_CREATE = re.compile(rb"^POST (?:/v[\d.]+)?/(containers|networks|volumes)/create(?:\?\S*)? HTTP/1\.[01]$")
#: An image build, whose labels go in its query (``docker build``, compose's builds).
_BUILD = re.compile(rb"^POST ((?:/v[\d.]+)?/build)(?:\?(\S*))? (HTTP/1\.[01])$")


class LabellingSocket:
    """A Unix socket speaking the Docker API for a VPS, forwarding to the host engine.

    Every container, network, volume and built image made through it gets
    ``labels``, so the reaper and the VPS's teardown find what the VPS made
    (an image pulled through it is the engine's, not the VPS's). Builds are
    labelled through ``POST /build``, the classic builder's call (Docker's
    client before 23, docker-compose 1); BuildKit's builds go over
    ``/session`` and ``/grpc`` and are not labelled. Only the
    requests are parsed (to rewrite create calls); responses and upgraded
    streams (attach, exec) are copied byte for byte.
    """

    def __init__(self, path: Path, upstream: str, labels: dict[str, str]) -> None:
        self.path, self.upstream, self.labels = path, upstream, labels
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        path.chmod(0o666)  # root and the docker group inside the VPS both connect
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self._closed = threading.Event()
        threading.Thread(target=self._serve, name=f"docker socket {path}", daemon=True).start()

    def _serve(self) -> None:
        serve(self._listener, self._closed, self._connection)

    def _connection(self, client: socket.socket) -> None:
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            engine.connect(self.upstream)
        except OSError:
            client.close()
            return
        threading.Thread(target=_respond, args=(engine, client), daemon=True).start()
        reader = client.makefile("rb")
        try:
            while True:
                head = _read_head(reader)
                if head is None:
                    return
                request_line, headers = head
                body, chunked = self._body(reader, headers)
                build = _BUILD.match(request_line)
                if build:
                    request_line = self._build_labelled(build)
                if _CREATE.match(request_line) and body is not None:
                    body = self._labelled(body)
                    headers = [h for h in headers if not h.lower().startswith(b"content-length:")]
                    headers.append(b"Content-Length: " + str(len(body)).encode())
                engine.sendall(b"\r\n".join([request_line, *headers]) + b"\r\n\r\n" + (body or b""))
                if chunked:
                    _copy_chunked(reader, engine)
                if any(h.lower().startswith(b"upgrade:") for h in headers):
                    _copy(reader, engine)  # attach/exec: the rest is the stream itself
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                engine.shutdown(socket.SHUT_WR)

    @staticmethod
    def _body(reader: Any, headers: list[bytes]) -> tuple[bytes | None, bool]:
        """The whole body when its length is given; (None, True) when it comes chunked."""
        for header in headers:
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                return reader.read(int(value.strip())), False
            if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
                return None, True
        return b"", False

    def _labelled(self, body: bytes) -> bytes:
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return body
        document["Labels"] = {**(document.get("Labels") or {}), **self.labels}
        return json.dumps(document).encode()

    def _build_labelled(self, build: re.Match[bytes]) -> bytes:
        path, query, version = build.group(1), build.group(2) or b"", build.group(3)
        given: dict[str, str] = {}
        kept = []
        for name, value in urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if name == "labels":
                with contextlib.suppress(ValueError, TypeError):
                    given.update(json.loads(value) or {})
            else:
                kept.append((name, value))
        kept.append(("labels", json.dumps({**given, **self.labels})))
        return b"POST " + path + b"?" + urllib.parse.urlencode(kept).encode("latin-1") + b" " + version

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self.path.unlink(missing_ok=True)


def _read_head(reader: Any) -> tuple[bytes, list[bytes]] | None:
    request_line = reader.readline()
    if not request_line:
        return None
    headers = []
    while True:
        line = reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        headers.append(line.rstrip(b"\r\n"))
    return request_line.rstrip(b"\r\n"), headers


def _copy_chunked(reader: Any, engine: socket.socket) -> None:
    """Forward a chunked body as it comes, up to and including its last chunk."""
    while True:
        size_line = reader.readline()
        engine.sendall(size_line)
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, then the blank line
                line = reader.readline()
                engine.sendall(line)
                if line in (b"\r\n", b"\n", b""):
                    return
        engine.sendall(reader.read(size + 2))


def _respond(engine: socket.socket, client: socket.socket) -> None:
    """Copy the engine's answers to the client, then close both."""
    _copy(engine, client)
    engine.close()
    client.close()


def _copy(source: Any, target: socket.socket) -> None:
    """Copy until ``source`` ends (a socket or a buffered reader)."""
    read = source.read1 if hasattr(source, "read1") else source.recv
    try:
        while data := read(_BUFFER):
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
