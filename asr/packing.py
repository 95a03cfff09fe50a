"""Feed utterances of any length to an encoder trained on fixed windows.

Whisper's encoder was trained on 30-s windows; its features for unpadded short input are much
worse, yet padding each 2-s utterance to 30 s wastes ~15x compute. So short utterances are
packed, several to a window with a little silence between them, and each one's frames are sliced
back out. The encoder attends across the whole window, so a packed utterance's frames depend on
its neighbours: for utterances of a second or more little (AN4 test, greedy WER 3.86 % packed,
3.72 % each alone), for sub-second clips much (FSDD digits, zero-shot commands: 92.7 % packed
with other test clips, 75.3 % each alone; benchmarks/RESULTS.md, "One recording at a time").
Audio longer than a window is cut into overlapping windows; only the centre of each (the part
with context on both sides) is kept, so nothing is lost or doubled at the seams.

An encoder with `cut_windows` reads a window only as long as its audio: there nothing is packed
(each piece is a window of its own, about as cheap as packing) and each window is encoded alone,
so a file's frames never depend on the others.
"""
from __future__ import annotations

import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch
from tqdm import tqdm

GAP_SECONDS = 0.4  # silence between packed utterances
# Context kept either side of a long-audio chunk's centre. 5 s was 23 % slower on a 1-hour file
# for the same WER at seams (benchmarks/RESULTS.md, "One hour").
CONTEXT_SECONDS = 2.5
STREAM_WINDOW_SECONDS = 30.0  # pieces of long audio for encoders without a fixed window

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Piece:
    """A span of one utterance's audio, fed to the encoder at `offset` in window `window`."""
    item: int
    audio_start: int  # sample in the utterance where the fed audio starts
    audio_end: int
    keep_start: int  # samples of the utterance whose frames are kept (the piece's centre)
    keep_end: int
    window: int = -1
    offset: int = 0


