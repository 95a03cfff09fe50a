"""Word timings and confidences from CTC posteriors, and subtitle formats.

The transcript (from any decoder) is force-aligned to the character link's posteriors with
torchaudio's CTC forced alignment; each word's span runs from its first character's first frame
to its last character's last frame, and its confidence is the mean posterior of its characters
along the alignment.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torchaudio.functional as AF

from asr.text import Vocabulary


@dataclass
class Word:
    word: str
    start: float  # seconds
    end: float
    confidence: float

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def align_words(log_probs: torch.Tensor, text: str, vocab: Vocabulary, frame_seconds: float) -> list[Word]:
    """Words of `text` with times, from (T, V) log-posteriors; [] when the text cannot be aligned."""
    words = text.split()
    if not words:
        return []
    targets = torch.tensor([vocab.encode(" ".join(words))], dtype=torch.int32)
    try:
        path, scores = AF.forced_align(log_probs[None].float(), targets, blank=vocab.blank)
    except RuntimeError:  # more labels than frames allow
        return []
    spans = AF.merge_tokens(path[0], scores[0].exp(), blank=vocab.blank)
    space = vocab.encode(" ")[0]
    aligned, current = [], []
    for span in spans + [None]:
        if span is None or span.token == space:
            if current:
                word = words[len(aligned)]
                confidence = sum(s.score * (s.end - s.start) for s in current) / sum(s.end - s.start for s in current)
                aligned.append(Word(word, current[0].start * frame_seconds, current[-1].end * frame_seconds,
                                    float(confidence)))
                current = []
        else:
            current.append(span)
    return aligned


def subtitle_cues(words: list[Word], max_seconds: float = 6.0, max_words: int = 12,
                  pause: float = 0.6) -> list[tuple[float, float, str]]:
    """Group words into cues, breaking at pauses, or at length limits."""
    cues, current = [], []
    for word in words:
        if current and (word.start - current[-1].end > pause or len(current) >= max_words
                        or word.end - current[0].start > max_seconds):
            cues.append(current)
            current = []
        current.append(word)
    if current:
        cues.append(current)
    return [(cue[0].start, cue[-1].end, " ".join(w.word for w in cue)) for cue in cues]


def format_srt(words: list[Word]) -> str:
    blocks = [f"{i}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n"
              for i, (start, end, text) in enumerate(subtitle_cues(words), 1)]
    return "\n".join(blocks)


def format_vtt(words: list[Word]) -> str:
    blocks = [f"{_clock(start, '.')} --> {_clock(end, '.')}\n{text}\n" for start, end, text in subtitle_cues(words)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def _clock(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
