"""Probe (session 36): how loud real speech peaks, against the non-speech clips a model still
accepts. Peak level (dBFS) of every recording in the shared corpora, and of the clips that
benchmarks/non_speech.py's --json lists as accepted for one model.

    python benchmarks/probes_s36/peaks.py --non-speech exp/s36/non_speech.json --model default:digits
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from features.manifest import read_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from non_speech import non_speech_clips  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
CORPORA = ["fsdd", "an4/train", "an4/test", "keywords", "speechocean762/test"]


def peak_dbfs(audio: np.ndarray) -> float:
    return float(20 * np.log10(max(float(np.abs(audio).max()), 1e-9)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--non-speech", required=True, help="benchmarks/non_speech.py's --json")
    parser.add_argument("--model", required=True, help="a model as named there")
    args = parser.parse_args()
    for corpus in CORPORA:
        peaks = np.array([peak_dbfs(sf.read(u.audio, dtype="float32")[0])
                          for u in read_corpus(DATA / corpus / "manifest.jsonl")])
        print(f"{corpus}: {len(peaks)} recordings, peak dBFS lowest {peaks.min():.1f}, median {np.median(peaks):.1f}")
    report = json.loads(Path(args.non_speech).read_text())
    entry = next(value for key, value in report.items() if key.startswith(args.model + " ") and not key.endswith("=0.0"))
    clips = non_speech_clips(np.random.default_rng(0))
    peaks = sorted(peak_dbfs(clips[name.split("->")[0]]) for name in entry["accepted_clips"])
    print(f"{args.model}: {len(peaks)} non-speech clips accepted, peaks " + " ".join(f"{p:.0f}" for p in peaks))


if __name__ == "__main__":
    main()
