"""A small keep-alive HTTP/1.1 fake server that records every request it answers.

Subclasses implement ``handle(rec) -> (status, body)``; the base class parses the request
(query, form-encoded, multipart or JSON body), records it, answers with a JSON body and a
correct ``Content-Length`` so real clients (httpx inside python-telegram-bot, requests
inside twilio) keep their connections open, as they do against the real platforms.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

Response = tuple[int, Any] | tuple[int, Any, dict[str, str]]


class Headers(dict):
    """A dict of request headers whose keys are looked up case-insensitively."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        for key, value in dict(items).items():
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class Recorded:
    """One request the fake received, with the answer it gave."""

    method: str
    path: str  # URL-decoded path without the query string
    query: dict[str, str]
    headers: dict[str, str]  # a Headers: case-insensitive keys, stored lower-case
    form: dict[str, str]  # form/multipart fields, or a JSON object's members as strings
    json: Any | None  # the parsed body when it was JSON
    received_at: float  # time.time() when the request line arrived
    body: bytes = b""
    multi: dict[str, list[str]] = field(default_factory=dict)  # every value of repeated fields
    files: dict[str, bytes] = field(default_factory=dict)  # multipart parts with a filename
    client_port: int = 0  # the client's TCP port: one per kept-alive connection
    connection: int = 0  # serial number of the TCP connection the request came on
    status: int = 0  # the status the fake answered
    response: Any = None  # the JSON body the fake answered


def _stringify(value: Any) -> str:
    """Return a JSON member as a form value: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else jsonlib.dumps(value)


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict, dict, dict]:
    """Split a multipart/form-data body into fields, repeated fields and files."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    form: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    files: dict[str, bytes] = {}
    if not message.is_multipart():
        return form, multi, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = payload
            continue
        charset = part.get_content_charset() or "utf-8"
        value = payload.decode(charset, errors="replace")
        form[name] = value
        multi.setdefault(name, []).append(value)
    return form, multi, files


def parse_body(content_type: str, body: bytes) -> tuple[dict, dict, dict, Any]:
    """Parse a request body into (form, multi, files, json) by its Content-Type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    form: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    files: dict[str, bytes] = {}
    parsed_json: Any = None
    if not body:
        return form, multi, files, parsed_json
    if media_type == "multipart/form-data":
        form, multi, files = _parse_multipart(content_type, body)
    elif media_type == "application/json" or media_type.endswith("+json"):
        parsed_json = jsonlib.loads(body)
        if isinstance(parsed_json, dict):
            form = {key: _stringify(value) for key, value in parsed_json.items()}
            multi = {key: [value] for key, value in form.items()}
    else:  # application/x-www-form-urlencoded, or no Content-Type at all
        for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            form[key] = value
            multi.setdefault(key, []).append(value)
    return form, multi, files, parsed_json


class _Handler(BaseHTTPRequestHandler):
    """Reads one request at a time from a kept-alive connection and asks the fake to answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: do not let Nagle delay it
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection_number = self.server.fake._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the fake's record is the log."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        received_at = time.time()
        fake = self.server.fake
        body = self._read_body()
        split = urlsplit(self.path)
        headers = Headers(self.headers.items())
        rec = Recorded(
            method=self.command,
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            form={},
            json=None,
            received_at=received_at,
            body=body,
            client_port=self.client_address[1],
            connection=self.connection_number,
        )
        try:
            rec.form, rec.multi, rec.files, rec.json = parse_body(
                headers.get("content-type", ""), body
            )
            result = fake.handle(rec)
        except Exception:  # a bug in a fake must show up in the test, not hang the client
            fake._error(traceback.format_exc())
            result = (500, {"error": "fake server raised; see FakeServer.errors"})
        status, payload, extra_headers = (*result, {}) if len(result) == 2 else result
        rec.status, rec.response = status, payload
        fake._record(rec)
        if fake.delay:
            time.sleep(fake.delay)
        data = b"" if payload is None else jsonlib.dumps(payload).encode("utf-8")
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # benchmarks open many connections at once

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class FakeServer:
    """Base class: an HTTP/1.1 keep-alive server on 127.0.0.1 in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[Recorded] = []
        self._errors: list[str] = []
        self._open: set[socket.socket] = set()
        self._connections = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.delay = 0.0  # seconds to wait before every answer (to provoke client timeouts)

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> FakeServer:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._httpd = _Server(self)
        port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every kept-alive connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with self._lock:
            still_open = list(self._open)
        for conn in still_open:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the fake listens on (0 before start)."""
        return self._httpd.server_address[1] if self._httpd else 0

    # -- what was received -------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        """A copy of every request answered so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[str]:
        """Tracebacks of exceptions raised by ``handle`` (answered as 500)."""
        with self._lock:
            return list(self._errors)

    @property
    def connections(self) -> int:
        """How many TCP connections clients have opened to this fake."""
        with self._lock:
            return self._connections

    def clear(self) -> None:
        """Forget the requests received so far (injected failures are kept)."""
        with self._lock:
            self._requests.clear()
            self._errors.clear()

    def wait_for(
        self, predicate: Callable[[list[Recorded]], bool], timeout: float = 10.0
    ) -> list[Recorded]:
        """Wait until ``predicate(requests)`` is true and return the requests.

        Raises AssertionError with a dump of what was received when ``timeout`` passes.
        """
        deadline = time.monotonic() + timeout
        while True:
            received = self.requests
            if predicate(received):
                return received
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{type(self).__name__} at {self.url}: condition not met within "
                    f"{timeout}s\n{self.dump(received)}"
                )
            with self._changed:
                self._changed.wait(min(remaining, 0.05))

    def dump(self, received: list[Recorded] | None = None) -> str:
        """Describe the received requests (and handler errors) for an assertion message."""
        received = self.requests if received is None else received
        lines = [f"received {len(received)} request(s):"]
        for rec in received:
            fields = rec.json if rec.json is not None else rec.form
            lines.append(f"  {rec.method} {rec.path} {fields!r} -> {rec.status} {rec.response!r}")
        for error in self.errors:
            lines.append("handler error:\n" + error)
        return "\n".join(lines)

    # -- to implement ------------------------------------------------------------
    def handle(self, rec: Recorded) -> Response:
        """Answer one request: (status, JSON body) or (status, body, extra headers)."""
        return 404, {"error": "not found"}

    # -- called from handler threads ---------------------------------------------
    def _record(self, rec: Recorded) -> None:
        with self._changed:
            self._requests.append(rec)
            self._changed.notify_all()

    def _error(self, text: str) -> None:
        with self._changed:
            self._errors.append(text)
            self._changed.notify_all()

    def _opened(self, conn: socket.socket) -> int:
        with self._lock:
            self._open.add(conn)
            self._connections += 1
            return self._connections

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)
