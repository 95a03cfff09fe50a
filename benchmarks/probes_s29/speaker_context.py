"""Probe (session 29, not adopted): a speaker's own earlier recordings as encoder context.

A command model reads each recording in a window of its own, followed by its enrollment
recordings (`asr.packing.encode_with_context`). Here each test recording is read instead with
up to M of the same speaker's recordings that came before it in the test list (unlabeled, as a
device would have heard them), then the enrollment context, or with those earlier recordings
alone. Out-of-grammar recordings are read likewise with their own speaker's earlier ones, and,
adversarially, with M FSDD digits before them. The command model, its thresholds and Whisper's
decoder scores are the run's own; only the encoder's context changes.

    python benchmarks/probes_s29/speaker_context.py exp/fsdd_s27_old_seed0 --m 10,30
    python benchmarks/probes_s29/speaker_context.py exp/fsdd_s27_old_seed0 --m 10 --negatives
    python benchmarks/probes_s29/speaker_context.py exp/fsdd_s27_old_seed0 --m 30 --controls   # session 30

`--controls` (session 30): is it the speaker's own audio, or any more digits? Each recording is
read instead after the M recordings before it by the *other* test speaker(s), or after as many of
the k = 5 enrollment recordings as fit in the window (one per command in turn).

RUN is a `recipes.commands` output folder (its splits.json and k = 5 model).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from asr.commands import NONE, CommandRecognizer, choose_context
from asr.packing import encode_with_context
from features.audio import load_audio


def earlier_of_same_speaker(audios: list[np.ndarray], speakers: list[str], m: int) -> list[list[np.ndarray]]:
    """For each recording, up to the last m before it in the list by the same speaker."""
    return [[audios[j] for j in range(i) if speakers[j] == speakers[i]][-m:] for i in range(len(audios))]


def answers(recognizer: CommandRecognizer, audios: list[np.ndarray], contexts: list[list[np.ndarray]],
            decoded: list[torch.Tensor] | None) -> list[str]:
    frames = [encode_with_context(recognizer.model.encoder, [a], c)[0] for a, c in zip(audios, contexts)]
    return [r.command for r in recognizer.recognize_frames(frames, decoded=decoded)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--m", default="10", help="earlier recordings of the speaker, comma-separated")
    parser.add_argument("--negatives", action="store_true", help="score the out-of-grammar recordings instead")
    parser.add_argument("--controls", action="store_true", help="other speakers' recordings, more enrollment ones")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    splits = json.loads((Path(args.run) / "splits.json").read_text())
    recognizer = CommandRecognizer.load(Path(args.run) / "model")
    enrollment = recognizer.context or []
    rows = ([r for source in splits["negatives"].values() for r in source] if args.negatives else splits["test"])
    audios = [load_audio(r["audio"], max_seconds=30) for r in rows]
    speakers = [Path(r["audio"]).parent.name for r in rows]  # FSDD, AN4 and speechocean762: a folder a speaker
    decoded = recognizer.decoder_scores(audios)

    def report(name: str, contexts: list[list[np.ndarray]]) -> None:
        said = answers(recognizer, audios, contexts, decoded)
        if args.negatives:
            print(f"{name}: {sum(a != NONE for a in said)} of {len(rows)} out-of-grammar accepted", flush=True)
            return
        right: dict[str, list[int]] = {}
        for answer, row, speaker in zip(said, rows, speakers):
            right.setdefault(speaker, [0, 0])
            right[speaker][0] += answer == row["text"]
            right[speaker][1] += 1
        wrong = [f"{Path(r['audio']).stem}->{a}" for a, r in zip(said, rows) if a != r["text"]]
        total = sum(v[0] for v in right.values())
        print(f"{name}: {total} of {len(rows)} right; " + ", ".join(f"{s} {v[0]}/{v[1]}" for s, v in right.items())
              + f"; wrong: {' '.join(wrong)}", flush=True)

    report("enrollment context (as shipped)", [enrollment] * len(rows))
    if args.controls:
        for m in (int(x) for x in args.m.split(",")):
            others = [[audios[j] for j in range(i) if speakers[j] != speakers[i]][-m:] for i in range(len(rows))]
            report(f"{m} earlier of the other test speaker(s)", others)
        shots = splits["shots"]["5"]
        commands = recognizer.config.commands
        every_shot = choose_context([load_audio(r["audio"]) for r in shots], [commands.index(r["text"]) for r in shots], 30.0)
        report(f"enrollment recordings, as many of {len(every_shot)} as fit", [every_shot] * len(rows))
        return 0
    for m in (int(x) for x in args.m.split(",")):
        earlier = earlier_of_same_speaker(audios, speakers, m)
        report(f"{m} earlier of the speaker, then enrollment", [e + enrollment for e in earlier])
        report(f"{m} earlier of the speaker only", earlier)
        if args.negatives:
            digits = [load_audio(r["audio"], max_seconds=30) for r in splits["test"][:m]]
            report(f"{m} FSDD test digits before, then enrollment", [digits + enrollment] * len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
