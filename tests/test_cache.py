import numpy as np
import soundfile as sf
import torch

from features.augment import change_speed, speed_copies
from features.manifest import Utterance
from tests.test_packing import BlockEncoder, reference_frames
from training.cache import FeatureCache, encode_corpus, file_key


class CountingEncoder(BlockEncoder):
    def __init__(self):
        super().__init__()
        self.windows = 0

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        self.windows += audio.shape[0]
        return super().forward(audio)


def test_frames_are_encoded_once_cached_by_content_and_recomputed_when_torn(tmp_path):
    rng = np.random.default_rng(0)
    audios = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (8000, 12000, 20000)]
    utts = []
    for i, audio in enumerate(audios):
        sf.write(tmp_path / f"u{i}.wav", audio, 16_000, subtype="FLOAT")
        utts.append(Utterance(f"u{i}", str(tmp_path / f"u{i}.wav"), "text"))
    (tmp_path / "bad.wav").write_text("not audio")
    utts.append(Utterance("bad", str(tmp_path / "bad.wav"), "text"))

    encoder = CountingEncoder()
    first = encode_corpus(utts, encoder, tmp_path / "cache", progress=False)
    assert [u.id for u in first.utterances] == ["u0", "u1", "u2"]
    assert len(first.errors) == 1 and "bad.wav" in first.errors[0]
    for audio, frames in zip(audios, first.frames):
        assert frames.dtype == torch.float16
        assert torch.allclose(frames.float(), reference_frames(audio), atol=1e-3)
    used = encoder.windows

    copy = tmp_path / "copy.wav"  # same bytes under another name: a cache hit
    copy.write_bytes((tmp_path / "u1.wav").read_bytes())
    again = encode_corpus(utts[:3] + [Utterance("copy", str(copy))], encoder, tmp_path / "cache", progress=False)
    assert encoder.windows == used and len(again.frames) == 4
    assert torch.equal(again.frames[3], first.frames[1])

    cache = FeatureCache(tmp_path / "cache", encoder.name)
    path = cache.path(file_key(utts[2].audio))
    path.write_bytes(path.read_bytes()[:40])  # torn
    healed = encode_corpus(utts[:3], encoder, tmp_path / "cache", progress=False)
    assert encoder.windows > used and torch.equal(healed.frames[2], first.frames[2])


def test_speed_perturbed_copies_are_real_speed_changes_cached_apart(tmp_path):
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32_000) / 16_000)).astype(np.float32)  # 2 s of A4
    sf.write(tmp_path / "tone.wav", tone, 16_000, subtype="FLOAT")
    original = Utterance("tone", str(tmp_path / "tone.wav"), "A", duration=2.0)
    utts = speed_copies([original], [0.9, 1.0, 1.1])
    assert [(u.id, u.speed) for u in utts] == [("tone", 1.0), ("tone-sp0.9", 0.9), ("tone-sp1.1", 1.1)]
    assert abs(utts[2].duration - 2.0 / 1.1) < 1e-9

    faster = change_speed(tone, 1.1)
    assert abs(len(faster) - len(tone) / 1.1) <= 2  # shorter by the factor ...
    spectrum = np.abs(np.fft.rfft(faster))
    assert abs(np.argmax(spectrum) * 16_000 / len(faster) - 484) < 2  # ... and higher in pitch by it

    encoder = CountingEncoder()
    corpus = encode_corpus(utts, encoder, tmp_path / "cache", progress=False)
    assert len({key.name for key in (tmp_path / "cache").rglob("*.npy")}) == 3
    lengths = [len(frames) for frames in corpus.frames]
    assert lengths[1] > lengths[0] > lengths[2]
    assert torch.allclose(corpus.frames[2].float(), reference_frames(faster), atol=1e-3)
