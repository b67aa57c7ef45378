"""The project's Trainer callbacks: what every stage logs, shows and saves, whichever trainer runs it."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm
from transformers import TrainerCallback

from minillm_core.inference.samples import DEFAULT_PROMPTS, greedy_answers
from minillm_core.runs.stopping import agree_to_stop, training_ended, training_started
from minillm_core.train.checkpoints import mark_complete
from minillm_core.util.cpu_threads import ThreadPolicy
from minillm_core.util.eta import StepClock


class CheckpointMarker(TrainerCallback):
    """Mark each checkpoint whole once the Trainer has finished writing it (see checkpoints.py)."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            mark_complete(Path(args.output_dir) / f"checkpoint-{state.global_step}")


class StopAtStepBoundary(TrainerCallback):
    """Once a stop is asked for (stopping.py), save a checkpoint at the end of the current step and end training."""

    def __init__(self):
        self.training = False  # once per run, however often it begins again (oom.py)

    def on_train_begin(self, args, state, control, **kwargs):
        if not self.training:
            training_started()
        self.training = True

    def on_train_end(self, args, state, control, **kwargs):
        training_ended()
        self.training = False

    def on_step_end(self, args, state, control, **kwargs):
        if agree_to_stop():
            control.should_save = True
            control.should_training_stop = True


class FollowCpuLoad(TrainerCallback):
    """Compute with as many threads as the machine's load leaves cores for (cpu_threads.py), set between steps."""

    def __init__(self, policy: ThreadPolicy):
        self.policy = policy
        self.started = False  # once per run: training again after running out of memory (oom.py) goes on

    def on_train_begin(self, args, state, control, **kwargs):
        if not self.started:
            self.policy.start()
        self.started = True

    def on_step_end(self, args, state, control, **kwargs):
        self.policy.check()

    def on_train_end(self, args, state, control, **kwargs):
        self.policy.finish()
        self.started = False


class StepTimer(TrainerCallback):
    """The run's one clock (minillm_core/util/eta.py): the log line and the progress bar both read its time left.
    First in the callback list, so a step has ended on it before the others read it."""

    def __init__(self) -> None:
        self.clock = StepClock()

    def on_train_begin(self, args, state, control, **kwargs):
        self.clock = StepClock()  # a resumed run starts its window afresh

    def on_step_end(self, args, state, control, **kwargs):
        self.clock.tick(state.global_step)

    def remaining_s(self, state) -> float | None:
        return self.clock.remaining_s(state.global_step, state.max_steps)


class _TokenRate:
    """Tokens/s over the last log interval."""

    def __init__(self, state):
        self.start = self.last_time = time.monotonic()
        self.last_tokens = state.num_input_tokens_seen

    def update(self, state) -> dict[str, float]:
        now = time.monotonic()
        tokens = state.num_input_tokens_seen
        rate = (tokens - self.last_tokens) / max(now - self.last_time, 1e-9)
        self.last_time, self.last_tokens = now, tokens
        return {"tokens_per_s": round(rate, 1), "elapsed_s": round(now - self.start, 1)}


class JsonlLogger(TrainerCallback):
    """logs/<stage>.jsonl: one JSON line per log step, so nobody has to scrape a progress bar. `time` (Unix
    seconds) dates `remaining_s`, so `status` can age it."""

    def __init__(self, path: Path, timer: StepTimer, append: bool = False):
        self.path, self.timer, self.append = path, timer, append
        self.rate: _TokenRate | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.rate = _TokenRate(state)
        if state.is_world_process_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.append:
                self.path.write_text("")
        self.append = True  # training again in this run (after running out of memory, oom.py) adds to it

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        line = {"step": state.global_step, "total_steps": state.max_steps, "loss": logs["loss"],
                "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"), **self.rate.update(state),
                "remaining_s": self.timer.remaining_s(state), "time": round(time.time(), 1)}
        # And whatever else the trainer logged (DPO's rewards/*, GRPO's reward, ...), under its own name.
        line.update({key: value for key, value in logs.items()
                     if key not in ("loss", "learning_rate", "grad_norm") and isinstance(value, (int, float))})
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


class ProgressBar(TrainerCallback):
    """A progress bar on stderr with loss, tokens/s and the time left (stdout belongs to --json). The time left
    is the StepTimer's, the log line's: tqdm's own estimate, which counts the start-up, is left out."""

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"

    def __init__(self, stage: str, timer: StepTimer):
        self.stage, self.timer = stage, timer
        self.bar = None
        self.rate: _TokenRate | None = None
        self.figures: dict[str, str] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.on_train_end(args, state, control)  # the bar of a run that ran out of memory (oom.py) ends
            self.rate = _TokenRate(state)
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.stage, file=sys.stderr,
                            unit="step", dynamic_ncols=True, bar_format=self.FORMAT)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            remaining = self.timer.remaining_s(state)
            self.figures["left"] = "?" if remaining is None else tqdm.format_interval(remaining)
            self.bar.set_postfix(self.figures, refresh=False)
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.figures.update(loss=f"{logs['loss']:.3f}", tok_s=f"{self.rate.update(state)['tokens_per_s']:.0f}")
            self.bar.set_postfix(self.figures)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class SampleAnswers(TrainerCallback):
    """Greedy answers to fixed prompts before, every `save_steps` during, and after training."""

    def __init__(self, tokenizer, style: str, log: logging.Logger, path: Path, append: bool = False,
                 prompts: list[str] | None = None):
        self.tokenizer, self.style, self.log, self.path, self.append = tokenizer, style, log, path, append
        self.prompts = prompts or DEFAULT_PROMPTS[style]
        self.history: list[dict] = []

    def _sample(self, when: str, state, model) -> None:
        if not state.is_world_process_zero or model is None:
            return
        answers = greedy_answers(model, self.tokenizer, self.prompts, self.style)
        rows = [{"step": state.global_step, "when": when, "prompt": p, "answer": a}
                for p, a in zip(self.prompts, answers, strict=True)]
        self.history += rows
        with self.path.open("a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        self.log.info("samples %s (step %d): %s", when, state.global_step,
                      " | ".join(f"{r['prompt']!r} -> {r['answer'][:60]!r}" for r in rows[:3]))

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.append:
                self.path.write_text("")
        self.append = True  # training again in this run (after running out of memory, oom.py) adds to it
        self._sample("before", state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if args.save_steps and state.global_step % args.save_steps == 0 and state.global_step < state.max_steps:
            self._sample("during", state, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._sample("after", state, model)
