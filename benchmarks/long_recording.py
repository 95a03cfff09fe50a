"""Long recordings: words lost or doubled at window seams, speed and peak memory.

Three commands:

    # 36 AN4 test utterances joined with 0.5-s pauses (110 s, four windows), transcribed whole
    # and piece by piece, in memory:
    python benchmarks/long_recording.py seams exp/an4/model --utterances 36

    # a ~1-hour file of real speech (AN4 test + LibriSpeech utterances, cycled, with 0.3-1.2-s
    # pauses), written block by block, and its reference (OUT.jsonl: where each utterance lies):
    python benchmarks/long_recording.py build /tmp/hour.flac --minutes 60

    # after `/usr/bin/time -v asr transcribe exp/an4/model /tmp/hour.flac --format srt > /tmp/hour.srt`:
    # WER of the whole file and of its utterances transcribed one by one, each against the
    # references and against each other; from a json transcript (word times) also split into
    # AN4 and LibriSpeech utterances, each into those that straddle a window seam and the rest
    python benchmarks/long_recording.py score exp/an4/model /tmp/hour.flac /tmp/hour.srt
"""
from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = ["an4/test/manifest.jsonl", "librispeech/LibriSpeech/test-clean",
           "librispeech/LibriSpeech/train-clean-100"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("seams", help="AN4 utterances joined in memory, whole vs pieces")
    p.add_argument("model")
    p.add_argument("--manifest", default=str(SHARED / "an4/test/manifest.jsonl"))
    p.add_argument("--utterances", type=int, default=36)
    p.add_argument("--decoder", default="greedy")
    p = commands.add_parser("build", help="write a long file of real speech and its reference")
    p.add_argument("out", help="audio file to write (its format from the suffix), OUT.jsonl beside it")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p = commands.add_parser("score", help="score a long file's transcript (srt, vtt, json or txt)")
    p.add_argument("model")
    p.add_argument("audio", help="the file written by `build` (its OUT.jsonl is read)")
    p.add_argument("transcript")
    p.add_argument("--decoder", default="auto", help="as the transcript was made (asr transcribe's default: auto)")
    p.add_argument("--json", help="write the report here too")
    args = parser.parse_args()
    {"seams": seams, "build": build, "score": score_transcript}[args.command](args)


def seams(args: argparse.Namespace) -> None:
    import torch

    from asr.scoring import score
    from asr.transcribe import Transcriber
    from features.audio import load_audio
    from features.manifest import read_manifest
    torch.set_num_threads(2)
    transcriber = Transcriber.from_dir(args.model, args.decoder)
    utts = read_manifest(args.manifest)[:args.utterances]
    pieces = [load_audio(u.audio) for u in utts]
    pause = np.zeros(8000, dtype=np.float32)
    whole = np.concatenate([np.concatenate([piece, pause]) for piece in pieces])
    (long_text, _), = transcriber.transcribe_audio([whole])
    separate = " ".join(text for text, _ in transcriber.transcribe_audio(pieces))
    reference = " ".join(u.text for u in utts)
    print(f"{len(whole) / 16000:.1f} s, {args.decoder}: WER whole file {100 * score([reference], [long_text])['wer']:.2f}%, "
          f"pieces {100 * score([reference], [separate])['wer']:.2f}%, "
          f"whole vs pieces {100 * score([separate], [long_text])['wer']:.2f}%")


def build(args: argparse.Namespace) -> None:
    """Utterances in a seeded random order, cycled until `minutes` are filled, each followed by
    a pause of 0.3-1.2 s; written block by block (never the whole file in memory)."""
    import soundfile as sf

    from features.audio import SAMPLE_RATE, load_audio
    from features.manifest import read_corpus
    utts = [u for source in SOURCES for u in read_corpus(SHARED / source) if u.text]
    rng = random.Random(args.seed)
    target = int(args.minutes * 60 * SAMPLE_RATE)
    out = Path(args.out)
    rows, position = [], 0
    with sf.SoundFile(str(out), "w", SAMPLE_RATE, 1, format=out.suffix[1:].upper(), subtype="PCM_16") as writer:
        while position < target:
            order = list(range(len(utts)))
            rng.shuffle(order)
            for index in order:
                if position >= target:
                    break
                audio = load_audio(utts[index].audio)
                pause = np.zeros(int(rng.uniform(0.3, 1.2) * SAMPLE_RATE), dtype=np.float32)
                writer.write(np.concatenate([audio, pause]))
                rows.append({"id": utts[index].id, "audio": str(utts[index].audio), "text": utts[index].text,
                             "start": round(position / SAMPLE_RATE, 3),
                             "end": round((position + len(audio)) / SAMPLE_RATE, 3)})
                position += len(audio) + len(pause)
    with open(out.with_suffix(".jsonl"), "w") as manifest:
        for row in rows:
            manifest.write(json.dumps(row) + "\n")
    print(f"{out}: {position / SAMPLE_RATE / 60:.1f} min, {len(rows)} utterances "
          f"({len({r['id'] for r in rows})} distinct), {sum(len(r['text'].split()) for r in rows)} words")


def transcript_text(path: str) -> str:
    """The words of an asr transcribe output: srt/vtt cue lines, json text, or plain text."""
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        data = json.loads(text)
        return " ".join(r["text"] for r in (data if isinstance(data, list) else [data]))
    if path.endswith((".srt", ".vtt")):
        keep = [line for line in text.splitlines()
                if line.strip() and line.strip() != "WEBVTT" and "-->" not in line and not re.fullmatch(r"\d+", line.strip())]
        return " ".join(keep)
    return text


def score_transcript(args: argparse.Namespace) -> None:
    import jiwer
    import torch

    from asr.scoring import score
    from asr.text import normalize_text
    from asr.transcribe import Transcriber
    torch.set_num_threads(2)
    rows = [json.loads(line) for line in Path(args.audio).with_suffix(".jsonl").read_text().splitlines()]
    whole = transcript_text(args.transcript)
    transcriber = Transcriber.from_dir(args.model, args.decoder)
    distinct = sorted({r["audio"] for r in rows})
    alone = dict(zip(distinct, (t.text for t in transcriber.transcribe_files(distinct))))
    pieces = " ".join(alone[r["audio"]] for r in rows)
    reference = " ".join(r["text"] for r in rows)
    versus = jiwer.process_words(normalize_text(pieces), normalize_text(whole))
    report = {
        "audio_minutes": round(rows[-1]["end"] / 60, 2), "utterances": len(rows),
        "reference_words": len(normalize_text(reference).split()), "decoder": transcriber.decoder,
        "wer_whole": round(score([reference], [whole])["wer"], 4),
        "wer_pieces": round(score([reference], [pieces])["wer"], 4),
        "wer_whole_vs_pieces": round(versus.wer, 4),
        "whole_vs_pieces_sub_del_ins": [versus.substitutions, versus.deletions, versus.insertions],
        "words_whole": len(normalize_text(whole).split()), "words_pieces": len(normalize_text(pieces).split()),
    }
    if args.transcript.endswith(".json"):
        report.update(seam_split(rows, args.transcript, alone, transcriber))
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


def seam_split(rows: list[dict], transcript: str, alone: dict[str, str], transcriber) -> dict:  # noqa: ANN001
    """Whole-file words given to utterances by their time; whole vs alone for the utterances
    that straddle a seam between two windows' kept centres, and for the others."""
    import jiwer

    from asr.packing import window_geometry
    from asr.text import normalize_text
    data = json.loads(Path(transcript).read_text())
    words = (data if isinstance(data, list) else [data])[0]["words"]
    window, context, _ = window_geometry(transcriber.model.encoder, transcriber.model.config.chain.stack)
    stride = (window - 2 * context) / 16_000
    bounds = [r["start"] for r in rows[1:]] + [float("inf")]  # an utterance owns up to the next one's start
    mine: list[list[str]] = [[] for _ in rows]
    index = 0
    for word in words:
        middle = (word["start"] + word["end"]) / 2
        while middle >= bounds[index]:
            index += 1
        mine[index].append(word["word"])
    groups: dict[str, tuple[list[str], list[str], list[str]]] = {}
    for row, hyp in zip(rows, mine):
        corpus = "an4" if "/an4/" in row["audio"] else "librispeech"
        straddles = int(row["start"] // stride) != int(row["end"] // stride)
        for name in (corpus, f"{corpus}_at_seam" if straddles else f"{corpus}_elsewhere"):
            refs, alones, hyps = groups.setdefault(name, ([], [], []))
            refs.append(normalize_text(row["text"]))
            alones.append(normalize_text(alone[row["audio"]]))
            hyps.append(normalize_text(" ".join(hyp)))
    report = {}
    for name, (refs, alones, hyps) in sorted(groups.items()):
        versus = jiwer.process_words(" ".join(alones), " ".join(hyps))
        report[name] = {"utterances": len(refs),
                        "wer_whole": round(jiwer.wer(" ".join(refs), " ".join(hyps)), 4),
                        "wer_pieces": round(jiwer.wer(" ".join(refs), " ".join(alones)), 4),
                        "whole_vs_pieces": round(versus.wer, 4),
                        "whole_vs_pieces_sub_del_ins": [versus.substitutions, versus.deletions, versus.insertions]}
    return report


if __name__ == "__main__":
    main()
