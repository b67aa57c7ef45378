"""The plugin's entry point (group `minillm_skill`): the `health-qa` data format and the `lora` skill.

The skill trains with minillm's own SFT trainer with LoRA on, over the domain data mixed with replayed
general conversations (recipe.py; a TrainingMethod: the shared training path, checkpoints, resume, logs
and report), and measures the model on held-out domain questions before and after.
The core saves the adapter in out/lora/adapter and the merged model in out/lora.
"""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Option, StageContext, StageResult, TrainingMethod, hookimpl, training_options
from minillm_skill_lora import health_qa

HERE = Path(__file__).parent
METHOD = TrainingMethod(kind="sft", trainer="minillm_skill_lora.recipe:build_trainer", default_init="out/sft",
                        config="trl:SFTConfig")
# Sized for the tiny preset on a CPU (about 30 s): LoRA adapters learn at a higher rate than full weights.
OPTIONS = training_options(dataset=str(HERE / "data" / "health_qa.jsonl"), lr=1e-2, epochs=4, batch_size=16,
                           log_steps=5)
OPTIONS["lora"] = Option("lora", bool, True, "train LoRA adapters (false: every weight, for comparison)")
OPTIONS["replay"] = Option("replay", str, "embedded-sft", "general SFT data mixed in so the model keeps what it "
                           "knew (registry name or path; replay_ratio=0 for none)", is_path=True, may_be_name=True)
OPTIONS["replay_ratio"] = Option("replay_ratio", float, 2.0, "replayed general conversations per domain one")
OPTIONS["eval_dataset"] = Option("eval_dataset", str, str(HERE / "data" / "health_qa_eval.jsonl"),
                                 "held-out health-qa file measured before and after", is_path=True)


def run(ctx: StageContext) -> StageResult:
    from minillm_core.api import output_dir, train  # torch, transformers, peft load only when it runs
    from minillm_skill_lora.domain import measure

    settings = ctx.settings
    start = Path(settings["init"] or ctx.path(METHOD.default_init))
    output = output_dir(ctx.skill, ctx)
    eval_file = Path(settings["eval_dataset"])
    before = measure(start, eval_file, ctx.workdir)
    result = train(ctx.skill, ctx, METHOD)
    after = measure(output, eval_file, ctx.workdir)
    for key in ("domain_perplexity", "domain_answer_rate", "general_perplexity"):
        result.metrics[f"{key}_before"], result.metrics[f"{key}_after"] = before[key], after[key]
    result.metrics["answers_after"] = after["answers"]
    result.summary += (f"; held-out domain perplexity {before['domain_perplexity']} -> {after['domain_perplexity']}"
                       f", answers with the fact {before['domain_answer_rate']:.0%} -> "
                       f"{after['domain_answer_rate']:.0%}; general perplexity {before['general_perplexity']} -> "
                       f"{after['general_perplexity']}")
    return result


@hookimpl
def register_formats(register):
    register("health-qa", "sft", health_qa.to_chat, example=health_qa.EXAMPLE, detect=health_qa.looks_like)


@hookimpl
def register_skills(register):
    register(METHOD.skill(HERE / "lora", OPTIONS, run=run))
