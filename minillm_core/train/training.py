"""The one training path shared by pretrain, sft, dpo and distill.

A stage says only what differs, as a TrainingMethod (minillm_core/train/methods.py): which data it reads, which
trainer it builds (minillm_core/stages/<stage>.py: transformers Trainer, TRL SFTTrainer, DPOTrainer or
DistillationTrainer) and which model it starts from. Everything else
lives here, once: settings to TrainingArguments, the model to start from, crash-safe checkpoints and
resume, the JSONL log, the progress bar, sample answers, and the final atomic save.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
import torch
import transformers
from datasets import Features, List, Value
from transformers import PreTrainedModel, Trainer, TrainerState
from transformers.trainer_utils import TrainOutput

from minillm_core.contract.outputs import MARKER, output_path, run_name, stage_output, staged_output, workdir_relative
from minillm_core.contract.skill import SkillError, StageContext, StageResult
from minillm_core.data.cached import cached_records
from minillm_core.data.formats import DataError, RecordReader
from minillm_core.data.registry import DatasetSpec
from minillm_core.eval.own_data import question_and_reference
from minillm_core.hub.model_card import write_training_card
from minillm_core.hub.push import push_model
from minillm_core.model.presets import count_parameters
from minillm_core.model.tokenizer import (
    chat_stop_token_ids,
    save_tokenizer,
    tokenizer_sha256,
    with_chat_template,
)
from minillm_core.runs.stopping import StageStopped, stop_requested
from minillm_core.train import answer_check, held_out_check, oom, own_data, preflight, stage_preflight
from minillm_core.train.callbacks import (
    CheckpointMarker,
    FollowCpuLoad,
    JsonlLogger,
    ProgressBar,
    SampleAnswers,
    StepTimer,
    StopAtStepBoundary,
)
from minillm_core.train.checkpoints import (
    can_resume,
    clear_checkpoints,
    holds_last_step,
    last_good_checkpoint,
    start_afresh,
)
from minillm_core.train.checks import resolve_stage_dataset
from minillm_core.train.model_pair import ModelPair
from minillm_core.train.muon import use_optimizer
from minillm_core.train.options import trackers
from minillm_core.train.plugin_callbacks import plugin_callbacks
from minillm_core.train.speedups import compile_requested, use_bf16
from minillm_core.train.stage_logs import StageLogs
from minillm_core.train.start_model import (
    is_chat_model,
    load_start_model,
    provenance,
    stage_sequence_length,
    start_folder,
    start_init,
    trained_seq_len,
)
from minillm_core.util.cpu_threads import ThreadPolicy
from minillm_core.util.distributed import is_main_process, process_state
from minillm_core.util.peak_memory import PeakMemory

if TYPE_CHECKING:  # methods imports this module to run a stage: a type-only reference keeps one direction
    from minillm_core.train.methods import TrainingMethod

# Chats with and without thinking and tool calls share one Arrow schema: what a message lacks reads as None,
# which the chat template skips. Tool arguments and definitions are JSON text (their shapes vary).
SFT_FEATURES = Features({
    "messages": List({"role": Value("string"), "content": Value("string"), "reasoning_content": Value("string"),
                      "tool_calls": List({"name": Value("string"), "arguments": Value("string")})}),
    "tools": Value("string"),
})


@dataclass
class TrainingRun:
    """What a stage needs to build its trainer."""

    stage: str
    ctx: StageContext
    model: PreTrainedModel
    tokenizer: Any
    dataset: DatasetSpec
    seq_len: int
    args: dict[str, Any]  # keyword arguments common to TrainingArguments, SFTConfig and DPOConfig
    requested_dataset: str = ""  # the registry name or file stem asked for (dataset differs after a fallback)
    callbacks: list = field(default_factory=list)
    data_stats: dict[str, Any] = field(default_factory=dict)  # filled by the stage, for the report
    threads: ThreadPolicy = field(default_factory=ThreadPolicy)
    held_out: list[dict[str, Any]] = field(default_factory=list)  # records to measure on, never trained on
    held_out_source: str = ""  # where they come from, for the report
    start: Path | None = None  # the local folder of the model the stage starts from (its provenance)

    def config(self, cls: type, **stage_settings: Any) -> Any:
        """The trainer's config (TrainingArguments, SFTConfig, ...): the common arguments, the stage's own,
        then the user's `--set args.NAME=VALUE`, which win: the user asked for them by name."""
        return cls(**{**self.args, **stage_settings, **(self.ctx.settings.get("args") or {})})

    def user_examples(self, most: int = 256) -> list[tuple[str, str]]:
        """(last prompt, the reply it teaches) of the first `most` records: what the checks compare held-out
        prompts and answers with (the start of a file, so a huge one is not read again)."""
        spec = self.dataset
        reader = RecordReader(spec.path, spec.kind, spec.format, spec.columns, lenient=True, limit=most)
        asked = [question_and_reference(record, spec.kind) for record in reader]
        return [(messages[-1]["content"] or "", reply) for messages, reply in asked if messages and reply]

    def records(self) -> RecordReader:
        spec = self.dataset
        return RecordReader(spec.path, spec.kind, spec.format, spec.columns, lenient=self.ctx.settings["lenient"])

    def cache_dir(self) -> Path:
        return self.ctx.path("out/.cache")

    def records_dataset(self) -> datasets.Dataset:
        """The records as a datasets.Dataset, cached on disk (memory-mapped) and rebuilt when the file changes;
        minus the held-out records, plus the replayed ones (minillm_core/train/own_data.py)."""
        reader = self.records()
        records = cached_records(reader, self.cache_dir(), SFT_FEATURES if self.dataset.kind == "sft" else None)
        self.note_reader_counts(reader, records)
        return own_data.with_replay(self, own_data.without_held_out(self, records))

    def note_reader_counts(self, reader: RecordReader, dataset: datasets.Dataset) -> None:
        """Records read and skipped (lenient mode), kept beside the cache because a cache hit reads nothing."""
        sidecar = Path(dataset.cache_files[0]["filename"] + ".counts.json")
        if reader.read or reader.skipped:
            sidecar.write_text(json.dumps({"records": reader.read, "skipped_records": reader.skipped,
                                           "skipped_examples": reader.errors}, ensure_ascii=False))
        if sidecar.exists():
            counts = json.loads(sidecar.read_text())
            self.data_stats.update(counts)
            if counts["skipped_records"]:
                self.ctx.log.warning("skipped %d malformed records, e.g. %s", counts["skipped_records"],
                                     counts["skipped_examples"][0])


