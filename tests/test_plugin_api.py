"""The plugin API: plugins import minillm_core.api alone; every name it lists resolves; the training_callbacks
hook reaches every step, contained; the guide's tracker plugin works as printed."""

from __future__ import annotations

import ast
import csv
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from transformers import TrainerCallback

from minillm_core import api
from minillm_core.cli import cli
from minillm_core.plugins.hookspecs import hookimpl
from minillm_core.plugins.host import get_host

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"


def minillm_imports(path: Path) -> list[str]:
    """The minillm_core modules a Python file imports (`from minillm_core import api` counts as .api)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "minillm_core"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "minillm_core":
            found += ([f"minillm_core.{alias.name}" for alias in node.names] if node.module == "minillm_core"
                      else [node.module])
    return found


def test_plugins_import_nothing_of_minillm_core_but_the_api():
    files = sorted((ROOT / "plugins").rglob("*.py"))
    assert len(files) > 5
    outside = {f"{path.relative_to(ROOT)}: {module}" for path in files for module in minillm_imports(path)
               if module != "minillm_core.api"}
    assert not outside, "plugins must import from minillm_core.api only:\n" + "\n".join(sorted(outside))
    assert any("minillm_core.api" in minillm_imports(path) for path in files)  # the check sees real imports


def test_every_api_name_resolves_and_an_unknown_one_lists_them():
    assert re.fullmatch(r"\d+\.\d+\.\d+", api.PLUGIN_API_VERSION)
    assert all(getattr(api, name) is not None for name in api.__all__)
    with pytest.raises(AttributeError, match="its public names are: PLUGIN_API_VERSION, hookimpl"):
        api.load_modle  # noqa: B018 - the misspelling is the point


def test_importing_the_api_loads_no_training_code():
    code = "import sys, minillm_core.api; print(sorted(m for m in ('minillm_core.train.training', 'trl', 'peft') " \
           "if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def guide_block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    return next(block for block in blocks if marker in block)


class Raises(TrainerCallback):
    calls = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        Raises.calls += 1
        raise RuntimeError("the tracker's server is down")


class Exits(TrainerCallback):
    calls = 0

    def on_step_end(self, args, state, control, **kwargs):
        Exits.calls += 1
        sys.exit(5)


class Counts(TrainerCallback):
    steps: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        Counts.steps.append(state.global_step)


def plugin(name: str, function) -> types.ModuleType:
    module = types.ModuleType(name)
    module.training_callbacks = hookimpl(function)
    return module


def test_training_callbacks_reach_every_step_and_one_that_raises_is_switched_off(tmp_path):
    tracker = types.ModuleType("minillm_skill_csvlog_plugin")
    exec(compile(guide_block("class LossToCsv"), str(GUIDE), "exec"), tracker.__dict__)  # noqa: S102 - our docs
    host = get_host()
    host.register(tracker, name="csvlog")
    host.register(plugin("counting", lambda run: [Counts()]), name="counting")
    host.register(plugin("broken", lambda run: [Raises(), "not a callback"]), name="broken")
    host.register(plugin("quitter", lambda run: [Exits()]), name="quitter")
    args = ["run", "pretrain", "--workdir", str(tmp_path), "--json", "--set", "max_steps=4", "--set", "log_steps=1",
            "--set", "answer_check=false"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stages"][0]["status"] == "ok"
    assert Counts.steps == [1, 2, 3, 4]
    with (tmp_path / "logs" / "pretrain_loss.csv").open() as handle:  # the guide's tracker, as printed
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [1, 2, 3, 4] and all(float(row["loss"]) > 0 for row in rows)
    assert Raises.calls == 1 and Exits.calls == 1  # switched off after its first error: training went on
    errors = " ".join(f"{problem['plugin']}: {problem['error']}" for problem in report["plugin_errors"])
    assert "broken: RuntimeError: the tracker's server is down" in errors
    assert "broken: training_callbacks returned 'not a callback', not a transformers TrainerCallback" in errors
    assert "quitter: SystemExit: the plugin called sys.exit(5)" in errors


def test_sys_exit_in_a_plugins_trainer_callback_is_contained_and_reported():
    """In-process, no training: the wrapped callback as the Trainer calls it."""
    from minillm_core.train.plugin_callbacks import plugin_callbacks

    Exits.calls = 0
    host = get_host()
    host.register(plugin("quitter", lambda run: [Exits()]), name="quitter")
    [callback] = plugin_callbacks(run=None)
    assert callback.on_step_end(None, None, None) is None  # no SystemExit out of it
    callback.on_step_end(None, None, None)
    assert Exits.calls == 1  # switched off after the first
    [problem] = host.problems
    assert (problem.plugin, problem.when) == ("quitter", "training_callbacks (on_step_end, switched off)")
    assert problem.error.startswith("SystemExit: the plugin called sys.exit(5)")


def test_a_plugins_tool_that_exits_or_has_bad_parameters_is_an_error_not_a_crash():
    from minillm_core.api import Tool, parse_tool_calls, run_tool_call

    def leave(**arguments):
        sys.exit(2)

    exits = Tool("leave", "Leave.", {"type": "object", "properties": {}}, leave)
    shapeless = Tool("shapeless", "No schema.", None, lambda: "never")
    tools = {tool.name: tool for tool in (exits, shapeless)}
    [call] = parse_tool_calls('<tool_call>{"name": "leave", "arguments": {}}</tool_call>')
    assert run_tool_call(call, tools) == ("error: the tool leave called sys.exit(2)", False)
    [call] = parse_tool_calls('<tool_call>{"name": "shapeless", "arguments": {}}</tool_call>')
    text, ran = run_tool_call(call, tools)
    assert not ran and text.startswith("error: the tool shapeless cannot be called: its parameters must be a JSON "
                                       "schema object")
    # Registered by a plugin, the shapeless tool is refused and reported; the one that exits is offered.
    tooling = types.ModuleType("tooling")
    tooling.register_chat_tools = hookimpl(lambda register: (register(shapeless), register(exits)))
    host = get_host()
    host.register(tooling, name="tooling")
    assert list(host.chat_tools()) == ["calculator", "lookup", "leave"]
    [problem] = host.problems
    assert (problem.plugin, problem.when) == ("tooling", "register_chat_tools")
    assert problem.error.startswith("tool 'shapeless': its parameters must be a JSON schema object")
    assert problem.error.endswith("got None; this one is ignored")


def test_the_guides_chat_tool_is_offered_called_and_a_clash_is_reported(monkeypatch):
    from minillm_core.api import Tool
    from minillm_core.inference.replies import tool_turns
    from minillm_core.inference.tools import CALCULATOR

    counter = types.ModuleType("minillm_skill_words")
    exec(compile(guide_block("def word_count"), str(GUIDE), "exec"), counter.__dict__)  # noqa: S102 - our docs
    clash = types.ModuleType("clash")
    clash.register_chat_tools = hookimpl(lambda register: (register(Tool("calculator", "mine", {}, str)),
                                                           register("not a tool")))
    host = get_host()
    host.register(counter, name="words")
    host.register(clash, name="clash")
    tools = host.chat_tools()
    assert list(tools) == ["calculator", "lookup", "word_count"] and tools["calculator"] is CALCULATOR
    call = '<tool_call>\n{"name": "word_count", "arguments": {"text": "a tiny agent"}}\n</tool_call>'
    assert tool_turns(call, tools)[1] == [{"name": "word_count", "arguments": {"text": "a tiny agent"},
                                           "result": "3", "ok": True}]
    errors = [f"{problem.plugin}: {problem.error}" for problem in host.problems]
    assert "clash: tool 'calculator' is already registered by minillm-skill; this one is ignored" in errors
    assert "clash: register() expects a Tool, got str" in errors


TASK_YAML = """\
task: pets_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: pets.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "{{question}}"
doc_to_choice: choices
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


