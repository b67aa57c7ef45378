"""The docs cannot drift from the code: figures, versions, skill lists, paths, module names and defaults.

A measured figure lives in docs/results/ and the Markdown quotes it only in generated blocks (docs/figures.py).
Everything else a doc states that the code decides is read back from the code here. Each check is a function
of a document's text that returns its problems, so that `test_each_old_contradiction_is_caught` can put the
contradictions found in the docs back, one at a time, and see each one reported.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from minillm_core import api
from minillm_core.eval import answers, arithmetic
from minillm_core.export.gguf import ollama_modelfile
from minillm_core.model.presets import DEFAULT_VOCAB_SIZE, vocab_size_for
from minillm_core.model.tokenizer import RESERVED_TOKENS, load_tokenizer
from minillm_core.serve.chat import chat_command
from minillm_core.train import answer_check, speedups, tokenizer_training
from minillm_core.util import cpu_threads
from minillm_core.util.resources import shipped_path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("docs_figures", REPO / "docs" / "figures.py")
figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(figures)

DOCS = figures.documents()
SKILL_FILES = [REPO / "SKILL.md", *sorted((REPO / "skills").glob("*/SKILL.md"))]
NUMBER_WORDS = {word: n for n, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}


def doc_id(path: Path) -> str:
    return str(path.relative_to(REPO))


# -- the checks: text -> problems ----------------------------------------------------------------------------


def api_versions(text: str) -> list[str]:
    found = re.findall(r"PLUGIN_API_VERSION`?[^0-9\n]{0,16}(\d+\.\d+\.\d+)", text)
    return [f"PLUGIN_API_VERSION {v}: the code says {api.PLUGIN_API_VERSION}" for v in found
            if v != api.PLUGIN_API_VERSION]


def bot_start_steps() -> list[str]:
    from minillm_core.plugins import get_host

    return list(get_host().get_skill("bot-start").steps)


def skill_lists(text: str) -> list[str]:
    """'bot-start runs eight skills in order: `a`, `b`, ...' must count and name bot-start's steps."""
    steps, problems = bot_start_steps(), []
    pattern = r"runs (\d+|" + "|".join(NUMBER_WORDS) + r") skills(?: in order)?:? ?((?:`[\w-]+`,?\s*(?:and\s*)?)*)"
    for count, listed in re.findall(pattern, text):
        number = NUMBER_WORDS.get(count.lower(), int(count) if count.isdigit() else None)
        if number != len(steps):
            problems.append(f"'runs {count} skills': bot-start runs {len(steps)}")
        names = re.findall(r"`([\w-]+)`", listed)
        if names and names != steps:
            problems.append(f"bot-start's steps listed as {names}: they are {steps}")
    return problems


# Paths that a run writes into the work directory, so they are not in the repository: each named by the
# code that writes it.
WORKDIR_PATHS = {
    "dataset/downloads.json": "minillm_core/hub/download.py",  # NOTE
    "dataset/.cache/huggingface/download": "minillm_core/hub/download.py",  # huggingface_hub's partial files
    "dataset/pretrain_hq.jsonl": "dataset/registry.yaml",  # a registry file, downloaded
}
PATH = re.compile(r"(?<![\w./-])((?:configs|skills|minillm_core|bench|docs|dataset|plugins|tests|\.ci)/[\w./-]*\w)")


def missing_paths(text: str, doc: Path) -> list[str]:
    problems = []
    for path in dict.fromkeys(PATH.findall(text)):
        if path in WORKDIR_PATHS:
            assert path in (REPO / WORKDIR_PATHS[path]).read_text(encoding="utf-8") or \
                Path(path).name in (REPO / WORKDIR_PATHS[path]).read_text(encoding="utf-8"), path
        elif not (REPO / path).exists() and not (doc.parent / path).exists():
            problems.append(f"{path}: no such file in the repository")
    for config in re.findall(r"--config(?:_file)?[ =]([\w./-]+\.ya?ml)", text):
        placeholder = config.split(".")[0].isupper() or config.startswith("my")  # FILE.yaml, my-sft.yaml
        if not placeholder and not (REPO / config).exists():
            problems.append(f"--config {config}: the repository ships no such file")
    return problems


def is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:  # its parent is a module, not a package
        return False


