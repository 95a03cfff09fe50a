"""Probe (session 33): an adapted command model reads each recording with copies of itself in
its window besides the enrollment context. Scores a saved `recipes.commands` run's k model:

    python benchmarks/probes_s33/self_context.py exp/cut_eval --seconds 5 [--negatives]

Modes: "shipped" (what was shipped before session 33: recording, then enrollment context),
"self_first" (`CommandRecognizer.encode` since session 33: recording, S seconds of copies of
itself, then the context), "self_last" (recording, context, then the copies).
Prints right / top-1 of the test recordings, and out-of-grammar accepted with --negatives.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


from asr.commands import self_copies
from asr.packing import encode_with_context

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes_common import open_parsed, read_audio, recording_sets, run_parser, tally  # noqa: E402


def main() -> None:
    parser = run_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--modes", default="shipped,self_first,self_last")
    parser.add_argument("--negatives", action="store_true")
    args = parser.parse_args()
    splits, recognizer = open_parsed(args)
    recognizer.config.self_context_seconds = args.seconds
    context = recognizer.context or []
    sets = recording_sets(splits, args.negatives)
    audio = {name: read_audio(rows) for name, rows in sets.items()}
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
            row.update(tally(name, rows, [r.command for r in said], [r.best for r in said]))
        figures[mode] = row
        print(mode, json.dumps({k: v for k, v in row.items() if k != "wrong"}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
