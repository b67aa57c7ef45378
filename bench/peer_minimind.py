"""Side by side with MiniMind's own pretrainer: held-out bits per byte at equal tokens and equal wall clock.

    python bench/peer_minimind.py --minimind /tmp/minimind                  # 800 pieces, 512 x 8, batch 8
    python bench/peer_minimind.py --minimind /tmp/minimind --pieces 40 --hidden-size 128 --layers 2   # smoke

Needs a MiniMind checkout (https://github.com/jingyaogong/minimind), never the test suite. The text is real
and ships with Debian: the Chinese man pages of `manpages-zh` (`apt-get install -y manpages-zh`) beside the
licence texts in /usr/share/common-licenses; without manpages-zh, the licences beside /usr/share/doc/*/copyright.
Documents are cut into pieces of at most seq_len - 2 tokens (MiniMind adds a start and an end token to each
and pads to seq_len, so it pads little), whole documents go to the held-out split, and the train pieces are
written as MiniMind's `{"text"}` JSONL, which both trainers read.

Three runs, each a child process timed from start to exit, on one tokenizer (the checkout's `model/`):
  1. MiniMind's `trainer/train_pretrain.py` for `--epochs`, float32 on the CPU, no accumulation, no wandb;
  2. `minillm-skill run pretrain` with a preset of the same shape (MiniMind's own config gives it), for as
     many steps of batch x seq_len packed tokens as MiniMind trained real (non-padding) tokens;
  3. the same, for the steps that fill MiniMind's wall clock at run 2's seconds per step.
One child then scores all three models with one function: the held-out pieces, each after the start token
its trainer put before every document (MiniMind: `<|im_start|>`; ours: the `<|im_end|>` that ends the
document before it when packed) and followed by `<|im_end|>`; bits per byte = the nats of every token
predicted / ln 2 / the UTF-8 bytes of the held-out text.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from machine import cpu_model_name  # bench/machine.py

REPO = Path(__file__).resolve().parent.parent
# What a MiniMind checkout holds that this script uses.
CHECKOUT_FILES = ("trainer/train_pretrain.py", "model/model_minimind.py", "model/tokenizer.json")
MAN_PAGES = Path("/usr/share/man/zh_CN")
LICENCES = Path("/usr/share/common-licenses")
COPYRIGHTS = Path("/usr/share/doc")
MIN_PIECE_CHARS = 20  # shorter leftovers (a man page's footer line) are dropped


class PeerError(Exception):
    """A problem the user can fix; main prints it and exits 2."""


# ---------------------------------------------------------------- the checkout

def check_checkout(path: Path) -> Path:
    """`path` resolved, when it is a MiniMind checkout; PeerError naming it and what is missing otherwise."""
    path = Path(path).expanduser().resolve()
    missing = [name for name in CHECKOUT_FILES if not (path / name).is_file()]
    if missing:
        raise PeerError(f"--minimind {path} is not a MiniMind checkout: it has no {', '.join(missing)}. "
                        "Expected a clone of https://github.com/jingyaogong/minimind (its trainer/, model/ "
                        "and dataset/ folders)")
    return path


# ---------------------------------------------------------------- the text

def man_page_text(page: Path) -> str:
    """A man page rendered by man(1) without line wrapping, its layout spaces collapsed."""
    env = {**os.environ, "MANWIDTH": "10000", "MANPAGER": "cat", "LC_ALL": "C.UTF-8"}
    rendered = subprocess.run(["man", "-E", "UTF-8", "-l", str(page)], capture_output=True, text=True,
                              env=env, errors="replace").stdout
    return "\n".join(" ".join(line.split()) for line in rendered.splitlines()).strip()


def plain_text(path: Path) -> str:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.decode("utf-8", errors="replace").strip()


def text_sources() -> tuple[str, list[list[tuple[Path, Callable[[Path], str]]]]]:
    """A description of the text used, and its sources: each a list of (file, reader) in a fixed order."""
    licences = sorted({path.resolve() for path in LICENCES.iterdir() if path.is_file()})
    licence_source = [(path, plain_text) for path in licences]
    pages = sorted(MAN_PAGES.rglob("*.gz")) if MAN_PAGES.is_dir() else []
    if pages and shutil.which("man"):
        return (f"manpages-zh ({len(pages)} pages in {MAN_PAGES}) and {len(licences)} licences in {LICENCES}",
                [[(page, man_page_text) for page in pages], licence_source])
    copyrights = sorted(COPYRIGHTS.glob("*/copyright"))
    return (f"{len(licences)} licences in {LICENCES} and {len(copyrights)} {COPYRIGHTS}/*/copyright files "
            "(manpages-zh is not installed, or man is missing: `apt-get install -y manpages-zh` adds Chinese)",
            [licence_source, [(path, plain_text) for path in copyrights]])


def cut_pieces(text: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """`text` cut at line ends into pieces of at most `max_tokens` tokens (by `count`), each as long as
    fits; a line longer than that alone is cut inside it."""
    pieces: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        if count("\n".join([*current, line])) <= max_tokens:
            current.append(line)
            continue
        pieces.append("\n".join(current))
        current = []
        while count(line) > max_tokens:
            cut = _longest_prefix(line, max_tokens, count)
            pieces.append(line[:cut])
            line = line[cut:]
        current = [line]
    pieces.append("\n".join(current))
    return [piece.strip() for piece in pieces if len(piece.strip()) >= MIN_PIECE_CHARS]


def _longest_prefix(line: str, max_tokens: int, count: Callable[[str], int]) -> int:
    low, high = 1, len(line)  # count(line[:low]) <= max_tokens for any tokenizer worth the name
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if count(line[:middle]) <= max_tokens else (low, middle - 1)
    return low


def round_robin(sources: Sequence[Sequence[Any]], seed: int = 0) -> Iterator[tuple[int, Any]]:
    """(source index, item): each source shuffled by `seed`, then one item of each in turn until all run out."""
    shuffled = [random.Random(seed).sample(list(source), len(source)) for source in sources]
    for index in range(max(map(len, shuffled), default=0)):
        for number, source in enumerate(shuffled):
            if index < len(source):
                yield number, source[index]


def split_pieces(sources: Sequence[Sequence[tuple[Path, Callable[[Path], str]]]], pieces: int, held_out: int,
                 max_tokens: int, count: Callable[[str], int]) -> tuple[list[str], list[str]]:
    """`pieces` train pieces and `held_out` held-out ones, from the sources' documents in turn (round_robin):
    each source's first documents fill its even share of the held-out split, the rest go to training, so no
    document is on both sides. The train pieces come back shuffled (no neighbours from one document)."""
    quotas = [held_out // len(sources) + (number < held_out % len(sources)) for number in range(len(sources))]
    train: list[str] = []
    held: list[list[str]] = [[] for _ in sources]
    for number, (path, read) in round_robin(sources):
        if len(train) >= pieces and all(len(side) >= quota for side, quota in zip(held, quotas, strict=True)):
            break
        side = held[number] if len(held[number]) < quotas[number] else train
        side.extend(cut_pieces(read(path), max_tokens, count))
    held_pieces = [piece for side, quota in zip(held, quotas, strict=True) for piece in side[:quota]]
    if len(train) < pieces or len(held_pieces) < held_out:
        raise PeerError(f"the text gave {len(train)} train and {len(held_pieces)} held-out pieces, fewer than "
                        f"--pieces {pieces} and --held-out {held_out}: ask for fewer")
    return random.Random(0).sample(train[:pieces], pieces), held_pieces


def write_jsonl(path: Path, texts: Sequence[str]) -> None:
    path.write_text("".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in texts),
                    encoding="utf-8")


def read_jsonl(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- the score

def bits_per_byte(nats: float, text_bytes: int) -> float:
    """Held-out bits per byte: total nats of the predicted tokens / ln 2 / UTF-8 bytes of the text."""
    return nats / math.log(2) / text_bytes


def sequence_nats(logits_of: Callable[[Any], Any], texts_ids: Sequence[Sequence[int]], start_id: int,
                  end_id: int, batch_size: int = 8) -> float:
    """Total nats of each text's tokens and the end token, each text after `start_id`; `logits_of` maps a
    (batch, length) id tensor to (batch, length, vocab) logits of a causal LM."""
    import torch
    import torch.nn.functional as F

    total = 0.0
    for first in range(0, len(texts_ids), batch_size):
        rows = [[start_id, *ids, end_id] for ids in texts_ids[first:first + batch_size]]
        width = max(map(len, rows))
        ids = torch.tensor([row + [end_id] * (width - len(row)) for row in rows])
        targets = torch.tensor([row[1:] + [-100] * (width - len(row)) for row in rows])  # padding: no target
        with torch.no_grad():
            logits = logits_of(ids)[:, :-1].float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100,
                                 reduction="sum").item()
    return total


def _child_score(spec: dict[str, Any]) -> dict[str, Any]:
    """In a child: every model of `spec` scored on the held-out text by `sequence_nats`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec["tokenizer"])
    texts = read_jsonl(Path(spec["held_out"]))
    texts_ids = [tokenizer(text, add_special_tokens=False).input_ids for text in texts]
    text_bytes = sum(len(text.encode("utf-8")) for text in texts)
    scores = {}
    for model_spec in spec["models"]:
        if model_spec["kind"] == "minimind":
            model, start_id = _minimind_model(spec["checkout"], model_spec), tokenizer.bos_token_id
        else:
            model, start_id = AutoModelForCausalLM.from_pretrained(model_spec["path"], dtype=torch.float32), \
                tokenizer.eos_token_id
        model.eval()
        nats = sequence_nats(lambda ids, model=model: model(ids).logits, texts_ids, start_id, tokenizer.eos_token_id)
        scores[model_spec["name"]] = {"bits_per_byte": bits_per_byte(nats, text_bytes),
                                      "parameters": sum(p.numel() for p in model.parameters())}  # tied: once
    return {"pieces": len(texts), "tokens": sum(map(len, texts_ids)), "bytes": text_bytes, "scores": scores}


