"""How an adapted command model should draw its "none" line: chosen on FSDD folds whose test
speakers are george and jackson (the recipe tests lucas + nicolas), with out-of-grammar speech
that no figure and no fit uses.

    python benchmarks/enrollment_threshold.py --out exp/enrollment_threshold/scores.json
    python benchmarks/enrollment_threshold.py --analyse exp/enrollment_threshold/scores.json

Folds (enrolled -> tested): lucas + nicolas -> george + jackson; jackson + lucas + nicolas ->
george; george + lucas + nicolas -> jackson. For each fold, k and seed, k shots per digit are
drawn as the recipe draws them, the default model is adapted (`adapt_recognizer`), and `--max-test`
test recordings and the dev negatives are scored as `asr commands` scores them (enrollment
context, Whisper's decoder unless `--decoder-weight 0`), by the adapted chain and by the base
chain, with the tokens at stake of each (benchmarks/confidence.py compares confidence rules on
them). `--shots 0` adds the zero-shot model. Dev negatives: every 5th AN4 train utterance from
offset 3 that is not a lone digit, and every 5th speechocean762 train sentence from offset 3
(`--dev-sentences` of them); the zero-shot fit takes offset 0, the decoder weight's benchmark
offset 2.

The analysis applies each rule to the saved scores: thresholds a share of the way from the
zero-shot one (0) to the one the shots give (1, as shipped until session 20; `choose_threshold`),
each with the base check at several margins. 0.5 is `asr.commands.ENROLLED_THRESHOLD_SHARE`.
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr.commands import (ENROLLED_THRESHOLD_SHARE, AdaptConfig, CommandConfig, CommandRecognizer, adapt_recognizer,
                          decide, plausible_to_base, zero_shot_threshold)
from asr.encoder import load_encoder
from asr.model import ASRModel, write_json_atomically
from features.audio import load_audio
from features.manifest import Utterance, read_corpus
from recipes.commands.__main__ import draw_shots, split
from recipes.general.__main__ import SHARED, threshold_negatives

FOLDS = {"george,jackson": "lucas,nicolas", "george": "jackson,lucas,nicolas", "jackson": "george,lucas,nicolas"}


def dev_negatives(sentences: int) -> dict[str, list[Utterance]]:
    """The zero-shot fit's out-of-grammar sources from offset 3 instead of 0."""
    sources = threshold_negatives(SHARED, count=sentences, offset=3)
    return {"an4_train": sources["an4"], "speechocean762_train": sources["speechocean762"]}


def score_rows(recognizer: CommandRecognizer, audios: dict[str, np.ndarray], decoded: dict[str, torch.Tensor],
               paths: list[str], desc: str) -> list[dict]:
    """Per recording: the adapted chain's and the base chain's combined scores of every command
    (zero-shot, with no base chain kept, the chain's own), and the tokens at stake."""
    base = recognizer.base_model()
    rows = []
    for path in tqdm(paths, desc=desc, unit="rec"):
        frames = recognizer.encode([audios[path]])
        scores, = recognizer.score_frames(frames, decoded=[decoded[path]])
        base_scores = recognizer.score_frames(frames, base, [decoded[path]])[0] if base is not None else scores
        rows.append({"path": path, "scores": scores.tolist(), "base_scores": base_scores.tolist(),
                     "tokens": tokens_at_stake(recognizer, frames[0])})
    return rows


def tokens_at_stake(recognizer: CommandRecognizer, frames: torch.Tensor) -> int:
    """The best path's non-blank frames, each scored `frame_repeat` times: what the confidence
    multiplied the scores by until session 21 (benchmarks/confidence.py compares that rule)."""
    log_probs = recognizer.model.posteriors([frames], link=recognizer.links[0])[0]
    return recognizer.config.frame_repeat * max(int((log_probs.argmax(-1) != 0).sum()), 1)


