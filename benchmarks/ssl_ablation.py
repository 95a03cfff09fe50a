"""What the self-supervised stage buys with few labels: the ablation of issue 3 on AN4.

For each share of AN4's training labels and each seed, three systems get the same step budget:
  (a) char             the character link alone
  (b) phone,char       the phoneme -> character chain, no SSL
  (c) unit,phone,char  the full chain on an SSL unit link (`asr ssl` on unlabeled audio + AN4 train
                       audio without labels; one SSL model, label-free, shared by every run)
  (d) unit,phone,char  (c), with the masked-unit loss kept on that unlabeled audio while fine-tuning
                       (--ssl-weight; the recipe's default for SSL chains since it was measured here)
Each run is `python -m recipes.an4` (the same recipe users run); its results.json is collected into
OUT/ablation.json and a markdown table.

    python -m asr.cli ssl --audio ../shared/data/librispeech/unlabeled \\
        --audio ../shared/data/an4/train/manifest.jsonl --out exp/ssl
    python benchmarks/ssl_ablation.py --ssl exp/ssl/model --out exp/ablation

The beam decoder's lexicon and LM come from the labeled share's transcripts (the recipe's
default). `--lm-text train` re-scores every run with a lexicon and LM from all of AN4 train's
transcripts instead (text only, dev speakers excluded), as Libri-light decodes its 10-minute and
1-hour models with an LM from text far beyond the labeled audio; the models are not retrained.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from asr.lm import write_decoding_lm
from features.manifest import read_corpus
from recipes.an4.__main__ import DEV_SPEAKERS, split_dev
from recipes.common import LM_ORDER, score_sets
from training.supervised import JOINT_SSL_WEIGHT

SYSTEMS = {"a": "char", "b": "phone,char", "c": "unit,phone,char", "d": "unit,phone,char"}


def run_one(data: str, ssl: str, fraction: float, system: str, seed: int, steps: int, out: Path,
            extra: list[str], lm_text: str = "labeled", unlabeled: tuple[str, ...] = ()) -> dict:
    run_dir = out / f"f{fraction}-{system}-s{seed}"
    if not (run_dir / "results.json").exists():
        command = [sys.executable, "-m", "recipes.an4", "--data", data, "--out", str(run_dir),
                   "--labeled-fraction", str(fraction), "--chain", SYSTEMS[system], "--seed", str(seed),
                   "--steps", str(steps), "--eval-every", str(max(25, steps // 6)), "--warmup", "100",
                   "--threads", "1", "--quiet"]
        if system == "c":
            command += ["--init", ssl, "--ssl-weight", "0"]
        if system == "d":
            command += ["--init", ssl, "--ssl-weight", str(JOINT_SSL_WEIGHT)]
            command += [option for source in unlabeled for option in ("--unlabeled", source)]
        command += extra  # last, so that it can override the system's own options
        started = time.perf_counter()
        with open(out / f"{run_dir.name}.log", "w") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"{run_dir.name} failed ({done.returncode}); see {out / run_dir.name}.log")
        print(f"{run_dir.name}: {time.perf_counter() - started:.0f} s", flush=True)
    results = json.loads((run_dir / "results.json").read_text())
    if lm_text == "train":
        results = rescore_with_train_text(data, run_dir)
    return {"fraction": fraction, "system": system, "seed": seed, "steps": steps,
            "wer": results["test"]["wer"], "cer": results["test"]["cer"],
            "wer_greedy": results["test_greedy"]["wer"], "train_seconds": results["train_seconds"],
            "train_utterances": results["train_utterances"], "trainable_params": results["trainable_params"]}


def rescore_with_train_text(data: str, run_dir: Path) -> dict:
    """Score a finished run again with a lexicon + LM from every AN4 train transcript (no audio)."""
    scored = run_dir / "lm_train"
    if not (scored / "results.json").exists():
        train, _ = split_dev(read_corpus(Path(data) / "train" / "manifest.jsonl"), DEV_SPEAKERS)
        test = read_corpus(Path(data) / "test" / "manifest.jsonl")
        model_dir = scored / "model"
        shutil.rmtree(scored, ignore_errors=True)
        shutil.copytree(run_dir / "model", model_dir)
        write_decoding_lm(model_dir, [u.text for u in train if u.text], LM_ORDER)
        results = score_sets(model_dir, {"test": test}, scored, decoders=("beam",))
        previous = json.loads((run_dir / "results.json").read_text())
        results["test_greedy"] = previous["test_greedy"]  # greedy decoding uses no LM
        for key in ("train_seconds", "train_utterances", "trainable_params"):
            results[key] = previous[key]
        (scored / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return json.loads((scored / "results.json").read_text())


def summarize(rows: list[dict]) -> list[dict]:
    table = []
    for fraction in sorted({r["fraction"] for r in rows}):
        for system in SYSTEMS:
            group = [r for r in rows if r["fraction"] == fraction and r["system"] == system]
            if not group:
                continue

            def stat(key: str) -> tuple[float, float]:
                values = [100 * r[key] for r in group]
                return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0

            table.append({"fraction": fraction, "system": system, "chain": SYSTEMS[system], "seeds": len(group),
                          "utterances": group[0]["train_utterances"], "steps": group[0]["steps"],
                          "wer": stat("wer"), "wer_greedy": stat("wer_greedy"), "cer": stat("cer"),
                          "train_seconds": statistics.mean(r["train_seconds"] for r in group),
                          "trainable_params": group[0]["trainable_params"]})
    return table


def markdown(table: list[dict]) -> str:
    lines = ["| labels | system | utts | steps | seeds | WER % (beam) | WER % (greedy) | CER % | train s | trainable |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in table:
        def pm(key: str) -> str:
            mean, spread = row[key]
            return f"{mean:.2f} ± {spread:.2f}" if row["seeds"] > 1 else f"{mean:.2f}"
        lines.append(f"| {100 * row['fraction']:g}% | ({row['system']}) {row['chain']} | {row['utterances']} | "
                     f"{row['steps']} | {row['seeds']} | {pm('wer')} | {pm('wer_greedy')} | {pm('cer')} | "
                     f"{row['train_seconds']:.0f} | {row['trainable_params']:,} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/an4")
    parser.add_argument("--ssl", required=True, help="SSL model folder for system (c)")
    parser.add_argument("--out", default="exp/ablation")
    parser.add_argument("--fractions", default="0.02:300,0.1:500,1.0:1200",
                        help="label share:steps, comma-separated")
    parser.add_argument("--seeds", default="1,2,3", help="seeds for shares below 1 (share 1.0 uses the first)")
    parser.add_argument("--systems", default="a,b,c")
    parser.add_argument("--unlabeled", action="append", default=[],
                        help="system (d): unlabeled audio besides AN4 train's for the masked-unit loss "
                             "(default: ../shared/data/librispeech/unlabeled, as the SSL model had)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (each on one thread)")
    parser.add_argument("--extra", default="", help="more recipe options for every run, space-separated")
    parser.add_argument("--lm-text", choices=("labeled", "train"), default="labeled",
                        help="beam decoder's lexicon + LM from the labeled share's transcripts (as the recipe "
                             "does) or from all of AN4 train's (re-scores finished runs)")
    args = parser.parse_args()
    unlabeled = tuple(args.unlabeled or [str(Path(args.data).parent / "librispeech" / "unlabeled")])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    plan = []
    for spec in args.fractions.split(","):
        fraction, steps = spec.split(":")
        for seed in (seeds if float(fraction) < 1 else seeds[:1]):
            for system in args.systems.split(","):
                plan.append((float(fraction), system, seed, int(steps)))
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda p: run_one(args.data, args.ssl, p[0], p[1], p[2], p[3], out, args.extra.split(),
                                               args.lm_text, unlabeled),
                             plan))
    table = summarize(rows)
    name = "ablation.json" if args.lm_text == "labeled" else f"ablation_lm_{args.lm_text}.json"
    (out / name).write_text(json.dumps({"runs": rows, "table": table}, indent=2) + "\n")
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
