"""Encoder seconds per file when only a window's first frames are kept (`FrozenEncoder.encode_first`).

A short file read alone (`asr transcribe`, `asr evaluate`) or a command read with its context
(`asr commands`) fills one 30-s Whisper window, but only the file's own frames are kept. Whisper's
last block can then skip its queries, attention and MLP on the rest. This times both ways on the
same files, in the same process, alternating, and gives the largest difference in the frames kept:

    python benchmarks/encode_first.py --an4 ../shared/data/an4/test/manifest.jsonl \\
        --commands exp/fsdd_s27_old_seed0/model --fsdd ../shared/data/fsdd/manifest.jsonl --files 40

"whole window" is the pass before this change (`forward`, then the file's frames sliced out).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from asr.commands import CommandRecognizer
from asr.encoder import FrozenEncoder, WhisperAudioEncoder, load_encoder
from asr.packing import encode_each_alone
from features.audio import load_audio
from features.manifest import read_corpus


def clips_of(manifest: str, count: int) -> list[np.ndarray]:
    utterances = read_corpus(manifest)
    step = max(1, len(utterances) // count)
    return [load_audio(u.audio) for u in utterances[::step][:count]]


def timed(encode, clips: list[np.ndarray]) -> tuple[float, list[torch.Tensor]]:
    start = time.perf_counter()
    frames = [encode(clip) for clip in clips]
    return time.perf_counter() - start, frames


def compare(name: str, encode, clips: list[np.ndarray], rounds: int) -> dict:
    """Seconds per file for the whole window and for the first frames only, best of `rounds`."""
    first_only = WhisperAudioEncoder.encode_first
    seconds: dict[str, list[float]] = {"whole window": [], "first frames": []}
    outputs = {}
    for _ in range(rounds):
        for way in seconds:
            WhisperAudioEncoder.encode_first = FrozenEncoder.encode_first if way == "whole window" else first_only
            try:
                took, outputs[way] = timed(encode, clips)
            finally:
                WhisperAudioEncoder.encode_first = first_only
            seconds[way].append(took / len(clips))
    difference = max(float((a - b).abs().max()) for a, b in zip(outputs["whole window"], outputs["first frames"]))
    row = {"files": len(clips), "seconds": {way: round(min(s), 4) for way, s in seconds.items()},
           "max_abs_difference": difference}
    row["saved"] = round(1 - row["seconds"]["first frames"] / row["seconds"]["whole window"], 3)
    print(f"{name}: {json.dumps(row)}", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--an4", default=None, help="a manifest of sentences, each read alone (asr transcribe)")
    parser.add_argument("--commands", default=None, help="a command model, its context as asr commands reads it")
    parser.add_argument("--fsdd", default=None, help="a manifest of command recordings for --commands")
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    figures = {"threads": args.threads}
    if args.an4:
        encoder = load_encoder()
        clips = clips_of(args.an4, args.files)
        figures["alone"] = compare("each file alone", lambda clip: encode_each_alone(encoder, [clip])[0],
                                   clips, args.rounds)
    if args.commands and args.fsdd:
        recognizer = CommandRecognizer.load(args.commands)
        clips = clips_of(args.fsdd, args.files)
        figures["commands"] = compare("command with context", lambda clip: recognizer.encode([clip])[0],
                                      clips, args.rounds)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
