"""Whisper's decoder scoring ten digit commands (six written forms each) on FSDD clips: the
shipped `WhisperTextScorer.score_phrases`, which runs each distinct input prefix once and projects
each distinct scored prefix once, against the plain pass it replaced (every written form through
the decoder and the vocabulary projection at every position). Milliseconds a clip (the encoder's
short window not counted) and the largest difference in score.

    python benchmarks/probes_s26/decoder_scoring_speed.py        # about 1 min here
"""
import time

import torch

from asr.commands import DECODER_PADDING_SECONDS
from asr.encoder import load_encoder
from asr.whisper_decoder import WhisperTextScorer, short_window_frames, written_forms
from features.audio import load_audio
from features.manifest import read_corpus

DIGITS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"]
CLIPS = 40


@torch.inference_mode()
def plain_scores(scorer: WhisperTextScorer, frames: torch.Tensor, phrases: list[str]) -> torch.Tensor:
    """The pass before session 26: all sequences, padded, projected at every position."""
    forms = [written_forms(phrase) for phrase in phrases]
    sequences = [scorer.tokens(form) for group in forms for form in group]
    width = max(map(len, sequences))
    tokens = torch.tensor([s + [scorer.end] * (width - len(s)) for s in sequences])
    log_probs = scorer.decoder(tokens, scorer.decoder.memories(frames[None])).log_softmax(-1)
    picked = log_probs[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]
    position = torch.arange(width - 1)[None]
    ends = torch.tensor([len(s) - 1 for s in sequences])[:, None]
    scores = (picked * ((position >= len(scorer.prompt) - 1) & (position < ends))).sum(-1)
    return torch.stack([part.logsumexp(0) for part in scores.split([len(g) for g in forms])])


torch.set_num_threads(2)
rows = read_corpus("../shared/data/fsdd/manifest.jsonl")[::50][:CLIPS]
encoder, scorer = load_encoder(), WhisperTextScorer()
frames = [short_window_frames(encoder, torch.from_numpy(load_audio(u.audio)), DECODER_PADDING_SECONDS) for u in rows]
rows = {"decoder rows": 0, "projected rows": 0}  # token positions through the blocks / the projection
scorer.decoder.blocks[0].register_forward_hook(lambda m, i, o: rows.update({"decoder rows": rows["decoder rows"] + o.shape[0] * o.shape[1]}))
scorer.decoder.projection.register_forward_hook(lambda m, i, o: rows.update({"projected rows": rows["projected rows"] + o[..., 0].numel()}))
for name, score in (("shipped", scorer.score_phrases), ("plain", lambda f, p: plain_scores(scorer, f, p))):
    rows.update({"decoder rows": 0, "projected rows": 0})
    score(frames[0], DIGITS)
    print(f"{name}: {rows['decoder rows']} token positions through the decoder, {rows['projected rows']} projected a clip")
for attempt in range(2):
    timings = {}
    for name, score in (("shipped", scorer.score_phrases), ("plain", lambda f, p: plain_scores(scorer, f, p))):
        started = time.perf_counter()
        results = [score(f, DIGITS) for f in frames]
        timings[name] = (time.perf_counter() - started) / len(frames) * 1000
        timings[name + " scores"] = torch.stack(results)
    difference = float((timings["shipped scores"] - timings["plain scores"]).abs().max())
    same_top = bool((timings["shipped scores"].argmax(1) == timings["plain scores"].argmax(1)).all())
    print(f"run {attempt + 1}: {len(frames)} clips, shipped {timings['shipped']:.0f} ms a clip, plain "
          f"{timings['plain']:.0f} ms; largest score difference {difference:.1e}, same top digit: {same_top}")