@pytest.mark.slow
def test_a_plugins_eval_task_runs_on_every_model_offline(tmp_path):
    from tests.helpers import invoke, save_tiny_model

    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "pets_mc.yaml").write_text(TASK_YAML)
    rows = [{"question": "What does a cat say?", "choices": ["Meow.", "Woof.", "Moo."], "answer": 0},
            {"question": "What does a dog say?", "choices": ["Meow.", "Woof.", "Moo."], "answer": 1}]
    (folder / "pets.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    tasks = types.ModuleType("minillm_skill_pets")
    tasks.register_eval_tasks = hookimpl(lambda register: (register(folder, ["pets_mc"]),
                                                           register(tmp_path / "missing", ["gone"])))
    get_host().register(tasks, name="pets")
    model = save_tiny_model(tmp_path / "out" / "sft", seed=5)
    result = invoke("run", "eval", "--workdir", str(tmp_path), "--json", "--set", f"models={model}",
                    "--set", "baseline=false", "--set", "arithmetic=false", "--set", "samples=0")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    metrics = report["stages"][0]["metrics"]
    assert metrics["models"]["sft"]["tasks"]["pets_mc"]["docs"] == 2
    assert 0.0 <= metrics["sft_pets_mc_acc"] <= 1.0
    assert "| pets_mc acc |" in report["stages"][0]["details"]
    errors = [f"{problem['plugin']}: {problem['error']}" for problem in report["plugin_errors"]]
    assert any(error.startswith("pets: register(") and "no such folder" in error for error in errors), errors
