from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from asr.scoring import calibration, format_table, score

REPO = Path(__file__).resolve().parent.parent
AN4_TEST = REPO.parent / "shared" / "data" / "an4" / "test" / "manifest.jsonl"


def test_calibration_is_zero_when_confidence_matches_accuracy_and_counts_the_gap_otherwise() -> None:
    # In the 0.7-0.8 bin 7 of 10 are right at confidence 0.75: a gap of 0.05 there.
    # In the top bin all four say 1.0 and half are right: a gap of 0.5 there.
    confidences = [0.75] * 10 + [1.0] * 4
    correct = [True] * 7 + [False] * 3 + [True, True, False, False]
    result = calibration(confidences, correct)
    assert result["n"] == 14
    assert result["ece"] == pytest.approx((10 * 0.05 + 4 * 0.5) / 14)
    assert result["accuracy"] == pytest.approx(9 / 14)
    assert result["mean_confidence"] == pytest.approx((7.5 + 4) / 14)
    assert result["wrong_confidence"] == pytest.approx((3 * 0.75 + 2 * 1.0) / 5)
    assert result["brier"] == pytest.approx((7 * 0.0625 + 3 * 0.5625 + 2 * 0 + 2 * 1) / 14)
    perfect = calibration([0.5] * 4 + [1.0] * 2, [True, False, True, False, True, True])
    assert perfect["ece"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="3 confidences but 2 outcomes"):
        calibration([0.1, 0.2, 0.3], [True, False])


def test_exact_word_and_character_rates() -> None:
    # 'the cat sat' -> 'the bat sat on': 1 substitution, 1 insertion over 3 words
    # 'a b c d'     -> 'a c d':           1 deletion over 4 words
    result = score(["the cat sat", "a b c d"], ["the bat sat on", "a c d"], ids=["u1", "u2"])
    assert (result["substitutions"], result["deletions"], result["insertions"]) == (1, 1, 1)
    assert result["n_ref_words"] == 7 and result["n_utterances"] == 2 and result["hits"] == 5
    assert result["wer"] == pytest.approx(3 / 7)
    assert result["wer_percent"] == pytest.approx(42.86)
    # characters, spaces included: 'the cat sat' (11) -> 'the bat sat on' is c->b plus ' on' (3)
    # 'a b c d' (7) -> 'a c d' drops 'b ' (2)
    assert result["n_ref_chars"] == 18
    assert result["cer"] == pytest.approx(6 / 18)
    rows = result["utterances"]
    assert [row["id"] for row in rows] == ["u1", "u2"]
    assert rows[0]["errors"] == 2 and rows[0]["wer"] == pytest.approx(2 / 3)
    assert rows[1]["errors"] == 1 and rows[1]["wer"] == pytest.approx(1 / 4)


def test_corpus_rate_weights_by_words_not_utterances() -> None:
    result = score(["one", "a b c d e f g h i j"], ["two", "a b c d e f g h i j"])
    assert result["wer"] == pytest.approx(1 / 11)  # not the mean of 1.0 and 0.0


def test_normalization_applies_to_both_sides() -> None:
    result = score(["ENTER FIFTY TWO", "it's, O.K."], ["Enter 52.", "It's OK"])
    assert result["utterances"][0] == {
        "id": "0", "ref": "enter fifty two", "hyp": "enter fifty two", "wer": 0.0, "errors": 0,
    }
    assert result["substitutions"] + result["deletions"] + result["insertions"] == 2  # "o k" vs "ok"
    assert result["utterances"][1]["ref"] == "it's o k"
    assert result["utterances"][1]["hyp"] == "it's ok"


def test_spelled_letters_against_a_word_count_as_errors() -> None:
    result = score(["R O B"], ["Rob"])
    assert result["wer"] == pytest.approx(1.0)  # one substitution, two deletions
    assert (result["substitutions"], result["deletions"]) == (1, 2)


def test_empty_hypothesis_is_all_deletions() -> None:
    result = score(["yes please", "no"], ["", "no"])
    assert result["deletions"] == 2 and result["substitutions"] == 0 and result["insertions"] == 0
    assert result["wer"] == pytest.approx(2 / 3)
    assert result["cer"] == pytest.approx(10 / 12)
    assert result["utterances"][0]["wer"] == 1.0 and result["utterances"][0]["hyp"] == ""


def test_empty_reference_and_empty_corpus_do_not_crash() -> None:
    assert score([""], [""])["wer"] == 0.0
    inserted = score(["", "a"], ["uh", "a"])
    assert inserted["insertions"] == 1 and inserted["wer"] == pytest.approx(1.0)
    assert inserted["utterances"][0]["wer"] == 1.0
    nothing = score([], [])
    assert nothing["wer"] == 0.0 and nothing["n_utterances"] == 0 and nothing["utterances"] == []


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        score(["a", "b"], ["a"])
    with pytest.raises(ValueError):
        score(["a"], ["a"], ids=["x", "y"])


def test_format_table() -> None:
    table = format_table(
        [{"system": "ours", "WER %": "12.5", "notes": "a|b"}, {"system": "peer", "WER %": 40.1}],
        ["system", "WER %", "notes"],
    )
    assert table.splitlines() == [
        "| system | WER % | notes |",
        "|---|---|---|",
        "| ours | 12.5 | a\\|b |",
        "| peer | 40.1 |  |",
    ]


def _load_peers():
    spec = importlib.util.spec_from_file_location("peers", REPO / "benchmarks" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["peers"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not AN4_TEST.exists(), reason="AN4 test data not present in ../shared/data")
def test_peers_runs_pocketsphinx_on_two_an4_utterances() -> None:
    peers = _load_peers()
    results = peers.run_peers(AN4_TEST, ["pocketsphinx"], limit=2)
    assert results["n_utterances"] == 2
    (system,) = results["systems"]
    assert system["system"] == "pocketsphinx"
    assert isinstance(system["wer"], float) and math.isfinite(system["wer"])
    assert 0.0 <= system["wer"] <= 1.0 and 0.0 <= system["cer"] <= 1.0
    assert system["rtf"] > 0 and system["peak_mb"] > 0 and system["audio_s"] > 1.0
    utterances = system["score"]["utterances"]
    assert [u["id"] for u in utterances] == ["an416-fjlp-b", "an417-fjlp-b"]
    assert all(u["raw_hyp"].strip() for u in utterances)
    row = peers.table_row(system)
    assert list(row) == peers.COLUMNS
