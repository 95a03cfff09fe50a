"""Probe (session 33): an adapted command model reads each recording with copies of itself in
its window besides the enrollment context. Scores a saved `recipes.commands` run's k model:

    python benchmarks/probes_s33/self_context.py exp/cut_eval --seconds 5 [--negatives]

Modes: "shipped" (what was shipped before session 33: recording, then enrollment context),
"self_first" (`CommandRecognizer.encode` since session 33: recording, S seconds of copies of
itself, then the context), "self_last" (recording, context, then the copies).
Prints right / top-1 of the test recordings, and out-of-grammar accepted with --negatives.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from asr.commands import NONE, CommandRecognizer, self_copies
from asr.packing import encode_with_context
from features.audio import load_audio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--modes", default="shipped,self_first,self_last")
    parser.add_argument("--negatives", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    run = Path(args.run)
    splits = json.loads((run / "splits.json").read_text())
    recognizer = CommandRecognizer.load(run / "model")
    recognizer.config.self_context_seconds = args.seconds
    context = recognizer.context or []
    sets = {"test": splits["test"], **(splits["negatives"] if args.negatives else {})}
    audio = {name: [load_audio(r["audio"], max_seconds=30) for r in rows] for name, rows in sets.items()}
    decoded = {name: recognizer.decoder_scores(clips) for name, clips in audio.items()}
    figures = {}
    for mode in args.modes.split(","):
        row = {}
        for name, rows in sets.items():
            if mode == "self_first":
                frames = [recognizer.encode([clip])[0] for clip in audio[name]]
            else:
                frames = [encode_with_context(recognizer.model.encoder, [clip], context if mode == "shipped"
                                              else context + self_copies(clip, args.seconds))[0]
                          for clip in audio[name]]
            said = recognizer.recognize_frames(frames, decoded=decoded[name])
            if name == "test":
                row["right"] = sum(r.command == t["text"] for r, t in zip(said, rows))
                row["top1"] = sum(r.best == t["text"] for r, t in zip(said, rows))
                row["of"] = len(rows)
                row["wrong"] = [f"{Path(t['audio']).stem}->{r.best}" for r, t in zip(said, rows) if r.best != t["text"]]
            else:
                row[f"{name}_accepted"] = [sum(r.command != NONE for r in said), len(rows)]
        figures[mode] = row
        print(mode, json.dumps({k: v for k, v in row.items() if k != "wrong"}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
