"""Bad options and inputs, table-driven: each is refused before any work with the documented exit code
(2 usage, 3 precondition), one JSON document under --json, no traceback, a message naming the option,
file or line, and nothing written to the work directory. Human mode shows the same message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli
from minillm_core.contract.outputs import MARKER

USAGE, PRECONDITION = 2, 3
GBK_RECORD = '{"text": "中文"}\n'.encode("gbk")
SFT_RECORD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A work directory holding data files, good and bad, a folder of the user's and a pretrained model's."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    data = work / "data"
    (data / "pt_gbk.jsonl").write_bytes(GBK_RECORD)
    (data / "pt_bad_line2.jsonl").write_text('{"text": "fine"}\n{"text": \n')
    (data / "pt_all_bad.jsonl").write_text('{"text": 5}\n{"text": [1]}\n{"text": null}\n')
    (data / "empty.jsonl").write_text("")
    (data / "sft.jsonl").write_text(json.dumps(SFT_RECORD) + "\n")
    (data / "sft_bad_line3.jsonl").write_text(json.dumps(SFT_RECORD) + "\n" + json.dumps(SFT_RECORD) + "\n"
                                              + '{"messages": [{"role": "user", "content": 1}]}\n')
    (data / "dpo_no_rejected.jsonl").write_text('{"prompt": "p", "chosen": "c"}\n')
    (data / "bad_preset.yaml").write_text("description: no architecture\n")
    (data / "not_yaml.yaml").write_text("lr: [1,\n")
    (work / "mine").mkdir()
    (work / "mine" / "thesis.tex").write_text("years of work\n")
    (work / "notes.txt").write_text("mine\n")
    (work / "not-a-model").mkdir()
    (work / "not-a-model" / "readme.md").write_text("no config.json here\n")
    pretrain = work / "out" / "pretrain"
    pretrain.mkdir(parents=True)
    (pretrain / "config.json").write_text("{}")
    (pretrain / MARKER).write_text('{"stage": "pretrain"}')
    (work / "logs").mkdir()
    (work / "logs" / "pretrain.jsonl").write_text('{"step": 1, "loss": 9.0}\n')  # the log of that model
    (work / "out" / "tokenizer").mkdir()
    (work / "out" / "tokenizer" / MARKER).write_text('{"stage": "tokenizer"}')
    (work / "cfg" / "deep").mkdir(parents=True)
    (work / "cfg" / "deep" / "up.yaml").write_text("output: ../..\n")
    (work / "cfg" / "epochs.yaml").write_text("epochs: -1\n")
    (work / "cfg" / "outside.yaml").write_text("output: ../../elsewhere\n")
    (work / "cfg" / "binary.yaml").write_bytes(bytes(range(128, 256)))
    return work


CASES = [
    # (skill, arguments, exit code, text the message must contain)
    ("pretrain", ["--set", "batch_size=0"], USAGE,
     "option 'batch_size': '0' is not allowed: must be a whole number from 1, or auto"),
    ("pretrain", ["--set", "batch_size=-3"], USAGE, "option 'batch_size'"),
    ("pretrain", ["--set", "batch_size=many"], USAGE,
     "option 'batch_size': 'many' is not allowed: must be a whole number from 1, or auto"),
    ("pretrain", ["--set", "grad_accum=0"], USAGE, "option 'grad_accum'"),
    ("pretrain", ["--set", "lr=-1"], USAGE, "option 'lr': '-1' is not allowed"),
    ("pretrain", ["--set", "lr=0"], USAGE, "option 'lr'"),
    ("pretrain", ["--set", "lr=nan"], USAGE, "option 'lr'"),
    ("pretrain", ["--set", "warmup_ratio=-1"], USAGE, "option 'warmup_ratio'"),
    ("pretrain", ["--set", "warmup_ratio=1.5"], USAGE, "option 'warmup_ratio'"),
    ("pretrain", ["--set", "log_steps=0"], USAGE, "option 'log_steps'"),
    ("pretrain", ["--set", "save_steps=0"], USAGE, "option 'save_steps'"),
    ("pretrain", ["--set", "max_seq_len=-5"], USAGE, "option 'max_seq_len'"),
    ("pretrain", ["--set", "max_steps=0"], USAGE, "option 'max_steps'"),
    ("pretrain", ["--set", "max_steps=-2"], USAGE, "option 'max_steps'"),
    ("pretrain", ["--set", "max_steps=1.5"], USAGE, "option 'max_steps': '1.5' is not a valid int"),
    ("pretrain", ["--set", "epochs=-1"], USAGE, "option 'epochs': '-1' is not allowed"),
    ("sft", ["--set", "epochs=0"], USAGE, "option 'epochs'"),
    ("pretrain", ["--set", "seed=-1"], USAGE, "option 'seed'"),
    ("pretrain", ["--set", "bf16=maybe"], USAGE, "option 'bf16': 'maybe' is not allowed: must be one of auto"),
    ("pretrain", ["--set", "compile=sometimes"], USAGE, "option 'compile'"),
    ("pretrain", ["--set", "lenient=perhaps"], USAGE, "option 'lenient': 'perhaps' is not a valid bool"),
    ("sft", ["--set", "lora=perhaps"], USAGE, "option 'lora'"),
    ("dpo", ["--set", "beta=0"], USAGE, "option 'beta'"),
    ("pretrain", ["--set", "preset=huge"], USAGE, "unknown model preset 'huge'; valid presets: tiny"),
    ("pretrain", ["--set", "preset=missing.yaml"], USAGE, "no preset file"),
    ("pretrain", ["--set", "preset=data/bad_preset.yaml"], USAGE, "bad_preset.yaml: a model preset file needs"),
    ("pretrain", ["--set", "preset="], USAGE, "option 'preset' needs a value"),
    ("pretrain", ["--set", "dataset="], USAGE, "option 'dataset' needs a value"),
    ("sft", ["--set", "dataset=none"], USAGE, "option 'dataset' needs a value"),
    ("pretrain", ["--set", "nosuchkey=1"], USAGE, "unknown option 'nosuchkey'"),
    ("pretrain", ["--set", "lr"], USAGE, "--set expects KEY=VALUE, got 'lr'"),
    ("bot-start", ["--set", "nostep.lr=1"], USAGE, "'nostep' is not a step of this run"),
    ("pretrain", ["--config", "cfg/missing.yaml"], USAGE, "config file not found"),
    ("pretrain", ["--config", "data/not_yaml.yaml"], USAGE, "not_yaml.yaml is not valid YAML"),
    ("pretrain", ["--config", "cfg/epochs.yaml"], USAGE, "option 'epochs': -1 is not allowed"),
    # Outputs a stage may not replace: usage errors, and nothing is deleted.
    ("pretrain", ["--set", "output=."], USAGE, "is the work directory itself"),
    ("pretrain", ["--set", "output=.."], USAGE, "is outside the work directory"),
    ("pretrain", ["--set", "output=/"], USAGE, "is outside the work directory"),
    ("pretrain", ["--config", "cfg/deep/up.yaml"], USAGE, "is the work directory itself"),
    ("pretrain", ["--config", "cfg/outside.yaml"], USAGE, "is outside the work directory"),
    ("pretrain", ["--set", "output=out"], USAGE, "is one of the project's own folders"),
    ("pretrain", ["--set", "output=out/.checkpoints"], USAGE, "is one of the project's own folders"),
    ("pretrain", ["--set", "output=data"], USAGE, "data exists and was not written by a pretrain run"),
    ("pretrain", ["--set", "output=mine"], USAGE, "mine exists and was not written by a pretrain run"),
    ("pretrain", ["--set", "output=logs/x"], USAGE, "is one of the project's own folders"),
    ("pretrain", ["--set", "output=notes.txt"], USAGE, "notes.txt is a file, not a folder"),
    ("sft", ["--set", "output=out/pretrain"], USAGE, "holds the model of stage 'pretrain', not sft"),
    ("sft", ["--set", "output=out/pretrain/sub"], USAGE, "is inside the model folder"),
    ("bot-start", ["--set", "output=out/x"], USAGE, "would both save to"),
    # Preconditions: exit 3, naming the path, the file and line.
    ("pretrain", ["--set", "tokenizer=/nonexistent"], PRECONDITION, "/nonexistent is not a folder"),
    ("pretrain", ["--set", "tokenizer=not-a-model"], PRECONDITION, "not-a-model holds no tokenizer"),
    ("sft", ["--set", "init=not-a-model"], PRECONDITION, "not-a-model is not a model folder"),
    ("pretrain", ["--set", "init=not-a-model"], PRECONDITION, "not-a-model is not a model folder"),
    ("sft", ["--set", "init=/nonexistent/model"], PRECONDITION, "missing: /nonexistent/model"),
    ("sft", ["--set", "init=nobody/no-such-model"], PRECONDITION, "hub id nobody/no-such-model is not in the local"),
    ("pretrain", ["--set", "dataset=data/pt_gbk.jsonl"], PRECONDITION, "pt_gbk.jsonl:1: not UTF-8 text"),
    ("pretrain", ["--set", "dataset=data/pt_bad_line2.jsonl"], PRECONDITION, "pt_bad_line2.jsonl:2: not valid JSON"),
    ("pretrain", ["--set", "dataset=data/pt_all_bad.jsonl"], PRECONDITION, "pt_all_bad.jsonl:1: text must be a string"),
    ("pretrain", ["--set", "dataset=data/pt_all_bad.jsonl", "--set", "lenient=true"], PRECONDITION,
     "pt_all_bad.jsonl: every record is malformed (3 skipped)"),
    ("pretrain", ["--set", "dataset=data/empty.jsonl"], PRECONDITION, "empty.jsonl: the file holds no records"),
    ("pretrain", ["--set", "dataset=data/sft.jsonl"], PRECONDITION, "sft.jsonl looks like sft data"),
    ("pretrain", ["--set", "dataset=data/absent.jsonl"], PRECONDITION, "absent.jsonl"),
    ("pretrain", ["--set", "dataset=minimind-pretrain"], PRECONDITION, "not downloaded yet"),
    ("sft", ["--set", "dataset=data/sft_bad_line3.jsonl"], PRECONDITION, "sft_bad_line3.jsonl:3: user content"),
    ("dpo", ["--set", "dataset=data/dpo_no_rejected.jsonl", "--set", "init=out/pretrain"], PRECONDITION,
     "dpo_no_rejected.jsonl"),
    ("dpo", [], PRECONDITION, "missing: out/sft"),
    # Found only after work had begun, once (issue 27): each is now refused before any.
    ("tokenizer", ["--set", "vocab_size=2000", "--set", "compare=/nonexistent"], USAGE,
     "option 'compare': '/nonexistent' is not allowed: missing: /nonexistent is not a folder"),
    ("tokenizer", ["--set", "compare=not-a-model"], USAGE, "not-a-model holds no tokenizer"),
    ("pretrain", ["--set", "args.weight_decay=abc"], USAGE, "args.weight_decay: 'abc' is not a number"),
    ("pretrain", ["--set", "args.max_steps=abc"], USAGE, "args.max_steps: 'abc' is not a whole number"),
    ("pretrain", ["--set", "args.lr_scheduler_type=bogus"], USAGE, "is not one of linear, cosine"),
    ("pretrain", ["--set", "args.report_to=wandb"], USAGE, "use `--set report_to=...`"),
    ("dpo", ["--set", "loss_type=bogus"], USAGE, "bogus: each term must be one of sigmoid"),
    ("dpo", ["--set", "loss_weights=1,x"], USAGE, "option 'loss_weights'"),
    ("eval", ["--set", "samples=-3"], USAGE, "option 'samples': '-3' is not allowed"),
    ("eval", ["--set", "limit=-1"], USAGE, "option 'limit': '-1' is not allowed"),
    ("eval", ["--set", "prompts=data/empty.jsonl"], USAGE, "empty.jsonl holds no prompt"),
    ("eval", ["--set", "prompts=mine"], USAGE, "mine is a folder, not a text file of prompts"),
    ("eval", ["--set", "prompts=data/pt_gbk.jsonl"], USAGE, "pt_gbk.jsonl is not UTF-8 text"),
    ("download-data", ["--set", "source=ftp"], USAGE, "option 'source': 'ftp' is not allowed"),
    ("env-check", ["--set", "hub_timeout=-1"], USAGE, "option 'hub_timeout': '-1' is not allowed"),
    ("pretrain", ["--set", "max_steps=99999999999999999999999"], USAGE, "more steps than any run could finish"),
    ("pretrain", ["--set", "push_to_hub=../evil"], USAGE, "must be a hub repository id, ORG/NAME"),
    ("pretrain", ["--config", "cfg/binary.yaml"], USAGE, "binary.yaml is not UTF-8 text"),
    # Click's own usage errors: one JSON document too.
    ("pretrain", ["--config", "cfg"], USAGE, "is a directory"),
    ("pretrain", ["--workdir", "notes.txt"], USAGE, "notes.txt' is a file"),
    ("pretrain", ["--no-such-flag"], USAGE, "No such option '--no-such-flag'"),
]


def _files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def _ids(case) -> str:
    return f"{case[0]} {' '.join(case[1])}"


@pytest.mark.parametrize("skill, args, code, message", CASES, ids=[_ids(case) for case in CASES])
def test_bad_input_is_refused_before_any_work(work, monkeypatch, skill, args, code, message):
    monkeypatch.chdir(work)  # --set paths are taken against the current directory
    before = _files(work)
    result = CliRunner().invoke(cli, ["run", skill, "--workdir", str(work), "--json", *args])
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    report = json.loads(result.stdout)  # exactly one JSON document
    assert message in json.dumps(report, ensure_ascii=False), report
    assert "Traceback" not in result.output
    assert _files(work) == before  # nothing written, nothing deleted
    human = CliRunner().invoke(cli, ["run", skill, "--workdir", str(work), *args])
    assert human.exit_code == code and message in human.output and "Traceback" not in human.output
    assert _files(work) == before


def test_at_least_40_cases():
    assert len(CASES) >= 40


def test_dpo_takes_every_loss_type_trl_names_and_no_other():
    import dataclasses
    import re

    from trl import DPOConfig

    from minillm_core.plugins.host import get_host

    field = next(f for f in dataclasses.fields(DPOConfig) if f.name == "loss_type")
    named = re.findall(r"`'(\w+)'`", field.metadata["help"])
    valid = get_host().get_skill("dpo").options["loss_type"].valid
    assert len(named) >= 10 and all(valid(name) is None for name in named)
    assert valid(",".join(named[:2])) is None and valid("sigmoid,bogus") is not None