def unknown_modules(text: str) -> list[str]:
    """Each `minillm_core.x.y` a doc names is a module, or a name in one."""
    problems = []
    for dotted in dict.fromkeys(re.findall(r"\bminillm_core(?:\.\w+)+", text)):
        module, attributes = dotted, []
        while module != "minillm_core" and not is_module(module):
            module, _, attribute = module.rpartition(".")
            attributes.insert(0, attribute)
        target = importlib.import_module(module)
        for attribute in attributes:
            target = getattr(target, attribute, None)
        if target is None:
            problems.append(f"{dotted}: no such module or name")
    return problems


def chat_default(text: str) -> list[str]:
    """A doc that shows `chat --prompt` says what temperature chat samples at by default, as the code has it."""
    default = next(p.default for p in chat_command.params if p.name == "temperature")
    stated = re.findall(r"(?:temperature|T=)\s?(\d+(?:\.\d+)?) by default", text)
    problems = [f"chat's default temperature given as {value}: it is {default}" for value in stated
                if float(value) != default]
    if re.search(r"minillm-skill chat [^\n]*--prompt", text) and not stated:
        problems.append(f"chat examples without saying that chat samples at temperature {default} by default")
    return problems


def bot_start_settings(text: str) -> list[str]:
    """'bot-start sets `KEY` VALUE' (or 'sets it VALUE' after `--set KEY=...`) matches its config.yaml."""
    config = yaml.safe_load((REPO / "skills" / "bot-start" / "config.yaml").read_text(encoding="utf-8"))
    values = {key: value for step in config.values() if isinstance(step, dict) for key, value in step.items()}
    values.update({key: value for key, value in config.items() if not isinstance(value, dict)})
    claims = re.findall(r"bot-start sets `(\w+)` (?:to )?`?(\w+)`?", text)
    claims += re.findall(r"--set (\w+)=\w+` [^.]*?; bot-start sets it (\w+)", text)
    return [f"bot-start sets {key} to {values.get(key)!r}, not {value}" for key, value in claims
            if str(values.get(key)).lower() != value.lower()]


# Claims that once contradicted the code. Each is reported wherever it comes back.
RETIRED_CLAIMS = {
    "keeps the better model": "final_model is chosen by the rule in minillm_core/runner/final_model.py: say that",
}


def retired_claims(text: str) -> list[str]:
    return [f"'{claim}': {why}" for claim, why in RETIRED_CLAIMS.items() if claim in text]


CHECKS: dict[str, Callable[..., list[str]]] = {
    "api_versions": api_versions, "skill_lists": skill_lists, "missing_paths": missing_paths,
    "unknown_modules": unknown_modules, "chat_default": chat_default, "bot_start_settings": bot_start_settings,
    "retired_claims": retired_claims,
}


def problems_of(text: str, doc: Path) -> list[str]:
    found = []
    for name, check in CHECKS.items():
        found += check(text, doc) if name == "missing_paths" else check(text)
    return found


# -- figures in SKILL.md files -------------------------------------------------------------------------------


def jsonl_records(name: str) -> int:
    return sum(1 for line in shipped_path(f"dataset/embedded/{name}").open(encoding="utf-8") if line.strip())


def choices_per_question() -> set[int]:
    """How many answers each multiple-choice question offers, over the three mc_*.jsonl files."""
    return {len(json.loads(line)["choices"]) for name in ("identity", "arithmetic", "facts")
            for line in shipped_path(f"dataset/embedded/mc_{name}.jsonl").open(encoding="utf-8") if line.strip()}


def sign_test_rule() -> bool:
    """The answer check's rule as the docs state it: below 5%, which takes 5 lost prompts when none is gained."""
    return answer_check.SIGNIFICANCE == 0.05 and answer_check.MIN_LOST == 5 and \
        answer_check.sign_test(5, 0) < 0.05 <= answer_check.sign_test(4, 0)


def topics() -> Counter:
    return Counter(item.topic for item in answers.load_items())


