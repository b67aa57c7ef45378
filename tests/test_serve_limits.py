"""`minillm-skill serve` against a hostile client, over HTTP: no request holds the others back (a reply has a
longest length and time, and one whose client left stops), and every bad request is a 4xx in OpenAI's shape
with nothing alarming in the server's logs.

The app runs on a real uvicorn server in a thread (port 0), so that a client closing its connection is a real
disconnect. Its model is a random tiny one that never ends a reply by itself (its end-of-turn tokens are
suppressed): a reply ends only at max_tokens, at the time limit, or when its client leaves.
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from minillm_core.contract.outputs import write_marker  # noqa: E402
from tests.helpers import save_tiny_model  # noqa: E402

HUGE = 10**9
TRAINED_AT = 12  # the sequence length the "trained" model's provenance records
GUARD_S = 60  # only so that a broken server fails the test instead of hanging it; never reached when it works
HI = [{"role": "user", "content": "Hi"}]
SMALL = {"messages": HI, "max_tokens": 3, "temperature": 0}


class EndlessModel:
    """A tiny chat model whose replies never end by themselves; `stepped` is set at each model step, and
    `replies` counts the replies begun (steps that read a whole prompt)."""

    def __init__(self, folder: Path) -> None:
        from minillm_core.inference.generation import stop_token_ids
        from minillm_core.serve.chat import load_bot

        self.bot = load_bot(folder)
        self.bot.model.generation_config.suppress_tokens = stop_token_ids(self.bot)
        self.stepped = threading.Event()
        self.replies = 0
        self.bot.model.register_forward_hook(self._step, with_kwargs=True)

    def _step(self, _module, _args, kwargs, _output) -> None:
        if kwargs["input_ids"].shape[-1] > 1:  # the prompt; each later step reads one new token
            self.replies += 1
        self.stepped.set()


class LiveServer:
    """The API for a model on uvicorn, in a thread of this process, on a free port."""

    def __init__(self, model: EndlessModel, **limits) -> None:
        import uvicorn

        from minillm_core.serve import create_app

        self.model = model
        # A graceful shutdown that ends: a reply still running (a failed test) is stopped by the worker's close.
        config = uvicorn.Config(create_app(model.bot, **limits), host="127.0.0.1", port=0, log_config=None,
                                access_log=False, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def post(self, body: dict | bytes, **kwargs) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(self.url, content=content, timeout=GUARD_S, **kwargs)

    def raw_request(self, body: dict) -> bytes:
        data = json.dumps(body).encode()
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        return head.encode() + data

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(GUARD_S)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory) -> Path:
    """A tiny chat model's folder that says nothing of how it was trained (each server loads its own copy of
    the model from it)."""
    return save_tiny_model(tmp_path_factory.mktemp("serve-limits") / "tiny-chat", seed=7)


@pytest.fixture(scope="module")
def unbounded(untrained, one_torch_thread):
    """Raised limits: a reply of 10^9 tokens is allowed, and no time limit will be reached in a test."""
    server = LiveServer(EndlessModel(untrained), max_tokens=HUGE, request_timeout=3600)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def timed(untrained, one_torch_thread):
    """A reply of 10^9 tokens is allowed, but cut after one second."""
    server = LiveServer(EndlessModel(untrained), max_tokens=HUGE, request_timeout=1)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def trained(untrained, tmp_path_factory, one_torch_thread):
    """The defaults, on a model whose folder says it was trained at TRAINED_AT tokens."""
    folder = shutil.copytree(untrained, tmp_path_factory.mktemp("trained") / "tiny-chat")
    # As a training stage writes it (minillm_core.train.start_model.provenance).
    write_marker(folder, "sft", style="chat", provenance={
        "start_model": None, "trained_on": [{"stage": "sft", "dataset": "chats", "max_seq_len": TRAINED_AT}]})
    server = LiveServer(EndlessModel(folder))
    yield server
    server.stop()


@pytest.fixture
def quiet_server(caplog, capfd):
    """After the test: the server logged no warning or error (no traceback; no "Future exception was never
    retrieved", which asyncio logs when such a future is collected: a test that may leave one collects) and
    wrote no traceback to stderr."""
    caplog.set_level(logging.WARNING)
    yield
    records = caplog.get_records("call") + caplog.records  # caplog.records: this teardown's only
    assert [record.getMessage() for record in records if record.levelno >= logging.WARNING] == []
    err = capfd.readouterr().err
    assert "Traceback" not in err and "never retrieved" not in err, err


def events(text: str) -> list[dict]:
    """The JSON events of an SSE body, [DONE] left out."""
    data = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]", text
    return [json.loads(item) for item in data[:-1]]


# --- no request holds the others back ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_huge_reply_stops_when_its_client_leaves_and_a_small_request_is_answered(unbounded, stream, quiet_server):
    unbounded.model.stepped.clear()
    with ThreadPoolExecutor(1) as pool, socket.create_connection(("127.0.0.1", unbounded.port), GUARD_S) as client:
        client.sendall(unbounded.raw_request({"messages": HI, "max_tokens": HUGE, "temperature": 0,
                                              "stream": stream}))
        if stream:
            received = b""
            while b"data: " not in received:  # the reply is streaming
                received += client.recv(65536)
        assert unbounded.model.stepped.wait(GUARD_S)  # the model is generating the huge reply
        small = pool.submit(unbounded.post, SMALL)  # queued behind it: one model, one reply at a time
    # The client has closed its connection. The huge reply would run for 10^9 tokens and has no time limit
    # here, so the small request can only be answered once the server has stopped the huge one.
    answer = small.result(GUARD_S)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 3
    gc.collect()  # the huge reply's future, if one was left unread, is logged now (quiet_server looks)


def test_a_request_whose_client_left_before_its_turn_is_never_generated(unbounded, quiet_server):
    model = unbounded.model
    model.stepped.clear()
    begun = model.replies
    huge = unbounded.raw_request({"messages": HI, "max_tokens": HUGE, "temperature": 0})
    with socket.create_connection(("127.0.0.1", unbounded.port), GUARD_S) as running:
        running.sendall(huge)
        assert model.stepped.wait(GUARD_S)
        with socket.create_connection(("127.0.0.1", unbounded.port), GUARD_S) as waiting:
            waiting.sendall(huge)  # behind the running one; its client leaves before its turn comes
    answer = unbounded.post(SMALL)
    assert answer.status_code == 200, answer.text
    assert model.replies - begun == 2  # the first huge reply and the small one: the second huge one never began
    gc.collect()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_reply_past_the_request_timeout_is_cut_as_length_and_the_next_is_answered(timed, stream, quiet_server):
    huge = {"messages": HI, "max_tokens": HUGE, "temperature": 0, "stream": stream,
            **({"stream_options": {"include_usage": True}} if stream else {})}
    timed.model.stepped.clear()
    with ThreadPoolExecutor(2) as pool:
        cut = pool.submit(timed.post, huge)
        assert timed.model.stepped.wait(GUARD_S)
        small = pool.submit(timed.post, SMALL)
        cut, small = cut.result(GUARD_S), small.result(GUARD_S)
    assert cut.status_code == 200, cut.text
    if stream:
        chunks = events(cut.text)
        finish = [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]][-1]
        tokens = chunks[-1]["usage"]["completion_tokens"]
    else:
        finish, tokens = cut.json()["choices"][0]["finish_reason"], cut.json()["usage"]["completion_tokens"]
    assert finish == "length" and 0 < tokens < HUGE
    assert small.status_code == 200 and small.json()["choices"][0]["message"]["content"], small.text


def test_max_tokens_is_bounded_by_the_length_the_model_was_trained_at(trained, quiet_server):
    for name in ("max_tokens", "max_completion_tokens"):
        for wanted in (TRAINED_AT + 1, HUGE):
            refused = trained.post({"messages": HI, name: wanted})
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert (error["param"], error["code"], error["type"]) == (name, "invalid_value", "invalid_request_error")
            assert f"at most {TRAINED_AT} tokens" in error["message"] and "--max-tokens" in error["message"]
    for request in ({"messages": HI, "max_tokens": TRAINED_AT}, {"messages": HI}):  # at the limit; by default
        reply = trained.post({**request, "temperature": 0}).json()
        assert reply["usage"]["completion_tokens"] == TRAINED_AT and reply["choices"][0]["finish_reason"] == "length"


def test_without_a_trained_length_the_limit_is_the_fallback(untrained, one_torch_thread):
    from minillm_core.serve.worker import FALLBACK_MAX_TOKENS

    server = LiveServer(EndlessModel(untrained))
    try:
        refused = server.post({"messages": HI, "max_tokens": FALLBACK_MAX_TOKENS + 1})
        assert refused.status_code == 400, refused.text
        assert f"at most {FALLBACK_MAX_TOKENS} tokens" in refused.json()["error"]["message"]
    finally:
        server.stop()


@pytest.mark.parametrize("option, value", [("--max-tokens", "0"), ("--request-timeout", "0"),
                                           ("--request-timeout", "soon")])
def test_the_serve_limits_options_refuse_bad_values(option, value):
    from click.testing import CliRunner

    from minillm_core.serve.server import serve_command

    result = CliRunner().invoke(serve_command, [option, value])
    assert result.exit_code == 2 and option in result.output, result.output


# --- every client error is a 4xx in OpenAI's shape, and nothing alarming in the log ---------------------------


def with_hi(fields: str) -> bytes:
    return b'{"messages": [{"role": "user", "content": "Hi"}], ' + fields.encode() + b"}"


def nested(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


BAD_BODIES = {
    "100k nested arrays": b"[" * 100_000,
    "100k nested objects": b'{"a": ' * 100_000,
    "a tool schema nested 200 deep": {"messages": HI, "tools": [
        {"type": "function", "function": {"name": "f", "parameters": nested(200)}}]},
    "seed -1": {"messages": HI, "seed": -1},
    "seed 2**40": {"messages": HI, "seed": 2**40},
    "seed -1, streamed": {"messages": HI, "seed": -1, "stream": True},
    "seed 2**40, streamed": {"messages": HI, "seed": 2**40, "stream": True},
    "n 10**9": {"messages": HI, "n": HUGE},
    "max_tokens -1": {"messages": HI, "max_tokens": -1},
    "max_tokens 0": {"messages": HI, "max_tokens": 0},
    "max_tokens 1e9 (a float)": with_hi('"max_tokens": 1e9'),
    "max_tokens of 5000 digits": with_hi('"max_tokens": ' + "9" * 5000),
    "temperature NaN": with_hi('"temperature": NaN'),
    "temperature Infinity": with_hi('"temperature": Infinity'),
    "temperature a string": {"messages": HI, "temperature": "hot"},
    "stream a string": {"messages": HI, "stream": "yes"},
    "messages an object": {"messages": {"role": "user", "content": "Hi"}},
    "a JSON string": b'"Hi"',
    "JSON null": b"null",
    "a JSON number": b"42",
    "a JSON array": b"[]",
    "no body": b"",
    "invalid UTF-8": b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}',
    "a lone surrogate": b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
    "a stop string of 100k characters": {"messages": HI, "stop": "x" * 100_000},
    "a body of 5 MiB": {"messages": [{"role": "user", "content": "a" * (5 << 20)}]},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_request_is_a_4xx_openai_error_and_nothing_alarming_is_logged(trained, body, quiet_server):
    response = trained.post(body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    assert error["type"] == "invalid_request_error", error


def test_after_the_bad_requests_odd_but_valid_values_are_answered(trained, quiet_server):
    # A temperature so small that dividing the logits by it overflows them: greedy, as vLLM has it.
    for extra in ({"temperature": 1e-300}, {"seed": 0}, {"seed": 2**32 - 1}, {"top_p": 0}):
        reply = trained.post({"messages": HI, "max_tokens": 2, **extra})
        assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] == 2, (extra, reply.text)
