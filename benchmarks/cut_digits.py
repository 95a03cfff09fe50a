"""Digit words cut out of read sentences: a dev set of short, fast digits from many speakers.

FSDD's dev speakers (george, jackson) miss 5-7 of 450 at any setting, so no change aimed at
nicolas's short, fast digits can show on them (benchmarks/RESULTS.md, session 22). Sentences
that read digits out ("ENTER NINE ONE SIX NINE") hold such words from many other speakers. Each
sentence is force-aligned to its transcript on the default model's char posteriors
(asr.alignment.align_words, torchaudio's CTC forced alignment); every digit word is cut out with
`--pad` seconds either side and written as a 16-kHz WAV. The manifest written beside them also
lists FSDD's george and jackson, so that

    python benchmarks/cut_digits.py --out exp/cut_digits
    python -m recipes.commands --data exp/cut_digits --enroll-speakers george,jackson --shots 5 ...

enrolls the FSDD dev speakers and tests on the cut words. AN4 test and speechocean762 test are
not in the default model's training data.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import soundfile as sf
import torch
from tqdm import tqdm

from asr.alignment import align_words
from asr.commands import DIGITS
from asr.model import ASRModel
from asr.packing import encode_utterances
from asr.text import normalize_text
from features.audio import SAMPLE_RATE, load_audio
from features.manifest import read_corpus

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="exp/cut_digits")
    parser.add_argument("--sources", nargs="+", default=[f"an4={SHARED / 'an4/test/manifest.jsonl'}",
                                                         f"so762={SHARED / 'speechocean762/test/manifest.jsonl'}"])
    parser.add_argument("--fsdd", default=str(SHARED / "fsdd/manifest.jsonl"))
    parser.add_argument("--enroll-speakers", default="george,jackson")
    parser.add_argument("--pad", type=float, default=0.06, help="seconds kept either side of the aligned word")
    args = parser.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    model = ASRModel.load("default")
    vocab = model.output_vocabulary
    frame_seconds = model.config.chain.stack / model.encoder.frame_rate
    rows = [{"id": u.id, "audio": u.audio, "text": u.text, "speaker": u.speaker}
            for u in read_corpus(args.fsdd) if u.speaker in args.enroll_speakers.split(",")]
    for source in args.sources:
        name, manifest = source.split("=", 1)
        utterances = [u for u in read_corpus(manifest) if set(u.text.split()) & set(DIGITS)]
        for utt in tqdm(utterances, desc=name):
            audio = load_audio(utt.audio)
            frames = encode_utterances(model.encoder, [audio])
            log_probs = model.posteriors(frames)[0]
            words = align_words(log_probs, normalize_text(utt.text), vocab, frame_seconds)
            for index, word in enumerate(words):
                if word.word.upper() not in DIGITS:
                    continue
                first = max(0, int((word.start - args.pad) * SAMPLE_RATE))
                last = min(len(audio), int((word.end + args.pad) * SAMPLE_RATE))
                clip_id = f"{name}_{utt.id}_{index}"
                sf.write(out / "audio" / f"{clip_id}.wav", audio[first:last], SAMPLE_RATE)
                rows.append({"id": clip_id, "audio": f"audio/{clip_id}.wav", "text": word.word.upper(),
                             "speaker": f"{name}-{utt.speaker}", "duration": round((last - first) / SAMPLE_RATE, 3)})
    with open(out / "manifest.jsonl", "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    cut = [r for r in rows if "duration" in r]
    print(f"{out / 'manifest.jsonl'}: {len(cut)} cut digits from {len({r['speaker'] for r in cut})} speakers, "
          f"median {sorted(r['duration'] for r in cut)[len(cut) // 2]:.2f} s; {len(rows) - len(cut)} enrollment recordings")


if __name__ == "__main__":
    main()
