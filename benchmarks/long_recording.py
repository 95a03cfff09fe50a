"""Words lost or doubled in a long recording: AN4 test utterances joined with 0.5-s pauses into
one file (over three 30-s windows), transcribed whole and piece by piece.

    python benchmarks/long_recording.py exp/an4/model --utterances 36
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from asr.scoring import score
from asr.transcribe import Transcriber
from features.audio import load_audio
from features.manifest import read_manifest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--manifest", default="../shared/data/an4/test/manifest.jsonl")
    parser.add_argument("--utterances", type=int, default=36)
    parser.add_argument("--decoder", default="greedy")
    args = parser.parse_args()
    torch.set_num_threads(2)
    transcriber = Transcriber.from_dir(args.model, args.decoder)
    utts = read_manifest(args.manifest)[:args.utterances]
    pieces = [load_audio(u.audio) for u in utts]
    pause = np.zeros(8000, dtype=np.float32)
    whole = np.concatenate([np.concatenate([piece, pause]) for piece in pieces])
    (long_text, _), = transcriber.transcribe_audio([whole])
    separate = " ".join(text for text, _ in transcriber.transcribe_audio(pieces))
    reference = " ".join(u.text for u in utts)
    print(f"{len(whole) / 16000:.1f} s, {args.decoder}: WER whole file {100 * score([reference], [long_text])['wer']:.2f}%, "
          f"pieces {100 * score([reference], [separate])['wer']:.2f}%, "
          f"whole vs pieces {100 * score([separate], [long_text])['wer']:.2f}%")


if __name__ == "__main__":
    main()
