import threading
import time

import numpy as np
import pytest
import torch

from asr.encoder import FrozenEncoder
from asr.packing import (GAP_SECONDS, encode_pieces, encode_utterances, encode_with_context, map_windows, pack,
                         split_long)
from features.audio import load_audio
from features.manifest import read_manifest

HOP = 320


class BlockEncoder(FrozenEncoder):
    """A fixed-window 'encoder' whose frame t is the mean and peak of audio block t: any slicing
    mistake in packing shows up as a wrong value."""
    name = "block"
    sample_rate = 16_000
    window_samples = 100 * HOP
    dim = 2

    def frames_for(self, n_samples: int) -> int:
        return -(-n_samples // HOP)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        assert audio.shape[1] == self.window_samples
        blocks = audio.reshape(audio.shape[0], -1, HOP)
        return torch.stack([blocks.mean(-1), blocks.abs().amax(-1)], dim=-1)


def reference_frames(audio: np.ndarray) -> torch.Tensor:
    padded = np.pad(audio, (0, (-len(audio)) % HOP))
    blocks = torch.from_numpy(padded).reshape(-1, HOP)
    return torch.stack([blocks.mean(-1), blocks.abs().amax(-1)], dim=-1)


def test_long_pieces_tile_the_audio_exactly():
    for n in [1, 5000, 32000, 32001, 100_000, 333_333]:
        pieces = split_long(0, n, 100 * HOP, 10 * HOP, HOP)
        assert pieces[0].keep_start == 0 and pieces[-1].keep_end == n
        assert all(a.keep_end == b.keep_start for a, b in zip(pieces, pieces[1:]))
        assert all(p.audio_end - p.audio_start <= 100 * HOP for p in pieces)
        assert all(p.audio_start <= p.keep_start < p.keep_end <= p.audio_end for p in pieces)


def test_packing_fills_windows_without_overlap():
    rng = np.random.default_rng(0)
    pieces = [p for i, n in enumerate(rng.integers(500, 20_000, 40)) for p in split_long(i, int(n), 32000, 3200, HOP)]
    placed = pack(pieces, 32000, gap=640, hop=HOP)
    for window in {p.window for p in placed}:
        spans = sorted((p.offset, p.offset + p.audio_end - p.audio_start) for p in placed if p.window == window)
        assert spans[-1][1] <= 32000 and all(s % HOP == 0 for s, _ in spans)
        assert all(end + 640 <= start for (_, end), (start, _) in zip(spans, spans[1:]))
    total = sum(p.audio_end - p.audio_start for p in pieces)
    assert len({p.window for p in placed}) <= total / (32000 - 40 * 640 / 2) + 2  # packed densely


def test_sliced_frames_equal_each_utterance_encoded_alone():
    rng = np.random.default_rng(1)
    audios = [rng.standard_normal(int(n)).astype(np.float32) for n in [700, 3200, 15000, 31999, 90_001, 250_000]]
    frames = encode_utterances(BlockEncoder(), audios, batch_windows=3)
    for audio, got in zip(audios, frames):
        want = reference_frames(audio)
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-6)


class SpyEncoder(BlockEncoder):
    """BlockEncoder that keeps every window it was given."""

    def __init__(self):
        super().__init__()
        self.windows = []

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        self.windows.extend(audio.clone())
        return super().forward(audio)


