"""`minillm-skill serve`: the OpenAI-compatible API, through the official `openai` client, against real server
processes. One server holds bot-start's final model for most tests; a second serves a random tiny base model with
an API key, and is stopped with Ctrl-C at the end. The reply shapes (thinking, tool calls, stream deltas) are
checked on texts, without a model."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from minillm_core.serve.openai_api import StreamSplitter, reply_message  # noqa: E402  (needs pydantic: after the skips)
from tests.helpers import call_text, save_tiny_model  # noqa: E402

# How the server is started; `[sys.executable, "-m", "minillm_core", "serve"]` once the CLI registers it.
SERVE = [sys.executable, "-m", "minillm_core", "serve"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "MINILLM_LOAD_PLUGINS": "", "TOKENIZERS_PARALLELISM": "false"}
STARTED = re.compile(r"serving (\S+) at (http://127\.0\.0\.1:(\d+)/v1)")
START_TIMEOUT_S = 180
KEY = "sk-test-serve"
WHO = "Who are you?"


class Server:
    """A `serve` process on a free port (--port 0: the port comes from the line it prints at start)."""

    def __init__(self, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = log
        with log.open("w") as err:
            self.process = subprocess.Popen([*SERVE, "--port", "0", *args], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=err, env=env or ENV)
        self.model_path, self.base_url = self._wait_started()

    def _wait_started(self) -> tuple[str, str]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            found = STARTED.search(self.log.read_text())
            if found:
                return found.group(1), found.group(2)
            assert self.process.poll() is None, f"serve exited {self.process.returncode}:\n{self.log.read_text()}"
            time.sleep(0.2)
        self.process.kill()
        raise AssertionError(f"serve did not start in {START_TIMEOUT_S} s:\n{self.log.read_text()}")

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def client(self, api_key: str = "unused") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, timeout=120)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def trained(bot_start_clone) -> tuple[Path, Path]:
    """(bot-start's clone, its final model)."""
    clone, report = bot_start_clone
    return clone, (clone / report["final_model"]["path"]).resolve()


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    clone, _ = trained
    running = Server(tmp_path_factory.mktemp("serve") / "stderr.txt", "--workdir", str(clone))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return server.client()


@pytest.fixture(scope="module")
def model_id(trained) -> str:
    return trained[1].name


@pytest.fixture(scope="module")
def identity_answer(client, model_id) -> object:
    """The non-streamed, greedy answer to "Who are you?" (the whole response)."""
    return client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": WHO}],
                                          temperature=0)


def ask_streamed(client: openai.OpenAI, model_id: str, **extra) -> tuple[str, list]:
    chunks = list(client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": WHO}],
                                                 temperature=0, stream=True, **extra))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    return text, chunks


# --- the trained chat model ------------------------------------------------------------------------------


def test_it_starts_on_the_final_model_and_lists_it(server, client, trained, model_id):
    assert Path(server.model_path) == trained[1]  # --workdir: the run's final model, as `chat` picks it
    assert [model.id for model in client.models.list().data] == [model_id]
    assert client.models.retrieve(model_id).id == model_id
    health = httpx.get(f"{server.root}/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_the_chat_answer_says_who_it_is(client, identity_answer, model_id):
    # As test_bot_start.py::test_chat_with_the_final_model_says_who_it_is asserts on `chat --prompt`.
    choice = identity_answer.choices[0]
    assert "MiniLLM" in choice.message.content and "minillm-skill" in choice.message.content, choice.message
    chinese = client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "你是谁？"}],
                                             temperature=0).choices[0].message.content
    assert "MiniLLM" in chinese and "minillm-skill" in chinese, chinese
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert identity_answer.object == "chat.completion" and identity_answer.model == model_id
    usage = identity_answer.usage
    assert usage.prompt_tokens > 3 and usage.completion_tokens > 3
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_the_streamed_answer_is_the_same_text(client, model_id, identity_answer):
    text, chunks = ask_streamed(client, model_id, stream_options={"include_usage": True})
    assert text == identity_answer.choices[0].message.content
    assert len([chunk for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]) > 1  # pieces
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == identity_answer.usage.completion_tokens
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"} and len({c.id for c in chunks}) == 1


