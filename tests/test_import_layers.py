"""The package layers of minillm_core: each package imports only the packages below it, so the code reads as
its architecture (docs/architecture.md) and no cycle can form between packages.

Every import a module runs counts, the lazy ones inside functions too, and so do "minillm_core.x.y" strings
(a "module:function" a TrainingMethod loads, a package's lazy public names); only `if TYPE_CHECKING:` blocks
(never executed) are left out. Within a package, modules import each other freely, without a cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "minillm_core"

# Lowest first. A package imports only packages of an earlier line; packages on one line never import each other.
LAYERS = [
    ["util"],  # atomic writes, quiet libraries, secrets, shipped files, threads: no project knowledge
    ["data", "contract"],  # training data; what a skill is (Skill, Option, outputs)
    ["model"],  # presets, tokenizer, loading a model folder
    ["inference"],  # generation, replies, tools, greedy samples
    ["hub"],  # reachability, downloads, push, model card
    ["plugins"],  # the plugin host and its hooks (contains tools and formats that plugins register)
    ["runs"],  # run records, locks, detach, stopping
    ["runner"],  # plan, preconditions, reports: reaches train and eval only through skills
    ["eval"],  # held-out answers, perplexity, lm_eval
    ["train"],  # the one training path, its stages, the answer check after training (uses eval)
    ["serve", "export"],  # chat, the API server; GGUF
]
# The modules at the top of minillm_core (cli, api, mcp_server, run_commands, __main__) may import any package.
TOP_LEVEL = {"__init__", "__main__", "api", "cli", "mcp_server", "run_commands"}
RANK = {package: rank for rank, line in enumerate(LAYERS) for package in line}
MODULE_STRING = re.compile(r"""["'](minillm_core(?:\.\w+)+)(?::\w+)?["']""")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str) -> set[str]:
    """minillm_core modules (or names in them) a source imports when it runs, lazily or not."""
    tree = ast.parse(source)
    type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING" for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minillm_core"):
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("minillm_core")}
    return found | set(MODULE_STRING.findall(source))


def package_of(dotted: str) -> str | None:
    """The package a dotted name lies in ("minillm_core.train.stages.sft" -> "train"); None at the top."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else None


def wrong_arrows(graph: dict[str, set[str]]) -> list[str]:
    """Each import that goes to a package not below the importer's: 'module -> imported (a -> b)'."""
    wrong = []
    for module, imports in graph.items():
        source = package_of(module)
        if source is None:  # the top: cli, api, ...
            continue
        for target_name in sorted(imports):
            target = package_of(target_name)
            if target is None and target_name.split(".")[1] not in ("__version__",):
                wrong.append(f"{module} -> {target_name} (a package imports a top-level module)")
            elif target is not None and target != source and RANK.get(target, 99) >= RANK.get(source, -1):
                wrong.append(f"{module} -> {target_name} ({source} -> {target})")
    return wrong


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path.read_text(encoding="utf-8"))
            for path in PACKAGE.rglob("*.py") if "assets" not in path.parts}


def test_every_package_has_a_layer_and_few_modules_stay_at_the_top():
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert packages == set(RANK), "a package missing from LAYERS, or a layer naming no package"
    assert top == TOP_LEVEL and len(packages) >= 6


def test_each_package_imports_only_the_layers_below_it():
    assert wrong_arrows(import_graph()) == []


def test_a_wrong_arrow_is_caught():
    """The check itself can fail: the runner importing train, a "module:function" string from the contract up
    to train, and util importing anything of the project are all reported."""
    graph = {"minillm_core.runner.plan": {"minillm_core.train.training.train"},
             "minillm_core.contract.skill": imported_modules('TRAINER = "minillm_core.train.stages.sft:build"'),
             "minillm_core.util.atomic": {"minillm_core.contract.outputs.workdir_relative"},
             "minillm_core.eval.answers": {"minillm_core.inference.samples.greedy_answers"}}
    assert wrong_arrows(graph) == [
        "minillm_core.runner.plan -> minillm_core.train.training.train (runner -> train)",
        "minillm_core.contract.skill -> minillm_core.train.stages.sft (contract -> train)",
        "minillm_core.util.atomic -> minillm_core.contract.outputs.workdir_relative (util -> contract)",
    ]


def test_no_module_imports_itself_back():
    graph = import_graph()
    modules = set(graph)

    def resolve(name: str) -> str | None:  # a name in a module -> that module
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges = {module: {dep for dep in map(resolve, imports) if dep and dep != module}
             for module, imports in graph.items()}
    cycles = set()

    def walk(node: str, path: list[str], seen: set[str]) -> None:
        for nxt in edges[node]:
            if nxt in path:
                cycles.add(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in seen:
                seen.add(nxt)
                walk(nxt, path + [nxt], seen)

    for name in edges:
        walk(name, [name], {name})
    assert len(graph) > 60 and not cycles, sorted(cycles)


SKILL_FILES = sorted((REPO / "skills").glob("*/skill.py"))
STAGES = "minillm_core.train.stages."


@pytest.mark.parametrize("path", SKILL_FILES, ids=lambda path: path.parent.name)
def test_built_in_skills_import_the_api_or_a_packages_public_names(path):
    """A move inside a package must not touch the skills: they import `minillm_core.api` or a package's public
    names. One exception, by design: a training skill's trainer string names its stage's own file
    ("minillm_core.train.stages.sft:build_trainer"), so that a newcomer finds the stage's code from its skill."""
    for name in imported_modules(path.read_text(encoding="utf-8")):
        parts = name.split(".")
        public = parts[1] == "api" or ((PACKAGE / parts[1]).is_dir() and len(parts) <= 3)
        assert public or name.startswith(STAGES) and len(parts) == 4, \
            f"{path.relative_to(REPO)} imports {name}: import it from minillm_core.api or minillm_core.{parts[1]}"
