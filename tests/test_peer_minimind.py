"""bench/peer_minimind.py's parts that need no MiniMind checkout: the score's arithmetic, the text cutting and
splitting, the step count for equal wall clock, and the error for a folder that is not a checkout."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import peer_minimind  # noqa: E402


def test_bits_per_byte_of_a_uniform_byte_model_is_eight():
    assert peer_minimind.bits_per_byte(1000 * math.log(256), 1000) == pytest.approx(8.0)
    assert peer_minimind.bits_per_byte(math.log(2), 2) == pytest.approx(0.5)


def test_every_text_token_and_the_end_token_are_scored_after_the_start_token():
    import torch

    seen = []

    def uniform_logits(ids):  # 16 equally likely tokens: ln 16 nats for each one predicted
        seen.append(ids)
        return torch.zeros(*ids.shape, 16)

    texts_ids = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]
    nats = peer_minimind.sequence_nats(uniform_logits, texts_ids, start_id=1, end_id=2, batch_size=2)
    assert nats == pytest.approx((3 + 1 + 5 + 3) * math.log(16))  # padding of the shorter rows is not scored
    assert seen[0].tolist() == [[1, 5, 6, 7, 2], [1, 8, 2, 2, 2]]


def test_a_wrong_guess_costs_more_than_a_right_one():
    import torch

    def sure_of_token_3(ids):
        logits = torch.full((*ids.shape, 4), -20.0)
        logits[..., 3] = 20.0
        return logits

    right = peer_minimind.sequence_nats(sure_of_token_3, [[3, 3]], start_id=0, end_id=3)
    wrong = peer_minimind.sequence_nats(sure_of_token_3, [[1, 1]], start_id=0, end_id=3)
    assert right < 1e-6 < 10 < wrong


def count_chars(text: str) -> int:
    return len(text)


def test_text_is_cut_at_line_ends_into_pieces_as_long_as_fit():
    lines = [f"line {number:02d} " + "x" * 24 for number in range(7)]  # 32 characters each
    pieces = peer_minimind.cut_pieces("\n".join(lines), 70, count_chars)
    assert pieces == ["\n".join(lines[0:2]), "\n".join(lines[2:4]), "\n".join(lines[4:6]), lines[6]]


def test_a_line_longer_than_a_piece_is_cut_inside_it_and_nothing_is_lost():
    text = "short line of text here\n" + "y" * 130 + "\nanother short line, the last"
    pieces = peer_minimind.cut_pieces(text, 50, count_chars)
    assert all(len(piece) <= 50 for piece in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    assert pieces[1] == "y" * 50


def test_leftovers_too_short_to_learn_from_are_dropped():
    assert peer_minimind.cut_pieces("ok\n\n   \n", 50, count_chars) == []


def documents(prefix: str, number: int, lines: int) -> list[tuple[Path, object]]:
    """`number` fake documents of `lines` lines of 30 characters; with 70-character pieces, each line pair is
    a piece."""
    return [(Path(f"{prefix}{index}"), lambda path, lines=lines: "\n".join(f"{path.name:<10}" + "z" * 20
                                                                            for _ in range(lines)))
            for index in range(number)]


def test_held_out_documents_never_reach_training_and_each_source_gets_its_share():
    english, chinese = documents("en", 5, 6), documents("zh", 20, 2)  # 3 pieces and 1 piece a document
    train, held_out = peer_minimind.split_pieces([english, chinese], pieces=12, held_out=4, max_tokens=70,
                                                 count=count_chars)
    assert len(train) == 12 and len(held_out) == 4
    names = lambda pieces: {piece.split()[0] for piece in pieces}  # noqa: E731
    assert not names(train) & names(held_out)
    assert sum(name.startswith("en") for name in names(held_out)) == 1  # 2 of its pieces: one document
    assert sum(piece.startswith("zh") for piece in held_out) == 2


def test_too_little_text_is_a_clear_error():
    with pytest.raises(peer_minimind.PeerError, match="--pieces 50"):
        peer_minimind.split_pieces([documents("en", 3, 2)], pieces=50, held_out=1, max_tokens=70,
                                   count=count_chars)


def test_minimind_trains_each_piece_with_its_start_and_end_token():
    assert peer_minimind.minimind_tokens(["abc", "de"], count_chars, epochs=2) == 2 * (5 + 4)


def test_equal_wall_clock_adds_the_steps_its_extra_seconds_buy():
    # 92 steps took 89 s, 80 of them training: each further step costs 80/92 s.
    assert peer_minimind.wall_clock_steps(92, 89.0, 80.0, 227.0) == 92 + round(138 / (80 / 92))
    assert peer_minimind.wall_clock_steps(10, 50.0, 40.0, 10.0) == 1  # slower than the peer: at least a step


def test_a_folder_that_is_not_a_minimind_checkout_is_named_with_what_it_lacks(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model_minimind.py").write_text("")
    assert peer_minimind.main(["--minimind", str(tmp_path), "--pieces", "4"]) == 2
    error = capsys.readouterr().err
    assert str(tmp_path) in error and "is not a MiniMind checkout" in error
    assert "it has no trainer/train_pretrain.py, model/tokenizer.json." in error  # what it has is not listed
    assert "jingyaogong/minimind" in error