# Each number a SKILL.md states outside its options table and code, with the code or data it comes from.
# A figure a run measures has no place here: SKILL.md files point to the README's table and docs/performance.md.
SKILL_FACTS: dict[str, dict[str, Callable[[], bool]]] = {
    "SKILL.md": {
        "a sign test below 5%: at least 5 lost when none is gained": sign_test_rule,
    },
    "skills/bot-start/SKILL.md": {
        "a sign test below 5%: at least 5 lost when none is gained": sign_test_rule,
    },
    "skills/download-data/SKILL.md": {
        "within about 2 s": lambda: "timeout_s: float = 2.0" in (REPO / "minillm_core/hub/reach.py").read_text(),
    },
    "skills/eval/SKILL.md": {
        "the share of 192 held-out": lambda: len(answers.load_items()) == 192,
        "answers 192 held-out prompts": lambda: len(answers.load_items()) == 192,
        "24 identity questions, 116 sums, 52 facts": lambda: [topics()[t] for t in ("identity", "arithmetic",
                                                                                    "fact")] == [24, 116, 52],
        "share of 3 sampled answers (temperature 0.7": lambda: (answers.SAMPLES, answers.TEMPERATURE) == (3, 0.7),
        "64 held-out sums and products": lambda: len(arithmetic.load_arithmetic_items()) == 64,
        "96 problems in held-out wordings": lambda: len(arithmetic.load_tool_wording_items()) == 96,
        "numbers of 1 to 6 digits": lambda: {len(str(n)) for item in arithmetic.load_tool_wording_items()
                                             for n in map(int, item.expression.split()[::2])} == set(range(1, 7)),
        "up to 3 replies": lambda: arithmetic.MAX_ROUNDS == 3,
        "common answer of 5 sampled with thinking on, T=0.7": lambda: (arithmetic.SC_SAMPLES,
                                                                        arithmetic.SC_TEMPERATURE) == (5, 0.7),
        "(`embedded-dpo-eval`, 192)": lambda: jsonl_records("dpo_eval.jsonl") == 192,
        "(`embedded-pretrain-eval`, 256 documents)": lambda: jsonl_records("pretrain_eval.jsonl") >= 256,
        "(`embedded-sft-eval`, 192)": lambda: jsonl_records("sft_eval.jsonl") == 192,
        "24 questions (`mc_identity.jsonl`), 4 answers each": lambda: jsonl_records("mc_identity.jsonl") == 24,
        "116 sums, differences and products (`mc_arithmetic.jsonl`), 4 answers each":
            lambda: jsonl_records("mc_arithmetic.jsonl") == 116,
        "52 facts (`mc_facts.jsonl`), 4 answers each": lambda: jsonl_records("mc_facts.jsonl") == 52,
        "192 preference pairs (`dpo_eval.jsonl`) as 2 answers": lambda: jsonl_records("dpo_eval.jsonl") == 192,
        "2432 rows for `tiny`, 6400 for the other presets": lambda: DEFAULT_VOCAB_SIZE == 6400
        and vocab_size_for(load_tokenizer()) == 2432,
        "Chance accuracy is 0.25 on the 4-answer tasks": lambda: choices_per_question() == {4},
        "0.5: compare": lambda: "as 2 answers" in (REPO / "skills/eval/SKILL.md").read_text(),
        "against 0.5.": lambda: "as 2 answers" in (REPO / "skills/eval/SKILL.md").read_text(),
        "four models, 192 held-out prompts each": lambda: len(answers.load_items()) == 192,
    },
    "skills/export/SKILL.md": {
        "temperature 0.7 and top_p 0.9": lambda: inspect.signature(ollama_modelfile).parameters["temperature"].default
        == 0.7 and inspect.signature(ollama_modelfile).parameters["top_p"].default == 0.9,
        "`minimind2` (104M)": lambda: "104M" in (REPO / "minillm_core/model/presets.py").read_text(),
    },
    "skills/pretrain/SKILL.md": {
        "over 450 s uncompiled": lambda: speedups.COMPILE_WORTH_IT_S == 450,
        "checked every 2 s": lambda: cpu_threads.CHECK_EVERY_S == 2,
    },
    "skills/tokenizer/SKILL.md": {
        "One record in 50 (up to 2 MB of text)": lambda: (tokenizer_training.HELD_OUT_EVERY,
                                                          tokenizer_training.HELD_OUT_MAX_BYTES) == (50, 2 * 2**20),
        "a multiple of 64": lambda: vocab_size_for(range(65)) == 128,
        "0 `<|endoftext|>`": lambda: RESERVED_TOKENS[0] == "<|endoftext|>",
        "1 `<|im_start|>`": lambda: RESERVED_TOKENS[1] == "<|im_start|>",
        "2 `<|im_end|>`, 3-8 `<think>`": lambda: RESERVED_TOKENS[2:9] == ["<|im_end|>", "<think>",
                                                      "</think>", "<tool_call>", "</tool_call>", "<tool_response>",
                                                      "</tool_response>"],
    },
}
for _name in ("sft", "dpo"):
    SKILL_FACTS[f"skills/{_name}/SKILL.md"] = {"checked every 2 s": lambda: cpu_threads.CHECK_EVERY_S == 2}
NUMBER = re.compile(r"(?<![\w.`/<|-])\d[\d,]*(?:\.\d+)?(?![\w/-])")


