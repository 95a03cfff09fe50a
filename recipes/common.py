"""What every recipe does after training: the decoding LM, scoring, results.json."""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from asr.lm import write_decoding_lm
from asr.transcribe import Transcriber, evaluate
from features.manifest import Utterance, read_corpus
from training.trainer import save_results

LM_ORDER = 3


def add_ssl_options(parser: argparse.ArgumentParser) -> None:
    """The self-supervised stage of a recipe: run when --chain starts with "unit" and no --init."""
    from training.ssl import SSLConfig
    ssl = SSLConfig()
    parser.add_argument("--unlabeled", action="append", default=[],
                        help="unlabeled audio (folder or manifest) for the SSL stage; repeat to mix")
    parser.add_argument("--units", type=int, default=ssl.units, help="SSL: k-means units")
    parser.add_argument("--ssl-iterations", type=int, default=ssl.iterations, help="SSL: clustering rounds")
    parser.add_argument("--ssl-steps", type=int, default=ssl.train.max_steps, help="SSL: steps per round")


def unlabeled_audio(args: argparse.Namespace, corpus_audio: list[Utterance]) -> list[Utterance]:
    """--unlabeled plus the recipe's own training audio, labels dropped: what the SSL losses see."""
    audio = [u for source in args.unlabeled for u in read_corpus(source)]
    return audio + [replace(u, text=None) for u in corpus_audio]


def self_supervised_stage(args: argparse.Namespace, corpus_audio: list[Utterance], out_dir: Path) -> dict | None:
    """Train the unit link on `unlabeled_audio`.

    Sets `args.init` to the SSL model so the supervised stage stacks its links on it. Skipped
    (None) when the chain has no unit link or --init already names an SSL model.
    """
    from training.ssl import SSLConfig, train_ssl
    if args.chain.split(",")[0] != "unit" or args.init:
        return None
    audio = unlabeled_audio(args, corpus_audio)
    config = SSLConfig(encoder=args.encoder, units=args.units, iterations=args.ssl_iterations,
                       train=replace(SSLConfig().train, max_steps=args.ssl_steps, max_batch_frames=args.batch_frames,
                                     threads=args.threads, seed=args.seed, progress=not args.quiet),
                       cache_dir=args.cache_dir)
    summary = train_ssl(audio, out_dir / "ssl", config)
    args.init = str(out_dir / "ssl" / "model")
    return summary


def score_sets(model_dir: Path, test_sets: dict[str, list[Utterance]], out_dir: Path,
               decoders: tuple[str, ...] = ("beam", "greedy")) -> dict:
    """Score each test set with each decoder; full reports go to OUT/<set>_<decoder>.json.

    The first decoder (lexicon + n-gram LM beam search) gives the headline `results[set]`.
    """
    results = {}
    for decoder in decoders:
        transcriber = Transcriber.from_dir(model_dir, decoder)
        for name, utterances in test_sets.items():
            report = evaluate(transcriber, utterances)
            save_results(out_dir / f"{name}_{decoder}.json", report)
            key = name if decoder == decoders[0] else f"{name}_{decoder}"
            results[key] = {k: report[k] for k in ("wer", "cer", "n", "rtf", "decoder")}
            print(f"{name} ({decoder}): WER {100 * report['wer']:.2f}%  CER {100 * report['cer']:.2f}%  "
                  f"n={report['n']}  RTF {report['rtf']}")
    return results


def finish_recipe(out_dir: Path, train: list[Utterance], test_sets: dict[str, list[Utterance]],
                  summary: dict, started: float) -> dict:
    model_dir = out_dir / "model"
    write_decoding_lm(model_dir, [u.text for u in train if u.text], LM_ORDER)
    results = score_sets(model_dir, test_sets, out_dir)
    results.update({k: summary[k] for k in ("train_seconds", "prepare_seconds", "steps", "best_step",
                                            "dev_wer", "trainable_params", "total_params",
                                            "trainable_share", "train_utterances", "unlabeled_utterances",
                                            "distributed_world_size")})
    if summary.get("ssl"):
        results["ssl"] = {k: summary["ssl"][k] for k in ("utterances", "audio_minutes", "encode_seconds",
                                                         "iterations", "total_seconds")}
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["config"] = summary["config"]
    save_results(out_dir / "results.json", results)
    return results
