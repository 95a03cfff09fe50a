"""Accuracy and false accepts of a saved command model across "none" thresholds.

    python benchmarks/threshold_sweep.py exp/fsdd [--thresholds -6,-8,-10,-12,-14,-15.4]

Reads OUT/model (the largest k's command model) and OUT/splits.json of a `recipes.commands`
run, encodes each test and out-of-grammar recording as `asr commands` does (alone, with the
model's enrollment context), and prints, for its learned threshold and each one given, the
share of test recordings recognised correctly and the share of out-of-grammar ones accepted.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from asr.commands import NONE, CommandRecognizer  # noqa: E402
from features.audio import load_audio  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="a recipes.commands OUT folder")
    # Per label, decoder x 1; -15.4 is the default model's zero-shot threshold.
    parser.add_argument("--thresholds", default="-6,-8,-10,-12,-14,-15.4,-20")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    recognizer = CommandRecognizer.load(out / "model")
    splits = json.loads((out / "splits.json").read_text())
    negatives = [row for rows in splits["negatives"].values() for row in rows]
    test_audio = [load_audio(row["audio"]) for row in splits["test"]]
    negative_audio = [load_audio(row["audio"]) for row in negatives]
    test_frames = [recognizer.encode([audio])[0] for audio in test_audio]
    negative_frames = [recognizer.encode([audio])[0] for audio in negative_audio]
    test_decoded, negative_decoded = recognizer.decoder_scores(test_audio), recognizer.decoder_scores(negative_audio)
    truths = [row["text"] for row in splits["test"]]
    learned = recognizer.config.threshold
    for threshold in sorted({learned, *(float(t) for t in args.thresholds.split(","))}, reverse=True):
        recognizer.config.threshold = threshold
        on_test = recognizer.recognize_frames(test_frames, decoded=test_decoded)
        on_negatives = recognizer.recognize_frames(negative_frames, decoded=negative_decoded)
        accuracy = np.mean([r.command == t for r, t in zip(on_test, truths)])
        accepted = np.mean([r.command != NONE for r in on_negatives])
        print(f"threshold {threshold:7.3f}{' (learned)' if threshold == learned else '':10s}  accuracy "
              f"{100 * accuracy:5.1f} % of {len(truths)}  false accepts {100 * accepted:4.1f} % of {len(negatives)}",
              flush=True)


if __name__ == "__main__":
    main()