def train(stage: str, ctx: StageContext, method: TrainingMethod) -> StageResult:
    """Train one stage with `method`: resolve data and model, train (resuming after a crash), save atomically.

    `stage` names what it writes: out/<stage>, logs/<stage>.jsonl, out/.checkpoints/<stage>."""
    settings = ctx.settings
    output = output_dir(stage, ctx)
    _check_output(stage, ctx)  # again, for callers that skip the runner: a stage replaces only its own folder
    name = run_name(stage, output, ctx.workdir)  # logs and checkpoints are named after the output folder
    checkpoints = ctx.path(f"out/.checkpoints/{name}")
    dataset, requested = resolve_stage_dataset(method.kind, ctx)
    figures = _preflight(ctx, method)  # before the model is built: its peak is measured from here
    peak = PeakMemory(torch.cuda.is_available())
    transformers.set_seed(settings["seed"])
    model, tokenizer = load_start_model(settings, ctx, method.default_init)
    if method.sample_style == "chat":  # a chat stage starting from a base model gives it our chat template
        with_chat_template(tokenizer)
    start = start_folder(settings, ctx, method.default_init)  # the local folder, None for a new model or hub id
    seq_len = sequence_length(settings, start, ctx)
    settings["lr"] = learning_rate(settings, start, ctx, method)  # the report's settings say what it trained at
    resume = can_resume(checkpoints, settings, ctx.log)
    args = training_arguments({**settings, "batch_size": stage_preflight.batch_size(settings, figures)}, checkpoints,
                              count_parameters(model))
    args.update(run_name=name, project="minillm-skill")  # how trackers name the run (trackio and wandb)
    if "tensorboard" in args["report_to"]:  # beside the other logs: the checkpoints folder goes at the end
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(ctx.path(f"logs/tensorboard/{name}"))
    run = TrainingRun(stage, ctx, model, tokenizer, dataset, seq_len, args, requested_dataset=requested,
                      threads=ThreadPolicy(str(settings.get("threads", "auto")), log=ctx.log),
                      start=start)
    logs = StageLogs(ctx.workdir, name)  # this run's own until its model is saved
    timer = StepTimer()  # the one time-left figure, read by the log line and the progress bar
    run.callbacks = [timer, CheckpointMarker(), JsonlLogger(ctx.path(logs.partial(logs.log)), timer, append=resume),
                     ProgressBar(stage, timer), SampleAnswers(tokenizer, method.sample_style, ctx.log,
                                                              ctx.path(logs.partial(logs.samples)), append=resume),
                     StopAtStepBoundary(), FollowCpuLoad(run.threads)]
    run.callbacks += plugin_callbacks(run)  # the training_callbacks hook: trackers and the like
    try:
        with process_state().main_process_first():  # one process tokenizes and caches; the others reuse it
            trainer = method.build_trainer_function()(run)
    except DataError as exc:
        raise SkillError(str(exc), hint="fix the record, or `--set lenient=true` to skip bad records") from exc
    _check_not_empty(trainer, run)
    use_optimizer(trainer, settings.get("optimizer", "adamw"))
    _refuse_sharded_lora(trainer, stage)
    warn_fsdp_off(trainer, ctx.log)
    if not resume:  # only now that this run's data has been read: another run's checkpoints go
        start_afresh(checkpoints, settings, ctx.log)
    _use_our_progress_bar(trainer)
    checkpoint = last_good_checkpoint(checkpoints, ctx.log) if resume else None
    ctx.note(log=logs.partial(logs.log), samples=logs.partial(logs.samples), checkpoints=f"out/.checkpoints/{name}")
    result, recoveries = oom.train_recovering(trainer, checkpoint, checkpoints, ctx.log, train_or_load)
    measured_peak = peak.rise()
    if stop_requested() and trainer.state.global_step < trainer.state.max_steps:  # keep the checkpoint, no model
        raise StageStopped(trainer.state.global_step, str(last_good_checkpoint(checkpoints)))
    _check_output(stage, ctx)  # the folder may have changed during a long run (every process: all or none stop)
    origin = provenance(stage, ctx, start_init(settings, ctx, method.default_init), start, dataset, run.seq_len)
    save_model(trainer, tokenizer, output, method.sample_style, stage=stage, provenance=origin)  # every process
    if trainer.is_world_process_zero():
        logs.publish()
        clear_checkpoints(checkpoints)
    stage_result = _stage_result(trainer, result, run, output, checkpoint, method, logs)
    if recoveries:  # the settings the model was trained with are in the report, not only in a warning
        stage_result.metrics["out_of_memory"] = recoveries
        stage_result.summary += f"; {oom.summary(recoveries)}"
        stage_result.warnings.append(f"{stage} ran out of memory and went on with {oom.summary(recoveries)}")
    if figures:  # the estimate beside what the run measured, so a wrong estimate shows
        stage_result.metrics["preflight"] = {**figures, "measured_peak": measured_peak}
    if trainer.is_world_process_zero():
        write_training_card(output, stage, ctx.workdir, start_init(settings, ctx, method.default_init), dataset,
                            stage_result.metrics)
        if settings.get("push_to_hub"):
            _push(output, stage, settings["push_to_hub"], stage_result, ctx)
    if trainer.is_world_process_zero() and start:
        _check_after_training(stage, ModelPair(start, output), method.sample_style, stage_result, run)
    return stage_result