def collect(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    corpus = [u for u in read_corpus(Path(args.data) / "manifest.jsonl") if u.text]
    commands = list(dict.fromkeys(u.text for u in corpus))
    negatives = dev_negatives(args.dev_sentences)
    encoder = load_encoder(ASRModel.load(args.base).config.encoder)
    config = CommandConfig(commands, decoder_weight=args.decoder_weight)
    scorer = CommandRecognizer(ASRModel.load(args.base, encoder), config)
    audios: dict[str, np.ndarray] = {}
    decoded: dict[str, torch.Tensor | None] = {}  # the decoder's scores do not change with adaptation

    def prepare(utterances: list[Utterance]) -> list[str]:
        for u in tqdm([u for u in utterances if u.audio not in audios], desc="load + decoder", unit="rec"):
            audios[u.audio] = load_audio(u.audio)
            decoded[u.audio] = (scorer.decoder_scores([audios[u.audio]]) or [None])[0]
        return [u.audio for u in utterances]

    negative_paths = {source: prepare(utts) for source, utts in negatives.items()}
    saved = {"commands": commands, "decoder_weight": scorer.config.decoder_weight,
             "zero_shot_threshold": zero_shot_threshold(scorer.model, scorer.config.decoder_weight),
             "negatives": {source: len(paths) for source, paths in negative_paths.items()}, "runs": []}
    folds = {}
    for tested, enrolled in FOLDS.items():
        enroll, test, _, _ = split(corpus, enrolled.split(","))
        test = random.Random(0).sample(test, min(args.max_test, len(test)))
        folds[tested] = (enrolled, enroll, test, prepare(test), [commands.index(u.text) for u in test])
    for seed in range(args.seeds):  # every fold at seed 0 first
        for tested, (enrolled, enroll, test, test_paths, truths) in folds.items():
            for k in (int(x) for x in args.shots.split(",")):
                if k == 0 and seed > 0:
                    continue  # zero-shot: nothing is drawn
                recognizer = CommandRecognizer(ASRModel.load(args.base, encoder), config)
                if k:
                    shots = draw_shots(enroll, commands, k, seed + k)
                    summary = adapt_recognizer(recognizer, [load_audio(u.audio) for u in shots],
                                               [commands.index(u.text) for u in shots],
                                               AdaptConfig(threads=args.threads, seed=seed))
                else:
                    summary = {"learned_threshold": saved["zero_shot_threshold"], "adapt_seconds": 0.0}
                name = f"{tested} k={k} seed={seed}"
                run = {"tested": tested, "enrolled": enrolled, "k": k, "seed": seed,
                       "learned_threshold": summary["learned_threshold"], "adapt_seconds": summary["adapt_seconds"],
                       "test": [{**row, "truth": truth} for row, truth in
                                zip(score_rows(recognizer, audios, decoded, test_paths, name), truths)],
                       "negatives": {source: score_rows(recognizer, audios, decoded, paths, f"{name} {source}")
                                     for source, paths in negative_paths.items()}}
                saved["runs"].append(run)
                write_json_atomically(Path(args.out), saved)  # each run kept as it finishes
                print(f"{name}: learned threshold {summary['learned_threshold']:.2f}", flush=True)


def decided(rows: list[dict], threshold: float, base_floor: float) -> np.ndarray:
    """Accepted command per row (-1: none), as CommandRecognizer.decisions decides it."""
    return np.array([decide(plausible_to_base(torch.tensor(row["scores"]), torch.tensor(row["base_scores"]),
                                              base_floor), threshold=threshold, temperature=1.0)[0]
                     for row in rows])


def threshold_at(run: dict, share: float, zero_shot: float) -> float:
    """The run's threshold `share` of the way from the zero-shot one to the one its shots gave."""
    return zero_shot + share * (run["learned_threshold"] - zero_shot)


def analyse(path: Path, shares: list[float], margins: list[float]) -> None:
    saved = json.loads(path.read_text())
    zero_shot, commands = saved["zero_shot_threshold"], saved["commands"]
    sources = list(saved["negatives"])
    shot_counts = sorted({run["k"] for run in saved["runs"]})
    print(f"| share of the way to the learned threshold | base margin | k | accuracy % (runs) | "
          f"{' | '.join(f'{s} accepted' for s in sources)} |")
    print("|---|---|---|---|" + "---|" * len(sources))
    for share in shares:
        for margin in margins:
            for k in shot_counts:
                per_run, accepted = [], {source: [0, 0] for source in sources}
                for run in (run for run in saved["runs"] if run["k"] == k):
                    threshold, floor = threshold_at(run, share, zero_shot), zero_shot - margin
                    picks = decided(run["test"], threshold, floor)
                    per_run.append(100 * float(np.mean(picks == np.array([r["truth"] for r in run["test"]]))))
                    for source in sources:
                        hits = decided(run["negatives"][source], threshold, floor) >= 0
                        accepted[source][0] += int(hits.sum())
                        accepted[source][1] += len(hits)
                runs = " / ".join(f"{a:.1f}" for a in per_run)
                print(f"| {share} | {margin} | {k} | {np.mean(per_run):.1f} ({runs}) | "
                      + " | ".join(f"{a} of {n}" for a, n in accepted.values()) + " |")
    for k in shot_counts:  # the ceiling: the best command, never "none"
        top1 = [100 * float(np.mean([int(np.argmax(r["scores"])) == r["truth"] for r in run["test"]]))
                for run in saved["runs"] if run["k"] == k]
        print(f"top-1, k = {k}: {np.mean(top1):.1f} % ({' / '.join(f'{a:.1f}' for a in top1)})")
    share, margin = ENROLLED_THRESHOLD_SHARE, margins[0]
    print(f"out-of-grammar recordings accepted at share {share}, base margin {margin}, "
          f"in how many of the {len(saved['runs'])} runs:")
    counts: Counter = Counter()
    for run in saved["runs"]:
        for rows in run["negatives"].values():
            for row, pick in zip(rows, decided(rows, threshold_at(run, share, zero_shot), zero_shot - margin)):
                if pick >= 0:
                    counts[(row["path"], commands[pick])] += 1
    for (path, command), times in counts.most_common():
        print(f"  {times:3d}  {path} as {command}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SHARED / "fsdd"))
    parser.add_argument("--base", default="default")
    parser.add_argument("--shots", default="1,5")
    parser.add_argument("--seeds", type=int, default=1, help="draws of the shots per fold and k")
    parser.add_argument("--max-test", type=int, default=150, help="test recordings per fold")
    parser.add_argument("--dev-sentences", type=int, default=150)
    parser.add_argument("--decoder-weight", type=float, default=None,
                        help="Whisper's decoder's weight (0: the chain alone; default: the base model's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="exp/enrollment_threshold/scores.json")
    parser.add_argument("--analyse", default=None, metavar="SCORES_JSON", help="print the rules' table and stop")
    parser.add_argument("--shares", default="0,0.25,0.5,0.75,1",
                        help="thresholds to analyse, as shares of the way from the zero-shot to the learned one")
    parser.add_argument("--margins", default="1.5,0,-1,-2", help="base-check margins to analyse")
    args = parser.parse_args()
    if args.analyse:
        analyse(Path(args.analyse), [float(s) for s in args.shares.split(",")], [float(m) for m in args.margins.split(",")])
    else:
        collect(args)


if __name__ == "__main__":
    main()
