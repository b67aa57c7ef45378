"""The libraries' own progress bars and advice, switched off while a minillm-skill command runs.

Our progress bar and log lines say what matters; transformers', datasets' and lm_eval's bars and chatter would
bury them (and chat's conversation). The CLI calls this when a command starts: importing minillm_core changes
nothing, so a program that uses it as a library keeps its own settings.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings


def quiet_libraries() -> None:
    # A library not imported yet reads these when it is (so `list` and `show` import none of them); one
    # already imported is told directly.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # huggingface_hub's and transformers' bars
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if "transformers" in sys.modules:
        transformers = sys.modules["transformers"]
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)\.")
    # lm_eval logs every step at INFO; its Hugging Face wrapper warns that we pass a loaded model instead of
    # a name, which is what we mean to do.
    for name in ("lm_eval", "lm-eval"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("lm_eval.models.huggingface").setLevel(logging.ERROR)