def _preflight(ctx: StageContext, method: TrainingMethod) -> dict[str, Any] | None:
    """The stage's preflight (stage_preflight.py), in the log and for `status`; `batch_size=auto` resolved."""
    figures = stage_preflight.stage_figures(ctx, method.kind, method.default_init)
    if figures:
        line = preflight.summary(figures)
        ctx.log.info("preflight: %s%s", line, " (batch_size=auto)" if ctx.settings["batch_size"] == "auto" else "")
        ctx.note(preflight=line)
    return figures


def train_or_load(trainer: Trainer, checkpoint: Path | None, log: logging.Logger) -> TrainOutput:
    """Train, resuming from `checkpoint` when given. A checkpoint of the last step (a run killed during its
    final save) is only loaded: resumed from it, the Trainer would take one step past max_steps, as it looks
    for the end only after each step."""
    if checkpoint is None or not holds_last_step(checkpoint):
        return trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    log.info("%s holds the last step: saving its model without training further", checkpoint.name)
    trainer._load_from_checkpoint(str(checkpoint))  # the weights (or LoRA adapter) as train() would load them
    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    return TrainOutput(trainer.state.global_step, float("nan"), {})


def sequence_length(settings: dict[str, Any], start: Path | None, ctx: StageContext) -> int:
    """stage_sequence_length, saying so when the start model's provenance chose it."""
    seq_len = stage_sequence_length(settings, start)
    if not settings["max_seq_len"] and seq_len == trained_seq_len(start):
        ctx.log.info("max_seq_len %d: the longest the start model was trained at", seq_len)
    return seq_len


