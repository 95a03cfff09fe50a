"""Probe (session 34): an adapted command model's window already holds copies of the recording
after it (CommandRecognizer.encode). Score the frames of the first m of those copies too and
average the command scores over them, at no extra encoder pass:

    python benchmarks/probes_s34/copy_average.py exp/cut_eval --takes 1,2,3,0 [--negatives]

m = 1 is what ships; 0 means every copy in the window. Prints right / top-1 of the test
recordings per m, and out-of-grammar accepted with --negatives.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from asr.commands import CommandRecognizer, self_copies
from asr.packing import GAP_SECONDS, _align_up, window_geometry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes_common import answers, open_parsed, read_audio, recording_sets, run_parser, tally  # noqa: E402


def piece_frames(recognizer: CommandRecognizer, clip) -> list[torch.Tensor]:
    """Frames of the clip and of each of its copies, from one encoder pass over the window that
    `encode` builds (clip, copies, enrollment context)."""
    encoder = recognizer.model.encoder
    copies = self_copies(clip, recognizer.config.self_context_seconds)
    window, _, hop = window_geometry(encoder)
    gap = _align_up(int(GAP_SECONDS * encoder.sample_rate), hop)
    batch = torch.zeros(1, window)
    batch[0, :len(clip)] = torch.from_numpy(clip)
    offsets, start = [0], _align_up(len(clip) + gap, hop)
    for index, piece in enumerate(copies + recognizer.context):
        if start + len(piece) > window:
            break
        batch[0, start:start + len(piece)] = torch.from_numpy(piece)
        if index < len(copies):
            offsets.append(start)
        start = _align_up(start + len(piece) + gap, hop)
    with torch.inference_mode():
        frames = encoder.encode_window(batch)[0].float()
    n = encoder.frames_for(len(clip))
    return [frames[o // hop:o // hop + n].clone() for o in offsets]


def main() -> None:
    parser = run_parser(__doc__)
    parser.add_argument("--takes", default="1,2,3,0")
    parser.add_argument("--negatives", action="store_true")
    args = parser.parse_args()
    splits, recognizer = open_parsed(args)
    base = recognizer.base_model()
    sets = recording_sets(splits, args.negatives)
    takes = [int(t) for t in args.takes.split(",")]
    figures = {m: {} for m in takes}
    for name, rows in sets.items():
        audio = read_audio(rows)
        decoded = recognizer.decoder_scores(audio)
        pieces = [piece_frames(recognizer, clip) for clip in audio]
        scored = [torch.stack(recognizer.score_frames(p, decoded=[d] * len(p) if decoded else None))
                  for p, d in zip(pieces, decoded or [None] * len(pieces))]
        base_scored = ([torch.stack(recognizer.score_frames(p, base, [d] * len(p) if decoded else None))
                        for p, d in zip(pieces, decoded or [None] * len(pieces))] if base is not None else None)
        for m in takes:
            mean = [s[:m or None].mean(0) for s in scored]
            base_mean = [s[:m or None].mean(0) for s in base_scored] if base_scored else None
            decided = recognizer.decisions(mean, base_mean, recognizer.config.base_margin)
            said = answers(recognizer.config.commands, decided)
            best = [recognizer.config.commands[int(s.argmax())] for s in mean]
            figures[m].update(tally(name, rows, said, best))
        print(name, "copies per clip:", sorted({len(p) for p in pieces}), flush=True)
    for m in takes:
        print(f"m={m}", json.dumps({k: v for k, v in figures[m].items() if k != "wrong"}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
