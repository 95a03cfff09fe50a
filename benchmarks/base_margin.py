"""Choose `CommandConfig.base_margin` (how much say the base chain keeps after adaptation) on
recordings that no benchmark scores.

    python benchmarks/base_margin.py --data ../shared/data/keywords --commands ALEXA,COMPUTER
    python benchmarks/base_margin.py --data ../shared/data/fsdd

Only the enrollment half of the recipe's split is used (`recipes.commands`: the enrolled
speakers, or half of the files where none are named). k shots per command are drawn from it as
the recipe draws them and the base model is adapted; the rest of the half is then scored by the
adapted chain and by the base chain. Its command recordings give the accuracy, its other words
(keywords: JARVIS) and 500 speechocean762 *train* sentences (those the zero-shot threshold was
fitted on) give the false accepts, for each margin and without the check.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from asr.commands import AdaptConfig, CommandConfig, CommandRecognizer, adapt_recognizer
from asr.encoder import load_encoder
from asr.model import ASRModel
from asr.text import normalize_text
from features.audio import load_audio
from features.manifest import read_corpus
from recipes.commands.__main__ import draw_shots, split
from recipes.general.__main__ import SHARED, threshold_negatives
from training.cache import encode_corpus
from training.supervised import default_cache_dir


def adapted_and_base_scores(recognizer: CommandRecognizer, frames: list[torch.Tensor]) -> tuple[list, list]:
    return recognizer.score_frames(frames), recognizer.score_frames(frames, recognizer.base_model())


def decisions(recognizer: CommandRecognizer, scored: tuple[list, list], margin: float | None) -> np.ndarray:
    """Index of the accepted command per recording (-1: none), with the base check at `margin`."""
    return np.array([index for index, _ in recognizer.decisions(*scored, base_margin=margin)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/keywords")
    parser.add_argument("--commands", default=None, help="comma-separated (default: every word of the corpus)")
    parser.add_argument("--base", default="default")
    parser.add_argument("--shots", default="1,3,5")
    parser.add_argument("--margins", default="0.5,1,1.5,2,3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    corpus = [u for u in read_corpus(Path(args.data) / "manifest.jsonl") if u.text]
    words = list(dict.fromkeys(u.text for u in corpus))
    commands = [normalize_text(c).upper() for c in args.commands.split(",")] if args.commands else words
    enroll, _, _, _ = split(corpus, None)
    encoder = load_encoder(ASRModel.load(args.base).config.encoder)
    cache = default_cache_dir()
    negatives = {"other words": [u for u in enroll if u.text not in commands],
                 "sentences": threshold_negatives(SHARED)["speechocean762"]}  # what its figures were measured on
    negative_frames = {name: encode_corpus(utts, encoder, cache, progress=False).frames
                       for name, utts in negatives.items() if utts}
    margins = [None, *(float(m) for m in args.margins.split(","))]
    print("| k | margin | accuracy % | " + " | ".join(f"false accepts {name} ({len(f)}) %"
                                                     for name, f in negative_frames.items()) + " |")
    print("|---|---|---|" + "---|" * len(negative_frames))
    for k in (int(x) for x in args.shots.split(",")):
        shots = draw_shots([u for u in enroll if u.text in commands], commands, k, args.seed + k)
        shot_ids = {u.id for u in shots}
        held = encode_corpus([u for u in enroll if u.text in commands and u.id not in shot_ids], encoder, cache,
                             progress=False)
        truth = np.array([commands.index(u.text) for u in held.utterances])
        recognizer = CommandRecognizer(ASRModel.load(args.base, encoder),
                                       CommandConfig(commands, decoder_weight=0.0))  # as chosen: the chain alone
        adapt_recognizer(recognizer, [load_audio(u.audio) for u in shots], [commands.index(u.text) for u in shots],
                         AdaptConfig(threads=args.threads, seed=args.seed))
        if recognizer.base_model() is None:
            raise SystemExit(f"{args.base}: no fitted zero-shot threshold, so adaptation keeps no base to check with")
        held_scores = adapted_and_base_scores(recognizer, held.frames)
        negative_scores = [adapted_and_base_scores(recognizer, frames) for frames in negative_frames.values()]
        for margin in margins:
            accuracy = (decisions(recognizer, held_scores, margin) == truth).mean()
            accepted = [(decisions(recognizer, scored, margin) >= 0).mean() for scored in negative_scores]
            print(f"| {k} | {'off' if margin is None else margin} | {100 * accuracy:.1f} | "
                  + " | ".join(f"{100 * a:.1f}" for a in accepted) + " |", flush=True)


if __name__ == "__main__":
    main()