def learning_rate(settings: dict[str, Any], start: Path | None, ctx: StageContext, method: TrainingMethod) -> float:
    """`lr`, or the method's fine-tune rate when the start model is a chat model already and `lr` was not set."""
    if method.fine_tune_lr is None or "lr" in ctx.explicit or not is_chat_model(start):
        return settings["lr"]
    ctx.log.info("lr %g: fine-tuning a chat model (`--set lr=` to choose)", method.fine_tune_lr)
    return method.fine_tune_lr


def _check_after_training(stage: str, models: ModelPair, style: str, result: StageResult, run: TrainingRun) -> None:
    """The checks that compare the new model with its start model: both read the same two models, each loaded
    once, and the same (prompt, reply) pairs of the user's file, read once."""
    wanted = answer_check.wanted(run.ctx.settings.get("answer_check"), run.dataset.name, models.start)
    examples = run.user_examples() if run.held_out or wanted else []
    if run.held_out:
        _check_held_out(stage, models, run, result, examples)
    if wanted:
        _check_answers(stage, models, style, result, run,
                       [] if run.dataset.name.startswith("embedded-") else examples)


def _check_held_out(stage: str, models: ModelPair, run: TrainingRun, result: StageResult,
                    examples: list[tuple[str, str]]) -> None:
    """The start model and the new one on the held-out records (minillm_core/train/held_out_check.py)."""
    check = held_out_check.measure(models, run.held_out, run.dataset.kind, run.held_out_source, examples)
    result.metrics["on_your_data"] = check
    result.summary += f"; {held_out_check.summary(check)}"
    run.ctx.log.info("%s: %s, from %s", stage, held_out_check.summary(check), check["source"])
    if check["dropped"]:
        result.warnings.append(f"{stage} answers your own held-out records worse than the model it started from: "
                               f"{check['lost']} lost, {check['gained']} gained (chance {check['p']:.3f})")
        result.hint = (f"the report's final_model keeps {check['start_model']}; read the answers in "
                       "metrics.on_your_data.examples, then try a lower `lr` or fewer `epochs`")


