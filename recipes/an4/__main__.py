"""AN4 recipe: train the chain on AN4 train, select on held-out speakers, score AN4 test.

    python -m recipes.an4 --data ../shared/data/an4 --out exp/an4
    python -m recipes.an4 --unlabeled ../shared/data/librispeech/unlabeled --labeled-fraction 0.1 \
        --chain unit,phone,char --out exp/an4-ssl      # SSL on unlabeled + AN4 audio, then fine-tune
    (fine-tuning keeps the SSL loss on that audio, at --ssl-weight 0.5; 0 turns it off)

Writes OUT/model (what `asr transcribe` and `asr evaluate` take), OUT/results.json and
OUT/test_report.json (per-utterance errors). Under `torchrun --nproc_per_node 2` the training
runs data-parallel; scoring runs on rank 0.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from pathlib import Path

from asr.cli import add_training_options, exit_code_of, supervised_config
from features.manifest import Utterance, labeled_subset, read_corpus
from recipes.common import add_ssl_options, finish_recipe, self_supervised_stage, unlabeled_audio
from training.supervised import train_supervised
from training.trainer import finish_distributed, init_distributed

DEV_SPEAKERS = 4  # of AN4 train's 74, held out for model selection and early stopping

# Defaults tuned on this machine (2 cores): see benchmarks/RESULTS.md. The encoder reads each
# file in a window cut to its length: with the beam as accurate over three seeds as a 30-s window
# each (greedy worse), at a sixth of the RTF ("Cut windows", session 32); --encoder
# whisper-tiny.en for full windows.
RECIPE_DEFAULTS = {"steps": 2400, "eval_every": 200, "encoder": "whisper-tiny.en+cut"}  # --minutes caps wall time if needed


def split_dev(utterances: list[Utterance], n_speakers: int) -> tuple[list[Utterance], list[Utterance]]:
    """Hold out whole speakers, chosen by a hash of their name (stable across machines)."""
    speakers = sorted({u.speaker for u in utterances}, key=lambda s: hashlib.sha1(str(s).encode()).hexdigest())
    held_out = set(speakers[:n_speakers])
    return [u for u in utterances if u.speaker not in held_out], [u for u in utterances if u.speaker in held_out]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipes.an4", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/an4", help="AN4 folder with train/ and test/ manifests")
    parser.add_argument("--out", default="exp/an4")
    parser.add_argument("--labeled-fraction", type=float, default=1.0,
                        help="train on this share of the labeled utterances, taken evenly over speakers")
    add_training_options(parser)
    add_ssl_options(parser)
    parser.set_defaults(**RECIPE_DEFAULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    started = time.perf_counter()
    data = Path(args.data)
    train_all, dev = split_dev(read_corpus(data / "train" / "manifest.jsonl"), DEV_SPEAKERS)
    train = labeled_subset(train_all, args.labeled_fraction, seed=args.seed)
    test = read_corpus(data / "test" / "manifest.jsonl")
    rank, _ = init_distributed()
    ssl_summary = self_supervised_stage(args, train_all, Path(args.out))  # AN4 train audio, no labels
    config = supervised_config(args, unlabeled_audio=True)  # at least AN4 train's own audio
    summary = train_supervised(train, dev, Path(args.out), config,
                               unlabeled_utts=unlabeled_audio(args, train_all) if config.ssl_weight > 0 else None)
    summary["ssl"] = ssl_summary
    if rank == 0:
        finish_recipe(Path(args.out), train, {"test": test}, summary, started)
    finish_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(exit_code_of(main, "python -m recipes.an4"))