def _minimind_model(checkout: str, model_spec: dict[str, Any]):
    """MiniMind's model from its own code, with the float16 state_dict its trainer saved, in float32."""
    import torch

    sys.path.insert(0, checkout)
    from model.model_minimind import MiniMindConfig, MiniMindForCausalLM

    model = MiniMindForCausalLM(MiniMindConfig(hidden_size=model_spec["hidden_size"],
                                               num_hidden_layers=model_spec["layers"]))
    model.load_state_dict(torch.load(model_spec["path"], map_location="cpu"))
    return model.float()


def _child_minimind_config(spec: dict[str, Any]) -> dict[str, Any]:
    """In a child: the shape MiniMind's trainer builds for a hidden size and layer count."""
    sys.path.insert(0, spec["checkout"])
    from model.model_minimind import MiniMindConfig

    config = MiniMindConfig(hidden_size=spec["hidden_size"], num_hidden_layers=spec["layers"])
    return {key: getattr(config, key) for key in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                  "num_key_value_heads", "head_dim", "intermediate_size")}


CHILDREN = {"score": _child_score, "minimind-config": _child_minimind_config}


def in_child(mode: str, spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run CHILDREN[mode](spec) in a fresh Python (the checkout's `model` package stays out of this one)."""
    spec_file = workdir / f"{mode}.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run([sys.executable, __file__, "--child", mode, str(spec_file)], capture_output=True,
                          text=True, env=_env(workdir))
    if done.returncode != 0:
        raise PeerError(f"the {mode} child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def _env(workdir: Path, pythonpath: str | None = str(REPO)) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(workdir / "hf-datasets"), "WANDB_MODE": "disabled"}
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


# ---------------------------------------------------------------- the runs

def timed(command: list[str], log: Path, cwd: Path, env: dict[str, str], what: str) -> float:
    """Run `command`, its output to `log`; its wall-clock seconds; PeerError with the log's end if it fails."""
    print(f"{what}: {' '.join(command)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise PeerError(f"{what} failed (exit {code}); its log is {log}, ending:\n{tail}")
    return seconds


def run_minimind(args: argparse.Namespace, checkout: Path, data: Path, workdir: Path) -> dict[str, Any]:
    """MiniMind's trainer, run as its README says (from its trainer/ folder, whose `../model` is the
    tokenizer), here from a folder of the work dir whose `../model` links to the checkout's, so that its
    `../checkpoints` lands in the work dir and the checkout stays untouched."""
    run_dir, out = workdir / "minimind" / "run", workdir / "minimind" / "out"
    run_dir.mkdir(parents=True)
    out.mkdir()
    (workdir / "minimind" / "model").symlink_to(checkout / "model")
    command = [args.minimind_python, str(checkout / "trainer" / "train_pretrain.py"),
               "--save_dir", str(out), "--save_weight", "pretrain", "--epochs", str(args.epochs),
               "--batch_size", str(args.batch_size), "--learning_rate", str(args.lr), "--device", "cpu",
               "--dtype", "float32",  # on a CPU it trains in float32 whatever this says; float32 keeps its scaler off
               "--num_workers", "0", "--accumulation_steps", "1", "--log_interval", "10",
               "--save_interval", str(10**9),  # it saves at the end of each epoch anyway
               "--hidden_size", str(args.hidden_size), "--num_hidden_layers", str(args.layers),
               "--max_seq_len", str(args.seq_len), "--use_moe", "0", "--data_path", str(data),
               "--from_weight", "none", "--from_resume", "0", "--use_compile", "0"]
    # No PYTHONPATH: the checkout's own `model` and `dataset` packages must be the ones it imports.
    seconds = timed(command, workdir / "minimind.log", run_dir, _env(workdir, pythonpath=None), "MiniMind")
    return {"wall_s": seconds, "weights": str(out / f"pretrain_{args.hidden_size}.pth")}


def write_preset(args: argparse.Namespace, shape: dict[str, Any], path: Path) -> Path:
    """Our `--preset` with MiniMind's shape: the architecture and its other choices stay ours."""
    import yaml

    from minillm_core.model.presets import get_preset

    preset = get_preset(args.preset)
    document = {"architecture": preset.architecture,
                "description": f"{preset.name} at MiniMind's shape, for bench/peer_minimind.py",
                "max_seq_len": args.seq_len, "min_vocab_size": preset.min_vocab_size,
                "config": {**preset.config, **shape}}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def run_ours(args: argparse.Namespace, checkout: Path, data: Path, preset: Path, workdir: Path,
             steps: int, name: str) -> dict[str, Any]:
    """`minillm-skill run pretrain` for `steps` steps in a fresh work dir; its wall clock and report."""
    run_dir = workdir / name
    run_dir.mkdir()
    sets = {"dataset": data, "preset": preset, "tokenizer": checkout / "model", "batch_size": args.batch_size,
            "max_seq_len": args.seq_len, "lr": args.lr, "max_steps": steps,
            "save_steps": 10**9}  # as MiniMind's run: no checkpoint before the end
    command = [sys.executable, "-m", "minillm_core", "run", "pretrain", "--workdir", str(run_dir), "--json",
               *(part for key, value in sets.items() for part in ("--set", f"{key}={value}")),
               *(part for setting in args.ours_set for part in ("--set", setting))]
    seconds = timed(command, workdir / f"{name}.log", run_dir, _env(workdir), f"ours ({name})")
    report = json.loads((run_dir / "reports" / "latest.json").read_text(encoding="utf-8"))
    stage = next(stage for stage in report["stages"] if stage["skill"] == "pretrain")
    return {"wall_s": seconds, "model": str(run_dir / "out" / "pretrain"), "metrics": stage["metrics"]}


def minimind_tokens(texts: Sequence[str], count: Callable[[str], int], epochs: int) -> int:
    """The real tokens MiniMind trains on: each piece with its start and end token, padding left out."""
    return epochs * sum(count(text) + 2 for text in texts)


def wall_clock_steps(steps: int, seconds: float, train_seconds: float, target_seconds: float) -> int:
    """The steps that make a run of `steps` steps, `seconds` long of which `train_seconds` training, last
    `target_seconds`: the start-up stays, the extra steps cost what the trained ones did."""
    per_step = train_seconds / steps
    return max(1, steps + round((target_seconds - seconds) / per_step))


def ours_precision(args: argparse.Namespace, parameters: int) -> str:
    """What our runs computed in on this CPU: the pretrain skill's bf16 choice for this model."""
    from minillm_core.train.speedups import use_bf16

    setting = next((value for key, _, value in (item.partition("=") for item in args.ours_set) if key == "bf16"),
                   "auto")
    return "bf16 autocast" if use_bf16(setting, False, parameters) else "float32"


# ---------------------------------------------------------------- the report

def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| run | wall clock s | steps | real tokens trained | held-out bits/byte |", "|---|---|---|---|---|"]
    lines += [f"| {row['run']} | {row['wall_s']:.0f} | {row['steps']} | {row['tokens']:,} | "
              f"{row['bits_per_byte']:.3f} |" for row in rows]
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> str:
    held = result["held_out"]
    parameters = ", ".join(f"{row['run']}: {row['parameters'] / 1e6:.1f}M" for row in result["rows"][:2])
    return "\n".join([f"machine: {result['machine']}", f"text: {result['text']}",
                      f"held out: {held['pieces']} pieces, {held['tokens']:,} tokens, {held['bytes']:,} bytes",
                      f"shape: {result['shape']}", f"parameters: {parameters}", f"work dir: {result['workdir']}",
                      "", table(result["rows"])])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minimind", type=Path, required=True, help="a MiniMind checkout (its trainer/ and model/)")
    parser.add_argument("--pieces", type=int, default=800, help="train pieces (default 800)")
    parser.add_argument("--held-out", type=int, default=100, help="held-out pieces (default 100)")
    parser.add_argument("--epochs", type=int, default=1, help="MiniMind's epochs (default 1)")
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--preset", default="minimind3",
                        help="our preset whose architecture is trained at MiniMind's shape (default minimind3: "
                             "Qwen3 blocks, as MiniMind-3)")
    parser.add_argument("--ours-set", action="append", default=[], metavar="KEY=VALUE",
                        help="one more --set for our pretrain runs (repeatable), e.g. optimizer=muon")
    parser.add_argument("--minimind-python", default=sys.executable,
                        help="the Python that runs MiniMind's trainer (default: this one)")
    parser.add_argument("--workdir", type=Path, help="where data, models and logs go (default: a new /tmp folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    return parser.parse_args(argv)


def compare(args: argparse.Namespace) -> dict[str, Any]:
    checkout = check_checkout(args.minimind)
    machine = f"{cpu_model_name()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="peer-minimind-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkout / "model")

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False).input_ids)

    source, sources = text_sources()
    print(f"text: {source}", file=sys.stderr, flush=True)
    train, held_out = split_pieces(sources, args.pieces, args.held_out, args.seq_len - 2, count)
    write_jsonl(workdir / "train.jsonl", train)
    write_jsonl(workdir / "held_out.jsonl", held_out)

    shape = in_child("minimind-config", {"checkout": str(checkout), "hidden_size": args.hidden_size,
                                         "layers": args.layers}, workdir)
    preset = write_preset(args, shape, workdir / "preset.yaml")
    minimind = run_minimind(args, checkout, workdir / "train.jsonl", workdir)
    tokens = minimind_tokens(train, count, args.epochs)
    block = args.batch_size * args.seq_len
    equal_tokens = run_ours(args, checkout, workdir / "train.jsonl", preset, workdir, round(tokens / block),
                            "ours-equal-tokens")
    metrics = equal_tokens["metrics"]
    steps = wall_clock_steps(metrics["steps"], equal_tokens["wall_s"], metrics["train_seconds"], minimind["wall_s"])
    equal_wall = run_ours(args, checkout, workdir / "train.jsonl", preset, workdir, steps, "ours-equal-wall-clock")

    models = [{"name": "minimind", "kind": "minimind", "path": minimind["weights"],
               "hidden_size": args.hidden_size, "layers": args.layers},
              {"name": "ours-equal-tokens", "kind": "hf", "path": equal_tokens["model"]},
              {"name": "ours-equal-wall-clock", "kind": "hf", "path": equal_wall["model"]}]
    scored = in_child("score", {"checkout": str(checkout), "tokenizer": str(checkout / "model"),
                                "held_out": str(workdir / "held_out.jsonl"), "models": models}, workdir)
    scores = scored.pop("scores")
    rows = [{"run": f"MiniMind's trainer, {args.epochs} epoch(s), float32", "wall_s": minimind["wall_s"],
             "steps": args.epochs * math.ceil(len(train) / args.batch_size), "tokens": tokens,
             **scores["minimind"]}]
    precision = ours_precision(args, scores["ours-equal-tokens"]["parameters"])
    for name, run in (("ours-equal-tokens", equal_tokens), ("ours-equal-wall-clock", equal_wall)):
        rows.append({"run": f"minillm-skill pretrain, {name.removeprefix('ours-').replace('-', ' ')}, {precision}",
                     "wall_s": run["wall_s"], "steps": run["metrics"]["steps"], "tokens": run["metrics"]["tokens"],
                     "train_seconds": run["metrics"]["train_seconds"], **scores[name]})
    return {"machine": machine, "text": source, "workdir": str(workdir), "checkout": str(checkout), "held_out": scored,
            "settings": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
            "shape": shape, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # python peer_minimind.py --child MODE SPEC.json: one JSON line on stdout
        print(json.dumps(CHILDREN[argv[1]](json.loads(Path(argv[2]).read_text(encoding="utf-8")))))
        return 0
    args = parse_args(argv)
    try:
        result = compare(args)
    except PeerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
