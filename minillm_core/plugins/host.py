"""The plugin host: built-in skills and third-party plugins, all registered with pluggy the same way.

Built-in skills are plugins too: each skills/<name>/skill.py is imported and registered. Third-party
plugins come from the entry-point group `minillm_skill`, loaded one at a time. A plugin that fails to
import, whose hook raises, or that registers a clashing or invalid skill is recorded as a
`PluginProblem` (shown by `minillm-skill plugins` and in run reports) and every other skill keeps
working.

Plugin code is contained (minillm_core.plugins.contained): imports and hooks run with stdout routed to stderr
(stdout belongs to the command, and to `--json`); any exception they raise, SystemExit included, is a
problem of that plugin; each import and each hook call has a time limit, and a plugin that runs over it
is switched off for the rest of the process (its thread may still be running: calling it again would
likely hang again); a `@hookimpl` whose name is no hook (a typo such as `register_skillz`) is reported.
Only KeyboardInterrupt (the user's Ctrl-C) goes through.

Environment:
    MINILLM_LOAD_PLUGINS    comma-separated entry-point or distribution names to load; empty loads none.
                            Unset loads all. Built-in skills always load.
    MINILLM_STRICT_PLUGINS  "1" makes plugin errors fatal (raise), for plugin authors debugging.
    MINILLM_SKIP_PLUGINS    comma-separated entry-point or distribution names not to load, each reported as
                            skipped. The MCP server sets it for its commands: the plugins that timed out in it.
    MINILLM_HOOK_TIMEOUT    seconds one import or hook call may take (default 30; 0: no limit); `--hook-timeout`.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from minillm_core.contract.skill import Skill
from minillm_core.plugins import hookspecs
from minillm_core.plugins.contained import HookTimeout, call_contained, timeout_from_env
from minillm_core.util.resources import skills_dir
from minillm_core.util.stdout_guard import stdout_to_stderr

ENTRY_POINT_GROUP = "minillm_skill"
LOAD_ENV = "MINILLM_LOAD_PLUGINS"
SKIP_ENV = "MINILLM_SKIP_PLUGINS"
STRICT_ENV = "MINILLM_STRICT_PLUGINS"
BUILTIN = "builtin"


class UnknownSkill(KeyError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(name)
        self.name, self.known = name, known

    def __str__(self) -> str:
        return f"unknown skill '{self.name}'; skills: {', '.join(self.known)}"


@dataclass
class PluginProblem:
    plugin: str
    error: str
    when: str  # "import", "register", "register_skills", "stage_finished", ...

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class PluginInfo:
    name: str
    distribution: str
    version: str | None
    hooks: list[str] = field(default_factory=list)
    skills: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class PluginHost:
    def __init__(self, load_entry_points: bool = True, hook_timeout: float | None = None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.problems: list[PluginProblem] = []
        self._info: dict[str, PluginInfo] = {}
        self._skills: dict[str, Skill] | None = None
        self._strict = os.environ.get(STRICT_ENV, "") not in ("", "0")
        self.switched_off: set[str] = set()  # plugins that timed out: never called again in this process
        self.hook_timeout = timeout_from_env() if hook_timeout is None else hook_timeout  # seconds; 0: none
        self._register_builtins()
        if load_entry_points:
            self._load_entry_points()

    # -- registration ---------------------------------------------------------------------------

    def register(self, plugin: object, name: str, distribution: str | None = None,
                 version: str | None = None) -> None:
        """Register a plugin object or module (tests register plugins in-process this way)."""
        self.pm.register(plugin, name=name)
        callers = self.pm.get_hookcallers(plugin) or []
        self._info[name] = PluginInfo(name, distribution or name, version, sorted(c.name for c in callers))
        self._skills = None
        for caller in callers:
            if not caller.has_spec():  # pluggy accepts it silently (until check_pending); we say so
                self._problem(name, _unknown_hook(caller.name), "register")

    def _register_builtins(self) -> None:
        for skill_py in sorted(skills_dir().glob("*/skill.py")):
            name = f"{BUILTIN}:{skill_py.parent.name}"
            try:
                with stdout_to_stderr():
                    module = _import_file(skill_py)
                self.register(module, name, distribution=BUILTIN)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a broken built-in must not take the others down either
                self._problem(name, exc, "import")

    def _load_entry_points(self) -> None:
        wanted = os.environ.get(LOAD_ENV)
        chosen = None if wanted is None else _names(wanted)
        skipped = _names(os.environ.get(SKIP_ENV, ""))
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else ep.name
            names = {_normal(ep.name), _normal(dist)}
            if chosen is not None and not names & chosen:
                continue
            if names & skipped:
                self._skip(ep, dist)
            else:
                self._load_entry_point(ep, dist)

    def _skip(self, ep: EntryPoint, dist: str) -> None:
        self._info[ep.name] = PluginInfo(ep.name, dist, ep.dist.version if ep.dist else None)
        self._problem(ep.name, f"not loaded: {SKIP_ENV} names it (the MCP server names a plugin there once it "
                               "timed out; restart the server when the plugin is fixed)", "import")

    def _load_entry_point(self, ep: EntryPoint, dist: str) -> None:
        version = ep.dist.version if ep.dist else None
        try:  # contained like a hook: a print() at import must not spoil --json, a hang must not hang the CLI
            plugin = call_contained(ep.load, [], self.hook_timeout)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: a plugin's sys.exit() must not end the CLI
            self._info[ep.name] = PluginInfo(ep.name, dist, version)
            self._failed(ep.name, exc, "import")
            return
        try:
            self.register(plugin, ep.name, distribution=dist, version=version)
        except Exception as exc:  # e.g. a hookimpl whose arguments match no hookspec
            self._info[ep.name] = PluginInfo(ep.name, dist, version)
            self._problem(ep.name, exc, "register")

    def record_problem(self, plugin: str, exc: BaseException | str, when: str) -> None:
        """Report a plugin's failure outside a hook call (a Trainer callback that raised, a bad return value)."""
        self._problem(plugin, exc, when)

    def _problem(self, plugin: str, exc: BaseException | str, when: str) -> None:
        if self._strict and isinstance(exc, BaseException):
            raise exc
        text = exc if isinstance(exc, str) else _describe(exc)
        self.problems.append(PluginProblem(plugin, text, when))
        if plugin in self._info:
            self._info[plugin].errors.append(f"{when}: {text}")

    # -- hooks ----------------------------------------------------------------------------------

    def call_each(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of `hook` on its own, so one that raises or hangs spoils nothing else."""
        return [value for _plugin, value in self.results_by_plugin(hook, **kwargs)]

    def results_by_plugin(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """(plugin name, value) for every implementation of `hook` that returned, each called on its own."""
        results = []
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            state, value = self._call(impl, hook, kwargs)
            if state == "ok":
                results.append((impl.plugin_name, value))
        return results

    def _call(self, impl: pluggy.HookImpl, hook: str, kwargs: dict[str, Any]) -> tuple[str, Any]:
        """("ok", its value) for one hook implementation; else ("raised" or "timed_out", None), the problem
        recorded against its plugin: an exception (SystemExit included) or no answer within `hook_timeout` s."""
        try:
            return "ok", call_contained(impl.function, [kwargs[arg] for arg in impl.argnames], self.hook_timeout)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self._failed(impl.plugin_name, exc, hook)
            return ("timed_out" if isinstance(exc, HookTimeout) else "raised"), None

    def _failed(self, plugin: str, exc: BaseException, when: str) -> None:
        """Record a plugin's failure; one that timed out is switched off, so no later hook waits for it again."""
        if isinstance(exc, HookTimeout):
            self.switched_off.add(plugin)
            self.pm.set_blocked(plugin)  # unregisters it: pluggy calls none of its hooks from now on
        self._problem(plugin, exc, when)

    @property
    def skills(self) -> dict[str, Skill]:
        """Every skill, by name. Collecting them also registers the plugins' data formats, so both are in
        place before anything runs."""
        if self._skills is None:
            self._collect_formats()
            self._skills = self._collect_skills()
        return self._skills

    def _collect_formats(self) -> None:
        from minillm_core.data.formats import add_format

        for impl in self.pm.hook.register_formats.get_hookimpls():
            plugin = impl.plugin_name
            added: list[tuple] = []  # added here once the hook is done: one that timed out adds nothing

            def register(name: str, kind: str, convert, example=None, detect=None, _added=added) -> None:
                _added.append((name, kind, convert, example, detect))

            if self._call(impl, "register_formats", {"register": register})[0] == "timed_out":
                continue
            for name, kind, convert, example, detect in list(added):
                try:
                    add_format(name, kind, convert, example, detect)
                except ValueError as exc:  # a clash or a bad kind spoils this format only
                    self._problem(plugin, exc, "register_formats")
                    continue
                if plugin in self._info and f"{name} ({kind})" not in self._info[plugin].formats:
                    self._info[plugin].formats.append(f"{name} ({kind})")

    def _collect_skills(self) -> dict[str, Skill]:
        skills: dict[str, Skill] = {}
        # Built-ins first, so a plugin can never shadow a built-in skill by name.
        impls = sorted(self.pm.hook.register_skills.get_hookimpls(),
                       key=lambda impl: not impl.plugin_name.startswith(BUILTIN))
        for impl in impls:
            plugin = impl.plugin_name
            source = self._info[plugin].distribution if plugin in self._info else plugin
            added: list[Skill] = []
            if self._call(impl, "register_skills", {"register": added.append})[0] == "timed_out":
                continue  # it may still be registering: take nothing from it
            for skill in list(added):
                self._add_skill(skills, skill, plugin, source)
        return skills

    def _add_skill(self, skills: dict[str, Skill], skill: Any, plugin: str, source: str) -> None:
        if not isinstance(skill, Skill):
            self._problem(plugin, f"register() expects a Skill, got {type(skill).__name__}", "register_skills")
        elif skill.name in skills:
            self._problem(plugin, f"skill '{skill.name}' is already registered by "
                                  f"{skills[skill.name].source}; this one is ignored", "register_skills")
        else:
            skill.source = source
            skills[skill.name] = skill
            if plugin in self._info:
                self._info[plugin].skills.append(skill.name)

    def chat_tools(self) -> dict[str, Any]:
        """The tools a chat model may call, by name: the built-in ones (minillm_core.inference.tools), then the plugins'
        (`register_chat_tools`), first come first kept; a clash with a name already taken, something that is
        not a Tool, or a Tool that cannot be called (bad `parameters`), is reported and left out."""
        from minillm_core.inference.tools import BUILTIN_TOOLS, Tool, tool_problem

        tools = {tool.name: tool for tool in BUILTIN_TOOLS}
        owners = dict.fromkeys(tools, "minillm-skill")
        for plugin, added in self._registered("register_chat_tools"):
            for tool in added:
                if not isinstance(tool, Tool):
                    self._problem(plugin, f"register() expects a Tool, got {type(tool).__name__}",
                                  "register_chat_tools")
                elif problem := tool_problem(tool):
                    self._problem(plugin, f"tool {tool.name!r}: {problem}; this one is ignored", "register_chat_tools")
                elif tool.name in tools:
                    self._problem(plugin, f"tool '{tool.name}' is already registered by {owners[tool.name]}; "
                                          "this one is ignored", "register_chat_tools")
                else:
                    tools[tool.name], owners[tool.name] = tool, plugin
        return tools

    def eval_tasks(self) -> list[tuple[str, Path, list[str]]]:
        """(plugin, task folder, task names) from each `register_eval_tasks` call; a folder that is not there is
        reported and left out."""
        found = []
        for plugin, added in self._registered("register_eval_tasks", lambda folder, tasks: (Path(folder), tasks)):
            for folder, tasks in added:
                if folder.is_dir() and tasks:
                    found.append((plugin, folder, [str(task) for task in tasks]))
                else:
                    self._problem(plugin, f"register({folder}, {tasks}): no such folder, or no task named",
                                  "register_eval_tasks")
        return found

    def _registered(self, hook: str, entry: Callable[..., Any] = lambda item: item) -> list[tuple[str, list[Any]]]:
        """(plugin, what it registered) for each implementation of a register_* hook that returned: `entry` turns
        one register() call's arguments into what is kept (a call with the wrong arguments fails in the hook)."""
        results = []
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            added: list[Any] = []
            if self._call(impl, hook, {"register": lambda *args, _added=added: _added.append(entry(*args))})[0] == "ok":
                results.append((impl.plugin_name, list(added)))
        return results

    def get_skill(self, name: str) -> Skill:
        if name not in self.skills:
            raise UnknownSkill(name, sorted(self.skills))
        return self.skills[name]

    def plugin_infos(self, include_builtins: bool = False) -> list[PluginInfo]:
        self.skills  # noqa: B018 - collecting skills records which plugin added which
        return [info for info in self._info.values() if include_builtins or info.distribution != BUILTIN]


def _import_file(path: Path) -> ModuleType:
    """Import skills/<name>/skill.py by path: skill folder names have hyphens, so they are not packages."""
    module_name = "minillm_skill_builtin_" + path.parent.name.replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called sys.exit({exc.code!r}); the CLI goes on without it"
    return f"{type(exc).__name__}: {exc}"


def _unknown_hook(name: str) -> str:
    hooks = sorted(n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), hookspecs.PROJECT + "_spec"))
    close = difflib.get_close_matches(name, hooks, n=1)
    guess = f"did you mean {close[0]}? " if close else ""
    return f"@hookimpl {name!r} is not a hook, so it is never called; {guess}hooks: {', '.join(hooks)}"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _names(text: str) -> set[str]:
    """A comma-separated list of plugin names, normalized."""
    return {_normal(name) for name in text.split(",") if name.strip()}


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, built on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


def reset_host(host: PluginHost | None = None) -> None:
    """Drop the cached host (tests use this to start from a clean slate or install their own). A clean slate
    also forgets the data formats earlier hosts' plugins taught the readers."""
    from minillm_core.data.formats import forget_plugin_formats

    global _host
    if host is None:
        forget_plugin_formats()
    _host = host
