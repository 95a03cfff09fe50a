"""Word and character error rates of hypotheses against references.

Both sides go through `asr.text.normalize_text` before alignment, so "Enter 52." and
"ENTER FIFTY TWO" score as a match; a system's own casing and punctuation never count.
`calibration` says how far a recognizer's confidences can be taken at their word.
"""
from __future__ import annotations

from typing import Any, Sequence

import jiwer
import numpy as np

from asr.text import normalize_text


def score(refs: list[str], hyps: list[str], ids: list[str] | None = None) -> dict[str, Any]:
    """Corpus WER and CER (fractions, and the same in percent), error counts, per-utterance rows.

    Corpus rates are total edits over total reference words (or characters), not a mean of
    per-utterance rates. An empty hypothesis for a non-empty reference is all deletions.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if ids is None:
        ids = [str(i) for i in range(len(refs))]
    elif len(ids) != len(refs):
        raise ValueError(f"{len(ids)} ids for {len(refs)} references")
    norm_refs = [normalize_text(text) for text in refs]
    norm_hyps = [normalize_text(text) for text in hyps]
    if not refs:
        return _empty_score()

    words = jiwer.process_words(norm_refs, norm_hyps)
    chars = jiwer.process_characters(norm_refs, norm_hyps)
    n_words = words.hits + words.substitutions + words.deletions
    n_chars = chars.hits + chars.substitutions + chars.deletions
    word_errors = words.substitutions + words.deletions + words.insertions
    char_errors = chars.substitutions + chars.deletions + chars.insertions
    wer, cer = _rate(word_errors, n_words), _rate(char_errors, n_chars)
    return {
        "wer": wer,
        "cer": cer,
        "wer_percent": round(100 * wer, 2),
        "cer_percent": round(100 * cer, 2),
        "substitutions": words.substitutions,
        "deletions": words.deletions,
        "insertions": words.insertions,
        "hits": words.hits,
        "n_utterances": len(refs),
        "n_ref_words": n_words,
        "n_ref_chars": n_chars,
        "char_errors": char_errors,
        "utterances": [
            _utterance_row(uid, ref, hyp, chunks)
            for uid, ref, hyp, chunks in zip(ids, norm_refs, norm_hyps, words.alignments)
        ],
    }


def _utterance_row(uid: str, ref: str, hyp: str, chunks: Sequence[Any]) -> dict[str, Any]:
    errors = 0
    for chunk in chunks:
        if chunk.type in ("substitute", "delete"):
            errors += chunk.ref_end_idx - chunk.ref_start_idx
        elif chunk.type == "insert":
            errors += chunk.hyp_end_idx - chunk.hyp_start_idx
    return {"id": uid, "ref": ref, "hyp": hyp, "wer": _rate(errors, len(ref.split())), "errors": errors}


def _rate(errors: int, reference_length: int) -> float:
    # An empty reference has no defined rate; like jiwer, call any insertion there 100 %.
    if reference_length == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / reference_length


def _empty_score() -> dict[str, Any]:
    return {
        "wer": 0.0, "cer": 0.0, "wer_percent": 0.0, "cer_percent": 0.0,
        "substitutions": 0, "deletions": 0, "insertions": 0, "hits": 0,
        "n_utterances": 0, "n_ref_words": 0, "n_ref_chars": 0, "char_errors": 0,
        "utterances": [],
    }


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A markdown table with one line per row; a missing cell is left blank, floats keep as given."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = ["" if row.get(column) is None else str(row[column]) for column in columns]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def calibration(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """How well confidences predict being right: expected calibration error (the mean gap between
    confidence and accuracy over equal-width confidence bins, weighted by their counts), the
    Brier score, the mean confidence, the mean confidence of the wrong decisions (what a caller
    that acts only above some confidence cares about) and the accuracy."""
    confidence = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    if confidence.shape != right.shape:
        raise ValueError(f"{confidence.size} confidences but {right.size} outcomes")
    if not confidence.size:
        return {"ece": 0.0, "brier": 0.0, "mean_confidence": 0.0, "wrong_confidence": 0.0, "accuracy": 0.0, "n": 0}
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # a confidence of 1 goes in the top bin
    gap = sum(abs(confidence[which == b].mean() - right[which == b].mean()) * (which == b).sum()
              for b in range(bins) if (which == b).any())
    return {"ece": float(gap / confidence.size), "brier": float(np.mean((confidence - right) ** 2)),
            "mean_confidence": float(confidence.mean()),
            "wrong_confidence": float(confidence[right == 0].mean()) if (right == 0).any() else 0.0,
            "accuracy": float(right.mean()), "n": int(confidence.size)}
