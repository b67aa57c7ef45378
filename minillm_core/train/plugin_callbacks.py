"""Trainer callbacks that plugins add to every training stage (the `training_callbacks` hook), each contained.

A tracker plugin that raises in `on_log` must not end a run that has trained for hours: each plugin callback is
wrapped, and the first exception (SystemExit included) switches that callback off for the rest of the stage and
is reported (the run's `plugin_errors`, `minillm-skill plugins`) against its plugin. Training goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from minillm_core.plugins.host import get_host

EVENTS = [name for name in dir(TrainerCallback) if name.startswith("on_")]


class ContainedCallback(TrainerCallback):
    """`inner`'s event methods, each stopped from raising; after the first error, `inner` hears nothing more."""

    def __init__(self, inner: TrainerCallback, plugin: str, report: Callable[[str, BaseException, str], None]):
        self.inner, self.plugin, self.report = inner, plugin, report
        self.failed = False
        for event in EVENTS:  # instance attributes: the Trainer's CallbackHandler looks them up by name
            setattr(self, event, self._guarded(event))

    def _guarded(self, event: str) -> Callable[..., Any]:
        method = getattr(self.inner, event)

        def call(args, state, control, **kwargs):
            if self.failed:
                return None
            try:
                return method(args, state, control, **kwargs)
            except KeyboardInterrupt:  # the user's Ctrl-C stops the run, as anywhere else
                raise
            except BaseException as exc:  # noqa: BLE001 - whatever a plugin raises, sys.exit() too, training goes on
                self.failed = True
                self.report(self.plugin, exc, f"training_callbacks ({event}, switched off)")
                return None

        return call


def plugin_callbacks(run) -> list[TrainerCallback]:
    """The callbacks every plugin's `training_callbacks(run)` returns, contained; anything else is reported."""
    host = get_host()
    callbacks: list[TrainerCallback] = []
    for plugin, returned in host.results_by_plugin("training_callbacks", run=run):
        for callback in returned or []:
            if isinstance(callback, TrainerCallback):
                callbacks.append(ContainedCallback(callback, plugin, host.record_problem))
            else:
                host.record_problem(plugin, f"training_callbacks returned {callback!r}, not a transformers "
                                            f"TrainerCallback instance; it is ignored", "training_callbacks")
    return callbacks
