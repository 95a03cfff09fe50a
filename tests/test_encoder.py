"""The Whisper front-end and encoder equal the originals; the HF wrapper has the right shapes."""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from asr.encoder import (
    FrozenEncoder,
    HFEncoder,
    WhisperAudioEncoder,
    WhisperEncoder,
    WhisperEncoderConfig,
    default_whisper_dir,
    load_encoder,
    load_whisper_ct2,
    read_ct2_variables,
    sinusoids,
)
from features.audio import load_audio
from features.frontend import WINDOW_ENCODER_FRAMES, WINDOW_MEL_FRAMES, WINDOW_SAMPLES, log_mel_spectrogram, \
    mel_filters, pad_or_trim

AN4_TEST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "an4" / "test"


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """The longest of the first 20 AN4 test utterances, 16-kHz float32."""
    manifest = AN4_TEST / "manifest.jsonl"
    if not manifest.exists():
        pytest.skip(f"no real speech: {manifest} is absent (the shared AN4 data is not installed)")
    rows = [json.loads(line) for line in manifest.read_text().splitlines()[:20]]
    row = max(rows, key=lambda r: r["duration"])
    return load_audio(AN4_TEST / row["audio"])


@pytest.fixture(scope="module")
def whisper() -> WhisperAudioEncoder:
    return load_encoder("whisper-tiny.en")


def test_window_constants():
    assert (WINDOW_SAMPLES, WINDOW_MEL_FRAMES, WINDOW_ENCODER_FRAMES) == (480_000, 3000, 1500)


def test_pad_or_trim():
    audio = torch.arange(10.0)
    assert torch.equal(pad_or_trim(audio, 4), audio[:4])
    assert torch.equal(pad_or_trim(audio, 12), torch.cat([audio, torch.zeros(2)]))
    assert pad_or_trim(torch.zeros(3, 7), 5).shape == (3, 5)


def test_mel_filters_match_whisper():
    # faster-whisper's float64 copy of librosa.filters.mel (importing librosa itself takes seconds)
    feature_extractor = pytest.importorskip("faster_whisper.feature_extractor")
    for n_mels in (80, 128):
        expected = feature_extractor.FeatureExtractor.get_mel_filters(16_000, 400, n_mels)
        # torchaudio builds them in float32: the difference is float32 rounding of values <= 0.026
        np.testing.assert_allclose(mel_filters(n_mels).numpy(), expected, rtol=0, atol=1e-6)


def test_frontend_matches_faster_whisper(speech):
    faster_whisper = pytest.importorskip("faster_whisper.feature_extractor")
    window = pad_or_trim(torch.from_numpy(speech))
    ours = log_mel_spectrogram(window).numpy()
    theirs = faster_whisper.FeatureExtractor()(window.numpy(), padding=0)
    assert ours.shape == theirs.shape == (80, WINDOW_MEL_FRAMES)
    # Both are float32 FFTs (torch's vs numpy's); measured max difference is about 6e-6,
    # the same as between faster-whisper and transformers' WhisperFeatureExtractor.
    assert np.abs(ours - theirs).max() < 5e-5


def test_frontend_is_per_item_in_a_batch(speech):
    window = pad_or_trim(torch.from_numpy(speech))
    batch = torch.stack([window, 0.01 * window.flip(0)])
    together = log_mel_spectrogram(batch)
    assert together.shape == (2, 80, WINDOW_MEL_FRAMES)
    for item, features in zip(batch, together):
        torch.testing.assert_close(features, log_mel_spectrogram(item), rtol=0, atol=1e-5)