def _check_answers(stage: str, models: ModelPair, style: str, result: StageResult, run: TrainingRun,
                   examples: list[tuple[str, str]]) -> None:
    """The answer check (minillm_core/train/answer_check.py) into the stage's metrics, warnings and hint. With
    the user's own data (`examples`) it reads all the held-out items and looks for the user's replies leaking."""
    prompts, replies = [prompt for prompt, _ in examples], [reply for _, reply in examples]
    check = answer_check.compare(models, style, prompts, replies)
    result.metrics["answer_check"] = check
    tools = check["tool_calls"]
    calls = f"; calculator calls {tools['before']:.2f} -> {tools['after']:.2f}" if tools else ""
    run.ctx.log.info("%s: answer check on %d held-out prompts: %.2f (start) -> %.2f, %d lost, %d gained, %d leaks%s",
                     stage, check["items"], check["before"], check["after"], check["lost"], check["gained"],
                     check["leaks"], calls)
    if check["regressed"]:
        warnings, result.hint = answer_check.regression_warning(stage, check)
        result.warnings.extend(warnings)


def _push(output: Path, stage: str, repo_id: str, result: StageResult, ctx: StageContext) -> None:
    """Upload the saved model; a failed upload is a warning, not a failed stage: the model is saved and whole."""
    try:
        result.metrics["push_to_hub"] = push_model(output, repo_id, stage, ignore=[MARKER])  # our marker stays
        ctx.log.info("%s: pushed %s to %s", stage, output.name, result.metrics["push_to_hub"]["url"])
    except Exception as exc:  # network, permissions, a hub error: all leave the saved model as it is
        result.metrics["push_to_hub"] = {"repo": repo_id, "error": f"{type(exc).__name__}: {exc}"}
        result.warnings.append(f"could not push {output.name} to the hub repository {repo_id}: {exc}")
        result.hint = (f"the model is saved in {workdir_relative(str(output), ctx.workdir)}; push it with "
                       f"`huggingface-cli upload {repo_id} {workdir_relative(str(output), ctx.workdir)}`")


def output_dir(stage: str, ctx: StageContext) -> Path:
    """Where `stage` saves its model: the `output` setting, else out/<stage>."""
    return output_path(stage, ctx.settings.get("output"), ctx.workdir)


def _check_output(stage: str, ctx: StageContext) -> None:
    stage_output(stage, ctx.settings.get("output"), ctx.workdir)


def _check_not_empty(trainer: Trainer, run: TrainingRun) -> None:
    """Nothing left to train on after filtering is the user's to fix, named, not a library's error later."""
    data = trainer.train_dataset
    if data is None or len(data) > 0:
        return
    stats = run.data_stats
    if stats.get("skipped_records") and not stats.get("records"):
        raise SkillError(f"{run.dataset.path}: every record is malformed ({stats['skipped_records']} skipped), "
                         f"e.g. {(stats.get('skipped_examples') or ['?'])[0]}", hint="fix the file")
    if run.dataset.kind == "pretrain":  # packed: the text is cut into sequences of exactly seq_len tokens
        raise SkillError(f"{run.dataset.path} holds too little text for one sequence of max_seq_len={run.seq_len} "
                         "tokens", hint=f"`--set max_seq_len=` less than {run.seq_len}, or give more text")
    raise SkillError(f"no training examples are left from {run.dataset.path}: every one is longer than "
                     f"max_seq_len={run.seq_len} tokens, or empty",
                     hint=f"`--set max_seq_len=` more than {run.seq_len}, or use shorter examples")


def warn_fsdp_off(trainer: Trainer, log: logging.Logger) -> None:
    """accelerate 1.16 turns FSDP on for GPUs only: launched on a CPU with configs/accelerate/fsdp.yaml, the
    processes train with DDP, each holding the whole model. Said, so nobody takes it for a sharded run."""
    asked = os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"
    if asked and not trainer.is_fsdp_enabled and is_main_process():
        log.warning("the launch asks for FSDP, which accelerate runs on GPUs only: this run trains with DDP, "
                    "every process holding the whole model")