def test_the_web_chat_streams_the_answer_in_a_real_browser(server, identity_answer, tmp_path):
    """Chromium (Debian's package) driven by Playwright: load /, ask, see the streamed answer; a screenshot is
    kept in $MINILLM_TEST_ARTIFACTS (default: the test's tmp folder)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra has it)")
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if chromium is None:
        pytest.skip("no Chromium on this machine: `apt-get install chromium` (Debian) runs this test")
    artifacts = Path(os.environ.get("MINILLM_TEST_ARTIFACTS", tmp_path))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(server.root + "/")
        page.eval_on_selector("#temperature", "slider => { slider.value = '0'; slider.oninput(); }")  # greedy
        page.fill("#prompt", WHO)
        page.click("#send")
        page.wait_for_function("!document.querySelector('#send').disabled"
                               " && document.querySelectorAll('.message.assistant').length === 1", timeout=120_000)
        shown = page.inner_text(".message.assistant")
        page.screenshot(path=str(artifacts / "web-chat.png"))
        browser.close()
    assert shown.strip() == identity_answer.choices[0].message.content.strip()
    assert (artifacts / "web-chat.png").stat().st_size > 1000


def test_tools_go_into_the_prompt(client, model_id):
    def prompt_tokens(**extra) -> int:
        return client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "Hi"}],
                                              max_tokens=1, **extra).usage.prompt_tokens

    tool = {"type": "function", "function": {"name": "calculator", "description": "Evaluate arithmetic.",
                                             "parameters": {"type": "object", "properties": {}}}}
    assert prompt_tokens(tools=[tool]) > prompt_tokens() + 20
    assert prompt_tokens(tools=[tool], tool_choice="none") == prompt_tokens()


@pytest.mark.parametrize("bad, param", [
    ({"temperature": -1}, "temperature"),
    ({"messages": [{"role": "wizard", "content": WHO}]}, "messages.0.role"),
    ({"max_tokens": "many"}, "max_tokens"),
    ({"messages": []}, "messages"),
])
def test_a_bad_request_gets_an_openai_error(client, model_id, bad, param):
    request = {"model": model_id, "messages": [{"role": "user", "content": WHO}], **bad}
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(**request)
    assert raised.value.status_code == 400
    error = raised.value.response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_bad_bodies_get_openai_errors_and_the_server_goes_on(server, client, model_id):
    url = f"{server.base_url}/chat/completions"
    for body in (b"{not json", b"[]", b'{"model": "x"}', b'{"messages": [{"role": "user", "content": 5}]}'):
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 400, body
        assert response.json()["error"]["type"] == "invalid_request_error", response.text
    missing = httpx.get(f"{server.base_url}/nothing-here", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["message"]
    assert httpx.get(f"{server.root}/health", timeout=10).status_code == 200
    again = client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": WHO}],
                                           temperature=0, max_tokens=4)
    assert again.choices[0].finish_reason == "length" and again.usage.completion_tokens == 4


def test_eight_requests_at_once_are_each_answered(client, model_id, identity_answer):
    expected = identity_answer.choices[0].message.content

    def ask(number: int) -> str:
        if number % 2:
            return ask_streamed(client, model_id)[0]
        return client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": WHO}],
                                              temperature=0).choices[0].message.content

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert answers == [expected] * 8


# --- a base model behind an API key, then Ctrl-C ------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A random tiny base model (completion mode), the key given through MINILLM_API_KEY; --max-tokens lets a
    reply run long enough to be under way at Ctrl-C (the default for a folder without provenance is 2048)."""
    folder = tmp_path_factory.mktemp("serve-keyed")
    save_tiny_model(folder / "tiny-base", seed=3, chat=False)
    running = Server(folder / "stderr.txt", "--model", str(folder / "tiny-base"), "--max-tokens", "20000",
                     env={**ENV, "MINILLM_API_KEY": KEY})
    yield running
    running.stop()


