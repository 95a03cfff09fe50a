"""Probe (session 39): where a recipe run's wrong answers lie by the recording's length. Reads
each run's decisions.json (written by `python -m recipes.commands`), takes the test rows at one k,
and counts wrong answers (a wrong command or "none") of the recordings up to --short seconds
long and of the longer ones, per test speaker and pooled over the runs.

    python benchmarks/probes_s39/errors_by_length.py exp/s39/reverse_seed0 exp/s39/reverse_seed1 \
        exp/s39/reverse_seed2 --k 5 --json exp/s39/errors_by_length_reverse.json
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import soundfile as sf


def speaker_of(audio: str) -> str:
    """FSDD's layout: audio/<speaker>/<digit>_<speaker>_<n>.flac."""
    return Path(audio).parent.name


def length_bucket(seconds: float, short: float) -> str:
    return f"<= {short} s" if seconds <= short else f"> {short} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="recipe OUT folders")
    parser.add_argument("--k", default="5", help="the run's key in decisions.json")
    parser.add_argument("--short", type=float, default=0.3, help="seconds: up to this a recording is short")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))  # wrong, of
    wrong_rows = []
    for run in args.runs:
        rows = json.loads((Path(run) / "decisions.json").read_text())[args.k]
        for row in (r for r in rows if r["source"] == "test"):
            seconds = sf.info(row["audio"]).duration
            bucket = length_bucket(seconds, args.short)
            wrong = row["command"] != row["truth"]
            for group in (speaker_of(row["audio"]), "all"):
                counts[group][bucket][0] += wrong
                counts[group][bucket][1] += 1
            if wrong:
                wrong_rows.append({"run": run, "audio": Path(row["audio"]).name, "seconds": round(seconds, 2),
                                   "truth": row["truth"], "answer": row["command"], "best": row["best"]})
    table = {group: {bucket: {"wrong": w, "of": n} for bucket, (w, n) in sorted(buckets.items())}
             for group, buckets in sorted(counts.items())}
    for group, buckets in table.items():
        print(f"{group:>10}  " + "   ".join(f"{b}: {v['wrong']} wrong of {v['of']}" for b, v in buckets.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"k": args.k, "short": args.short, "runs": args.runs,
                                               "table": table, "wrong": wrong_rows}, indent=1))


if __name__ == "__main__":
    main()
