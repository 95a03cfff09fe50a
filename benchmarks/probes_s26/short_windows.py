"""Probe: encode each recognised recording and its context in a window cut to what it holds
(plus `--pad` seconds of silence) instead of Whisper's full 30 s. The recipe's k = 5 command
model of a run scores its test recordings and out-of-grammar negatives both ways; accuracy,
false accepts and encoder seconds a recording.

    python benchmarks/probes_s26/short_windows.py exp/fsdd_s26_seed0
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from asr.commands import NONE, CommandRecognizer
from asr.packing import GAP_SECONDS, _align_up, encode_with_context, window_geometry
from features.audio import load_audio
from features.frontend import log_mel_spectrogram

parser = argparse.ArgumentParser()
parser.add_argument("run")
parser.add_argument("--pads", default="1,5", help="seconds of silence after the content, comma-separated")
parser.add_argument("--limit", type=int, default=0, help="first N test and N negatives only (0: all)")
args = parser.parse_args()
torch.set_num_threads(2)


def encode_short(recognizer: CommandRecognizer, audio: np.ndarray, pad_seconds: float) -> torch.Tensor:
    """encode_with_context's window layout, the window cut after the content and `pad_seconds`."""
    encoder = recognizer.model.encoder
    window, _, hop = window_geometry(encoder)
    gap = _align_up(int(GAP_SECONDS * encoder.sample_rate), hop)
    pieces, start = [(0, audio)], _align_up(len(audio) + gap, hop)
    for clip in recognizer.context:
        if start + len(clip) > window:
            break
        pieces.append((start, clip))
        start = _align_up(start + len(clip) + gap, hop)
    total = min(window, _align_up(start + int(pad_seconds * encoder.sample_rate), hop))
    samples = torch.zeros(1, total)
    for offset, clip in pieces:
        samples[0, offset:offset + len(clip)] = torch.from_numpy(clip)
    mel = log_mel_spectrogram(samples, encoder.encoder.config.n_mels, encoder.mel_filters)
    with torch.inference_mode():
        frames = encoder.encoder(mel[..., : total * 2 // hop])
    return frames[0, :encoder.frames_for(len(audio))].float().clone()


splits = json.load(open(f"{args.run}/splits.json"))
recognizer = CommandRecognizer.load(f"{args.run}/model")
rows = [(r["audio"], r["text"]) for r in splits["test"]]
negatives = [(r["audio"], NONE) for source in splits["negatives"].values() for r in source]
if args.limit:
    rows, negatives = rows[:args.limit], negatives[:args.limit]
items = rows + negatives
audios = [load_audio(path, max_seconds=30) for path, _ in items]
decoded = recognizer.decoder_scores(audios)
ways = {"30 s (shipped)": lambda a: encode_with_context(recognizer.model.encoder, [a], recognizer.context)[0]}
ways.update({f"content + {p} s": (lambda a, p=float(p): encode_short(recognizer, a, p)) for p in args.pads.split(",")})
for name, encode in ways.items():
    started = time.perf_counter()
    frames = [encode(a) for a in audios]
    seconds = (time.perf_counter() - started) / len(audios)
    answers = [r.command for r in recognizer.recognize_frames(frames, decoded=decoded)]
    right = sum(a == t for a, (_, t) in zip(answers[:len(rows)], rows))
    accepted = sum(a != NONE for a in answers[len(rows):])
    print(f"{name}: {right} of {len(rows)} right ({100 * right / len(rows):.1f} %), {accepted} of "
          f"{len(negatives)} out-of-grammar accepted, {seconds:.3f} s a recording to encode", flush=True)
