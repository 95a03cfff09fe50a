"""The zero-shot "none" threshold rule behind asr.commands.DEFAULT_THRESHOLD.

    python benchmarks/command_threshold.py [--base default]

Scores 500 speechocean762 *train* sentences (every 5th by id, none of them a digit) against the
ten FSDD digits with the base model, and prints the most permissive threshold on a 0.05 grid
that accepts at most 1 % of them as a digit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from asr.commands import CommandConfig, CommandRecognizer  # noqa: E402
from asr.encoder import load_encoder  # noqa: E402
from asr.model import ASRModel  # noqa: E402
from asr.text import normalize_text  # noqa: E402
from features.manifest import read_corpus  # noqa: E402
from training.cache import encode_corpus  # noqa: E402
from training.supervised import default_cache_dir  # noqa: E402

DIGITS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"]
SENTENCES = REPO.parent / "shared" / "data" / "speechocean762" / "train" / "manifest.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="default")
    parser.add_argument("--max-accepted", type=float, default=0.01)
    args = parser.parse_args()
    digits = {normalize_text(d) for d in DIGITS}
    sentences = [u for u in read_corpus(SENTENCES) if normalize_text(u.text or "") not in digits]
    negatives = sorted(sentences, key=lambda u: u.id)[::5][:500]
    encoder = load_encoder(ASRModel.load(args.base).config.encoder)
    frames = encode_corpus(negatives, encoder, default_cache_dir(), progress=True).frames
    recognizer = CommandRecognizer(ASRModel.load(args.base, encoder), CommandConfig(DIGITS))
    best = np.array([float(scores.max()) for scores, _ in recognizer.score_frames(frames)])
    grid = np.round(np.arange(-3.0, 0.0, 0.05), 2)
    threshold = min(t for t in grid if (best >= t).mean() <= args.max_accepted)
    print(f"{args.base}: {len(best)} sentences; threshold {threshold} accepts {(best >= threshold).mean():.1%}")


if __name__ == "__main__":
    main()
