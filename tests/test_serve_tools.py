"""`serve`'s tool endpoints, which the web chat runs its tool loop through: GET /v1/tools and POST /v1/tools/run.
In process (FastAPI's TestClient); no model: these endpoints never touch it, so the bot holds a stand-in."""

from __future__ import annotations

import json
import types
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402  (after the skips)

from minillm_core.inference.tools import BUILTIN_TOOLS, Tool, parse_tool_calls, run_tool_call  # noqa: E402
from minillm_core.plugins.hookspecs import hookimpl  # noqa: E402
from minillm_core.plugins.host import get_host  # noqa: E402
from minillm_core.serve.chat import MAX_TOOL_ROUNDS, Bot  # noqa: E402
from minillm_core.serve.server import create_app  # noqa: E402
from tests.helpers import call_text  # noqa: E402

SHOUT = Tool("shout", "Say it loudly.", {"type": "object", "properties": {"text": {"type": "string"}},
                                          "required": ["text"]}, lambda text: text.upper() + "!")


def app(tmp_path, **options) -> TestClient:
    bot = Bot(tmp_path / "tiny-chat", SimpleNamespace(config=SimpleNamespace()), None, "chat")
    return TestClient(create_app(bot, max_tokens=16, **options))


def register_shout() -> None:
    plugin = types.ModuleType("shouting")
    plugin.register_chat_tools = hookimpl(lambda register: register(SHOUT))
    get_host().register(plugin, name="shouting")


def run(http: TestClient, name: str, arguments: object) -> tuple[int, dict]:
    response = http.post("/v1/tools/run", json={"name": name, "arguments": arguments})
    return response.status_code, response.json()


def test_the_built_in_tools_are_listed_with_their_schemas_and_the_round_limit(tmp_path):
    with app(tmp_path) as http:
        listing = http.get("/v1/tools").json()
    assert listing["data"] == [tool.schema() for tool in BUILTIN_TOOLS]
    assert listing["max_rounds"] == MAX_TOOL_ROUNDS


def test_the_calculator_runs_and_answers_as_chat_tools_gives_the_model(tmp_path):
    with app(tmp_path) as http:
        as_string = run(http, "calculator", json.dumps({"expression": "347 + 589"}))  # OpenAI's form
        as_object = run(http, "calculator", {"expression": "347 + 589"})
        failed = run(http, "calculator", {"expression": "1 / 0"})
        fact = run(http, "lookup", {"query": "capital of France"})
    assert as_string == as_object == (200, {"name": "calculator", "arguments": {"expression": "347 + 589"},
                                            "result": "936", "ok": True})
    # A tool that fails on its arguments ran: its error text is what the model gets back, as in `chat --tools`.
    [division] = parse_tool_calls(call_text("calculator", expression="1 / 0"))
    same = run_tool_call(division, {tool.name: tool for tool in BUILTIN_TOOLS})
    assert failed[0] == 200 and (failed[1]["result"], failed[1]["ok"]) == same == ("error: division by zero", False)
    assert fact[0] == 200 and fact[1]["ok"] and "Paris" in fact[1]["result"], fact


@pytest.mark.parametrize(("name", "arguments", "status", "param", "said"), [
    ("weather", {}, 404, "name", "no tool 'weather'; this server runs calculator, lookup"),
    ("calculator", {}, 400, "arguments", "calculator needs the argument(s) expression"),
    ("calculator", "{not json", 400, "arguments", "arguments is not valid JSON"),
    ("calculator", "[1, 2]", 400, "arguments", "arguments must be a JSON object"),
    ("calculator", 7, 400, "arguments", "arguments"),
])
def test_a_call_the_server_cannot_run_is_a_4xx_in_openais_shape(tmp_path, name, arguments, status, param, said):
    with app(tmp_path) as http:
        code, body = run(http, name, arguments)
        nameless = http.post("/v1/tools/run", json={"arguments": {}})
        not_json = http.post("/v1/tools/run", content=b"calculator")
    assert code == status and body["error"]["param"] == param and said in body["error"]["message"], body
    assert body["error"]["type"] == "invalid_request_error"
    assert nameless.status_code == 400 and nameless.json()["error"]["param"] == "name", nameless.json()
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]["message"]


def test_a_plugins_tool_is_refused_without_the_flag_and_runs_with_it(tmp_path):
    register_shout()
    with app(tmp_path) as http:
        listed = [schema["function"]["name"] for schema in http.get("/v1/tools").json()["data"]]
        code, body = run(http, "shout", {"text": "hi"})
    assert listed == ["calculator", "lookup"]
    assert code == 403 and body["error"]["code"] == "tool_not_enabled", body
    assert "`minillm-skill serve --plugin-tools`" in body["error"]["message"]
    with app(tmp_path, plugin_tools=True) as http:
        listed = [schema["function"]["name"] for schema in http.get("/v1/tools").json()["data"]]
        code, body = run(http, "shout", {"text": "hi"})
    assert listed == ["calculator", "lookup", "shout"]
    assert (code, body["result"], body["ok"]) == (200, "HI!", True)


def test_the_tool_endpoints_need_the_api_key_as_the_others_do(tmp_path):
    with app(tmp_path, api_key="sk-tools") as http:
        refused = [http.get("/v1/tools"), http.post("/v1/tools/run", json={"name": "calculator"})]
        allowed = http.post("/v1/tools/run", headers={"Authorization": "Bearer sk-tools"},
                            json={"name": "calculator", "arguments": {"expression": "2 + 3"}})
    assert [response.status_code for response in refused] == [401, 401]
    assert refused[0].json()["error"]["code"] == "invalid_api_key"
    assert allowed.json()["result"] == "5"


@pytest.mark.parametrize("flag", [False, True])
def test_serve_runs_a_plugins_tools_only_with_plugin_tools(tmp_path, monkeypatch, flag):
    """The command's wiring: the flag reaches the app, and without it the start says what it holds back."""
    from click.testing import CliRunner

    from minillm_core.serve import server

    served = []
    monkeypatch.setattr(server, "load_bot", lambda path, mode: Bot(path, SimpleNamespace(config=SimpleNamespace()),
                                                                    None, "chat"))
    monkeypatch.setattr(server, "_run_server", lambda app, host, port, path: served.append(app))
    register_shout()
    model = tmp_path / "tiny-chat"
    model.mkdir()
    result = CliRunner().invoke(server.serve_command, ["--model", str(model), "--max-tokens", "16"]
                                + ["--plugin-tools"] * flag)
    assert result.exit_code == 0, result.output
    [app] = served
    assert ("shout" in app.state.tools.offered) is flag
    assert ("the plugins' tools shout are not run for the web chat; --plugin-tools runs them" in result.output) \
        is not flag
