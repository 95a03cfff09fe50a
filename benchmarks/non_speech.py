"""Non-speech against command models: how many noise, hum and room-tone clips each accepts.

    python benchmarks/non_speech.py exp/s33/fsdd_seed0/model default:digits ... [--json F]

A model is a command model folder, or BASE:digits for a base model zero-shot on the ten digits.
The clips: white, pink and brown noise at -60 / -45 / -35 / -25 dBFS RMS, 0.5 / 1 / 2 s long
(36); sine tones at 50, 120, 440 and 1000 Hz (4); and the room tone before the speech of every
15th keyword recording whose speech starts after 0.5 s (../shared/data/keywords, when present).
Each model is scored with its `min_label_frames` as saved and with the check off (0). A clip
that `asr commands` would refuse before any model reads it (`load_command_audio`: peaking under
COMMAND_MIN_PEAK, "too quiet", or a steady tone) counts as rejected in "accepted";
"accepted_if_read" gives what the model would say to every clip.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch

from asr.commands import DIGITS, NONE, CommandConfig, CommandRecognizer, Recognition, load_command_audio
from asr.model import ASRModel
from features.audio import SAMPLE_RATE, AudioError, load_audio
from features.augment import colored_noise
from features.manifest import read_corpus

KEYWORDS = Path(__file__).resolve().parents[1] / "../shared/data/keywords/manifest.jsonl"
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def non_speech_clips(rng: np.random.Generator, keywords: Path = KEYWORDS) -> dict[str, np.ndarray]:
    clips = {}
    for colour, exponent in COLOURS.items():
        for level in (-60, -45, -35, -25):
            for seconds in (0.5, 1.0, 2.0):
                noise = colored_noise(int(seconds * SAMPLE_RATE), exponent, rng) * 10 ** (level / 20)
                clips[f"{colour}{level}dB_{seconds}s"] = noise
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for hz in (50, 120, 440, 1000):
        clips[f"tone{hz}Hz"] = (0.05 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    if keywords.exists():
        for utt in read_corpus(keywords)[::15]:
            audio = load_audio(utt.audio)
            speech = librosa.effects.split(audio, top_db=30)
            if len(speech) and speech[0][0] > SAMPLE_RATE // 2:
                lead = audio[:speech[0][0] - SAMPLE_RATE // 10]
                if np.abs(lead).max() > 1e-4:  # load_audio's silence floor
                    clips[f"room_{utt.id}"] = lead
    return clips


def refusals(clips: dict[str, np.ndarray]) -> dict[str, str]:
    """The clips `asr commands` would refuse before any model reads them, and why ("too quiet",
    "a steady 440-Hz tone"): each is written to a file and read as it reads files (`load_command_audio`)."""
    refused = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, clip in clips.items():
            path = Path(folder) / f"{name}.wav"
            sf.write(path, clip, SAMPLE_RATE, subtype="FLOAT")  # float: the level exactly as made
            try:
                load_command_audio(path)
            except AudioError as error:
                refused[name] = error.reason.split(" (")[0].split(",")[0]
    return refused


def accepted_by_kind(said: list[Recognition], kinds: dict[str, str], refused: Collection[str] = frozenset()
                     ) -> dict[str, int]:
    """Clips answered with a command, per kind; a `refused` clip (one asr commands would not read) counts as "none"."""
    return {kind: sum(r.command != NONE for r in said if kinds[r.path] == kind and r.path not in refused)
            for kind in ("noise", "tone", "room")}


def recognizer_for(spec: str) -> CommandRecognizer:
    if spec.endswith(":digits"):
        return CommandRecognizer(ASRModel.load(spec.removesuffix(":digits")), CommandConfig(list(DIGITS)))
    return CommandRecognizer.load(spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clips = non_speech_clips(np.random.default_rng(0))
    names, audio = list(clips), list(clips.values())
    kinds = {name: "room" if name.startswith("room") else "tone" if name.startswith("tone") else "noise"
             for name in names}
    refused = refusals(clips)
    reasons = ", ".join(f"{count} {reason}" for reason, count in Counter(refused.values()).items())
    print(f"{len(names)} clips: " + ", ".join(f"{kind} {list(kinds.values()).count(kind)}" for kind in
                                            ("noise", "tone", "room")) +
          f"; refused before any model reads them: {reasons or 'none'}", flush=True)
    report: dict = {"refused": refused}
    for spec in args.models:
        recognizer = recognizer_for(spec)
        frames, decoded = recognizer.encode(audio), recognizer.decoder_scores(audio)
        as_saved = recognizer.config.min_label_frames
        for check in (as_saved, 0.0):
            recognizer.config = replace(recognizer.config, min_label_frames=check)
            said = recognizer.recognize_frames(frames, names, decoded=decoded)
            if_read, accepted = accepted_by_kind(said, kinds), accepted_by_kind(said, kinds, refused)
            report[f"{spec} min_label_frames={check}"] = {
                "accepted": accepted, "accepted_if_read": if_read,
                "of": {k: list(kinds.values()).count(k) for k in accepted},
                "accepted_clips": [f"{r.path}->{r.command}" for r in said
                                   if r.command != NONE and r.path not in refused]}
            print(f"{spec}  min_label_frames={check}: accepted {sum(accepted.values())} of {len(names)} {accepted} "
                  f"({sum(if_read.values())} if the refused ones were read)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
