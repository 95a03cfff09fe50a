"""Seconds of `adapt_recognizer` alone on a recipe run's k = 5 shots (its splits.json), from the
shipped default model, twice each, with the threshold it sets (the same each time if the
adaptation is deterministic); with --profile, a third run under cProfile shows where the time
goes (cumulative seconds, inflated by the profiler).

    python benchmarks/probes_s26/adapt_seconds.py exp/fsdd_s26_seed0 exp/kw3_s25 --profile
"""
import argparse
import cProfile
import json
import pstats

import asr.commands as commands
from asr.model import ASRModel
from features.audio import load_audio

PARTS = ("decoder_scores", "short_window_frames", "train_adapters", "encode_utterances", "time_stretch", "training_targets", "calibrate")

parser = argparse.ArgumentParser()
parser.add_argument("runs", nargs="+")
parser.add_argument("--profile", action="store_true")
args = parser.parse_args()
encoder = None
for run in args.runs:
    splits = json.load(open(f"{run}/splits.json"))
    shots = splits["shots"]["5"]
    audios = [load_audio(s["audio"]) for s in shots]
    labels = [splits["commands"].index(s["text"]) for s in shots]
    for attempt in range(3 if args.profile else 2):
        model = ASRModel.load("default", encoder)
        encoder = model.encoder
        recognizer = commands.CommandRecognizer(model, commands.CommandConfig(splits["commands"]))
        profile = cProfile.Profile() if attempt == 2 else None
        summary = (profile.runcall if profile else lambda f, *a: f(*a))(commands.adapt_recognizer, recognizer,
                                                                         audios, labels)
        print(f"{run}: {len(audios)} recordings, adapted in {summary['adapt_seconds']:.1f} s"
              f"{' (profiled)' if profile else ''}, threshold {summary['threshold']:.4f}", flush=True)
    if not args.profile:
        continue
    stats = pstats.Stats(profile).stats
    seconds = {name: max((v[3] for (_, _, function), v in stats.items() if function == name), default=0.0)
               for name in PARTS}
    print("  of which " + ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items()), flush=True)
