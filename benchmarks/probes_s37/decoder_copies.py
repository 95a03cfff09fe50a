"""Probe (session 37): Whisper's decoder reads a clip beside copies of itself.

The chain reads each command recording followed by copies of itself (Whisper's encoder reads a
speaker better beside more of the speaker's voice), but Whisper's decoder reads the clip alone
with 2 s of silence after it (`CommandRecognizer.decoder_scores`). Here the decoder's frames come
from windows that also hold the copies, cropped to the clip and silence after it:

  alone    the shipped way: the clip, then 2 s of silence
  after    the clip, then copies of itself (5 s), then 2 s of silence; frames of the clip and the
           gap after it
  before   copies of itself (5 s), then the clip and 2 s of silence; frames from the clip on
  leadN    N seconds of silence, then the clip and 2 s of silence (lead0.5: half a second); all frames

Prints the decoder's top-1 over the ten digits, alone, per speaker and variant (nothing else
scores). FSDD recordings of the given speakers, a seeded sample of --per-speaker each.

    python benchmarks/probes_s37/decoder_copies.py --speakers nicolas,lucas,george,jackson --per-speaker 150 --json F
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from asr.commands import DECODER_PADDING_SECONDS, DIGITS, self_copies
from asr.encoder import load_encoder
from asr.packing import GAP_SECONDS
from asr.whisper_decoder import WhisperTextScorer
from features.audio import load_audio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes_common import speaker_parser, speaker_samples  # noqa: E402


def window_of(pieces: list[np.ndarray], sample_rate: int) -> tuple[np.ndarray, list[int]]:
    """The pieces with GAP_SECONDS of silence after each; each piece's start."""
    gap = np.zeros(int(GAP_SECONDS * sample_rate), dtype=np.float32)
    starts, parts, at = [], [], 0
    for piece in pieces:
        starts.append(at)
        parts += [piece, gap]
        at += len(piece) + len(gap)
    return np.concatenate(parts[:-1]), starts


def decoder_frames(encoder, audio: np.ndarray, variant: str, copies_seconds: float) -> torch.Tensor:
    rate = encoder.sample_rate
    pad = round(DECODER_PADDING_SECONDS * rate)
    if variant == "alone":
        pieces, clip_index = [audio], 0
    elif variant.startswith("lead"):
        lead = np.zeros(round(float(variant[4:]) * rate), dtype=np.float32)
        window = encoder.cut_window(torch.from_numpy(np.concatenate([lead, audio]))[None], pad)
        with torch.inference_mode():
            return encoder.encode_window(window)[0]
    elif variant == "after":
        pieces, clip_index = [audio] + self_copies(audio, copies_seconds), 0
    else:
        pieces = self_copies(audio, copies_seconds) + [audio]
        clip_index = len(pieces) - 1
    joined, starts = window_of(pieces, rate)
    window = encoder.cut_window(torch.from_numpy(joined)[None], pad)
    with torch.inference_mode():
        frames = encoder.encode_window(window)[0]
    first = encoder.frames_for(starts[clip_index])
    if variant == "after":
        last = encoder.frames_for(len(audio) + round(GAP_SECONDS * rate))
    else:
        last = frames.shape[0]
    return frames[first:last]


def main() -> None:
    parser = speaker_parser(__doc__, "nicolas,lucas,george,jackson")
    parser.add_argument("--variants", default="alone,after,before", help="also leadN (see above)")
    parser.add_argument("--copies-seconds", type=float, default=5.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    encoder = load_encoder("whisper-tiny.en")
    scorer = WhisperTextScorer(encoder.model_dir)
    variants = args.variants.split(",")
    records = []
    for speaker, mine in speaker_samples(args).items():
        right = dict.fromkeys(variants, 0)
        for row in mine:
            audio = load_audio(str(Path(args.data) / row["audio"]), max_seconds=30)
            record = {"id": row["id"], "text": row["text"], "seconds": round(len(audio) / 16000, 3)}
            for variant in variants:
                scores = scorer.score_phrases(decoder_frames(encoder, audio, variant, args.copies_seconds), DIGITS)
                record[variant] = [round(float(s), 3) for s in scores]
                right[variant] += DIGITS[int(scores.argmax())] == row["text"]
            records.append(record)
        print(speaker, {v: f"{right[v]}/{len(mine)}" for v in variants}, flush=True)
    Path(args.json).write_text(json.dumps(records))


if __name__ == "__main__":
    main()
