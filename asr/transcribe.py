"""Files in, text out: load, encode, chain posteriors, CTC decoding, word timings, scoring.

Two paths, by length. Files that fit one encoder window are read whole, each encoded in a window
of its own (or, with `pack`, several to a window: faster, but then a file's text depends on the
files packed beside it), and each one's posteriors decoded alone. Longer files
are streamed (`transcribe_stream`): read block by block (`features.audio.stream_audio`), cut into
overlapping windows as they arrive (`asr.packing.stream_pieces`), each window encoded and run
through the chain, and only its centre's posteriors kept, so they tile the file exactly; those
are cut into segments at pauses (`asr.decoding.PauseSegmenter`) and each segment is decoded and
aligned as soon as it is complete, its word times shifted to the file's clock. Memory stays
bounded by a window and a segment, whatever the file's length.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from tqdm import tqdm

from asr.alignment import Word, align_words, format_srt, format_vtt
from asr.decoding import BeamConfig, PauseSegmenter, build_decoder, mark_pauses
from asr.lm import LM_FILE, WORDS_FILE
from asr.model import ASRModel
from asr.model import model_dir as resolve_model_dir
from asr.packing import (Piece, encode_each_alone, encode_pieces, encode_utterances, map_windows, stream_pieces,
                         window_geometry)
from asr.scoring import score
from features.audio import SAMPLE_RATE, AudioError, audio_info, load_audio, stream_audio
from features.manifest import Utterance

GROUP_SECONDS = 300.0  # audio decoded, encoded and decoded together: bounds memory for big batches
PAUSE_SECONDS = 0.4  # a silence this long separates words, whatever the chain says
BEAM_FILE = "beam.json"  # beside a model: its tuned beam settings (lm_weight, word_score, ...)
SEGMENT_SECONDS = 30.0  # the longest stretch of a long file decoded at once when it has no pause


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
    workers: int | None = None  # windows encoded at once (a long file's, or short files' own), one torch
    # thread each; None: as many as torch has threads
    beam: BeamConfig | None = None  # beam search settings; from_dir reads MODEL/beam.json if there
    pack: bool = False  # short files several to an encoder window: about 5x less encoder time, but
    # the encoder attends across the window, so a file's text then depends on its neighbours
    # (benchmarks/RESULTS.md, "A file's text must not depend on the files beside it"). No effect
    # with a cut-window encoder (asr.encoder.CUT_SUFFIX): each file alone costs about as little.
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
        config = self.beam if self.decoder == "beam" else None
        self._decode = build_decoder(self.decoder, self.model.output_vocabulary, words, lm_path, config)

    @classmethod
    def from_dir(cls, model_dir: str | os.PathLike, decoder: str = "auto", progress: bool = False,
                 timestamps: bool = False, pack: bool = False) -> "Transcriber":
        folder = resolve_model_dir(model_dir)
        return cls(ASRModel.load(folder), decoder, str(folder), progress, timestamps,
                   beam=read_beam_config(folder), pack=pack)

    def transcribe_audio(self, audios: list[np.ndarray]) -> list[tuple[str, list[Word] | None]]:
        """Text of each 16-kHz mono signal, and its words with timings if `timestamps`.

        Signals that fit one encoder window get a window each (packed together with `pack`);
        longer ones are streamed.
        """
        window = self._geometry()[0]
        results: list[tuple[str, list[Word] | None]] = [("", None)] * len(audios)
        short = [i for i, audio in enumerate(audios) if len(audio) <= window]
        if short:
            clips = [audios[i] for i in short]
            frames = (encode_utterances(self.model.encoder, clips) if self.pack
                      else encode_each_alone(self.model.encoder, clips, self.workers or torch.get_num_threads()))
            for i, log_probs in zip(short, self.model.posteriors(frames)):
                results[i] = self.recognize(log_probs)
        for i, audio in enumerate(audios):
            if len(audio) > window:
                text, words, _ = self.transcribe_stream([audio])
                results[i] = (text, words)
        return results

    def transcribe_stream(self, blocks: Iterable[np.ndarray], seconds: float | None = None,
                          name: str = "") -> tuple[str, list[Word] | None, int]:
        """Text, words (if `timestamps`) and sample count of a 16-kHz signal given as blocks.

        `seconds`, when known, sizes the progress bar.
        """
        encoder = self.model.encoder
        stack = self.model.config.chain.stack
        window, context, hop = self._geometry()
        step = hop * stack  # samples per chain frame
        vocab = self.model.output_vocabulary
        segmenter = PauseSegmenter(vocab.blank, self._boundary(), self._pause_frames(),
                                   round(SEGMENT_SECONDS * SAMPLE_RATE / step))
        texts: list[str] = []
        words: list[Word] | None = [] if self.timestamps else None
        frame_seconds = step / SAMPLE_RATE
        n_samples = 0

        def decode_segments(segments: Iterable[tuple[int, torch.Tensor]]) -> None:
            for first, log_probs in segments:
                text, segment_words = self.recognize(log_probs)
                if text:
                    texts.append(text)
                if words is not None:
                    words.extend(_shifted(segment_words, first * frame_seconds))

        bar = tqdm(total=seconds and round(seconds), disable=not self.progress, desc=name or "stream",
                   unit="s", leave=False)
        def window_posteriors(piece_and_samples: tuple[Piece, np.ndarray]) -> tuple[Piece, torch.Tensor]:
            piece, samples = piece_and_samples
            return piece, self.model.posteriors(encode_pieces(encoder, [samples]))[0]

        workers = self.workers or torch.get_num_threads()
        pieces = stream_pieces(blocks, window, context, hop)
        for piece, log_probs in map_windows(window_posteriors, pieces, workers):
            first = (piece.keep_start - piece.audio_start) // step
            last = (log_probs.shape[0] if piece.keep_end == piece.audio_end
                    else (piece.keep_end - piece.audio_start) // step)
            decode_segments(segmenter.push(log_probs[first:last]))
            bar.update(round(piece.keep_end / SAMPLE_RATE) - round(n_samples / SAMPLE_RATE))
            n_samples = piece.keep_end
        decode_segments(segmenter.finish())
        bar.close()
        return " ".join(texts), words, n_samples

    def transcribe_files(self, paths: list[str]) -> list[Transcript]:
        """One Transcript per path, in order; a bad file gets its error and the rest go on.

        Files longer than one encoder window are streamed, one at a time; shorter ones are read
        whole and transcribed in groups of about GROUP_SECONDS.
        """
        results = [Transcript(str(p)) for p in paths]
        bar = tqdm(total=len(paths), disable=not self.progress, desc="transcribe", unit="file")
        group: list[tuple[int, np.ndarray]] = []
        seconds = 0.0
        window_seconds = self._geometry()[0] / SAMPLE_RATE
        for index, path in enumerate(paths):
            try:
                info = audio_info(path)
                if info.duration > window_seconds:
                    text, words, n_samples = self.transcribe_stream(
                        stream_audio(path), info.duration, Path(path).name)
                    results[index].text, results[index].words = text, words
                    results[index].duration = n_samples / SAMPLE_RATE
                    bar.update(1)
                    continue
                audio = load_audio(path)
            except AudioError as error:
                results[index].error = str(error)
                bar.update(1)
                continue
            results[index].duration = len(audio) / SAMPLE_RATE
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

    def recognize(self, log_probs: torch.Tensor) -> tuple[str, list[Word] | None]:
        """Text of one sequence of (T, V) log-posteriors, pauses made word boundaries, and its
        words timed from its first frame when `timestamps`."""
        vocab = self.model.output_vocabulary
        marked = log_probs
        if " " in vocab.tokens:
            marked = mark_pauses(log_probs, vocab.blank, self._boundary(), self._pause_frames())
        text = self._decode.decode(marked[None], torch.tensor([marked.shape[0]]))[0]
        if not self.timestamps:
            return text, None
        frame_seconds = self.model.config.chain.stack / self.model.encoder.frame_rate
        return text, align_words(log_probs, text, vocab, frame_seconds)

    def _geometry(self) -> tuple[int, int, int]:
        return window_geometry(self.model.encoder, align=self.model.config.chain.stack)

    def _boundary(self) -> int:
        vocab = self.model.output_vocabulary
        return vocab.encode(" ")[0] if " " in vocab.tokens else -1

    def _pause_frames(self) -> int:
        return round(PAUSE_SECONDS * self.model.encoder.frame_rate / self.model.config.chain.stack)


def read_beam_config(folder: str | os.PathLike) -> BeamConfig | None:
    """MODEL/beam.json: beam settings tuned for this model (benchmarks/tune_beam.py), if any."""
    path = Path(folder) / BEAM_FILE
    if not path.exists():
        return None
    settings = json.loads(path.read_text())
    known = {f.name for f in fields(BeamConfig)}
    return BeamConfig(**{k: v for k, v in settings.items() if k in known})


def _shifted(words: list[Word] | None, seconds: float) -> list[Word]:
    return [Word(w.word, w.start + seconds, w.end + seconds, w.confidence) for w in words or []]


def render(transcript: Transcript, fmt: str) -> str:
    """One transcript as txt, json, srt or vtt text."""
    if fmt == "txt":
        return transcript.text
    if fmt == "json":
        return json.dumps(transcript.to_dict(), indent=2)
    words = transcript.words or []
    return format_srt(words) if fmt == "srt" else format_vtt(words)


def output_stems(paths: list[str]) -> list[str]:
    """A distinct output name (no suffix) per input file: its stem, with as many of its folders in
    front, joined by "__", as tell it apart from another input of the same stem (spk1/yes.wav and
    spk2/yes.wav -> spk1__yes, spk2__yes; yes.wav and yes.flac keep their suffixes)."""
    files = [Path(os.path.abspath(p)) for p in paths]  # not resolve(): a link is named as given

    def clashing(names: list[str]) -> set[int]:
        by_name: dict[str, set[Path]] = {}
        for name, file in zip(names, files):
            by_name.setdefault(name, set()).add(file)
        return {i for i, name in enumerate(names) if len(by_name[name]) > 1}

    parts = [[*f.parent.parts[1:], f.stem] for f in files]
    for i in clashing(["__".join(p) for p in parts]):  # the same path but for the suffix
        parts[i][-1] = files[i].name
    depth = [1] * len(files)
    names = [p[-1] for p in parts]
    while deeper := [i for i in clashing(names) if depth[i] < len(parts[i])]:
        for i in deeper:
            depth[i] += 1
        names = ["__".join(p[-d:]) for p, d in zip(parts, depth)]
    # alike even with every folder ("__" within folder names): numbered
    return [f"{name}-{i}" if i in clashing(names) else name for i, name in enumerate(names)]


def write_outputs(transcripts: list[Transcript], out_dir: str | os.PathLike, fmt: str) -> list[Path]:
    """OUT_DIR/<output_stems name>.<fmt> for each transcribed file, each written atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for transcript, stem in zip(transcripts, output_stems([t.path for t in transcripts])):
        if transcript.error:
            continue
        target = out_dir / f"{stem}.{fmt}"
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
        # short files shared encoder windows: their texts depend on each other (never with cut windows)
        "packed": transcriber.pack and not transcriber.model.encoder.cut_windows,
        "errors": [t.error for t in transcripts if t.error],
    })
    return report
