"""The plugin contract. A plugin is a module (or object) with functions marked `@hookimpl`.

Each hook receives a `register` callback (the simonw/llm pattern), so a plugin adds things by
calling it and never needs to know how the runner stores them. A minimal plugin:

    from minillm_core.api import Skill, hookimpl    # a plugin imports minillm_core.api only

    @hookimpl
    def register_skills(register):
        register(Skill.from_folder(Path(__file__).parent / "my-skill", run=my_run))

A new training method is a skill too: `TrainingMethod(...).skill(folder, options)` (minillm_core.train.methods)
gives it the shared training path, the common options and the stage report.

Entry points in the group `minillm_skill` are loaded by minillm_core.plugins.host. docs/plugins.md is the guide.
"""

from __future__ import annotations

import pluggy

PROJECT = "minillm_skill"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_skills(register):
    """Add skills: call `register(skill)` with a `minillm_core.contract.skill.Skill` for each."""


@hookspec
def register_formats(register):
    """Add dataset formats: call `register(name, kind, convert, example=None, detect=None)` for each.

    `kind` is "pretrain", "sft" or "dpo"; `convert(record: dict) -> dict` turns one parsed JSON record into
    that kind's normalized shape ({"text"}, {"messages"}, {"prompt", "chosen", "rejected"}) or raises
    minillm_core.data.messages.RecordError; `example` is the record a user should write (shown in errors);
    `detect(record) -> bool` lets a bare file path in this format be recognized. Then `--set dataset=FILE`
    and registry entries with `format: NAME` read it (see minillm_core.data.formats.add_format).
    """


@hookspec
def register_commands(cli):
    """Add CLI commands: `cli` is the top-level click group; decorate new commands with `@cli.command()`.

    A name already taken (a built-in command's, such as `list`, or an earlier plugin's) raises ValueError, which
    is reported as this plugin's problem: a plugin adds commands, it never replaces one.
    """


@hookspec
def register_chat_tools(register):
    """Add tools a chat model may call: call `register(tool)` with a `minillm_core.api.Tool` for each.

    `Tool(name, description, parameters, function)`: `parameters` is the JSON schema of the arguments
    object; `function(**arguments) -> str` gives the text the model reads back (raise ValueError with a
    message the model can act on). `chat --tools` and the eval offer them beside the built-in calculator
    and lookup; a name already taken (a built-in's or another plugin's), or `parameters` that are no JSON schema
    object, is refused and reported. Whatever `function` raises, SystemExit included, reaches the model as an
    "error: ..." text.
    """


@hookspec
def register_eval_tasks(register):
    """Add lm_eval tasks to eval: call `register(folder, tasks)` with a folder of lm_eval task YAML files and the
    names of the tasks it defines. eval runs them on every model beside its own, offline; a data file named as
    `test: FILE.jsonl` is read from `folder`. Their figures join the table and the metrics (`sft_<task>_acc`).
    """


@hookspec
def training_callbacks(run):
    """Add transformers TrainerCallbacks to a training stage: return a list of callback instances.

    Called once per training stage (built-in or a plugin's), before training starts; `run` is its
    `TrainingRun` (`run.stage`, `run.ctx.settings`, `run.ctx.workdir`, ...). A callback that raises is
    switched off for the rest of the stage and reported in the run's `plugin_errors`; training goes on.
    """


@hookspec
def stage_started(stage, context):
    """Called before a stage runs. `stage` is the skill name; `context` its `StageContext`."""


@hookspec
def stage_finished(stage, context, result):
    """Called after a stage ends (ok or failed). `result` is its `StageRecord` (see runner)."""
