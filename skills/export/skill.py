"""export: the final model as a GGUF file for llama.cpp and Ollama (with a Modelfile), checked against the original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minillm_core.api import Check, Option, Skill, SkillError, StageContext, StageResult, hookimpl
from minillm_core.contract import one_of

FORMATS = ("gguf",)
OPTIONS = {
    "format": Option("format", str, "gguf", "file format to write: gguf (llama.cpp, Ollama)", valid=one_of(*FORMATS)),
    "model": Option("model", str, None, "model folder to export (default: the run's final model)", is_path=True),
    "quant": Option("quant", str, "f16", "weights: f16, q8_0 (about half f16's size) or f32",
                    valid=one_of("f16", "q8_0", "f32")),
    "output": Option("output", str, None, "folder the file and its Modelfile go to (default out/export)",
                     is_path=True),
    "verify": Option("verify", bool, True, "reload the file with transformers and compare greedy answers"),
}


def model_path(ctx: StageContext) -> Path:
    """The model to export: `model`, else the run's final model (SkillError when there is none)."""
    import click

    from minillm_core.serve import default_model

    if ctx.settings["model"]:
        return Path(ctx.settings["model"])
    try:
        return default_model(ctx.workdir)
    except click.UsageError:  # its message names chat's --model option: say it in this skill's terms
        raise SkillError(f"no trained model in {ctx.path('out')} to export",
                         hint="run `minillm-skill run pretrain` (or bot-start) first, or `--set model=PATH`") from None


def checks(ctx: StageContext) -> list[Check]:
    try:
        path = model_path(ctx)
    except SkillError as exc:
        return [Check("a trained model to export", False, str(exc), made_by="pretrain", hint=exc.hint)]
    found = (path / "config.json").is_file()
    return [Check(f"the model folder {path}", found, "found" if found else "missing, or no config.json in it",
                  hint="check `--set model=PATH`" if ctx.settings["model"] else "run `minillm-skill run pretrain`")]


def model_inputs(ctx: StageContext) -> list[Path]:
    """A retrained model makes a re-run export again."""
    try:
        return [model_path(ctx)]
    except SkillError:
        return []


def run(ctx: StageContext) -> StageResult:
    from minillm_core.contract import stage_output, workdir_relative, write_marker
    from minillm_core.export import gguf as gg  # numpy, gguf and torch load only when export runs
    from minillm_core.export import verify_gguf

    try:
        import gguf  # noqa: F401
    except ImportError:
        raise SkillError("GGUF export needs the `gguf` package", hint="pip install 'minillm-skill[export]'") from None
    model = model_path(ctx)
    folder = stage_output("export", ctx.settings["output"], ctx.workdir)
    folder.mkdir(parents=True, exist_ok=True)
    write_marker(folder, "export")  # the folder is export's own: a later export may write into it again
    quant = ctx.settings["quant"]
    try:
        info = gg.export_gguf(model, folder / f"{model.name}-{quant}.gguf", quant=quant)
    except gg.ExportError as exc:
        raise SkillError(str(exc), hint="export a Llama-architecture model (presets tiny, minimind2-small, "
                                        "minimind2)") from None
    template = gg.chat_template_of(model)
    modelfile = _write_modelfile(folder, info.path.name, template)
    figures = verify_gguf(model, info.path) if ctx.settings["verify"] else None
    result = _result(ctx, model, info, modelfile, figures, workdir_relative)
    if template and "<|im_start|>" not in template:  # the Modelfile's TEMPLATE is written for ChatML only
        result.warnings.append("the model's chat template is not ChatML: the Modelfile continues plain prompts; "
                               "write its TEMPLATE by hand")
    return result


def _write_modelfile(folder: Path, gguf_name: str, chat_template: str | None) -> Path:
    from minillm_core.export import ollama_modelfile
    from minillm_core.util import write_text_atomic

    path = folder / "Modelfile"
    write_text_atomic(path, ollama_modelfile(gguf_name, chat_template))
    return path


def _result(ctx: StageContext, model: Path, info: Any, modelfile: Path, figures: dict[str, Any] | None,
            relative: Any) -> StageResult:
    metrics: dict[str, Any] = {
        "path": relative(info.path, ctx.workdir), "modelfile": relative(modelfile, ctx.workdir),
        "model": relative(model, ctx.workdir), "format": "gguf", "quant": info.quant, "size_bytes": info.size_bytes,
        "size_mb": round(info.size_bytes / 2**20, 2), "tensors": info.tensors, "vocab_size": info.vocab_size,
        "pre_tokenizer": info.pre_tokenizer,
    }
    summary = f"wrote {metrics['path']} ({metrics['size_mb']} MB, {info.quant}, {info.tensors} tensors) and a Modelfile"
    warnings: list[str] = []
    if figures:
        metrics["verify"] = {key: value for key, value in figures.items() if key != "rows"}
        metrics["verify"]["rows"] = [{k: row[k] for k in ("prompt", "original", "gguf", "matching")}
                                     for row in figures["rows"]]
        summary += (f"; greedy tokens match the original on {figures['identical']}/{figures['prompts']} prompts "
                    f"({figures['match_share']:.0%} of tokens)")
        warnings = _warnings(info.quant, figures)
    return StageResult(summary, metrics=metrics, artifacts=[metrics["path"], metrics["modelfile"]],
                       details=_details(metrics, figures), warnings=warnings,
                       hint="re-export with `--set quant=f32` to tell rounding from a conversion fault"
                       if warnings else None)


def _warnings(quant: str, figures: dict[str, Any]) -> list[str]:
    warnings = []
    if not figures["tokenizer_match"] or not figures["template_match"]:
        warnings.append("the GGUF tokenizer, as transformers reads it back, tokenizes or formats the prompts "
                        "differently from the original")
    if quant != "q8_0" and figures["identical"] < figures["prompts"]:
        # f16 rounds float32 weights: a model whose top two tokens are nearly tied may pick the other one.
        warnings.append(f"{quant}: greedy answers differ from the original on "
                        f"{figures['prompts'] - figures['identical']} of {figures['prompts']} prompts "
                        f"(largest logit difference {figures['max_logit_diff']})")
    return warnings


def _details(metrics: dict[str, Any], figures: dict[str, Any] | None) -> str:
    lines = [f"`{metrics['path']}`: {metrics['size_mb']} MB, {metrics['quant']}, {metrics['tensors']} tensors, "
             f"pre-tokenizer `{metrics['pre_tokenizer']}`; Ollama: `ollama create NAME -f {metrics['modelfile']}`."]
    if figures:
        lines += ["", "| prompt | matching greedy tokens |", "|---|---|"]
        lines += [f"| {row['prompt']} | {row['matching']}/{max(len(row['original']), len(row['gguf']))} |"
                  for row in figures["rows"]]
    return "\n".join(lines)


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS, checks=checks,
                               inputs=model_inputs))
