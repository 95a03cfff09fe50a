"""Synthesized training speech: sentences spoken by seeded random espeak-ng voices."""
import random

import numpy as np
import pytest

from features.audio import load_audio
from features.manifest import read_corpus, write_manifest
from features.synth import random_voice, synthesize_corpus
from tests.conftest import espeak_or_skip


@pytest.fixture(autouse=True)
def espeak():
    espeak_or_skip()


def test_random_voices_are_seeded_and_varied():
    voices = [random_voice(random.Random(3)) for _ in range(2)]
    assert voices[0] == voices[1]
    many = [random_voice(random.Random(seed)) for seed in range(40)]
    assert len({v.name for v in many}) > 10 and len({v.rate for v in many}) > 10


def test_a_synthesized_corpus_is_whole_files_a_manifest_reads_back_and_a_rerun_keeps(tmp_path):
    texts = ["THE CAT SAT ON THE MAT", "it was a long way home"]
    utterances = synthesize_corpus(texts, tmp_path / "tts", random.Random(0))
    assert [u.text for u in utterances] == ["THE CAT SAT ON THE MAT", "IT WAS A LONG WAY HOME"]
    assert [u.id for u in utterances] == ["tts_00000", "tts_00001"]
    assert utterances[0].speaker != utterances[1].speaker  # each sentence its own voice
    for utt in utterances:
        audio = load_audio(utt.audio)  # 16 kHz mono float
        assert 0.8 < len(audio) / 16_000 < 5.0 and np.abs(audio).max() > 0.05
    assert not list((tmp_path / "tts").glob("*.part.*"))
    write_manifest(utterances, tmp_path / "tts" / "manifest.jsonl")
    assert read_corpus(tmp_path / "tts" / "manifest.jsonl") == utterances

    # A rerun with the same seed speaks nothing again and gives the same corpus; a file that is
    # not there (a run cut short) is spoken again, by the same voice as before.
    first = (tmp_path / "tts" / "tts_00000.flac").stat().st_mtime_ns
    (tmp_path / "tts" / "tts_00001.flac").unlink()
    again = synthesize_corpus(texts, tmp_path / "tts", random.Random(0))
    assert again == utterances
    assert (tmp_path / "tts" / "tts_00000.flac").stat().st_mtime_ns == first
    assert (tmp_path / "tts" / "tts_00001.flac").exists()
