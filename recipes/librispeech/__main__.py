"""LibriSpeech recipe: limited-supervision training, a LibriSpeech decoding LM, a WER table.

    python -m recipes.librispeech --root /data/LibriSpeech --download          # fetch + verify first
    python -m recipes.librispeech --root ../shared/data/librispeech/LibriSpeech \\
        --train-subset train-clean-100 --labeled 10min|1h|10h|all \\
        --extra ../shared/data/speechocean762/train/manifest.jsonl ../shared/data/an4/train/manifest.jsonl \\
        --test speechocean=../shared/data/speechocean762/test/manifest.jsonl --out exp/ls
    torchrun --standalone --nproc_per_node 2 -m recipes.librispeech ...       # data-parallel

Train: the `--labeled` split of `--train-subset` (speaker-balanced, nested, seeded; see
features/librispeech.py) plus every labeled utterance of the `--extra` manifests/folders.
Dev (model selection): `--dev` subsets or manifests; by default dev-clean and dev-other where they
exist under ROOT, else `--dev-speakers` whole speakers held out of the train subset before the
split. Test: every LibriSpeech dev/test subset under ROOT, plus `--test [NAME=]MANIFEST` sets.
The decoding lexicon and 3-gram LM come from `--lm-text` (LibriSpeech's lm-text by default) plus
the training transcripts.

Writes OUT/model, OUT/results.json (WER/CER per test set and decoder, the data used, the run's
numbers), OUT/data/*.jsonl (the exact sets) and OUT/<set>_<decoder>.json (per utterance).
Under torchrun the download and the LM/scoring run on rank 0; training runs on every rank.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from pathlib import Path

from asr.cli import add_training_options, exit_code_of, supervised_config
from asr.lm import write_decoding_lm
from features.librispeech import (
    BASE_URL,
    EVAL_SUBSETS,
    SUBSETS,
    limited_supervision,
    parse_split,
    prepare_librispeech,
    read_lm_text,
    read_speaker_sexes,
    read_subset,
    subset_present,
)
from features.manifest import Utterance, read_corpus, write_manifest
from recipes.common import LM_ORDER, add_ssl_options, score_sets, self_supervised_stage, unlabeled_audio
from training.supervised import train_supervised
from training.trainer import finish_distributed, init_distributed, save_results

log = logging.getLogger("recipes.librispeech")

REPO = Path(__file__).resolve().parents[2]
SHARED_LIBRISPEECH = REPO.parent / "shared" / "data" / "librispeech"
DEFAULT_LM_TEXT = SHARED_LIBRISPEECH / "lm-text" / "train-clean-100.txt"
DEV_SPEAKERS = 8  # held out of the train subset when ROOT has no dev-clean/dev-other

RECIPE_DEFAULTS = {"steps": 2400, "eval_every": 200}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recipes.librispeech", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(SHARED_LIBRISPEECH / "LibriSpeech"),
                        help="the LibriSpeech folder (holding train-clean-100/, test-clean/, ...)")
    parser.add_argument("--download", action="store_true",
                        help="fetch missing subsets from openslr (resumable, MD5-checked) into ROOT")
    parser.add_argument("--mirror", default=BASE_URL,
                        help="where the tarballs are (openslr mirrors: https://us.openslr.org/resources/12, "
                             "https://openslr.elda.org/resources/12)")
    parser.add_argument("--train-subset", default="train-clean-100", choices=SUBSETS)
    parser.add_argument("--labeled", default="all", type=_split_name,
                        help="labeled share of the train subset: 10min, 1h, 10h, all (or e.g. 30min)")
    parser.add_argument("--extra", nargs="+", action="extend", default=[], metavar="MANIFEST",
                        help="more labeled training data: manifest.jsonl files or corpus folders")
    parser.add_argument("--dev", nargs="+", action="extend", default=[], metavar="SET",
                        help="dev sets: subset names under ROOT, manifests or folders")
    parser.add_argument("--dev-speakers", type=int, default=DEV_SPEAKERS,
                        help="speakers held out of the train subset when there is no dev set")
    parser.add_argument("--test", nargs="+", action="extend", default=[], metavar="[NAME=]MANIFEST",
                        help="more test sets, scored beside ROOT's dev/test subsets")
    parser.add_argument("--max-test", type=int, default=None,
                        help="score at most this many utterances per test set (a seeded choice)")
    parser.add_argument("--lm-text", default=str(DEFAULT_LM_TEXT) if DEFAULT_LM_TEXT.exists() else None,
                        help="text for the decoding LM and lexicon (`ID TEXT` or plain lines); "
                             "'none': the training transcripts only")
    parser.add_argument("--lm-order", type=int, default=LM_ORDER)
    parser.add_argument("--lm-min-count", type=int, default=2,
                        help="drop n-grams (order 2 and up) seen fewer times: 2 makes LibriSpeech's "
                             "train-clean-100 3-gram 4.2 MB instead of 29 MB at about the same perplexity")
    parser.add_argument("--lm-mix", action="store_true",
                        help="one LM per text source (--lm-text with the LibriSpeech transcripts, each --extra "
                             "corpus's transcripts), mixed with weights fit on held-out text of each")
    parser.add_argument("--out", default="exp/ls")
    add_training_options(parser)  # with --init SSL_DIR: fine-tune on a self-supervised model
    add_ssl_options(parser)  # --chain unit,... without --init: SSL on --unlabeled + the train audio first
    parser.set_defaults(**RECIPE_DEFAULTS)
    return parser


def _split_name(value: str) -> str:
    parse_split(value)  # raises ValueError -> argparse's "invalid value" message
    return value


def _hash(seed: int, key: str) -> str:
    return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()


def hold_out_speakers(utterances: list[Utterance], n: int, seed: int) -> tuple[list[Utterance], list[Utterance]]:
    """(rest, held out): `n` whole speakers chosen by a seeded hash of their names."""
    speakers = sorted({str(u.speaker) for u in utterances}, key=lambda s: _hash(seed, s))
    held = set(speakers[:n])
    return [u for u in utterances if str(u.speaker) not in held], [u for u in utterances if str(u.speaker) in held]


def at_most(utterances: list[Utterance], n: int | None, seed: int) -> list[Utterance]:
    """The first `n` by a seeded hash of the id, in their original order."""
    if n is None or len(utterances) <= n:
        return utterances
    keep = {u.id for u in sorted(utterances, key=lambda u: _hash(seed, u.id))[:n]}
    return [u for u in utterances if u.id in keep]


def set_name(spec: str) -> tuple[str, str]:
    """`NAME=PATH` or `PATH` (named after its folders: .../speechocean762/test/manifest.jsonl ->
    speechocean762_test)."""
    if "=" in spec and not Path(spec).exists():
        name, _, path = spec.partition("=")
        return name, path
    path = Path(spec)
    parts = (path.parent if path.is_file() else path).parts
    return "_".join(parts[-2:]) if len(parts) >= 2 else (parts[-1] if parts else spec), spec


def read_set(root: Path, spec: str) -> list[Utterance]:
    """A subset name under ROOT, else a manifest or folder."""
    if spec in SUBSETS and subset_present(root, spec):
        return read_subset(root, spec)
    return read_corpus(spec)


def build_sets(args: argparse.Namespace) -> tuple[list[Utterance], list[Utterance], dict[str, list[Utterance]], dict]:
    """(train, dev, test sets, a description of what was used) from the arguments."""
    root = Path(args.root)
    subset = read_subset(root, args.train_subset)
    if not subset:
        raise FileNotFoundError(f"{root / args.train_subset}: no LibriSpeech transcripts")
    dev_specs = args.dev or [s for s in ("dev-clean", "dev-other") if subset_present(root, s)]
    if dev_specs:
        dev = [u for spec in dev_specs for u in read_set(root, spec)]
        dev_source = dev_specs
    else:
        subset, dev = hold_out_speakers(subset, args.dev_speakers, args.seed)
        dev_source = [f"{args.dev_speakers} speakers held out of {args.train_subset}"]
    labeled = limited_supervision(subset, args.labeled, seed=args.seed, sexes=read_speaker_sexes(root))
    extra = {spec: [u for u in read_corpus(spec) if u.text] for spec in args.extra}
    train = labeled + [u for utts in extra.values() for u in utts]

    tests = {s: read_subset(root, s) for s in EVAL_SUBSETS if subset_present(root, s)}
    for spec in args.test:
        name, path = set_name(spec)
        if name in tests:
            raise ValueError(f"two test sets named {name!r}; name one with NAME={path}")
        tests[name] = read_corpus(path)
    tests = {name: at_most([u for u in utts if u.text], args.max_test, args.seed) for name, utts in tests.items()}

    held = {u.audio for u in dev} | {u.audio for utts in tests.values() for u in utts}
    overlap = [u for u in train if u.audio in held]
    if overlap:
        log.warning("dropped %d training utterances that are also in a dev/test set (e.g. %s)",
                    len(overlap), overlap[0].id)
        train = [u for u in train if u.audio not in held]
    if not train:
        raise ValueError("no labeled training utterances")
    if not dev:
        raise ValueError("no dev utterances: pass --dev or lower --dev-speakers below the speaker count")
    durations = [u.duration for u in labeled]
    labeled_seconds = round(sum(durations), 1) if None not in durations else None  # None: "all", unread
    info = {
        "train_subset": args.train_subset, "labeled": args.labeled,
        "labeled_utterances": len(labeled), "labeled_speakers": len({u.speaker for u in labeled}),
        "labeled_seconds": labeled_seconds,
        "extra": {spec: len(utts) for spec, utts in extra.items()},
        "dev": dev_source, "dev_utterances": len(dev),
        "test": {name: len(utts) for name, utts in tests.items()},
    }
    return train, dev, tests, info


def decoding_lm(args: argparse.Namespace, model_dir: Path, train: list[Utterance]) -> dict:
    """Lexicon + n-gram LM from the LM text and the training transcripts, into the model folder.

    With --lm-mix, one LM per source (the LM text with the LibriSpeech transcripts, then each
    --extra corpus's transcripts) mixed with weights fit on held-out text; only the LM text's
    LM is pruned (--lm-min-count): the transcripts are small and in-domain."""
    lm_text = read_lm_text(args.lm_text) if args.lm_text and args.lm_text != "none" else []
    if not args.lm_mix:
        source = f"{args.lm_text} + training transcripts" if lm_text else "training transcripts"
        sentences = lm_text + [u.text for u in train if u.text]
        return {"lm_text": source, **write_decoding_lm(model_dir, sentences, args.lm_order, args.lm_min_count)}
    by_source: dict[str, list[str]] = {}
    extra_audio = {set_name(spec)[0]: {u.audio for u in read_corpus(spec)} for spec in args.extra}
    for utterance in train:
        name = next((n for n, audio in extra_audio.items() if utterance.audio in audio), "librispeech")
        by_source.setdefault(name, []).append(utterance.text)
    sources = {"librispeech": lm_text + by_source.pop("librispeech", []), **by_source}
    source = f"{args.lm_text} + LibriSpeech transcripts, mixed with " if lm_text else "mixed: "
    source += ", ".join(f"{name} transcripts" for name in by_source)
    min_counts = {"librispeech": args.lm_min_count}
    return {"lm_text": source, **write_decoding_lm(model_dir, sources, args.lm_order, min_counts)}


def fetch_data(args: argparse.Namespace, poll_seconds: float = 10.0) -> None:
    """Make sure the subsets are under ROOT (downloading with --download) before any rank joins
    the process group: a 6-GB download outlasts a collective's timeout, so under torchrun rank 0
    fetches while the others watch for the subsets to appear (each appears in one rename). If
    rank 0 fails, torchrun stops the others."""
    wanted = [args.train_subset] + [s for s in args.dev if s in SUBSETS]
    if args.download:
        wanted += [s for s in EVAL_SUBSETS if s not in wanted]
    if int(os.environ.get("RANK", "0")) == 0:
        prepare_librispeech(args.root, wanted, download_missing=args.download, base_url=args.mirror)
        return
    while not all(subset_present(args.root, s) for s in wanted):
        time.sleep(poll_seconds)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    started = time.perf_counter()
    out = Path(args.out)
    fetch_data(args)
    rank, _ = init_distributed()
    train, dev, tests, data_info = build_sets(args)
    ssl_summary = self_supervised_stage(args, train, out)
    data_info.update({"unlabeled_sources": args.unlabeled, "init": args.init})
    config = supervised_config(args, unlabeled_audio=True)  # at least the training audio itself
    if rank == 0:
        for name, utts in {"train": train, "dev": dev, **{f"test_{k}": v for k, v in tests.items()}}.items():
            write_manifest(utts, out / "data" / f"{name}.jsonl")
        print(f"train: {len(train)} utterances ({data_info['labeled_utterances']} from {args.train_subset} "
              f"{args.labeled}), dev: {len(dev)}, test: {data_info['test']}")

    summary = train_supervised(train, dev, out, config,
                               unlabeled_utts=unlabeled_audio(args, train) if config.ssl_weight > 0 else None)
    if rank == 0:
        model_dir = out / "model"
        lm_info = decoding_lm(args, model_dir, train)
        results = score_sets(model_dir, tests, out)
        results.update({k: summary[k] for k in ("train_seconds", "prepare_seconds", "steps", "best_step",
                                                "dev_wer", "trainable_params", "total_params",
                                                "trainable_share", "train_utterances", "distributed_world_size")})
        results["data"] = {**data_info, **lm_info}
        if ssl_summary:
            results["ssl"] = {k: ssl_summary[k] for k in ("utterances", "audio_minutes", "iterations", "total_seconds")}
        results["total_seconds"] = round(time.perf_counter() - started, 1)
        results["config"] = summary["config"]
        save_results(out / "results.json", results)
    finish_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(exit_code_of(main, "python -m recipes.librispeech"))
