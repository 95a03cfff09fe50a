"""Probe (session 38): adapt again on a test speaker's own confidently recognised recordings.

At k = 5 every FSDD error is one of nicolas's clipped recordings, while most of his recordings are
recognised with high confidence. A device that has heard a speaker for a while could adapt to
those answers (unsupervised speaker adaptation: no one labels anything). Cross-fitted so that no
recording is scored by a model that was adapted on it: each test speaker's recordings in the
recipe's draw are split in two halves by a seeded shuffle; for each half, a model is adapted from
the base on the run's k = 5 shots plus up to --per-command recordings per command of the OTHER
half, labelled with the k = 5 model's answer where its confidence is at least --confidence, most
confident first; the half is then read by that model (`recognize_files`, as `asr commands` reads
files). Prints each speaker's accuracy against the k = 5 model's on the same recordings.

    python benchmarks/probes_s38/self_training.py exp/s36/fsdd_seed0 --seed 0 --json F

RUN is a `recipes.commands` output folder with splits.json and decisions.json (its k = 5 answers).
"""
from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

from asr.commands import AdaptConfig, CommandConfig, CommandRecognizer, NONE, adapt_recognizer, load_command_audio
from asr.model import ASRModel


def pseudo_labelled(rows: list[dict], confidence: float, per_command: int) -> list[dict]:
    """The rows answered with a command at `confidence` or more, at most `per_command` a command,
    most confident first."""
    by_command: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: -r["confidence"]):
        if row["command"] != NONE and row["confidence"] >= confidence and len(by_command[row["command"]]) < per_command:
            by_command[row["command"]].append(row)
    return [row for chosen in by_command.values() for row in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--base", default="default")
    parser.add_argument("--shots", default="5")
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--per-command", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="the run's --seed (adaptation seed)")
    parser.add_argument("--speakers", default=None, help="comma-separated; default: every test speaker")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    run = Path(args.run)
    splits = json.loads((run / "splits.json").read_text())
    answers = [row for row in json.loads((run / "decisions.json").read_text())[args.shots] if row["source"] == "test"]
    commands = splits["commands"]
    shots = splits["shots"][args.shots]
    shot_audio = [load_command_audio(row["audio"]) for row in shots]
    shot_labels = [commands.index(row["text"]) for row in shots]
    speaker_of = {row["audio"]: row["id"].split("_")[0] for row in splits["test"]}
    speakers = args.speakers.split(",") if args.speakers else sorted(set(speaker_of.values()))
    encoder = ASRModel.load(args.base).encoder  # frozen: every adapted model shares it
    report = {}
    for speaker in speakers:
        mine = [row for row in answers if speaker_of[row["audio"]] == speaker]
        random.Random(args.seed).shuffle(mine)
        halves = [mine[: len(mine) // 2], mine[len(mine) // 2:]]
        before = after = 0
        details = []
        for half, other in ((halves[0], halves[1]), (halves[1], halves[0])):
            chosen = pseudo_labelled(other, args.confidence, args.per_command)
            wrong_labels = sum(row["command"] != row["truth"] for row in chosen)
            recognizer = CommandRecognizer(ASRModel.load(args.base, encoder), CommandConfig(list(commands)))
            started = time.perf_counter()
            adapt_recognizer(recognizer, shot_audio + [load_command_audio(row["audio"]) for row in chosen],
                             shot_labels + [commands.index(row["command"]) for row in chosen],
                             AdaptConfig(seed=args.seed))
            seconds = time.perf_counter() - started
            said = recognizer.recognize_files([row["audio"] for row in half])
            right_now = [s.command == row["truth"] for s, row in zip(said, half)]
            before += sum(row["command"] == row["truth"] for row in half)
            after += sum(right_now)
            details.append({"pseudo_labelled": len(chosen), "wrong_labels": wrong_labels,
                            "adapt_seconds": round(seconds, 1),
                            "changed": [f"{Path(row['audio']).name}: {row['command']} -> {s.command} ({row['truth']})"
                                        for s, row in zip(said, half) if s.command != row["command"]]})
            print(f"{speaker} half: {len(chosen)} pseudo-labelled ({wrong_labels} wrong), adapt {seconds:.0f} s, "
                  f"{sum(right_now)}/{len(half)} right (k = {args.shots}: "
                  f"{sum(row['command'] == row['truth'] for row in half)})", flush=True)
        report[speaker] = {"k_shots_right": before, "self_trained_right": after, "of": len(mine), "halves": details}
        print(f"{speaker}: k = {args.shots} {before}/{len(mine)} -> self-trained {after}/{len(mine)}", flush=True)
    Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
