"""Fit a model's zero-shot "none" threshold for voice commands, and optionally store it.

    python benchmarks/command_threshold.py [--base default] [--write]

Scores out-of-grammar *train* recordings (`recipes.general.threshold_negatives`: 500
speechocean762 sentences and every 5th AN4 utterance, none of them a lone digit) against the
ten FSDD digits with the base model, each encoded as `asr commands` encodes it. For each
source, the most permissive threshold on a 0.05 grid that accepts at most 1 % of it as a digit
(`asr.commands.fit_zero_shot_threshold_by_source`); it prints the strictest of them. With
`--write` the value goes into the model's config.json as `command_threshold`, which
`asr adapt` and `asr commands` then use instead of asr.commands.DEFAULT_THRESHOLD.
`python -m recipes.general --ship` does the same for the model it ships.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from asr.commands import DIGITS, fit_zero_shot_threshold_by_source  # noqa: E402
from asr.model import CONFIG_FILE, ASRModel, model_dir, write_json_atomically  # noqa: E402
from recipes.general.__main__ import SHARED, threshold_inputs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="default")
    parser.add_argument("--shared", default=str(SHARED))
    parser.add_argument("--max-accepted", type=float, default=0.01)
    parser.add_argument("--write", action="store_true", help="store the threshold in the model's config.json")
    args = parser.parse_args()
    model = ASRModel.load(args.base)
    sources = threshold_inputs(model, Path(args.shared))
    threshold = fit_zero_shot_threshold_by_source(model, DIGITS, sources, args.max_accepted)
    print(f"{args.base}: {sum(len(frames) for frames, _ in sources.values())} recordings; threshold {threshold} "
          f"(at most {args.max_accepted:.0%} accepted as a digit)")
    if args.write:
        model.config.command_threshold = threshold
        path = model_dir(args.base) / CONFIG_FILE
        write_json_atomically(path, model.config.to_dict())
        print(f"written to {path}")


if __name__ == "__main__":
    main()
