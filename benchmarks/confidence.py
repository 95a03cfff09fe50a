"""How well voice commands' confidences are calibrated, from the per-recording scores that
benchmarks/enrollment_threshold.py saves (FSDD dev folds: george and jackson tested; AN4 and
speechocean762 train sentences out of grammar, whose right answer is "none").

    python benchmarks/enrollment_threshold.py --shots 0,1,5 --out exp/confidence/scores.json
    python benchmarks/confidence.py exp/confidence/scores.json

Each recording is decided as `asr commands` decides it (the shipped threshold share and base
margin); only the confidence differs between the rules compared:
  shipped     softmax of the scores and of the threshold ("none"), times the tokens at stake,
              over the temperature the model chose on its enrollment clips (1 at zero-shot);
  tokens / T  the same with one temperature T for every model;
  scale s     softmax of the scores and the threshold times s, without the tokens.
A rule with a free number is fitted (least Brier score) on the other folds' runs and scored on
the fold left out, so no figure is scored on the recordings its number was fitted on.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from enrollment_threshold import threshold_at  # noqa: E402

from asr.commands import ENROLLED_THRESHOLD_SHARE, CommandConfig, plausible_to_base  # noqa: E402
from asr.scoring import calibration  # noqa: E402

TEMPERATURES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
SCALES = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]


def decision_rows(run: dict, zero_shot: float) -> list[tuple[np.ndarray, int, int]]:
    """(logits before scaling: commands then "none", tokens, index of the right answer) per
    recording; after adaptation the commands the base check rules out are -inf, as in
    CommandRecognizer.decisions."""
    threshold = threshold_at(run, ENROLLED_THRESHOLD_SHARE, zero_shot)
    floor = zero_shot - CommandConfig.base_margin if run["k"] else -np.inf  # zero-shot: no base to check against
    rows = []
    labelled = [(row, row["truth"]) for row in run["test"]]
    labelled += [(row, -1) for rows in run["negatives"].values() for row in rows]
    for row, truth in labelled:
        scores = plausible_to_base(torch.tensor(row["scores"]), torch.tensor(row["base_scores"]), floor).numpy()
        logits = np.append(scores, threshold)
        rows.append((logits, row["tokens"], truth if truth >= 0 else len(scores)))
    return rows


def confidences(rows: list[tuple[np.ndarray, int, int]], multiplier) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of each decision and whether it was right; `multiplier(tokens)` scales the logits."""
    confidence, correct = [], []
    for logits, tokens, right in rows:
        scaled = np.nan_to_num(logits * multiplier(tokens), neginf=-1e30)
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        best = int(np.argmax(logits[:-1]))
        pick = best if logits[best] >= logits[-1] else len(logits) - 1
        confidence.append(probs[pick])
        correct.append(pick == right)
    return np.array(confidence), np.array(correct)


def rules(run: dict) -> dict[str, dict]:
    return {"shipped": {"shipped": lambda n, t=run.get("temperature", 1.0): n / t},
            **{f"tokens / {t}": {"T": lambda n, t=t: n / t} for t in TEMPERATURES},
            **{f"scale {s}": {"s": lambda n, s=s: s} for s in SCALES}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", help="scores.json of benchmarks/enrollment_threshold.py (with tokens)")
    args = parser.parse_args()
    saved = json.loads(Path(args.scores).read_text())
    zero_shot = saved["zero_shot_threshold"]
    runs = [run for run in saved["runs"] if "tokens" in run["test"][0]]
    rows = {id(run): decision_rows(run, zero_shot) for run in runs}

    def pooled(selected: list[dict], name: str) -> dict:
        parts = [confidences(rows[id(run)], next(iter(rules(run)[name].values()))) for run in selected]
        return calibration(np.concatenate([c for c, _ in parts]), np.concatenate([r for _, r in parts]))

    names = list(rules(runs[0]))
    print("| rule | k | ECE | Brier | mean confidence | mean confidence when wrong | accuracy | decisions |")
    print("|---|---|---|---|---|---|---|---|")
    for k in sorted({run["k"] for run in runs}):
        selected = [run for run in runs if run["k"] == k]
        folds = sorted({run["tested"] for run in selected})
        for family in ("shipped", "T", "s"):
            family_names = [n for n in names if family in rules(runs[0])[n]]
            if family != "shipped" and len(folds) < 2:
                continue  # nothing to fit on
            if family == "shipped":
                result = pooled(selected, "shipped")
                label = "shipped"
            else:  # fitted on the other folds, scored on each fold left out
                parts, chosen = [], []
                for fold in folds:
                    train = [run for run in selected if run["tested"] != fold]
                    test = [run for run in selected if run["tested"] == fold]
                    best = min(family_names, key=lambda n: pooled(train, n)["brier"])
                    chosen.append(best)
                    parts += [confidences(rows[id(run)], next(iter(rules(run)[best].values()))) for run in test]
                result = calibration(np.concatenate([c for c, _ in parts]), np.concatenate([r for _, r in parts]))
                label = f"{family_names[0].split()[0]} fitted per fold ({', '.join(chosen)})"
            print(f"| {label} | {k} | {result['ece']:.4f} | {result['brier']:.4f} | "
                  f"{result['mean_confidence']:.4f} | {result['wrong_confidence']:.3f} | {result['accuracy']:.4f} | "
                  f"{result['n']} |")
    print("\nEach rule on all folds as it stands (nothing fitted):")
    print("| rule | k | ECE | Brier | mean confidence | mean confidence when wrong |")
    print("|---|---|---|---|---|---|")
    for name in names:
        for k in sorted({run["k"] for run in runs}):
            result = pooled([run for run in runs if run["k"] == k], name)
            print(f"| {name} | {k} | {result['ece']:.4f} | {result['brier']:.4f} | {result['mean_confidence']:.4f} | "
                  f"{result['wrong_confidence']:.3f} |")

if __name__ == "__main__":
    main()
