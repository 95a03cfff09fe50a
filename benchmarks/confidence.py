"""How well voice commands' confidences are calibrated, from the per-recording scores that
benchmarks/enrollment_threshold.py saves (FSDD dev folds: george and jackson tested; AN4 and
speechocean762 train sentences out of grammar, whose right answer is "none").

    python benchmarks/enrollment_threshold.py --shots 0,1,5 --out exp/confidence/scores.json
    python benchmarks/confidence.py exp/confidence/scores.json

Each recording is decided as `asr commands` decides it (the shipped threshold share and base
margin); only the confidence differs between the rules compared:
  shipped     softmax of the scores and of the threshold ("none") over
              asr.commands.default_confidence_temperature for the scores in use;
  scale s     the same times s, for every model;
  until session 21
              softmax of the scores and the threshold times the tokens at stake, over the
              temperature the model chose on its enrollment clips (1 at zero-shot); only for
              scores saved before session 21, which carry those temperatures;
  tokens / T  the same with one temperature T for every model.
A rule with a free number is fitted (least Brier score) on the other folds' runs and scored on
the fold left out, so no figure is scored on the recordings its number was fitted on.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from enrollment_threshold import threshold_at  # noqa: E402

from asr.commands import (ENROLLED_THRESHOLD_SHARE, CommandConfig, decide,  # noqa: E402
                          default_confidence_temperature, plausible_to_base)
from asr.scoring import calibration  # noqa: E402

TEMPERATURES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
SCALES = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]


def scored_decisions(run: dict, zero_shot: float) -> list[tuple[torch.Tensor, float, int, int]]:
    """(scores, threshold, tokens at stake, index of the right answer: a command, or -1 for
    "none") per recording; after adaptation the commands the base check rules out are -inf, as
    in CommandRecognizer.decisions."""
    threshold = threshold_at(run, ENROLLED_THRESHOLD_SHARE, zero_shot)
    floor = zero_shot - CommandConfig.base_margin if run["k"] else -np.inf  # zero-shot: no base to check against
    labelled = [(row, row["truth"]) for row in run["test"]]
    labelled += [(row, -1) for rows in run["negatives"].values() for row in rows]
    return [(plausible_to_base(torch.tensor(row["scores"]), torch.tensor(row["base_scores"]), floor), threshold,
             row["tokens"], truth) for row, truth in labelled]


def confidences(rows: list[tuple[torch.Tensor, float, int, int]], scale: Callable[[int], float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of each decision (`decide`, the scores multiplied by `scale(tokens)`) and
    whether it was right."""
    decided = [(decide(scores, threshold, 1 / scale(tokens)), truth) for scores, threshold, tokens, truth in rows]
    return (np.array([confidence for (_, confidence), _ in decided]),
            np.array([pick == truth for (pick, _), truth in decided]))


FITTED = {"tokens / T": [f"tokens / {t}" for t in TEMPERATURES], "scale s": [f"scale {s}" for s in SCALES]}
BEFORE = "until session 21"


def multiplier(name: str, run: dict, decoder_weight: float) -> Callable[[int], float]:
    """What rule `name` multiplies the logits by, given a recording's tokens at stake."""
    if name == "shipped":
        temperature = default_confidence_temperature(decoder_weight)
        return lambda tokens: 1 / temperature
    if name == BEFORE:
        return lambda tokens: tokens / run["temperature"]
    kind, _, value = name.partition(" / ") if name.startswith("tokens") else name.partition(" ")
    return (lambda tokens: tokens / float(value)) if kind == "tokens" else (lambda tokens: float(value))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", help="scores.json of benchmarks/enrollment_threshold.py (with tokens)")
    args = parser.parse_args()
    saved = json.loads(Path(args.scores).read_text())
    zero_shot = saved["zero_shot_threshold"]
    weight = saved.get("decoder_weight", 1.0)  # saved before the weight was recorded: the default model's, 1
    runs = [run for run in saved["runs"] if "tokens" in run["test"][0]]
    rows = {id(run): scored_decisions(run, zero_shot) for run in runs}
    fixed = ["shipped"] + ([BEFORE] if all("temperature" in run for run in runs) else [])

    def outcomes(selected: list[dict], name: str) -> tuple[np.ndarray, np.ndarray]:
        parts = [confidences(rows[id(run)], multiplier(name, run, weight)) for run in selected]
        return np.concatenate([c for c, _ in parts]), np.concatenate([r for _, r in parts])

    def row(label: str, k: int, result: dict) -> str:
        return (f"| {label} | {k} | {result['ece']:.4f} | {result['brier']:.4f} | {result['mean_confidence']:.4f} | "
                f"{result['wrong_confidence']:.3f} | {result['accuracy']:.4f} | {result['n']} |")

    print(f"decoder weight {weight}")
    print("| rule | k | ECE | Brier | mean confidence | mean confidence when wrong | accuracy | decisions |")
    print("|---|---|---|---|---|---|---|---|")
    for k in sorted({run["k"] for run in runs}):
        selected = [run for run in runs if run["k"] == k]
        for name in fixed:
            print(row(name, k, calibration(*outcomes(selected, name))))
        folds = sorted({run["tested"] for run in selected})
        for family, names in FITTED.items():
            if len(folds) < 2:
                continue  # nothing to fit on
            confidence, correct, chosen = [], [], []
            for fold in folds:  # fitted on the other folds, scored on the one left out
                train = [run for run in selected if run["tested"] != fold]
                best = min(names, key=lambda name: calibration(*outcomes(train, name))["brier"])
                held = outcomes([run for run in selected if run["tested"] == fold], best)
                confidence.append(held[0]), correct.append(held[1]), chosen.append(best)
            result = calibration(np.concatenate(confidence), np.concatenate(correct))
            print(row(f"{family}, fitted per fold ({', '.join(chosen)})", k, result))
    print("\nEach rule on all folds, nothing fitted:")
    print("| rule | k | ECE | Brier | mean confidence | mean confidence when wrong | accuracy | decisions |")
    print("|---|---|---|---|---|---|---|---|")
    for name in fixed + [name for names in FITTED.values() for name in names]:
        for k in sorted({run["k"] for run in runs}):
            print(row(name, k, calibration(*outcomes([run for run in runs if run["k"] == k], name))))


if __name__ == "__main__":
    main()
