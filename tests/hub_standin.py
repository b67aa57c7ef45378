"""A stand-in for the Hugging Face Hub on 127.0.0.1, enough for huggingface_hub's file downloads.

    with HubStandIn() as hub:
        hub.add("org/data", "x.jsonl", b"...")            # served at /datasets/org/data/resolve/main/x.jsonl
        os.environ["HF_ENDPOINT"] = hub.endpoint

It answers what `get_hf_file_metadata` (HEAD) and `http_get` (GET, with `Range: bytes=N-` -> 206) ask
for, with the headers the real hub sends for an LFS file (X-Repo-Commit, X-Linked-Etag = sha256,
X-Linked-Size), plus the address our reachability probe asks. Every request is kept in `requests`.

Uploads (`create_repo`, then `upload_folder`: preupload, then one commit) land in `uploads`
({(repo, path): bytes}); every file is taken inline (no LFS), as the hub does for small ones. The bearer
token of each upload request is kept in `tokens`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_UPLOAD = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<action>preupload|commit)/[^/]+$")
_RESOLVE = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")


@dataclass
class HostedFile:
    advertised: bytes  # what the headers describe (size, sha256)
    served: bytes  # what GET sends: differs from `advertised` to play a corrupted transfer


@dataclass
class Request:
    method: str
    path: str
    range: str | None


class HubStandIn:
    def __init__(self) -> None:
        self.files: dict[tuple[str, str], HostedFile] = {}
        self.requests: list[Request] = []
        self.uploads: dict[tuple[str, str], bytes] = {}
        self.commits: list[str] = []  # commit summaries, in order
        self.tokens: list[str | None] = []
        self.validated: list[str] = []  # READMEs whose front matter the client asked to check
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, repo: str, file: str, content: bytes, served: bytes | None = None) -> str:
        """Host `content` (or, when given, send `served` in its place); returns its sha256."""
        self.files[(repo, file)] = HostedFile(content, content if served is None else served)
        return hashlib.sha256(content).hexdigest()

    def gets(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and "/resolve/" in r.path]

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            hub.requests.append(Request(self.command, self.path, self.headers.get("Range")))
            match = _RESOLVE.match(self.path)
            if self.path.startswith("/api/"):  # the probe: any HTTP answer means "reachable"
                return self._empty(401)
            hosted = hub.files.get((match["repo"], match["file"])) if match else None
            if hosted is None:
                return self._empty(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
            sha = hashlib.sha256(hosted.advertised).hexdigest()
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{sha[:40]}"', "X-Linked-Etag": f'"{sha}"',
                       "X-Linked-Size": str(len(hosted.advertised)), "Accept-Ranges": "bytes"}
            if not body:
                return self._empty(200, {**headers, "Content-Length": str(len(hosted.advertised))})
            start = _range_start(self.headers.get("Range"))
            data = hosted.served[start:]
            self.send_response(206 if start else 200)
            for key, value in headers.items():
                self.send_header(key, value)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(hosted.served) - 1}/{len(hosted.served)}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            hub.requests.append(Request(self.command, self.path, None))
            hub.tokens.append(self.headers.get("Authorization"))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/api/repos/create":
                request = json.loads(body)
                return self._json({"url": f"{hub.endpoint}/{request['organization']}/{request['name']}"})
            if self.path == "/api/validate-yaml":  # a README's front matter, before the commit that adds it
                return self._validate_yaml(json.loads(body)["content"])
            upload = _UPLOAD.match(self.path)
            if upload and upload["action"] == "preupload":
                files = json.loads(body)["files"]
                return self._json({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                             for f in files]})
            if upload and upload["action"] == "commit":
                self._commit(upload["repo"], body)
                return self._json({"commitUrl": f"{hub.endpoint}/{upload['repo']}/commit/{COMMIT}",
                                   "commitOid": COMMIT})
            return self._empty(404)

        def _commit(self, repo: str, body: bytes) -> None:
            """The commit's NDJSON: a header line (the summary), then one line per file, base64 inline."""
            for line in body.decode().splitlines():
                key, value = json.loads(line).values()
                if key == "header":
                    hub.commits.append(value["summary"])
                elif key == "file":
                    hub.uploads[(repo, value["path"])] = base64.b64decode(value["content"])

        def _validate_yaml(self, content: str) -> None:
            match = re.match(r"^---\n(.*?)\n---\n", content, re.DOTALL)
            try:
                valid = match is not None and isinstance(yaml.safe_load(match[1]), dict)
            except yaml.YAMLError:
                valid = False
            hub.validated.append(content)
            self._json({"errors": [] if valid else [{"message": "no valid YAML front matter"}], "warnings": []},
                       200 if valid else 400)

        def _json(self, data: dict, status: int = 200) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

    return Handler


def _range_start(header: str | None) -> int:
    match = re.fullmatch(r"bytes=(\d+)-", header or "")
    return int(match[1]) if match else 0


# -- what the download tests serve (test_download*.py; their `hub` and `workdir` fixtures are in conftest.py) --

REPO = "test/minimind_dataset"
FILE = "tiny_pretrain.jsonl"
NAME = "tiny-hub-pretrain"
CONTENT = b"".join(json.dumps({"text": f"document {i}: " + "words " * 30}).encode() + b"\n" for i in range(300))


def register(workdir: Path, **hub_keys: object) -> None:
    """A user registry entry for the test file on the stand-in."""
    keys = "".join(f", {key}: {value}" for key, value in hub_keys.items())
    path = workdir / "dataset" / "registry.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{NAME}:\n  kind: pretrain\n  format: minimind\n  hub: {{repo: {REPO}, file: {FILE}{keys}}}\n"
                    f"  fallback: embedded-pretrain\n")


def closed_port_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