def _refuse_sharded_lora(trainer: Trainer, stage: str) -> None:
    """The final save merges a LoRA adapter into the whole model, which no process holds under FSDP or ZeRO-3:
    refused before training rather than after it. An adapter is small: DDP or ZeRO-2 trains it as fast."""
    if hasattr(trainer.model, "merge_and_unload") and shards_weights(trainer):
        raise SkillError(f"{stage} trains LoRA adapters, which this project saves merged into the whole model: "
                         "it cannot under FSDP or DeepSpeed ZeRO-3, where each process holds part of the weights",
                         hint="launch with `accelerate launch --config_file configs/accelerate/ddp.yaml` (or "
                              "deepspeed-zero2.yaml), or `torchrun`")


def training_arguments(settings: dict[str, Any], checkpoints: Path, parameters: int) -> dict[str, Any]:
    """Our settings as keyword arguments that TrainingArguments, SFTConfig and DPOConfig all take."""
    cuda = torch.cuda.is_available()
    return dict(
        output_dir=str(checkpoints),
        max_steps=settings["max_steps"],
        num_train_epochs=1.0 if str(settings["epochs"]).lower() == "auto" else float(settings["epochs"]),
        per_device_train_batch_size=settings["batch_size"],
        gradient_accumulation_steps=settings["grad_accum"],
        learning_rate=settings["lr"],
        lr_scheduler_type="cosine",
        warmup_steps=settings["warmup_ratio"],  # a float below 1 is a ratio of the total steps
        max_grad_norm=1.0,
        weight_decay=0.0,
        seed=settings["seed"],
        logging_steps=settings["log_steps"],
        logging_first_step=True,  # the first loss is the starting point (DPO: ln 2), not step 10's
        save_strategy="steps",
        save_steps=settings["save_steps"],
        save_total_limit=2,  # the newest may be half-written when killed; the one before stays good
        bf16=use_bf16(settings["bf16"], cuda, parameters),
        torch_compile=compile_requested(settings["compile"]),  # a stage of fixed shapes decides `auto` itself
        use_cpu=not cuda,
        activation_checkpointing=False,  # TRL defaults to True; these models are small enough without it
        report_to=trackers(settings.get("report_to", "none")) or "none",
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=False,  # True would swap in a callback that prints logs to stdout
    )


def _use_our_progress_bar(trainer: Trainer) -> None:
    trainer.remove_callback(transformers.trainer_callback.ProgressCallback)


def save_model(trainer: Trainer, tokenizer, output: Path, sample_style: str, stage: str | None = None,
               provenance: dict[str, Any] | None = None) -> None:
    """Save model, tokenizer and generation config to a temporary folder, then swap it into place.

    Every process of a launch calls it: under FSDP or DeepSpeed ZeRO-3 each holds a shard of the weights, and
    gathering them takes all of them; the main process alone writes. The folder gets a marker naming `stage`
    (default: the folder's name): a later run of that stage may replace it, and nothing else
    (minillm_core.contract.outputs); it also records the model's `provenance`."""
    main = trainer.is_world_process_zero()
    model = trainer.accelerator.unwrap_model(trainer.model, keep_torch_compile=False)
    weights = gathered_state_dict(trainer)  # a collective: every process takes part, before any may fail alone
    if not main:
        return
    with staged_output(output, stage or output.name, style=sample_style, provenance=provenance) as staging:
        if hasattr(model, "merge_and_unload"):  # LoRA: save the adapter apart, then merge it in
            model.save_pretrained(staging / "adapter")  # whole on every process: refuse_sharded_lora
            model = model.merge_and_unload()
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = (chat_stop_token_ids(tokenizer) if sample_style == "chat"
                                                else tokenizer.eos_token_id)
        model.save_pretrained(staging, state_dict=weights, safe_serialization=True)
        trainer.state.save_to_json(str(staging / "trainer_state.json"))  # every step's log, kept with the model
        if sample_style == "completion":  # a base model carries no chat template, whatever its tokenizer had
            tokenizer.chat_template = None
        save_tokenizer(tokenizer, staging)


