"""Files in, text out: load, encode (packed windows), chain posteriors, CTC decoding, scoring."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from asr.alignment import Word, align_words, format_srt, format_vtt
from asr.decoding import build_decoder, mark_pauses
from asr.model import ASRModel
from asr.packing import encode_utterances
from asr.scoring import score
from features.audio import AudioError, load_audio
from features.manifest import Utterance

GROUP_SECONDS = 300.0  # audio decoded, encoded and decoded together: bounds memory for big batches
PAUSE_SECONDS = 0.4  # a silence this long separates words, whatever the chain says
LM_FILE = "lm.arpa"
WORDS_FILE = "words.txt"


@dataclass
class Transcript:
    path: str
    text: str = ""
    duration: float = 0.0
    error: str | None = None  # one line naming the file and the reason, when it failed
    words: list[Word] | None = None  # with timings, when asked for

    def to_dict(self) -> dict:
        data = asdict(self)
        data["words"] = None if self.words is None else [w.to_dict() for w in self.words]
        return data


@dataclass
class Transcriber:
    model: ASRModel
    decoder: str = "auto"  # "greedy", "beam" (lexicon + n-gram LM from the model folder), or "auto":
    # beam when the model folder holds its words.txt and lm.arpa, else greedy
    model_dir: str | None = None
    progress: bool = False
    timestamps: bool = False  # word timings and confidences by CTC forced alignment
    _decode: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        words, lm_path = None, None
        if self.decoder == "auto":
            has_lm = self.model_dir and (Path(self.model_dir) / LM_FILE).exists()
            self.decoder = "beam" if has_lm else "greedy"
        if self.decoder == "beam" and self.model_dir:
            words_file, lm_file = Path(self.model_dir) / WORDS_FILE, Path(self.model_dir) / LM_FILE
            words = words_file.read_text().split() if words_file.exists() else None
            lm_path = str(lm_file) if lm_file.exists() else None
        self._decode = build_decoder(self.decoder, self.model.output_vocabulary, words, lm_path)

    @classmethod
    def from_dir(cls, model_dir: str | os.PathLike, decoder: str = "auto", progress: bool = False,
                 timestamps: bool = False) -> "Transcriber":
        return cls(ASRModel.load(model_dir), decoder, str(model_dir), progress, timestamps)

    def transcribe_audio(self, audios: list[np.ndarray]) -> list[tuple[str, list[Word] | None]]:
        """Text of each 16-kHz mono signal, and its words with timings if `timestamps`."""
        frames = encode_utterances(self.model.encoder, audios)
        posteriors = self.model.posteriors(frames)
        texts = self._decode_all(posteriors)
        if not self.timestamps:
            return [(text, None) for text in texts]
        frame_seconds = self.model.config.chain.stack / self.model.encoder.frame_rate
        vocab = self.model.output_vocabulary
        return [(text, align_words(p, text, vocab, frame_seconds)) for text, p in zip(texts, posteriors)]

    def transcribe_files(self, paths: list[str]) -> list[Transcript]:
        """One Transcript per path, in order; a bad file gets its error and the rest go on."""
        results = [Transcript(str(p)) for p in paths]
        bar = tqdm(total=len(paths), disable=not self.progress, desc="transcribe", unit="file")
        group: list[tuple[int, np.ndarray]] = []
        seconds = 0.0
        for index, path in enumerate(paths):
            try:
                audio = load_audio(path)
            except AudioError as error:
                results[index].error = str(error)
                bar.update(1)
                continue
            results[index].duration = len(audio) / 16_000
            group.append((index, audio))
            seconds += results[index].duration
            if seconds >= GROUP_SECONDS:
                self._flush(group, results, bar)
                seconds = 0.0
        self._flush(group, results, bar)
        bar.close()
        return results

    def _flush(self, group: list[tuple[int, np.ndarray]], results: list[Transcript], bar: tqdm) -> None:
        if not group:
            return
        recognized = self.transcribe_audio([audio for _, audio in group])
        for (index, _), (text, words) in zip(group, recognized):
            results[index].text, results[index].words = text, words
        bar.update(len(group))
        group.clear()

    def _decode_all(self, posteriors: list[torch.Tensor]) -> list[str]:
        vocab = self.model.output_vocabulary
        pause_frames = round(PAUSE_SECONDS * self.model.encoder.frame_rate / self.model.config.chain.stack)
        texts = []
        for log_probs in posteriors:
            if " " in vocab.tokens:
                log_probs = mark_pauses(log_probs, vocab.blank, vocab.encode(" ")[0], pause_frames)
            texts.extend(self._decode.decode(log_probs[None], torch.tensor([log_probs.shape[0]])))
        return texts


def render(transcript: Transcript, fmt: str) -> str:
    """One transcript as txt, json, srt or vtt text."""
    if fmt == "txt":
        return transcript.text
    if fmt == "json":
        return json.dumps(transcript.to_dict(), indent=2)
    words = transcript.words or []
    return format_srt(words) if fmt == "srt" else format_vtt(words)


def write_outputs(transcripts: list[Transcript], out_dir: str | os.PathLike, fmt: str) -> list[Path]:
    """OUT_DIR/<input name>.<fmt> for each transcribed file, each written atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for transcript in transcripts:
        if transcript.error:
            continue
        target = out_dir / f"{Path(transcript.path).stem}.{fmt}"
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(render(transcript, fmt) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        written.append(target)
    return written


def evaluate(transcriber: Transcriber, utterances: list[Utterance]) -> dict:
    """WER/CER over the labeled utterances, RTF over the audio actually transcribed.

    Files that fail to load are listed under "errors" and scored as empty hypotheses, so a broken
    file counts against the system instead of silently shrinking the test set.
    """
    labeled = [u for u in utterances if u.text is not None]
    started = time.perf_counter()
    transcripts = transcriber.transcribe_files([u.audio for u in labeled])
    elapsed = time.perf_counter() - started
    report = score([u.text for u in labeled], [t.text for t in transcripts], [u.id for u in labeled])
    audio_seconds = sum(t.duration for t in transcripts)
    report.update({
        "n": len(labeled),
        "audio_seconds": round(audio_seconds, 2),
        "elapsed_seconds": round(elapsed, 3),
        "rtf": round(elapsed / audio_seconds, 5) if audio_seconds else None,
        "decoder": transcriber.decoder,
        "errors": [t.error for t in transcripts if t.error],
    })
    return report