def test_context_clips_follow_each_utterance_in_its_own_window():
    rng = np.random.default_rng(2)
    context = [rng.uniform(0.5, 1.0, n).astype(np.float32) for n in (5000, 7000, 9000)]
    audios = [rng.uniform(-0.4, 0.4, n).astype(np.float32) for n in (1000, 12_000, 31_000, 40_000)]
    encoder = SpyEncoder()  # 32,000-sample windows
    frames = encode_with_context(encoder, audios, context)
    for audio, got in zip(audios, frames):  # block-local frames: the utterance's own, whatever the context
        assert torch.allclose(got, reference_frames(audio), atol=1e-6)
    gap = int(GAP_SECONDS * 16_000)
    first, second, third = encoder.windows[:3]
    assert torch.equal(first[:1000], torch.from_numpy(audios[0]))
    at = -(-(1000 + gap) // HOP) * HOP  # each clip starts on a frame boundary, a gap after the last
    for clip in context[:2]:  # in order; the third no longer fits
        assert not first[at - gap:at].any() and torch.equal(first[at:at + len(clip)], torch.from_numpy(clip))
        at = -(-(at + len(clip) + gap) // HOP) * HOP
    assert not first[at - gap:].any()
    assert (second[12_000:] >= 0.5).sum() == 5000  # only the first clip fits after 12,000 samples
    assert not third[31_000:].any()  # no room for any clip
    assert len(encoder.windows) == 3 + 2  # the 40,000-sample one alone, in two windows
    no_context = SpyEncoder()
    encode_with_context(no_context, audios, [])  # each alone
    assert len(no_context.windows) == 5 and not no_context.windows[0][1000:].any()


def test_whisper_frames_of_packed_speech_match_speech_alone(an4_test_manifest):
    from asr.encoder import load_encoder
    encoder = load_encoder("whisper-tiny.en")
    utts = read_manifest(an4_test_manifest)[:6]
    audios = sorted((load_audio(u.audio) for u in utts), key=len, reverse=True)  # longest goes first
    packed = encode_utterances(encoder, audios)
    alone = encode_utterances(encoder, audios[:1])[0]
    assert packed[0].shape == alone.shape == (encoder.frames_for(len(audios[0])), encoder.dim)
    similarity = torch.nn.functional.cosine_similarity(packed[0], alone, dim=-1)
    # At the same offset, neighbours later in the window barely change an utterance's frames
    # (measured: mean cosine 0.98). Whisper's frames do depend strongly on the offset in the
    # window (about 0.5 between offsets). Transcription now gives each file a window of its own at
    # offset 0 (asr.transcribe), where this test's first utterance sits too.
    assert similarity.mean() > 0.95, similarity.mean()


def test_whisper_cut_windows_read_each_file_alone_in_its_own_length(an4_test_manifest):
    """'+cut': every file (and every packing path) gets a window of its own, as long as the file
    plus the encoder's pad, so its frames are the same whatever is passed with it."""
    from asr.encoder import CUT_PAD_SECONDS, load_encoder
    encoder = load_encoder("whisper-tiny.en+cut")
    assert encoder.cut_windows and encoder.name.endswith("+cut")
    audios = [load_audio(u.audio) for u in read_manifest(an4_test_manifest)[:4]]
    together = encode_utterances(encoder, audios)
    for audio, frames in zip(audios, together):
        alone = encode_utterances(encoder, [audio])[0]
        assert frames.shape == (encoder.frames_for(len(audio)), encoder.dim)
        assert torch.equal(frames, alone)
    with_context = encode_with_context(encoder, audios[:1], [])  # no context: the file alone
    assert torch.equal(with_context[0], together[0])
    streamed = encode_pieces(encoder, audios[:2])  # a long file's pieces take this path
    assert all(torch.equal(a, b) for a, b in zip(streamed, together[:2]))
    # The pad is what the encoder reads after the audio: a longer window gives other frames.
    window = encoder.cut_window(torch.from_numpy(audios[0])[None], encoder.cut_pad_samples)
    assert window.shape[-1] - len(audios[0]) in range(int(CUT_PAD_SECONDS * 16_000), int(CUT_PAD_SECONDS * 16_000) + 320)
    longer = torch.nn.functional.pad(window, (0, 16_000))
    with torch.inference_mode():
        other = encoder.encode_window(longer)[0, :len(together[0])]
    assert not torch.allclose(other, together[0], atol=1e-3)
    full = load_encoder("whisper-tiny.en")
    assert not torch.allclose(encode_utterances(full, audios[:1])[0], together[0], atol=1e-2)


def test_map_windows_keeps_order_bounds_work_ahead_and_restores_threads():
    threads_before = torch.get_num_threads()
    consumed: list[int] = []

    def items():
        for i in range(12):
            consumed.append(i)
            yield i

    def work(i: int) -> tuple[int, int, str]:
        time.sleep(0.02 * (i % 3))  # later items often finish first
        return i, torch.get_num_threads(), threading.current_thread().name

    results = []
    for result in map_windows(work, items(), workers=2):
        results.append(result)
        assert len(consumed) <= len(results) + 2  # never more than workers + 1 items taken
    assert [i for i, _, _ in results] == list(range(12))
    assert {threads for _, threads, _ in results} == {1}
    assert len({name for _, _, name in results}) == 2 and all(n.startswith("window") for _, _, n in results)
    assert torch.get_num_threads() == threads_before


def test_map_windows_raises_the_work_error_and_still_restores_threads():
    threads_before = torch.get_num_threads()

    def work(i: int) -> int:
        if i == 3:
            raise ValueError("bad window 3")
        return i

    with pytest.raises(ValueError, match="bad window 3"):
        list(map_windows(work, range(8), workers=2))
    assert torch.get_num_threads() == threads_before
    assert list(map_windows(work, range(3), workers=1)) == [0, 1, 2]