def test_whisper_encoder_matches_ctranslate2(speech, whisper):
    ctranslate2 = pytest.importorskip("ctranslate2")
    mel = log_mel_spectrogram(pad_or_trim(torch.from_numpy(speech)))[None]
    with torch.inference_mode():
        ours = whisper.encoder(mel).numpy()
    reference = ctranslate2.models.Whisper(default_whisper_dir(), device="cpu", compute_type="float32")
    theirs = np.array(reference.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    assert ours.shape == theirs.shape == (1, WINDOW_ENCODER_FRAMES, 384)
    assert np.abs(ours - theirs).max() < 1e-3  # measured about 2e-5 on outputs of magnitude ~12

    # Raw audio in, trimmed to the frames that cover it: the same numbers as the 30-s window.
    with torch.inference_mode():
        from_audio = whisper(torch.from_numpy(speech)[None]).numpy()
    frames = whisper.frames_for(len(speech))
    assert from_audio.shape == (1, frames, 384)
    np.testing.assert_allclose(from_audio, ours[:, :frames], rtol=0, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_whisper_first_frames_are_the_full_pass(speech, whisper, threads):
    # Packing and asr.commands keep only a window's first frames; the last block then skips the
    # rest. Only float32 rounding may differ (matrix products of other shapes): measured ~1e-5.
    window = pad_or_trim(torch.from_numpy(speech))
    batch = torch.stack([window, torch.roll(window, 48_000)])
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            full = whisper(batch)
            for n_frames in (1, 37, 900, 1500):
                first = whisper.encode_first(batch, n_frames)
                assert first.shape == (2, n_frames, 384)
                torch.testing.assert_close(first, full[:, :n_frames], rtol=0, atol=1e-4)
    finally:
        torch.set_num_threads(previous)


def test_whisper_frozen_interface(whisper):
    assert isinstance(whisper, FrozenEncoder)
    assert whisper.name == "whisper-tiny.en-ct2"
    facts = (whisper.sample_rate, whisper.frame_rate, whisper.dim, whisper.window_samples)
    assert facts == (16_000, 50.0, 384, 480_000)
    assert whisper.frames_for(480_000) == 1500 and whisper.frames_for(320) == 1 and whisper.frames_for(321) == 2
    assert not any(p.requires_grad for p in whisper.parameters())
    assert not whisper.train().training
    assert whisper.encoder.config == WhisperEncoderConfig(n_mels=80, n_ctx=1500, d_model=384, n_heads=6, n_layers=4)
    # The stored positional encodings are Whisper's sinusoids, rounded to fp16.
    assert (whisper.encoder.positional_embedding - sinusoids(1500, 384)).abs().max() < 1e-3


def test_long_audio_is_cut_into_windows():
    torch.manual_seed(0)
    small = WhisperEncoderConfig(n_mels=80, n_ctx=50, d_model=16, n_heads=2, n_layers=1)  # 1-s windows
    encoder = WhisperAudioEncoder(WhisperEncoder(small), name="tiny-random", max_windows=2)
    assert encoder.window_samples == 16_000
    audio = 0.1 * torch.randn(2, 40_000)
    with torch.inference_mode():
        out = encoder(audio)
        assert out.shape == (2, encoder.frames_for(40_000), 16) == (2, 125, 16)
        padded = torch.nn.functional.pad(audio, (0, 8_000))
        one_by_one = torch.cat([encoder.encode_window(w) for w in padded.split(16_000, dim=1)], dim=1)
    torch.testing.assert_close(out, one_by_one[:, :125], rtol=0, atol=1e-5)


def _write_ct2(path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> None:
    type_ids = {np.dtype("float32"): 0, np.dtype("int16"): 2, np.dtype("float16"): 4}

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    blob = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, value in variables.items():
        blob += string(name) + struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape)
        blob += struct.pack("<BI", type_ids[value.dtype], value.nbytes) + value.tobytes()
    blob += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        blob += string(alias) + string(target)
    path.write_bytes(blob)


def test_ct2_reader_roundtrip(tmp_path):
    weights = np.arange(6, dtype=np.float16).reshape(2, 3)
    _write_ct2(tmp_path / "model.bin",
               {"decoder/x": np.ones(4, np.float32), "encoder/w": weights, "encoder/num_heads": np.array(6, np.int16)},
               {"encoder/alias": "decoder/x"})
    spec, variables = read_ct2_variables(tmp_path / "model.bin", prefix="encoder/")
    assert spec == "WhisperSpec"
    assert set(variables) == {"encoder/w", "encoder/num_heads", "encoder/alias"}
    assert variables["encoder/w"].dtype == torch.float16
    assert torch.equal(variables["encoder/w"].float(), torch.from_numpy(weights).float())
    assert int(variables["encoder/num_heads"]) == 6 and variables["encoder/num_heads"].shape == ()
    assert torch.equal(variables["encoder/alias"], torch.ones(4))


def test_ct2_loader_gives_fp32_weights():
    encoder = load_whisper_ct2(default_whisper_dir())
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in encoder.state_dict().values())
    assert encoder.blocks[0].attn.qkv.weight.shape == (3 * 384, 384)


# --------------------------------------------------------------------------------------------
# Hugging Face encoders, from tiny random configs (no download)


def _tiny_wav2vec2_config(**overrides):
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                          **overrides)