def unexplained_numbers(text: str, facts: dict[str, Callable[[], bool]]) -> list[str]:
    """Numbers in a SKILL.md outside code, options-table rows, exit codes, quotes and the stated facts."""
    front, _, body = text.partition("\n---\n")
    prose = front.split("description:", 1)[-1].split("\n", 1)[0] + "\n" + body
    prose = re.sub(r"```.*?```", "", prose, flags=re.DOTALL)
    for phrase in facts:
        prose = prose.replace(phrase, "")
    prose = "\n".join(line for line in prose.splitlines() if not line.startswith("| `"))
    prose = re.sub(r"`[^`\n]*`|\"[^\"\n]*\"|exit(?: code)? \(?[0-4]\b|code [0-4]\b", "", prose)
    return [f"the figure {n} (line: '{line.strip()[:80]}')" for line in prose.splitlines()
            for n in NUMBER.findall(line)]


# -- the tests -----------------------------------------------------------------------------------------------


def test_every_figures_block_is_what_the_results_give():
    """Regenerate with `python docs/figures.py` after a new docs/results/main-job.json."""
    assert figures.drift() == []


def test_the_readme_is_a_front_page_and_docs_hold_the_rest():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    pages = {path.name for path in (REPO / "docs").glob("*.md")}
    assert len(readme.splitlines()) <= 300
    assert len(pages - {"experiments.md"}) >= 4 and "experiments.md" in pages
    assert "<!-- figures: main-job-eval -->" in readme and "<!-- figures: main-job-summary -->" in readme
    assert all(f"docs/{page}" in readme for page in pages)  # every page is linked from the front page


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_the_doc_agrees_with_the_code(doc):
    assert problems_of(doc.read_text(encoding="utf-8"), doc) == []


@pytest.mark.parametrize("doc", SKILL_FILES, ids=doc_id)
def test_a_skill_md_quotes_no_figure_the_code_does_not_give(doc):
    facts = SKILL_FACTS.get(doc_id(doc), {})
    text = doc.read_text(encoding="utf-8")
    assert [phrase for phrase in facts if phrase not in text] == [], "a stated fact is gone: drop it from SKILL_FACTS"
    assert [phrase for phrase, holds in facts.items() if not holds()] == []
    assert unexplained_numbers(text, facts) == []


def test_the_architecture_page_lists_the_packages_in_their_layers():
    from tests.test_import_layers import LAYERS

    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = [package for layer in LAYERS for package in layer]
    table = text.split("The packages, lowest layer first")[1].split("\n\n")[1]
    listed = re.findall(r"^\| `(\w+)/` \|", table, flags=re.MULTILINE)
    assert listed == packages
    assert " < ".join(", ".join(layer) for layer in LAYERS) in text


OLD_CONTRADICTIONS = [  # (doc, the text as it was, the check that must report it)
    ("README.md", "`bot-start` runs seven skills in order: `env-check`, `tokenizer`", "skill_lists"),
    ("docs/plugins.md", "A plugin imports one module (`PLUGIN_API_VERSION` 1.1.0)", "api_versions"),
    ("skills/sft/SKILL.md", "Run it with `--config configs/reasoning-cpu.yaml` for thinking.", "missing_paths"),
    ("skills/eval/SKILL.md", "`--set arithmetic=false` skips it; bot-start sets it false.", "bot_start_settings"),
    ("skills/eval/SKILL.md", "chat perplexity 2430 -> 15; eval takes 15 s", "skill_md_figures"),
    ("skills/dpo/SKILL.md", "the report's `final_model` keeps the better model", "retired_claims"),
    ("docs/usage.md", "accelerate launch --config_file fsdp.yaml -m minillm_core run sft", "missing_paths"),
    ("README.md", "```bash\nminillm-skill chat --prompt \"Who are you?\" --json\n```", "chat_default"),
]


@pytest.mark.parametrize("doc,text,check", OLD_CONTRADICTIONS, ids=[c[2] + ":" + c[0] for c in OLD_CONTRADICTIONS])
def test_each_old_contradiction_is_caught(doc, text, check):
    """The contradictions found in the docs (issue: a house a newcomer can read), put back one at a time."""
    path = REPO / doc
    if check == "skill_md_figures":
        found = unexplained_numbers(text, SKILL_FACTS.get(doc, {}))
    else:
        found = CHECKS[check](text, path) if check == "missing_paths" else CHECKS[check](text)
    assert found, f"{check} did not report: {text}"
    if check == "chat_default":  # a doc that states the default is fine
        assert chat_default(text + "\nchat samples at temperature 0.7 by default") == []
