"""Probe (session 35) behind MIN_LABEL_FRAMES: per recording, how many frames the chain's links
spend on labels (`CommandRecognizer.label_frames`: the mean of the links then, the fewest since
session 36) and Whisper's no-speech probability (<|nocaptions|> after <|startoftranscript|>,
read as `decoder_scores` reads a clip), for a recipe run's test and out-of-grammar recordings
and the non-speech clips of benchmarks/non_speech.py; `default:digits` scores the same
recordings with the base model zero-shot.

    python benchmarks/probes_s35/label_frames.py exp/cut_eval [--model default:digits] --json exp/s35/lf_cut.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from asr.commands import DECODER_PADDING_SECONDS
from asr.whisper_decoder import START_OF_TRANSCRIPT, short_window_frames

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from non_speech import non_speech_clips  # noqa: E402
from probes_common import open_parsed, read_audio, recording_sets, run_parser  # noqa: E402

NO_CAPTIONS = "<|nocaptions|>"


def no_speech_probability(recognizer, audio: np.ndarray) -> float:
    scorer = recognizer.text_scorer()
    frames = short_window_frames(recognizer.model.encoder, torch.from_numpy(audio), DECODER_PADDING_SECONDS)
    with torch.inference_mode():
        state = scorer.decoder.hidden(torch.tensor([[scorer.special(START_OF_TRANSCRIPT)]]),
                                      scorer.decoder.memories(frames[None]))[0, -1]
        return float(scorer.decoder.projection(state).softmax(-1)[scorer.special(NO_CAPTIONS)])


def main() -> None:
    args = run_parser(__doc__, json_required=True).parse_args()
    splits, recognizer = open_parsed(args)
    sets = {"non_speech": list(non_speech_clips(np.random.default_rng(0)).items())}
    for name, rows in recording_sets(splits, negatives=True).items():
        sets[name] = [(row["id"], audio) for row, audio in zip(rows, read_audio(rows))]
    report = {}
    for name, rows in sets.items():
        audio = [a for _, a in rows]
        counts = recognizer.label_frames(recognizer.link_posteriors(recognizer.encode(audio)))
        recognizer.decoder_scores(audio[:1])  # loads the decoder
        report[name] = [{"id": i, "label_frames": c, "no_speech": no_speech_probability(recognizer, a)}
                        for (i, a), c in zip(rows, counts)]
        values = np.array(counts)
        print(f"{name}: {len(values)}, label frames min {values.min():.2f}, "
              f"under 0.5 / 1: {(values < 0.5).sum()} / {(values < 1).sum()}", flush=True)
    Path(args.json).write_text(json.dumps(report, indent=0))


if __name__ == "__main__":
    main()