def test_hf_wav2vec2_shapes_and_frames():
    torch.manual_seed(0)
    encoder = HFEncoder(_tiny_wav2vec2_config())
    assert (encoder.frame_rate, encoder.dim, encoder.window_samples) == (50.0, 32, None)
    assert encoder.name == "hf:random-wav2vec2"
    assert not encoder.use_attention_mask  # group-norm feature encoder: trained without masks
    assert [encoder.frames_for(n) for n in (400, 16_000, 24_000)] == [1, 49, 74]
    with torch.inference_mode():
        out = encoder(0.1 * torch.randn(2, 24_000))
    assert out.shape == (2, 74, 32)
    assert not any(p.requires_grad for p in encoder.parameters()) and not encoder.train().training


def test_hf_wav2vec2_padding_is_masked():
    torch.manual_seed(0)
    config = _tiny_wav2vec2_config(feat_extract_norm="layer", do_stable_layer_norm=True)
    encoder = HFEncoder(config)
    assert encoder.use_attention_mask and encoder.normalize
    short = 0.1 * torch.randn(16_000)
    batch = torch.stack([0.1 * torch.randn(24_000), torch.nn.functional.pad(short, (0, 8_000))])
    with torch.inference_mode():
        together = encoder(batch, lengths=torch.tensor([24_000, 16_000]))
        alone = encoder(short[None])
    frames = encoder.frames_for(16_000)
    torch.testing.assert_close(together[1, :frames], alone[0], rtol=0, atol=1e-4)


def test_hf_whisper_shapes_and_windows():
    from transformers import WhisperConfig

    torch.manual_seed(0)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64)
    encoder = HFEncoder(config, layer=1)
    assert (encoder.frame_rate, encoder.dim, encoder.window_samples) == (50.0, 32, 480_000)
    assert encoder.name == "hf:random-whisper@layer1"
    with torch.inference_mode():
        assert encoder(0.1 * torch.randn(1, 32_000)).shape == (1, 100, 32)
        assert encoder(0.1 * torch.randn(2, 500_000)).shape == (2, encoder.frames_for(500_000), 32) == (2, 1563, 32)


def test_load_encoder_from_local_hf_dir(tmp_path):
    from transformers import AutoModel

    AutoModel.from_config(_tiny_wav2vec2_config()).save_pretrained(tmp_path)
    encoder = load_encoder(str(tmp_path))
    assert isinstance(encoder, HFEncoder) and encoder.name == f"hf:{tmp_path}"
    with torch.inference_mode():
        assert encoder(torch.zeros(1, 16_000)).shape == (1, math.floor(16_000 / 320) - 1, 32)
    with pytest.raises(ValueError, match=r"\+cut"):
        load_encoder(f"{tmp_path}+cut")  # cut windows are Whisper's alone
