import numpy as np
import pytest
import soundfile as sf

from features.audio import SAMPLE_RATE, AudioError, load_audio, steady_tone
from features.manifest import labeled_subset, read_corpus, read_manifest, write_manifest
from tests.conftest import shared_or_skip, write_at_peak


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    utt = read_manifest(shared_or_skip("an4/test/manifest.jsonl"))[0]
    return load_audio(utt.audio)


@pytest.mark.parametrize("fmt,subtype,tolerance", [
    ("WAV", "PCM_16", 1e-4), ("FLAC", "PCM_16", 1e-4), ("OGG", "VORBIS", None), ("OGG", "OPUS", None),
    ("MP3", "MPEG_LAYER_III", None)])
def test_every_format_loads_to_the_same_speech(tmp_path, speech, fmt, subtype, tolerance):
    path = tmp_path / f"speech.{fmt.lower()}"
    rate = 48_000 if subtype == "OPUS" else SAMPLE_RATE  # Opus only runs at 48 kHz and below
    from features.audio import resample
    sf.write(path, resample(speech, SAMPLE_RATE, rate), rate, format=fmt, subtype=subtype)
    loaded = load_audio(path)
    assert loaded.dtype == np.float32 and loaded.ndim == 1
    if tolerance is not None:
        assert len(loaded) == len(speech)
        assert np.max(np.abs(loaded - speech)) < tolerance
    else:  # lossy codecs add delay/padding: compare the overlapping part by correlation
        from scipy.signal import correlate
        lag = int(np.argmax(correlate(loaded, speech, mode="full", method="fft"))) - (len(speech) - 1)
        assert 0 <= lag < SAMPLE_RATE // 10, lag
        overlap = min(len(loaded) - lag, len(speech))
        corr = np.corrcoef(loaded[lag:lag + overlap], speech[:overlap])[0, 1]
        assert corr > 0.9, (fmt, subtype, corr)


def test_stereo_is_mixed_down_and_rates_resampled(tmp_path, speech):
    stereo = np.stack([speech, 0.5 * speech], axis=1)
    sf.write(tmp_path / "stereo.wav", stereo, SAMPLE_RATE)
    assert np.allclose(load_audio(tmp_path / "stereo.wav"), 0.75 * speech, atol=1e-4)

    fsdd = read_corpus(shared_or_skip("fsdd/manifest.jsonl"))[0]
    assert sf.info(fsdd.audio).samplerate == 8000
    audio = load_audio(fsdd.audio)
    assert abs(len(audio) - 2 * sf.info(fsdd.audio).frames) <= 2


def test_bad_files_fail_with_one_line_naming_the_file(tmp_path, speech):
    cases = {}
    cases["missing.wav"] = None
    (tmp_path / "empty.wav").write_bytes(b"")
    cases["empty.wav"] = "empty file"
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 20)
    cases["notes.wav"] = "not a readable audio file"
    sf.write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    cases["zero.wav"] = "zero-length"
    sf.write(tmp_path / "silent.wav", np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    cases["silent.wav"] = "silent"
    sf.write(tmp_path / "whole.flac", speech, SAMPLE_RATE)
    data = (tmp_path / "whole.flac").read_bytes()
    (tmp_path / "truncated.flac").write_bytes(data[:len(data) // 3])
    cases["truncated.flac"] = ""
    for name, reason in cases.items():
        path = tmp_path / name
        with pytest.raises(AudioError) as caught:
            load_audio(path)
        message = str(caught.value)
        assert message.startswith(str(path)) and "\n" not in message, message
        assert reason is None or reason in message, message


def test_a_steady_tone_is_told_from_speech_and_from_speech_after_a_louder_beep(speech):
    seconds = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    silence = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    for hz in (50.0, 440.0, 1000.0, 3000.0):
        tone = np.concatenate([silence, 0.05 * np.sin(2 * np.pi * hz * seconds), silence]).astype(np.float32)
        assert abs(steady_tone(tone) - hz) <= 16  # the STFT's bins are 31.25 Hz apart
    assert steady_tone(speech) is None
    beep = (0.5 * np.sin(2 * np.pi * 1000 * seconds[: SAMPLE_RATE // 2])).astype(np.float32)  # louder than the speech
    assert steady_tone(np.concatenate([beep, silence, speech])) is None
    assert steady_tone(0.1 * np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32)) is None
    assert steady_tone(np.zeros(SAMPLE_RATE, dtype=np.float32)) is None and steady_tone(speech[:100]) is None


def test_a_floor_on_the_peak_refuses_a_quiet_file_and_names_its_level(tmp_path, speech):
    quiet = write_at_peak(tmp_path / "quiet.wav", speech, -70.0, SAMPLE_RATE)
    assert np.allclose(load_audio(tmp_path / "quiet.wav"), quiet)  # over the -80 dBFS silence floor
    with pytest.raises(AudioError, match=r"quiet.wav: too quiet \(peak -70 dBFS, under the -60 dBFS asked for\)"):
        load_audio(tmp_path / "quiet.wav", min_peak=10 ** (-60 / 20))
    assert len(load_audio(tmp_path / "quiet.wav", min_peak=10 ** (-60 / 20), allow_silent=True)) == len(quiet)


def test_manifest_round_trip_and_balanced_subset(tmp_path):
    utts = read_manifest(shared_or_skip("an4/train/manifest.jsonl"))
    write_manifest(utts[:50], tmp_path / "m.jsonl")
    again = read_manifest(tmp_path / "m.jsonl")
    assert again == utts[:50]
    subset = labeled_subset(utts, 0.1, seed=1)
    assert labeled_subset(list(reversed(utts)), 0.1, seed=1) == [u for u in reversed(utts) if u in subset]
    speakers = {u.speaker for u in utts}
    assert {u.speaker for u in subset} == speakers  # every speaker contributes
    assert 0.08 * len(utts) < len(subset) < 0.2 * len(utts)


def test_librispeech_layout_and_folders():
    root = shared_or_skip("librispeech/LibriSpeech/test-clean")
    utts = read_corpus(root)
    assert len(utts) == 4 and all(u.text and u.text.isupper() for u in utts)
    unlabeled = read_corpus(shared_or_skip("librispeech/unlabeled"))
    assert len(unlabeled) == 100 and all(u.text is None for u in unlabeled)


def test_overlong_files_are_refused_from_the_header_before_decoding(tmp_path, speech):
    sf.write(tmp_path / "long.wav", speech, SAMPLE_RATE)
    with pytest.raises(AudioError, match="over the"):
        load_audio(tmp_path / "long.wav", max_seconds=0.5)