def test_without_the_key_401_and_with_it_an_answer(keyed):
    with pytest.raises(openai.AuthenticationError) as raised:
        keyed.client("sk-wrong").models.list()
    assert raised.value.status_code == 401
    assert raised.value.response.json()["error"]["code"] == "invalid_api_key"
    for headers in ({}, {"Authorization": KEY}, {"Authorization": f"Bearer {KEY}x"}):  # no key, no "Bearer", longer
        response = httpx.post(f"{keyed.base_url}/chat/completions", headers=headers, timeout=10,
                              json={"model": "tiny-base", "messages": [{"role": "user", "content": "Once"}]})
        assert response.status_code == 401 and response.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{keyed.root}/health", timeout=10).json()["mode"] == "completion"  # open: for probes
    reply = keyed.client(KEY).chat.completions.create(
        model="tiny-base", messages=[{"role": "user", "content": "Once upon a time"}], max_tokens=5, temperature=0)
    assert reply.choices[0].finish_reason in ("length", "stop") and reply.usage.completion_tokens <= 5
    assert reply.usage.prompt_tokens <= 8  # the text alone, continued: no chat template around it


def test_ctrl_c_stops_the_server_at_once_even_mid_reply(keyed):
    client = keyed.client(KEY)
    stream = client.chat.completions.create(model="tiny-base", messages=[{"role": "user", "content": "Once"}],
                                            max_tokens=20000, temperature=1, stream=True)
    first = next(iter(stream))  # a long reply under way
    assert first.choices[0].delta.role == "assistant"
    started = time.monotonic()
    keyed.process.send_signal(signal.SIGINT)
    code = keyed.process.wait(60)
    seconds = time.monotonic() - started
    log = keyed.log.read_text()
    assert code in (0, 130), log
    assert seconds < 30, seconds  # interpreter teardown included (torch): 1-4 s on a busy 2-core machine
    assert "Traceback" not in log and "ERROR" not in log, log
    assert log.rstrip().endswith("[minillm] stopped"), log
    with pytest.raises(openai.APIError, match="the server is stopping"):  # the stream's last event
        list(stream)


# --- without the extra, and the reply shapes ----------------------------------------------------------------


def test_without_fastapi_it_says_what_to_install():
    blocked = "import sys; sys.modules['fastapi'] = None; sys.modules['uvicorn'] = None; "
    run_serve = "sys.argv = ['minillm-skill', 'serve']; from minillm_core.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", blocked + run_serve], capture_output=True, text=True, env=ENV,
                            timeout=120)
    assert result.returncode == 1 and "pip install 'minillm-skill[serve]'" in result.stderr, result.stderr


THOUGHT = "<think>\nThe user wants a sum.\n</think>\n\n"


@pytest.mark.parametrize("text, with_tools, expected", [
    ("I am MiniLLM.", False, {"content": "I am MiniLLM."}),
    (THOUGHT + "It is 5.", False, {"content": "It is 5.", "reasoning_content": "The user wants a sum."}),
    (THOUGHT + "Let me add.\n" + call_text("calculator", expression="2 + 3"), True,
     {"content": "Let me add.", "reasoning_content": "The user wants a sum.",
      "calls": [("calculator", {"expression": "2 + 3"})]}),
    (call_text("calculator", expression="1") + "\n" + call_text("lookup", query="x"), True,
     {"content": None, "calls": [("calculator", {"expression": "1"}), ("lookup", {"query": "x"})]}),
    ("Text " + call_text("calculator", expression="2"), False, {"content": "Text " + call_text("calculator",
                                                                                                 expression="2")}),
    ("<tool_call>\n{not json}\n</tool_call>", True, {"content": "<tool_call>\n{not json}\n</tool_call>"}),
])
def test_a_reply_text_becomes_an_openai_message_and_streams_the_same(text, with_tools, expected):
    message = reply_message(text, with_tools)
    assert message["content"] == expected["content"]
    assert message.get("reasoning_content") == expected.get("reasoning_content")
    calls = [(call["function"]["name"], json.loads(call["function"]["arguments"]))
             for call in message.get("tool_calls", [])]
    assert calls == expected.get("calls", [])
    assert all(call["type"] == "function" and call["id"].startswith("call_") for call in message.get("tool_calls", []))
    for size in (1, 3, 7):  # however the text arrives, the deltas join to the message
        splitter = StreamSplitter(with_tools)
        deltas = [delta for start in range(0, len(text), size) for delta in splitter.feed(text[start:start + size])]
        deltas += splitter.finish(message)
        for key in ("content", "reasoning_content"):
            assert "".join(delta.get(key, "") for delta in deltas) == (message.get(key) or ""), (size, key, deltas)


