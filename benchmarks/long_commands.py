"""Multi-word commands against real near misses: zero-shot accuracy and false accepts.

    python benchmarks/long_commands.py [--base default] [--max-dividing-labels N] [--json OUT]

FSDD and keywords are single words; a user's commands are often several ("lights on", "next
slide"), and the speech most likely to pass for one shares most of its words. AN4 train holds
such phrases, spoken by many speakers: zip codes that differ in a digit and ENTER + a number.
Commands: ONE FIVE TWO ONE SEVEN, ONE FIVE TWO ONE THREE, ENTER SEVEN, ENTER FIVE. Test: their
recordings. Out-of-grammar: every other AN4 train utterance that starts with ONE FIVE or ENTER
("ONE FIVE TWO ONE OH", "ENTER FIVE ZERO", "ENTER SEVENTY ONE", ...). Each is recognised as
`asr commands` recognises a file, at the model's zero-shot threshold.

Caveats: the shipped default model was trained on AN4 train, so its chain has heard these
recordings (its threshold fit scores every 5th non-digit AN4 train utterance too, against the
digits); AN4 test has no repeated multi-word phrases to build this from.

`--max-dividing-labels` sets asr.commands.MAX_DIVIDING_LABELS for the run: a large value (99)
gives the score before it, divided by all of a command's labels.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import asr.commands  # noqa: E402
from asr.commands import NONE, CommandConfig, CommandRecognizer  # noqa: E402
from asr.model import ASRModel, write_json_atomically  # noqa: E402
from features.manifest import read_corpus  # noqa: E402

COMMANDS = ["ONE FIVE TWO ONE SEVEN", "ONE FIVE TWO ONE THREE", "ENTER SEVEN", "ENTER FIVE"]
NEAR_MISS_PREFIXES = ("ONE FIVE ", "ENTER ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="default")
    parser.add_argument("--manifest", default=str(REPO.parent / "shared" / "data" / "an4" / "train" / "manifest.jsonl"))
    parser.add_argument("--max-dividing-labels", type=int, default=asr.commands.MAX_DIVIDING_LABELS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the figures and every accepted near miss here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    asr.commands.MAX_DIVIDING_LABELS = args.max_dividing_labels
    corpus = read_corpus(args.manifest)
    test = [u for u in corpus if u.text in COMMANDS]
    near_misses = [u for u in corpus if u.text not in COMMANDS and u.text.startswith(NEAR_MISS_PREFIXES)]
    recognizer = CommandRecognizer(ASRModel.load(args.base), CommandConfig(list(COMMANDS)))
    results = recognizer.recognize_files([u.audio for u in test + near_misses])
    on_test, on_misses = results[:len(test)], results[len(test):]
    accepted = [{"text": u.text, "as": r.command, "score": r.score}
                for u, r in zip(near_misses, on_misses) if r.command != NONE]
    summary = {"base": args.base, "max_dividing_labels": args.max_dividing_labels,
               "threshold": recognizer.config.threshold, "decoder_weight": recognizer.config.decoder_weight,
               "commands": COMMANDS, "n_test": len(test), "n_near_misses": len(near_misses),
               "accuracy": sum(r.command == u.text for u, r in zip(test, on_test)) / len(test),
               "false_accepts": len(accepted), "false_accept": len(accepted) / len(near_misses),
               "accepted": accepted,
               "errors": [{"text": u.text, "as": r.command, "score": r.score}
                          for u, r in zip(test, on_test) if r.command != u.text]}
    print(f"{args.base}, divisor at most {args.max_dividing_labels} labels, threshold {summary['threshold']}: "
          f"{summary['accuracy']:.1%} of {len(test)} commands; {len(accepted)} of {len(near_misses)} near misses "
          f"accepted ({summary['false_accept']:.1%})")
    for item in accepted:
        print(f"  accepted  {item['text']!r} as {item['as']!r} ({item['score']:.2f})")
    if args.json:
        write_json_atomically(Path(args.json), summary)


if __name__ == "__main__":
    main()
