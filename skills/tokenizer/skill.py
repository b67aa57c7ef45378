"""tokenizer: train the byte-level BPE tokenizer on the pretraining corpus in use, into out/tokenizer."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Option, Skill, StageContext, StageResult, hookimpl
from minillm_core.contract import at_least, greater_than
from minillm_core.model import DEFAULT_VOCAB_SIZE, RESERVED_TOKENS, tokenizer_folder_problem
from minillm_core.train import dataset_check, dataset_inputs

OPTIONS = {
    "dataset": Option("dataset", str, "embedded-pretrain", "the pretraining corpus: a registry name or a data file",
                      is_path=True, may_be_name=True),
    "vocab_size": Option("vocab_size", int, DEFAULT_VOCAB_SIZE,
                         "tokens at most, the reserved tokens and 256 byte tokens included",
                         valid=at_least(len(RESERVED_TOKENS) + 256 + 1)),
    "sample_mb": Option("sample_mb", float, 100.0, "train on about this much text, spread over a larger corpus",
                        valid=greater_than(0)),
    "max_token_length": Option("max_token_length", int, 0,
                               "characters per token at most (a Chinese character counts 3); 0: no limit",
                               valid=at_least(0)),
    "split_digits": Option("split_digits", bool, False, "every digit its own token (Qwen2's pre-tokenizer), for "
                           "arithmetic; default: GPT-2's, where BPE may merge digits"),
    "output": Option("output", str, None, "where the tokenizer goes (default out/tokenizer)", is_path=True),
    "compare": Option("compare", str, None, "another tokenizer folder to measure on the same held-out text",
                      is_path=True, valid=tokenizer_folder_problem),
    "lenient": Option("lenient", bool, False, "skip malformed records (counted in the report) instead of failing"),
}


def run(ctx: StageContext) -> StageResult:
    from minillm_core.train import run_tokenizer_stage  # tokenizers and transformers load only now

    return run_tokenizer_stage(ctx)


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS, checks=dataset_check("pretrain"),
                               inputs=dataset_inputs("pretrain")))