def gathered_state_dict(trainer: Trainer) -> dict[str, Any] | None:
    """Under FSDP and DeepSpeed ZeRO-3, the whole model's weights gathered from every process through
    accelerate, as Trainer.save_model does (the main process gets the full tensors); every process must call
    it. None where each process holds the whole model (one process, DDP, ZeRO-1/2): the model saves its own."""
    if not shards_weights(trainer):
        return None
    try:
        return trainer.accelerator.get_state_dict(trainer.model_wrapped)
    except ValueError as exc:  # ZeRO-3 without stage3_gather_16bit_weights_on_model_save
        raise SkillError(f"cannot gather the sharded model to save it: {exc}",
                         hint="set `zero3_save_16bit_model: true` in the accelerate config "
                              "(configs/accelerate/deepspeed-zero3.yaml does)") from exc


def shards_weights(trainer: Trainer) -> bool:
    """Whether each process holds only part of the weights: FSDP, or DeepSpeed ZeRO stage 3."""
    if trainer.is_fsdp_enabled:
        return True
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None) if trainer.is_deepspeed_enabled else None
    return plugin is not None and plugin.zero_stage == 3


def _stage_result(trainer: Trainer, result, run: TrainingRun, output: Path, checkpoint: Path | None,
                  method: TrainingMethod, logs: StageLogs) -> StageResult:
    ctx = run.ctx
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    tokens = trainer.state.num_input_tokens_seen
    seconds = result.metrics.get("train_runtime", 0.0)
    metrics = {
        "steps": trainer.state.global_step,
        "final_loss": round(history[-1]["loss"], 4) if history else None,
        "first_loss": round(history[0]["loss"], 4) if history else None,
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "train_seconds": round(seconds, 1),
        "parameters": count_parameters(trainer.model),
        "resumed_from_step": int(checkpoint.name.split("-")[-1]) if checkpoint else 0,
        "compiled": bool(trainer.args.torch_compile),
        "threads": run.threads.summary(),
        "tokenizer": _tokenizer_record(run.tokenizer, ctx.workdir),
        # What the stage made, for the report card, chat and the final model: known by this, not by name.
        "model": {"path": os.path.relpath(output, ctx.workdir), "style": method.sample_style},
        **run.data_stats,
    }
    if run.dataset.name != run.requested_dataset:
        metrics["dataset_fallback"] = f"{run.requested_dataset} -> {run.dataset.name}"
    for key, label in method.tracked.items():
        values = [entry[key] for entry in history if key in entry]
        if values:
            metrics[f"first_{label}"], metrics[f"final_{label}"] = values[0], values[-1]
    summary = f"{metrics['steps']} steps, loss {metrics['first_loss']} -> {metrics['final_loss']}, {tokens:,} tokens"
    if metrics["tokens_per_s"]:  # none when a checkpoint of the last step was only loaded
        summary += f" at {metrics['tokens_per_s']} tokens/s"
    if checkpoint:
        summary += f", resumed from step {metrics['resumed_from_step']}"
    if metrics.get("skipped_records"):
        summary += f", {metrics['skipped_records']} malformed records skipped"
    artifacts = [os.path.relpath(output, ctx.workdir), logs.log, logs.samples]
    return StageResult(summary, metrics=metrics, artifacts=artifacts)


def _tokenizer_record(tokenizer, workdir: Path) -> dict[str, Any]:
    """Which tokenizer the stage used: the folder it was loaded from and a fingerprint of what it does."""
    return {"path": workdir_relative(tokenizer.name_or_path, workdir), "vocab_size": len(tokenizer),
            "sha256": tokenizer_sha256(tokenizer)}
