"""Probe (session 36): label frames per link, their mean and their fewest, of the three noises
that `test_adapt_from_the_command_text_alone_through_the_cli` plays to its command model (white
at -35, pink at -25, brown at -45 dBFS; 1 s, seed 1), for each command model given.

    asr adapt default --commands C --synthesize 3 --steps 30 [--threads 1] --out M
    python benchmarks/probes_s36/test_noises.py M [M ...]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from asr.commands import CommandRecognizer, label_frames
from features.augment import colored_noise

TEST_NOISES = {"white": (0.0, -35), "pink": (1.0, -25), "brown": (2.0, -45)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    torch.set_num_threads(2)
    clips = [(colored_noise(16_000, exponent, np.random.default_rng(1)) * 10 ** (level / 20)).astype(np.float32)
             for exponent, level in TEST_NOISES.values()]
    for model in args.models:
        recognizer = CommandRecognizer.load(model)
        per_link = recognizer.link_posteriors(recognizer.encode(clips))
        for i, name in enumerate(TEST_NOISES):
            counts = {link: label_frames(per_link[link][i]) for link in recognizer.links}
            print(f"{model}  {name}: " + "  ".join(f"{link} {c:.2f}" for link, c in counts.items())
                  + f"  mean {np.mean(list(counts.values())):.2f}  fewest {min(counts.values()):.2f}")


if __name__ == "__main__":
    main()
