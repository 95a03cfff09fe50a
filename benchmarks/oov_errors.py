"""How many of a run's word errors fall on test words its lexicon never had.

    python benchmarks/oov_errors.py exp/ablation16/f0.1-a-s1 [RUN ...] [--decoder beam]

Reads RUN/test_<decoder>.json (a recipe's per-utterance report) and RUN/model/words.txt, aligns
each reference with its hypothesis (jiwer), and counts substitutions and deletions of reference
words inside and outside that lexicon. Errors on words outside it are the same for every model
that shares the lexicon: no acoustic model can fix them with a lexicon beam search.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import jiwer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--decoder", default="beam", choices=("beam", "greedy"))
    args = parser.parse_args()
    for run in map(Path, args.runs):
        lexicon = set((run / "model" / "words.txt").read_text().split())
        report = json.loads((run / f"test_{args.decoder}.json").read_text())["utterances"]
        output = jiwer.process_words([u["ref"] for u in report], [u["hyp"] for u in report])
        known = unknown = 0
        for reference, alignment in zip(output.references, output.alignments):
            for chunk in alignment:
                if chunk.type in ("substitute", "delete"):
                    missed = reference[chunk.ref_start_idx:chunk.ref_end_idx]
                    unknown += sum(word not in lexicon for word in missed)
                    known += sum(word in lexicon for word in missed)
        errors = output.substitutions + output.deletions + output.insertions
        print(f"{run}: {errors} word errors ({output.substitutions} S, {output.deletions} D, "
              f"{output.insertions} I); S+D on lexicon words {known}, on words outside it {unknown}")


if __name__ == "__main__":
    main()
