"""Voice-command demo on synthesized speech: nothing to download.

    python -m recipes.commands --demo --out exp/demo     # base: the shipped default model

espeak-ng (the `espeakng-loader` wheel) speaks each command in enrollment voices and, for the
test, in other voices (other language variants, voice variants, rates and pitches, none of them
enrolled), plus out-of-grammar phrases in the test voices. The recordings are written as
OUT/audio/{enroll,test,negatives}/..., the same layout `asr adapt --examples` reads. The demo
scores the base model zero-shot, adapts it to the enrollment recordings (as `asr adapt` does),
saves the command model to OUT/model, recognises the test and out-of-grammar recordings from
their files (as `asr commands` does), prints the result and writes OUT/results.json.

The base chain model is the package's default model unless `--base` names another model folder
with a char link on top (e.g. exp/an4/model, which README's set-up command trains).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.commands import NONE, AdaptConfig, CommandConfig, CommandRecognizer, adapt, read_examples
from asr.model import ASRModel, model_dir, write_json_atomically
from features.audio import SAMPLE_RATE
from features.synth import COMMAND_VOICES, Voice, available, synthesize
from recipes.commands.decisions import decision_rows, rows_calibration

COMMANDS = ["lights on", "lights off", "next slide", "go back", "volume up", "volume down",
            "play music", "stop"]
# Out-of-grammar phrases: everyday speech, and words that share sounds with the commands.
NEGATIVES = ["what time is it", "open the window", "good morning everyone", "how is the weather today",
             "coffee", "lighthouse", "next week", "call my sister", "seven", "turn the page"]
ENROLL_VOICES = COMMAND_VOICES[:3]  # what `asr adapt --synthesize 3` would speak the commands in
TEST_VOICES = [
    Voice("en-us", "f4", rate=165, pitch=70),
    Voice("en-029", "m5", rate=155, pitch=40),
    Voice("en-gb-x-rp", "f1", rate=180, pitch=55),
    Voice("en-us-nyc", "m7", rate=135, pitch=30),
    Voice("en-us", "klatt", rate=175, pitch=50),
    Voice("en", "m2", rate=200, pitch=60),
    Voice("en-us", "f5", rate=125, pitch=80, pitch_range=80),
    Voice("en-gb-x-rp", "m4", rate=160, pitch=45, pitch_range=20),
]


def folder_name(text: str) -> str:
    return text.replace(" ", "_")


def write_recordings(root: Path, texts: list[str], voices: list[Voice], nested: bool) -> list[tuple[str, str]]:
    """Synthesize each text in each voice; (path, text) pairs. nested: root/<text>/<voice>.wav."""
    pairs = []
    for text in texts:
        for voice in voices:
            path = (root / folder_name(text) / f"{voice.label()}.wav" if nested
                    else root / f"{folder_name(text)}__{voice.label()}.wav")
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, synthesize(text, voice), SAMPLE_RATE, subtype="PCM_16")
            pairs.append((str(path), text))
    return pairs


def score(recognizer: CommandRecognizer, test: list[tuple[str, str]], negatives: list[tuple[str, str]]) -> dict:
    results = recognizer.recognize_files([p for p, _ in test] + [p for p, _ in negatives])
    on_test, on_negatives = results[:len(test)], results[len(test):]
    per_command = {c: float(np.mean([r.command == t for r, (_, t) in zip(on_test, test) if t == c]))
                   for c in recognizer.config.commands}
    errors = [f"{Path(p).parent.name}/{Path(p).name}: {r.command} ({r.confidence:.2f})"
              for r, (p, t) in zip(on_test, test) if r.command != t]
    accepted = [f"{Path(p).name}: {r.command} ({r.confidence:.2f})"
                for r, (p, _) in zip(on_negatives, negatives) if r.command != NONE]
    return {"accuracy": float(np.mean([r.command == t for r, (_, t) in zip(on_test, test)])),
            "top1_accuracy": float(np.mean([r.best == t for r, (_, t) in zip(on_test, test)])),
            "false_accept": float(np.mean([r.command != NONE for r in on_negatives])),
            "per_command": per_command, "errors": errors, "false_accepted": accepted,
            "threshold": round(recognizer.config.threshold, 4),
            "calibration": rows_calibration(decision_rows(on_test, [t for _, t in test], {"negatives": on_negatives}))}


def run_demo(base: str, out: str, steps: int = AdaptConfig.steps, threads: int = 2) -> int:
    why = available()
    if why:
        print(f"demo: {why}")
        return 2
    if not (model_dir(base) / "config.json").exists():
        print(f"demo: no base model at {base}. Train one first (README's set-up, about 8 min on 2 cores):\n"
              f"    python -m recipes.an4 --data ../shared/data/an4 --out exp/an4\n"
              f"or point --base at any chain model folder with a char link on top.")
        return 2
    started = time.perf_counter()
    root = Path(out)
    audio = root / "audio"
    print(f"synthesizing {len(COMMANDS)} commands x {len(ENROLL_VOICES)} enrollment voices, "
          f"x {len(TEST_VOICES)} test voices, and {len(NEGATIVES)} out-of-grammar phrases ...", flush=True)
    write_recordings(audio / "enroll", COMMANDS, ENROLL_VOICES, nested=True)
    test = write_recordings(audio / "test", COMMANDS, TEST_VOICES, nested=True)
    negatives = write_recordings(audio / "negatives", NEGATIVES, TEST_VOICES, nested=False)
    synth_seconds = time.perf_counter() - started

    print("zero-shot (base model, command text only) ...", flush=True)
    zero = score(CommandRecognizer(ASRModel.load(base), CommandConfig(list(COMMANDS))), test, negatives)
    print(f"adapting to {len(ENROLL_VOICES)} recordings a command ...", flush=True)
    examples = read_examples(audio / "enroll", COMMANDS)
    # Its enrollment recordings are those voices already: no more synthesized on top.
    summary = adapt(base, COMMANDS, examples, root / "model",
                    AdaptConfig(steps=steps, threads=threads, synthesized_voices=0))
    adapted = score(CommandRecognizer.load(root / "model"), test, negatives)

    k = str(len(ENROLL_VOICES))
    results = {
        "commands": COMMANDS, "negatives": NEGATIVES,
        "enroll_voices": [v.label() for v in ENROLL_VOICES], "test_speakers": [v.label() for v in TEST_VOICES],
        "n_test": len(test), "n_negatives": len(negatives),
        "accuracy": {"0": round(zero["accuracy"], 4), k: round(adapted["accuracy"], 4)},
        "false_accepts": {"0": round(zero["false_accept"], 4), k: round(adapted["false_accept"], 4)},
        "false_accept": adapted["false_accept"], "threshold": adapted["threshold"],
        "adapt_seconds": summary["adapt_seconds"], "trainable_params": summary["trainable_params"],
        "runs": {"0": zero, k: {**adapted, **summary}},
        "synth_seconds": round(synth_seconds, 1), "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_json_atomically(root / "results.json", results)

    print()
    print(f"Voice-command demo: {len(COMMANDS)} commands, enrolled from {len(ENROLL_VOICES)} synthetic voices, "
          f"tested on {len(TEST_VOICES)} others ({len(test)} recordings) and {len(negatives)} out-of-grammar ones")
    print(f"{'command':<14} {'zero-shot':>9} {'adapted':>8}")
    for command in COMMANDS:
        print(f"{command:<14} {zero['per_command'][command]:>9.0%} {adapted['per_command'][command]:>8.0%}")
    print(f"{'accuracy':<14} {zero['accuracy']:>9.1%} {adapted['accuracy']:>8.1%}")
    print(f"{'false accepts':<14} {zero['false_accept']:>9.1%} {adapted['false_accept']:>8.1%}")
    print(f"{'confidence ECE':<14} {zero['calibration']['ece']:>9.3f} {adapted['calibration']['ece']:>8.3f}"
          f"   (calibration error over all {len(test) + len(negatives)} answers)")
    print(f"adaptation: {summary['trainable_params']:,} parameters, {summary['adapt_seconds']:.1f} s; "
          f"threshold {adapted['threshold']}; whole demo {results['total_seconds']:.0f} s")
    for line in adapted["errors"][:10]:
        print(f"  missed  {line}")
    for line in adapted["false_accepted"][:10]:
        print(f"  accepted  {line}")
    print(f"command model: {root / 'model'}  (try: asr commands {root / 'model'} {test[0][0]})")
    print(f"results: {root / 'results.json'}")
    return 0