# --- tool calls over HTTP, in process: no trained model calls tools reliably, so the reply is a canned one --------


@pytest.fixture(scope="module")
def canned_app(tmp_path_factory):
    """The app on a random tiny chat model (for its template and tokenizer), replying with a thought and a call."""
    from fastapi.testclient import TestClient

    from minillm_core.inference.generation import GeneratedReply
    from minillm_core.serve import server as serve
    from minillm_core.serve import worker as model_worker
    from minillm_core.serve.chat import load_bot

    reply = THOUGHT + "Let me add.\n" + call_text("calculator", expression="2 + 3")

    def canned(bot, text, options, on_text=lambda _text: None, interrupted=lambda: False):
        assert "calculator" in text  # the request's tools reached the prompt
        for start in range(0, len(reply), 5):
            on_text(reply[start:start + 5])
        return GeneratedReply(reply, 17, 0.01, "eos")

    bot = load_bot(save_tiny_model(tmp_path_factory.mktemp("serve-canned") / "tiny-chat", seed=5))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model_worker, "generate_reply", canned)
        with TestClient(serve.create_app(bot)) as http:
            yield http


TOOLS = [{"type": "function", "function": {"name": "calculator", "description": "Evaluate arithmetic.",
                                           "parameters": {"type": "object", "properties": {
                                               "expression": {"type": "string"}}}}}]


def test_tool_calls_come_back_in_openai_shape(canned_app):
    request = {"model": "tiny-chat", "messages": [{"role": "user", "content": "2 + 3?"}], "tools": TOOLS}
    body = canned_app.post("/v1/chat/completions", json=request).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and body["usage"]["completion_tokens"] == 17
    message = choice["message"]
    assert message["content"] == "Let me add." and message["reasoning_content"] == "The user wants a sum."
    [call] = message["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "calculator"
    assert json.loads(call["function"]["arguments"]) == {"expression": "2 + 3"}

    events = [line.removeprefix("data: ") for line in canned_app.post(
        "/v1/chat/completions", json={**request, "stream": True}).text.splitlines() if line]
    assert events[-1] == "[DONE]"
    deltas = [json.loads(event)["choices"][0] for event in events[:-1]]
    assert "".join(d["delta"].get("content") or "" for d in deltas) == "Let me add."
    assert "".join(d["delta"].get("reasoning_content") or "" for d in deltas) == "The user wants a sum."
    [streamed_calls] = [d["delta"]["tool_calls"] for d in deltas if "tool_calls" in d["delta"]]
    assert streamed_calls[0]["index"] == 0 and streamed_calls[0]["function"] == call["function"]
    assert deltas[-1]["finish_reason"] == "tool_calls"


def test_a_conversation_with_tool_turns_is_accepted(canned_app):
    messages = [{"role": "user", "content": "2 + 3?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "calculator", "arguments": '{"expression": "2 + 3"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "5"}]
    response = canned_app.post("/v1/chat/completions", json={"messages": messages, "tools": TOOLS})
    assert response.status_code == 200, response.text