def window_geometry(encoder: torch.nn.Module, align: int = 1) -> tuple[int, int, int]:
    """(window, context, hop) in samples: the encoder's window (or a nominal one for encoders
    that take any length), the context kept either side of a long-audio piece's centre, and the
    samples per encoder frame. Context and window are multiples of `align` frames."""
    window = encoder.window_samples or int(STREAM_WINDOW_SECONDS * encoder.sample_rate)
    hop = window // encoder.frames_for(window)
    step = hop * align
    context = min(int(CONTEXT_SECONDS * encoder.sample_rate), window // 6) // step * step
    assert window % step == 0 and context > 0, (window, step, context)
    return window, context, hop


def long_piece(item: int, keep_start: int, n_samples: int, window: int, context: int) -> Piece:
    """The piece of a long utterance whose kept centre starts at `keep_start`.

    `n_samples` may be any count of samples known to exist so far: once it reaches the piece's
    `audio_start + window`, the piece is what the whole utterance would give.
    """
    stride = window - 2 * context
    keep_end = min(keep_start + stride, n_samples)
    audio_start = max(0, keep_start - context)
    audio_end = min(n_samples, audio_start + window)
    return Piece(item, audio_start, audio_end, keep_start, keep_end)


def split_long(item: int, n_samples: int, window: int, context: int, hop: int) -> list[Piece]:
    """Cut an utterance into pieces no longer than `window`; kept centres tile it exactly."""
    if n_samples <= window:
        return [Piece(item, 0, n_samples, 0, n_samples)]
    stride = window - 2 * context
    assert stride > 0 and stride % hop == 0 and context % hop == 0
    return [long_piece(item, keep_start, n_samples, window, context) for keep_start in range(0, n_samples, stride)]


def stream_pieces(blocks: Iterable[np.ndarray], window: int, context: int, hop: int,
                  item: int = 0) -> Iterator[tuple[Piece, np.ndarray]]:
    """`split_long`'s pieces of a signal that arrives in blocks, each with its samples.

    The length is not needed in advance: a piece is given out as soon as its window is full (or
    the signal has ended). At most one window plus one block of samples is held at a time.
    """
    stride = window - 2 * context
    held = np.zeros(0, dtype=np.float32)
    held_start = 0  # sample of the signal where `held` starts
    keep_start = 0
    for block in blocks:
        held = np.concatenate([held, block]) if len(held) else np.asarray(block, dtype=np.float32)
        seen = held_start + len(held)
        while seen > window and max(0, keep_start - context) + window <= seen:
            piece = long_piece(item, keep_start, seen, window, context)
            yield piece, held[piece.audio_start - held_start:piece.audio_end - held_start]
            keep_start += stride
            drop = max(0, keep_start - context) - held_start
            held, held_start = held[drop:].copy(), held_start + drop
    n_samples = held_start + len(held)
    if n_samples == 0:
        return
    pieces = split_long(item, n_samples, window, context, hop)
    for piece in pieces:
        if piece.keep_start >= keep_start:
            yield piece, held[piece.audio_start - held_start:piece.audio_end - held_start]


def encode_pieces(encoder: torch.nn.Module, samples: list[np.ndarray]) -> list[torch.Tensor]:
    """Frames (frames_for(len), dim) of each piece of audio, each in a window of its own at
    offset 0 (padded to the encoder's window when it has one; an encoder with cut windows pads it
    itself, as little as it reads)."""
    if encoder.window_samples is None or encoder.cut_windows:
        return [_encode_whole(encoder, audio) for audio in samples]
    batch = torch.zeros(len(samples), encoder.window_samples)
    for row, audio in enumerate(samples):
        batch[row, :len(audio)] = torch.from_numpy(audio)
    with torch.inference_mode():
        frames = encoder.encode_first(batch, max(encoder.frames_for(len(audio)) for audio in samples))
    return [frames[row, :encoder.frames_for(len(audio))].float().clone() for row, audio in enumerate(samples)]


def pack(pieces: list[Piece], window: int, gap: int, hop: int) -> list[Piece]:
    """First-fit decreasing: assign each piece a window and a hop-aligned offset in it."""
    free: list[int] = []  # next free (hop-aligned) sample in each window
    placed = []
    for piece in sorted(pieces, key=lambda p: p.audio_end - p.audio_start, reverse=True):
        length = piece.audio_end - piece.audio_start
        for index, start in enumerate(free):
            if start + length <= window:
                break
        else:
            index, start = len(free), 0
            free.append(0)
        free[index] = _align_up(start + length + gap, hop)
        placed.append(Piece(**{**piece.__dict__, "window": index, "offset": start}))
    return placed


def encode_utterances(
    encoder: torch.nn.Module,
    audios: list[np.ndarray],
    batch_windows: int = 2,
    progress: bool = False,
) -> list[torch.Tensor]:
    """Frames (n_frames, dim) of each utterance, packed into as few encoder windows as fit.

    `encoder` follows asr.encoder.FrozenEncoder: `window_samples` (None for encoders that take any
    length), `frames_for(n_samples)`, forward(audio (B, samples)) -> (B, frames, dim), and
    `encode_first(audio, n)`, its first n frames (a window's frames past the last kept one are
    never needed).
    """
    if not audios:
        return []
    if encoder.window_samples is None:
        return [_encode_whole(encoder, audio) for audio in tqdm(audios, disable=not progress, desc="encode")]
    window, context, hop = window_geometry(encoder)
    gap = _align_up(int(GAP_SECONDS * encoder.sample_rate), hop)
    pieces = [p for i, audio in enumerate(audios) for p in split_long(i, len(audio), window, context, hop)]
    if encoder.cut_windows:  # a window each, as long as its piece
        placed, batch_windows = [replace(p, window=i) for i, p in enumerate(pieces)], 1
    else:
        placed = pack(pieces, window, gap, hop)
    n_windows = 1 + max(p.window for p in placed)
    by_window: list[list[Piece]] = [[] for _ in range(n_windows)]
    for piece in placed:
        by_window[piece.window].append(piece)

    kept: dict[int, list[tuple[int, torch.Tensor]]] = {i: [] for i in range(len(audios))}
    bar = tqdm(total=n_windows, disable=not progress, desc="encode", unit="window")
    for first in range(0, n_windows, batch_windows):
        group = by_window[first:first + batch_windows]
        used = max(p.offset + p.audio_end - p.audio_start for pieces_in in group for p in pieces_in)
        batch = torch.zeros(len(group), used if encoder.cut_windows else window)
        spans = []  # (row, piece, first kept frame, frames kept)
        for row, window_pieces in enumerate(group):
            for p in window_pieces:
                batch[row, p.offset:p.offset + p.audio_end - p.audio_start] = torch.from_numpy(
                    audios[p.item][p.audio_start:p.audio_end])
                start = (p.offset + p.keep_start - p.audio_start) // hop
                spans.append((row, p, start, encoder.frames_for(p.keep_end) - encoder.frames_for(p.keep_start)))
        with torch.inference_mode():
            frames = encoder.encode_first(batch, max(start + count for _, _, start, count in spans))
        for row, p, start, count in spans:
            kept[p.item].append((p.keep_start, frames[row, start:start + count].float().clone()))
        bar.update(len(group))
    bar.close()
    return [torch.cat([f for _, f in sorted(kept[i], key=lambda kf: kf[0])]) for i in range(len(audios))]


def encode_each_alone(encoder: torch.nn.Module, audios: Iterable[np.ndarray], workers: int = 1) -> list[torch.Tensor]:
    """Frames of each utterance with no other utterance in its windows: what one file gets, so a
    result never depends on which other files came with it (slower than packing short ones).
    `workers` > 1 encodes that many utterances at once, one torch thread each (`map_windows`)."""
    return list(map_windows(lambda audio: encode_utterances(encoder, [audio])[0], audios, workers))


def encode_with_context(encoder: torch.nn.Module, audios: Iterable[np.ndarray],
                        context: list[np.ndarray]) -> list[torch.Tensor]:
    """Frames of each utterance, encoded in a window of its own at offset 0 followed by as many
    of the `context` clips, in order, as fit (a gap before each).

    The window holds nothing but the utterance and the given context, so an utterance's frames
    never depend on the other utterances passed. asr.commands gives a command model's own
    enrollment recordings, or copies of the utterance itself: a sub-second clip encoded with them
    reads like the packed clips the chain was trained on, not like a clip alone in 30 s of
    padding (benchmarks/RESULTS.md, "Enrollment recordings as encoder context"). Utterances too
    long to share a window are encoded alone.
    """
    if not context or encoder.window_samples is None:
        return encode_each_alone(encoder, audios)
    window, _, hop = window_geometry(encoder)
    gap = _align_up(int(GAP_SECONDS * encoder.sample_rate), hop)
    results = []
    for audio in audios:
        start = _align_up(len(audio) + gap, hop)
        if start >= window:
            results.append(encode_utterances(encoder, [audio])[0])
            continue
        batch = torch.zeros(1, window)
        batch[0, :len(audio)] = torch.from_numpy(audio)
        used = len(audio)
        for clip in context:
            if start + len(clip) > window:
                break
            batch[0, start:start + len(clip)] = torch.from_numpy(clip)
            used = start + len(clip)
            start = _align_up(used + gap, hop)
        if encoder.cut_windows:
            batch = batch[:, :used]
        with torch.inference_mode():
            frames = encoder.encode_first(batch, encoder.frames_for(len(audio)))
        results.append(frames[0].float().clone())
    return results


def map_windows(work: Callable[[Item], Result], items: Iterable[Item], workers: int) -> Iterator[Result]:
    """`work` over `items` on `workers` threads of one torch thread each; results in input order.

    On 2 cores, two windows encoded at once on one thread each run 15 % faster than one window at
    a time on two threads: torch's small elementwise ops pay for every cross-thread hand-off
    (benchmarks/RESULTS.md, "One hour"). At most `workers` + 1 items are in flight, so memory
    stays bounded however many items there are. torch's thread count is restored afterwards.
    """
    if workers <= 1:
        yield from map(work, items)
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # each worker thread picks this up on its first parallel op
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="window") as pool:
            pending: deque = deque()
            for item in items:
                pending.append(pool.submit(work, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        torch.set_num_threads(threads)


def _encode_whole(encoder: torch.nn.Module, audio: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        return encoder(torch.from_numpy(audio)[None])[0].float().clone()


def _align_up(value: int, step: int) -> int:
    return int(math.ceil(value / step) * step)
