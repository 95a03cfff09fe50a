"""Probe (session 34): adapt the same shots with several adaptation seeds and average the
adapted chains' command scores (the encoder pass is shared: the enrollment context does not
depend on the seed). Uses a `recipes.commands` run's splits (its k-shot draw, test recordings):

    python benchmarks/probes_s34/seed_ensemble.py exp/cut_eval --k 5 --seeds 0,1,2 [--negatives]

Prints right / top-1 for each seed's model alone and for the average of their scores (threshold:
the mean of theirs).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from asr.commands import AdaptConfig, CommandConfig, CommandRecognizer, adapt_recognizer
from asr.encoder import load_encoder
from asr.model import ASRModel
from features.audio import load_audio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes_common import answers, read_audio, recording_sets, tally  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--k", default="5")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--base", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--negatives", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = json.loads((Path(args.run) / "splits.json").read_text())
    commands = splits["commands"]
    shots = splits["shots"][args.k]
    shot_audio = [load_audio(r["audio"]) for r in shots]
    labels = [commands.index(r["text"]) for r in shots]
    encoder = load_encoder(ASRModel.load(args.base).config.encoder)
    models = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        recognizer = CommandRecognizer(ASRModel.load(args.base, encoder), CommandConfig(commands))
        summary = adapt_recognizer(recognizer, shot_audio, labels, AdaptConfig(seed=seed, threads=args.threads))
        print(f"seed {seed}: adapted in {summary['adapt_seconds']} s, threshold {recognizer.config.threshold:.3f}",
              flush=True)
        models.append(recognizer)
    first = models[0]
    assert all(len(m.context) == len(first.context) and all(np.array_equal(a, b) for a, b in zip(m.context, first.context))
               for m in models)
    sets = recording_sets(splits, args.negatives)
    threshold = float(np.mean([m.config.threshold for m in models]))
    for name, rows in sets.items():
        audio = read_audio(rows)
        decoded = first.decoder_scores(audio)
        frames = first.encode(audio)
        scored = [m.score_frames(frames, decoded=decoded) for m in models]
        base = first.base_model()
        base_scored = first.score_frames(frames, base, decoded) if base is not None else None
        views = {f"seed{i}": (s, m.config.threshold) for i, (s, m) in enumerate(zip(scored, models))}
        views["mean"] = ([torch.stack(per).mean(0) for per in zip(*scored)], threshold)
        for view, (scores, view_threshold) in views.items():
            first.config.threshold = view_threshold
            decided = first.decisions(scores, base_scored, first.config.base_margin)
            figures = tally(name, rows, answers(commands, decided), [commands[int(s.argmax())] for s in scores])
            if name == "test":
                print(f"{view}: right {figures['right']} top-1 {figures['top1']} of {figures['of']}", flush=True)
            else:
                accepted, of = figures[f"{name}_accepted"]
                print(f"{view}: {name} accepted {accepted} of {of}", flush=True)


if __name__ == "__main__":
    main()
