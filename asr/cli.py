"""The `asr` command: transcribe, evaluate, ssl, train, adapt, commands."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Callable

DEFAULT_ENCODER = "whisper-tiny.en"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asr", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("transcribe", help="transcribe audio files")
    p.add_argument("model", help="model folder (config.json + model.safetensors), or 'default': the shipped "
                                  "general English model")
    p.add_argument("audio", nargs="+", help="audio files (any format libsndfile reads) or folders of them")
    p.add_argument("--format", choices=["txt", "json", "srt", "vtt"], default="txt",
                   help="json, srt and vtt carry word timings (CTC forced alignment) and confidences")
    p.add_argument("--output-dir", help="write one OUTPUT_DIR/<name>.<format> per input instead of stdout")
    p.add_argument("--decoder", choices=["auto", "greedy", "beam"], default="auto",
                   help="auto: lexicon + LM beam search when the model folder has them, else greedy")
    p.add_argument("--pack", action="store_true", help=PACK_HELP)
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(run=transcribe_command)

    p = commands.add_parser("lm", help="a word lexicon and n-gram LM from your text, for a model's beam decoder")
    p.add_argument("model", help="model folder (or 'default' with --out)")
    p.add_argument("text", nargs="+", help="text files: a sentence a line, or LibriSpeech's `ID TEXT` lines")
    p.add_argument("--out", help="write a copy of the model with the new LM here instead of changing MODEL")
    p.add_argument("--order", type=int, default=3)
    p.add_argument("--min-count", type=int, default=1,
                   help="drop n-grams (order 2 and up) seen fewer times: a smaller LM")
    p.set_defaults(run=lm_command)

    p = commands.add_parser("evaluate", help="score a model on a labeled corpus (WER, CER, RTF)")
    p.add_argument("model")
    p.add_argument("data", help="manifest.jsonl, LibriSpeech folder, or folder of audio + .txt")
    p.add_argument("--json", help="write the full report (per-utterance errors included) here")
    p.add_argument("--decoder", choices=["auto", "greedy", "beam"], default="auto",
                   help="auto: lexicon + LM beam search when the model folder has them, else greedy")
    p.add_argument("--pack", action="store_true", help=PACK_HELP)
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(run=evaluate_command)

    p = commands.add_parser("train", help="train the chain on labeled speech (hierarchical CTC)")
    p.add_argument("--train", required=True, action="append", help="labeled corpus; repeat to mix")
    p.add_argument("--dev", action="append", default=[], help="dev corpus for model selection")
    p.add_argument("--out", required=True, help="output folder: OUT/model, OUT/checkpoint")
    p.add_argument("--unlabeled", action="append", default=[],
                   help="unlabeled audio (folder or manifest) for --ssl-weight; repeat to mix")
    add_training_options(p)
    p.set_defaults(run=train_command)

    p = commands.add_parser("ssl", help="self-supervised stage: learn the unit link from unlabeled audio")
    p.add_argument("--audio", required=True, action="append",
                   help="folder of audio, manifest or LibriSpeech folder (transcripts ignored); repeat to mix")
    p.add_argument("--out", required=True, help="output folder: OUT/model is what `asr train --init` takes")
    add_ssl_options(p)
    p.set_defaults(run=ssl_command)

    p = commands.add_parser("adapt", help="adapt a model to a few recordings of each voice command")
    p.add_argument("model", help="base model folder")
    p.add_argument("--commands", required=True, help="text file, one command a line")
    p.add_argument("--examples", default=None,
                   help="DIR/<command>/*.wav, or a manifest whose texts are commands (none: --synthesize alone)")
    p.add_argument("--out", required=True, help="command model folder to write")
    p.add_argument("--steps", type=int, default=None, help="adaptation steps (default: AdaptConfig's)")
    p.add_argument("--context-seconds", type=float, default=None,
                   help="seconds of the examples kept in the model as encoder context for each recording "
                        "(default: AdaptConfig's; 0: none), after copies of the recording itself")
    p.add_argument("--synthesize", type=int, default=None, metavar="VOICES",
                   help="also adapt to each command spoken by this many espeak-ng voices (default: AdaptConfig's; "
                        "without --examples: from the command text alone)")
    p.add_argument("--decoder-weight", type=float, default=None,
                   help="weight of Whisper's decoder's score of each command, added to the chain's (0: the chain "
                        "alone; default: the weight the base model's zero-shot threshold was fitted at)")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(run=adapt_command)

    p = commands.add_parser("commands", help="recognise voice commands (or 'none') with a command model")
    p.add_argument("model", help="command model folder (from asr adapt)")
    p.add_argument("audio", nargs="+")
    p.add_argument("--format", choices=["txt", "json"], default="txt")
    p.add_argument("--history", type=int, default=0, metavar="N",
                   help="the files are one speaker's, in the order given: read each after up to N of the ones "
                        "before it, which the encoder reads that speaker better with (default 0: each file "
                        "alone, its answer independent of the others)")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(run=commands_command)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    return exit_code_of(lambda: args.run(args), f"asr {args.command}")


PACK_HELP = ("short files several to an encoder window: about 5x faster on sub-30-s files, but a file's "
             "text then depends on the files packed beside it (default: a window each; no effect for a model "
             "trained on cut windows, whose window per file is as cheap)")


def exit_code_of(run: Callable[[], int], prog: str) -> int:
    """`run()`'s exit code; a bad model folder, manifest or commands file is one line naming it, and 2."""
    try:
        return run()
    except (OSError, ValueError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2


def add_training_options(p: argparse.ArgumentParser) -> None:
    from training.supervised import JOINT_SSL_WEIGHT, SupervisedConfig
    from training.trainer import TrainConfig
    model, train = SupervisedConfig(), TrainConfig()
    p.add_argument("--encoder", default=model.encoder,
                   help="whisper-tiny.en (+cut: each short file in a window cut to its length plus 1 s, "
                        "~8x less encoder time; a chain reads only frames of the mode it was trained on), "
                        "or an HF hub id / local path")
    p.add_argument("--chain", default=",".join(model.links), help="links bottom-up: char | phone,char")
    p.add_argument("--d-model", type=int, default=model.d_model)
    p.add_argument("--layers-per-link", type=int, default=model.layers_per_link)
    p.add_argument("--phone-weight", type=float, default=model.phone_weight)
    p.add_argument("--steps", type=int, default=train.max_steps)
    p.add_argument("--minutes", type=float, default=train.max_minutes, help="training time budget")
    p.add_argument("--lr", type=float, default=train.lr)
    p.add_argument("--warmup", type=int, default=train.warmup_steps)
    p.add_argument("--batch-frames", type=int, default=train.max_batch_frames)
    p.add_argument("--eval-every", type=int, default=train.eval_every)
    p.add_argument("--patience", type=int, default=train.patience)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (fast only on CPUs/GPUs with bf16 units)")
    p.add_argument("--no-spec-augment", action="store_true")
    p.add_argument("--speed-perturb", default="", metavar="F,F",
                   help="speed factors for extra copies of the training set, e.g. 0.9,1.1 (tempo and pitch)")
    p.add_argument("--threads", type=int, default=train.threads)
    p.add_argument("--seed", type=int, default=train.seed)
    p.add_argument("--cache-dir", default=model.cache_dir)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--init", help="SSL model folder (asr ssl): the chain starts with its unit link")
    p.add_argument("--freeze-ssl", action="store_true", help="with --init: do not train the SSL part")
    p.add_argument("--ssl-lr-scale", type=float, default=model.ssl_lr_scale,
                   help="with --init: learning-rate multiplier for the SSL part")
    p.add_argument("--ssl-weight", type=float, default=None,
                   help="with --init: keep the masked-unit loss on unlabeled audio (asr train: --unlabeled; recipes: "
                        f"theirs) at this weight while fine-tuning; default {JOINT_SSL_WEIGHT} where there is such "
                        "audio, else 0 (labels only)")


def add_ssl_options(p: argparse.ArgumentParser) -> None:
    from training.ssl import SSLConfig
    ssl = SSLConfig()
    p.add_argument("--encoder", default=ssl.encoder)
    p.add_argument("--units", type=int, default=ssl.units, help="k-means clusters")
    p.add_argument("--iterations", type=int, default=ssl.iterations,
                   help="> 1: re-cluster the unit link's own hidden states and train again")
    p.add_argument("--mask-prob", type=float, default=ssl.mask_prob)
    p.add_argument("--mask-span", type=int, default=ssl.mask_span, help="chain frames (40 ms each)")
    p.add_argument("--d-model", type=int, default=ssl.d_model)
    p.add_argument("--layers", type=int, default=ssl.layers)
    p.add_argument("--steps", type=int, default=ssl.train.max_steps, help="training steps per iteration")
    p.add_argument("--dev-share", type=float, default=ssl.dev_share,
                   help="share of the utterances held out to pick the best step")
    p.add_argument("--lr", type=float, default=ssl.train.lr)
    p.add_argument("--batch-frames", type=int, default=ssl.train.max_batch_frames)
    p.add_argument("--eval-every", type=int, default=ssl.train.eval_every)
    p.add_argument("--threads", type=int, default=ssl.train.threads)
    p.add_argument("--seed", type=int, default=ssl.train.seed)
    p.add_argument("--cache-dir", default=ssl.cache_dir)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def ssl_config(args: argparse.Namespace):
    from training.ssl import SSLConfig
    from training.trainer import TrainConfig
    train = TrainConfig(max_steps=args.steps, lr=args.lr, max_batch_frames=args.batch_frames,
                        eval_every=args.eval_every, checkpoint_every=args.eval_every, threads=args.threads,
                        seed=args.seed, progress=not args.quiet)
    return SSLConfig(encoder=args.encoder, units=args.units, iterations=args.iterations, mask_prob=args.mask_prob,
                     mask_span=args.mask_span, d_model=args.d_model, layers=args.layers, train=train,
                     dev_share=args.dev_share, cache_dir=args.cache_dir)


def supervised_config(args: argparse.Namespace, unlabeled_audio: bool = False):
    """The training options as a SupervisedConfig; `unlabeled_audio`: the caller has some for --ssl-weight."""
    from training.supervised import JOINT_SSL_WEIGHT, SupervisedConfig
    from training.trainer import TrainConfig
    train = TrainConfig(max_steps=args.steps, max_minutes=args.minutes, lr=args.lr, warmup_steps=args.warmup,
                        max_batch_frames=args.batch_frames, eval_every=args.eval_every,
                        checkpoint_every=args.eval_every, patience=args.patience, bf16=args.bf16,
                        threads=args.threads, seed=args.seed, progress=not args.quiet)
    config = SupervisedConfig(encoder=args.encoder, links=args.chain.split(","), d_model=args.d_model,
                              layers_per_link=args.layers_per_link, phone_weight=args.phone_weight,
                              train=train, cache_dir=args.cache_dir, init=args.init,
                              freeze_ssl=args.freeze_ssl, ssl_lr_scale=args.ssl_lr_scale,
                              ssl_weight=args.ssl_weight if args.ssl_weight is not None
                              else JOINT_SSL_WEIGHT if args.init and unlabeled_audio else 0.0,
                              speed_perturb=[float(f) for f in args.speed_perturb.split(",") if f.strip()])
    if args.no_spec_augment:
        config.spec_augment = None
    return config


def transcribe_command(args: argparse.Namespace) -> int:
    import torch
    from asr.transcribe import Transcriber, render
    from features.manifest import read_folder
    torch.set_num_threads(args.threads)
    paths: list[str] = []
    empty_folders: list[str] = []
    for path in args.audio:  # a folder stands for every audio file below it
        found = [u.audio for u in read_folder(path)] if Path(path).is_dir() else [path]
        paths += found
        if not found:
            empty_folders.append(path)
    for folder in empty_folders:
        print(f"error: {folder}: no audio files in this folder", file=sys.stderr)
    if not paths:
        return 2
    transcriber = Transcriber.from_dir(args.model, args.decoder, progress=len(paths) > 20 or sys.stderr.isatty(),
                                       timestamps=args.format != "txt", pack=args.pack)
    results = transcriber.transcribe_files(paths)
    for result in results:
        if result.error:
            print(f"error: {result.error}", file=sys.stderr)
    if args.output_dir:
        from asr.transcribe import write_outputs
        write_outputs(results, args.output_dir, args.format)
    elif args.format == "json":
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        good = [r for r in results if not r.error]
        for result in good:
            if len(good) > 1:
                print(f"==> {result.path} <==" if args.format != "txt" else f"{result.path}\t", end="\n" if args.format != "txt" else "")
            print(render(result, args.format))
    return 1 if empty_folders or any(r.error for r in results) else 0


def lm_command(args: argparse.Namespace) -> int:
    from asr.lm import write_decoding_lm
    from asr.model import DEFAULT_MODEL, ASRModel, model_dir
    from features.librispeech import read_lm_text
    source = model_dir(args.model)
    ASRModel.load(source)  # a real model folder, before any work
    if args.out is None and args.model == DEFAULT_MODEL:
        raise SystemExit("asr lm: the shipped default model is read-only; give --out DIR for a copy with your LM")
    sentences = [s for path in args.text for s in read_lm_text(path)]
    target = Path(args.out) if args.out else source
    if args.out:
        copy_model(source, target)
    info = write_decoding_lm(target, sentences, args.order, args.min_count)
    print(f"{target}: lexicon of {info['lm_words']:,} words, {info['lm_order']}-gram LM "
          f"({', '.join(f'{n:,}' for n in info['lm_ngrams'])} n-grams) from {info['lm_sentences']:,} sentences")
    return 0


def copy_model(source: Path, target: Path) -> None:
    """The model's own files (not its LM) into a fresh folder, swapped in whole."""
    import shutil
    from asr.model import write_dir_atomically
    files = [p for p in source.iterdir() if p.suffix in (".json", ".safetensors")]
    write_dir_atomically(target, {p.name: (lambda dst, src=p: shutil.copyfile(src, dst)) for p in files})


def evaluate_command(args: argparse.Namespace) -> int:
    import torch
    from asr.transcribe import Transcriber, evaluate
    from features.manifest import read_corpus
    from training.trainer import save_results
    torch.set_num_threads(args.threads)
    utterances = read_corpus(args.data)  # a bad corpus path fails before the model and LM load
    transcriber = Transcriber.from_dir(args.model, args.decoder, progress=True, pack=args.pack)
    report = evaluate(transcriber, utterances)
    for error in report["errors"]:
        print(f"error: {error}", file=sys.stderr)
    print(f"WER {100 * report['wer']:.2f}%  CER {100 * report['cer']:.2f}%  n={report['n']}  "
          f"RTF {report['rtf']}  ({report['decoder']})")
    if args.json:
        save_results(args.json, report)
    return 1 if report["errors"] else 0


def train_command(args: argparse.Namespace) -> int:
    from features.manifest import read_corpus
    from training.supervised import train_supervised
    from training.trainer import finish_distributed, save_results
    config = supervised_config(args, unlabeled_audio=bool(args.unlabeled))
    train_utts = [u for source in args.train for u in read_corpus(source)]
    dev_utts = [u for source in args.dev for u in read_corpus(source)]
    unlabeled_utts = [u for source in args.unlabeled for u in read_corpus(source)]
    summary = train_supervised(train_utts, dev_utts, args.out, config, unlabeled_utts=unlabeled_utts)
    save_results(Path(args.out) / "train_summary.json", summary)
    print(f"model: {Path(args.out) / 'model'}  dev WER {summary['dev_wer']:.4f}  "
          f"trainable {summary['trainable_params']:,} of {summary['total_params']:,} "
          f"({100 * summary['trainable_share']:.1f}%)")
    finish_distributed()
    return 0


def ssl_command(args: argparse.Namespace) -> int:
    from features.manifest import read_corpus
    from training.ssl import train_ssl
    from training.trainer import finish_distributed
    utterances = [u for source in args.audio for u in read_corpus(source)]
    summary = train_ssl(utterances, args.out, ssl_config(args))
    last = summary["iterations"][-1]
    print(f"SSL model: {Path(args.out) / 'model'}  {summary['utterances']} utterances, "
          f"{summary['audio_minutes']} min of audio, {len(summary['skipped'])} skipped; "
          f"dev masked-unit error {last['dev_masked_unit_error']:.3f}; {summary['total_seconds']} s")
    finish_distributed()
    return 0


def adapt_command(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from asr.commands import AdaptConfig, adapt, read_commands, read_examples
    commands = read_commands(args.commands)
    config = AdaptConfig(threads=args.threads)
    if args.steps is not None:
        config = replace(config, steps=args.steps)
    if args.context_seconds is not None:
        config = replace(config, context_seconds=args.context_seconds)
    if args.synthesize is not None:
        config = replace(config, synthesized_voices=args.synthesize)
    if args.examples is None and not config.synthesized_voices:
        print("asr adapt: give --examples, or --synthesize N to adapt from the command text alone", file=sys.stderr)
        return 2
    examples = read_examples(args.examples, commands) if args.examples else []
    summary = adapt(args.model, commands, examples, args.out, config, args.decoder_weight)
    for error in summary["skipped"]:
        print(f"error: {error}", file=sys.stderr)
    print(f"command model: {args.out}  {len(commands)} commands, {summary['recordings']} recordings"
          f" + {summary['synthesized_recordings']} synthesized, "
          f"{summary['trainable_params']:,} parameters trained in {summary['adapt_seconds']} s, "
          f"threshold {summary['threshold']:.3f} (zero-shot {summary['zero_shot_threshold']:.3f}; "
          f"the shots alone would give {summary['learned_threshold']:.3f})")
    return 1 if summary["skipped"] else 0


def commands_command(args: argparse.Namespace) -> int:
    import torch
    from asr.commands import CommandRecognizer, SpeakerHistory
    torch.set_num_threads(args.threads)
    history = SpeakerHistory(args.history) if args.history > 0 else None
    results = CommandRecognizer.load(args.model).recognize_files(args.audio, history=history)
    for result in results:
        if result.error:
            print(f"error: {result.error}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for result in results:
            if not result.error:
                print(f"{result.path}\t{result.command}\t{result.confidence:.3f}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
