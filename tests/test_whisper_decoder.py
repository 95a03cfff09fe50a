"""Whisper's text decoder in PyTorch equals CTranslate2's, and scores command texts usefully."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.commands import DIGITS
from asr.encoder import default_whisper_dir, load_encoder
from asr.whisper_decoder import WhisperTextScorer, short_window_frames, written_forms
from features.audio import load_audio
from features.frontend import log_mel_spectrogram, pad_or_trim
from features.librispeech import read_subset
from features.manifest import read_corpus
from tests.conftest import shared_or_skip



@pytest.fixture(scope="module")
def scorer() -> WhisperTextScorer:
    return WhisperTextScorer()


def test_written_forms():
    assert written_forms("FIVE") == [" Five.", " Five", " five.", " five", " 5.", " 5"]
    assert written_forms("I SEE") == [" I see.", " I see"]
    assert written_forms("LIGHTS ON")[:4] == [" Lights on.", " Lights on", " lights on.", " lights on"]
    assert written_forms("CHANNEL TWELVE")[-2:] == [" channel 12.", " channel 12"]
    assert written_forms("") == []


def test_decoder_matches_ctranslate2_greedy_tokens_and_score(scorer):
    ctranslate2 = pytest.importorskip("ctranslate2")
    root = shared_or_skip("librispeech/LibriSpeech")
    utterance = read_subset(root, "test-clean")[1]
    mel = log_mel_spectrogram(pad_or_trim(torch.from_numpy(load_audio(utterance.audio))))[None]
    reference = ctranslate2.models.Whisper(default_whisper_dir(), device="cpu", compute_type="float32")
    encoded = np.array(reference.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    result = reference.generate(ctranslate2.StorageView.from_array(encoded), [scorer.prompt], beam_size=1,
                                suppress_blank=False, suppress_tokens=[], return_scores=True,
                                length_penalty=0)[0]
    tokens = result.sequences_ids[0]
    assert len(tokens) > 8
    sequence = torch.tensor([scorer.prompt + tokens + [scorer.end]])
    frames = torch.from_numpy(encoded[0])
    with torch.inference_mode():
        logits = scorer.decoder(sequence, scorer.decoder.memories(frames[None]))
    # Teacher-forced on CTranslate2's greedy output, ours picks the same token at every step.
    assert logits[0, len(scorer.prompt) - 1:-1].argmax(-1).tolist() == tokens + [scorer.end]
    ours = float(scorer.score_tokens(frames, [scorer.prompt + tokens + [scorer.end]])[0])
    assert ours == pytest.approx(result.scores[0], abs=1e-3)  # measured 1.5e-4 apart


def test_shared_prefixes_score_as_each_sequence_alone(scorer):
    """score_tokens runs only inputs that are not the prefix of another and projects each distinct
    prefix once; each score must equal its sequence's own teacher-forced pass."""
    frames = torch.randn(60, 384, generator=torch.Generator().manual_seed(0))
    texts = [form for digit in DIGITS[:4] + ["LIGHTS ON", "LIGHTS OFF"] for form in written_forms(digit)]
    sequences = [scorer.tokens(text) for text in texts] + [scorer.tokens(" Two")]  # a repeat
    assert any(a != b and b[:len(a) - 1] == a[:-1] for a in sequences for b in sequences)  # inputs to share
    with torch.inference_mode():
        alone = []
        for sequence in sequences:
            log_probs = scorer.decoder(torch.tensor([sequence]), scorer.decoder.memories(frames[None]))[0].log_softmax(-1)
            alone.append(sum(float(log_probs[t, sequence[t + 1]]) for t in range(len(scorer.prompt) - 1, len(sequence) - 1)))
    assert scorer.score_tokens(frames, sequences).tolist() == pytest.approx(alone, abs=1e-4)


def test_decoder_picks_the_spoken_digit_among_ten(scorer):
    """One FSDD recording per digit, speaker lucas (8 kHz, resampled): each scores its own digit
    highest, from the text alone, with nothing adapted."""
    manifest = shared_or_skip("fsdd/manifest.jsonl")
    rows = [u for u in read_corpus(manifest) if u.speaker == "lucas"]
    clips = [next(u for u in rows if u.text == digit) for digit in DIGITS]
    encoder = load_encoder()
    picked = []
    for clip in clips:
        frames = short_window_frames(encoder, torch.from_numpy(load_audio(clip.audio)), 2.0)
        assert frames.shape[1] == 384 and frames.shape[0] < 250  # the clip and 2 s (50 a second), not 30 s
        picked.append(DIGITS[int(scorer.score_phrases(frames, DIGITS).argmax())])
    assert picked == DIGITS
