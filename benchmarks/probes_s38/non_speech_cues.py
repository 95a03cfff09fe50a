"""Probe (session 38): two cues that might tell a command from non-speech, on real recordings.

Above the -60 dBFS floor, the default model zero-shot still takes 4 of the 99 non-speech clips of
benchmarks/non_speech.py for digits, and adapted models take 2-5 (mostly the 440-Hz and 1-kHz
tones). A cue could refuse them only if no real recording reaches it:

  no_speech  Whisper tiny.en's probability of <|nocaptions|> at the start of transcript, with
             the clip in its decoder window (then 2 s of silence), as Whisper's own no-speech
             check reads it
  tonal      the share of its sounding frames that hold 99 % of their energy within 62.5 Hz of
             their strongest frequency (features.audio.narrowband_shares); `steady_tone`, which
             `load_command_audio` refuses since session 38, is 0.9 or more

For each cue: the range over every --step-th recording of FSDD, keywords, AN4 train and test and
speechocean762 train and test, and how many non-speech clips above the floor lie beyond the most extreme
real recording (what a rule set there would refuse and no real recording with it).

    python benchmarks/probes_s38/non_speech_cues.py --step 1 --json F
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from asr.commands import (COMMAND_MIN_PEAK, DECODER_PADDING_SECONDS, DIGITS, MAX_COMMAND_SECONDS, CommandConfig,
                          CommandRecognizer)
from asr.model import ASRModel
from asr.whisper_decoder import START_OF_TRANSCRIPT, short_window_frames
from features.audio import AudioError, load_audio, narrowband_shares
from features.manifest import read_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from non_speech import non_speech_clips  # noqa: E402 - the benchmark's clips, the same seed

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
CORPORA = {"fsdd": "fsdd/manifest.jsonl", "keywords": "keywords/manifest.jsonl",
           "an4_train": "an4/train/manifest.jsonl", "an4_test": "an4/test/manifest.jsonl",
           "speechocean762_train": "speechocean762/train/manifest.jsonl",
           "speechocean762_test": "speechocean762/test/manifest.jsonl"}


def tonal_frames(audio: np.ndarray) -> float:
    shares, _ = narrowband_shares(audio)
    return float(np.mean(shares >= 0.99)) if len(shares) else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", type=int, default=2)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = ASRModel.load("default")
    scorer = CommandRecognizer(model, CommandConfig(list(DIGITS))).text_scorer()
    start, no_captions = scorer.special(START_OF_TRANSCRIPT), scorer.special("<|nocaptions|>")

    @torch.inference_mode()
    def no_speech(audio: np.ndarray) -> float:
        frames = short_window_frames(model.encoder, torch.from_numpy(audio.astype(np.float32)), DECODER_PADDING_SECONDS)
        state = scorer.decoder.hidden(torch.tensor([[start]]), scorer.decoder.memories(frames[None]))[0, 0]
        return float(scorer.decoder.projection(state).softmax(-1)[no_captions])

    def cues(audio: np.ndarray) -> dict[str, float]:
        return {"no_speech": no_speech(audio), "tonal": tonal_frames(audio)}

    clips = {name: clip for name, clip in non_speech_clips(np.random.default_rng(0)).items()
             if np.abs(clip).max() >= COMMAND_MIN_PEAK}
    report = {"non_speech": {name: cues(clip) for name, clip in clips.items()}, "real": {}}
    for corpus, manifest in CORPORA.items():
        if not (DATA / manifest).exists():
            continue
        for utt in read_corpus(DATA / manifest)[:: args.step]:
            try:
                # read as load_command_audio reads it, less its tone check: that is what is measured
                audio = load_audio(utt.audio, max_seconds=MAX_COMMAND_SECONDS, min_peak=COMMAND_MIN_PEAK)
                report["real"][f"{corpus}/{utt.id}"] = cues(audio)
            except AudioError as error:
                print(error, file=sys.stderr)
    for cue in ("no_speech", "tonal"):
        real = np.array([row[cue] for row in report["real"].values()])
        fake = np.array([row[cue] for row in report["non_speech"].values()])
        for corpus in CORPORA:
            of = np.array([row[cue] for key, row in report["real"].items() if key.startswith(corpus + "/")])
            if len(of):
                print(f"{cue:9s} {corpus:20s} n={len(of):4d} median {np.median(of):.3f}  "
                      f"p99 {np.quantile(of, 0.99):.3f}  max {of.max():.3f}")
        print(f"{cue:9s} non-speech above the floor: n={len(fake)} min {fake.min():.3f} median {np.median(fake):.3f}; "
              f"beyond every real recording ({real.max():.3f}): {int((fake > real.max()).sum())} "
              f"{sorted(name for name, row in report['non_speech'].items() if row[cue] > real.max())}", flush=True)
    Path(args.json).write_text(json.dumps(report, indent=0))


if __name__ == "__main__":
    main()
