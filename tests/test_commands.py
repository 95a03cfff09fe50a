"""Voice commands: scoring on hand-made posteriors, calibration, and few-shot adaptation of a toy chain."""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.commands import (CONFIDENCE_TEMPERATURE, DEFAULT_THRESHOLD, ENROLLED_THRESHOLD_SHARE, MAX_DIVIDING_LABELS,
                          NONE, AdaptConfig, CommandConfig, CommandRecognizer, LowRankAdapter, calibrate,
                          choose_threshold,
                          command_pronunciations, compile_command, ctc_log_likelihoods, decide, fit_zero_shot_threshold,
                          fit_zero_shot_threshold_by_source, has_fitted_zero_shot_threshold, label_frames, link_ratios,
                          most_permissive_threshold, plausible_to_base, pronunciation_variants, read_commands,
                          read_examples, train_adapters)
from asr.lexicon import PHONEMES, Lexicon
from asr.model import ASRModel
from asr.text import CHARACTERS
from features.augment import colored_noise
from tests.conftest import espeak_or_skip, write_at_peak
from tests.synthetic import TinyEncoder, synthetic_examples, tiny_model

COMMANDS = ["lights on", "lights off", "next"]


def spelled_posteriors(text: str, frames_per_char: int = 3, sharpness: float = 8.0) -> torch.Tensor:
    """Log-posteriors that spell `text`: each character for a few frames, a blank after it."""
    rows = []
    for char in text:
        for token in [CHARACTERS.encode(char)[0]] * frames_per_char + [CHARACTERS.blank]:
            row = torch.zeros(len(CHARACTERS))
            row[token] = sharpness
            rows.append(row)
    return torch.stack(rows).log_softmax(-1)


def compiled(commands: list[str]):
    return [compile_command(c, {"char": CHARACTERS}, None) for c in commands]


def test_ctc_log_likelihood_matches_hand_computation():
    log_probs = torch.tensor([[0.5, 0.3, 0.2]]).log()  # one frame
    scores = ctc_log_likelihoods(log_probs, [(1,), (2,), (1, 2)])
    assert scores[0].item() == pytest.approx(math.log(0.3), abs=1e-5)
    assert scores[1].item() == pytest.approx(math.log(0.2), abs=1e-5)
    assert scores[2].item() == -math.inf  # two labels cannot fit in one frame


def test_spoken_command_wins_and_scores_near_zero():
    commands = compiled(COMMANDS)
    for i, text in enumerate(COMMANDS):
        ratios = link_ratios(spelled_posteriors(text), commands, "char")
        assert int(ratios.argmax()) == i
        assert ratios[i].item() > -0.05  # the command is what the link says anyway
        assert all(ratios[j].item() < -0.5 for j in range(len(COMMANDS)) if j != i)


def test_out_of_grammar_speech_is_none():
    commands = compiled(COMMANDS)
    posteriors = spelled_posteriors("open the door")
    scores = link_ratios(posteriors, commands, "char")
    chain_temperature = CONFIDENCE_TEMPERATURE["chain"]
    index, confidence = decide(scores, threshold=-1.0, temperature=chain_temperature)
    assert index == -1 and confidence > 0.9
    spoken = spelled_posteriors("next")
    scores = link_ratios(spoken, commands, "char")
    index, confidence = decide(scores, -1.0, chain_temperature)
    assert index == 2 and confidence > 0.5  # above every other command and "none" together
    logits = torch.cat([scores, torch.tensor([-1.0])]) / chain_temperature
    assert confidence == pytest.approx(float(logits.softmax(-1)[2]))


def test_silence_around_a_sentence_does_not_dilute_its_rejection():
    """Scored per frame, a sentence padded with 10 s of pauses came out near 0 for any command
    and was accepted; per token, the pauses change nothing."""
    commands = compiled(COMMANDS)
    sentence = spelled_posteriors("open the door please")
    pause = spelled_posteriors(" ", frames_per_char=0)[:1].expand(250, -1)  # confident blanks
    padded = torch.cat([pause, sentence, pause])
    alone, diluted = link_ratios(sentence, commands, "char"), link_ratios(padded, commands, "char")
    assert torch.allclose(alone, diluted, atol=0.05)
    assert diluted.max().item() < -1.0
    spoken = torch.cat([pause, spelled_posteriors("next"), pause])
    assert link_ratios(spoken, commands, "char")[2].item() > -0.05


def test_label_frames_count_what_a_link_spells_and_nothing_in_blanks():
    assert label_frames(spelled_posteriors("next", frames_per_char=1)) == pytest.approx(4, abs=0.1)
    assert label_frames(spelled_posteriors("next", frames_per_char=3)) == pytest.approx(12, abs=0.2)
    blanks = spelled_posteriors(" ", frames_per_char=0, sharpness=12.0)[:1].expand(50, -1)
    assert label_frames(blanks) < 0.1


def test_a_recording_the_chain_hears_nothing_in_is_none_whatever_its_scores():
    """Noise scored near a command ("one") once the decoder's log-probability was added; a chain
    that hears fewer than `min_label_frames` labels now answers "none"."""
    recognizer = CommandRecognizer(tiny_model(("char",)), CommandConfig(COMMANDS, threshold=-5.0, decoder_weight=0.0))
    scores = torch.tensor([-0.5, -3.0, -4.0])
    heard, nothing = recognizer.config.min_label_frames + 0.1, recognizer.config.min_label_frames - 0.1
    (said, _), (silent, confidence) = recognizer.decisions([scores, scores], None, None, [heard, nothing])
    assert said == 0 and silent == -1 and confidence == pytest.approx(1.0)
    assert recognizer.decisions([scores], None, None)[0][0] == 0  # not counted: no check
    recognizer.config.min_label_frames = 0.0
    assert recognizer.decisions([scores], None, None, [0.0])[0][0] == 0


def test_a_command_is_heard_only_where_every_link_hears_a_label():
    """Hiss read as one /s/ by the phone link while the char link spells nothing counts as nothing
    (on the mean of the links, 0.45 frames: a hair under the floor on one machine, over on another)."""
    recognizer = CommandRecognizer(tiny_model(phones=list(PHONEMES.tokens)), CommandConfig(COMMANDS, decoder_weight=0.0))
    blanks = spelled_posteriors(" ", frames_per_char=0, sharpness=12.0)[:1].expand(25, -1)
    hiss = torch.cat([blanks[:12], spelled_posteriors("s", frames_per_char=1), blanks[:11]])  # one label
    spoken = torch.cat([blanks[:5], spelled_posteriors("next"), blanks[:5]])
    counts = recognizer.label_frames({"phone": [hiss, spoken], "char": [blanks, spoken]})
    assert recognizer.links == ["phone", "char"]
    assert counts[0] < 0.1 < recognizer.config.min_label_frames < 4 < counts[1]


def test_speech_beyond_the_command_counts_in_full():
    """Per label of the command, words around it cost what they cost; per non-blank frame of the
    best path (before 2026-11-30) they diluted the gap, and "next slide please" scored as "next"
    came out near a clean "next"."""
    commands = compiled(COMMANDS)
    alone = link_ratios(spelled_posteriors("next"), commands, "char")[2].item()
    within = link_ratios(spelled_posteriors("next slide please"), commands, "char")[2].item()
    longer = link_ratios(spelled_posteriors("next slide please and the one after"), commands, "char")[2].item()
    assert alone > -0.05
    assert within < -5.0 and longer < 2 * within  # the more speech beyond "next", the lower


def test_an_extra_word_weighs_on_a_long_command_about_as_on_a_short_one():
    """Divided by all of a long command's labels, an extra word weighed too little ("ENTER FIVE
    ZERO" was accepted as "ENTER FIVE"); the divisor stops at MAX_DIVIDING_LABELS."""
    commands = compiled(["five", "enter five"])
    short = link_ratios(spelled_posteriors("five zero"), commands, "char")[0].item()
    long = link_ratios(spelled_posteriors("enter five zero"), commands, "char")[1].item()
    assert link_ratios(spelled_posteriors("enter five"), commands, "char")[1].item() > -0.05
    assert len("enter five") > MAX_DIVIDING_LABELS >= len("five")
    assert short < -2.0 and long / short == pytest.approx(len("five") / MAX_DIVIDING_LABELS, rel=0.1)


def test_confidence_softens_with_temperature():
    scores = torch.tensor([-0.1, -0.3])
    _, sharp = decide(scores, threshold=-1.0, temperature=0.05)
    _, soft = decide(scores, threshold=-1.0, temperature=1.0)
    assert 1 / 3 < soft < sharp <= 1.0


def test_the_confidence_temperature_follows_the_scores_in_use_and_an_old_one_is_dropped():
    model = tiny_model(("char",))
    model.config.command_decoder_weight, model.config.command_decoder_threshold = 0.5, -6.0
    fused = CommandRecognizer(model, CommandConfig(COMMANDS))
    alone = CommandRecognizer(model, CommandConfig(COMMANDS, decoder_weight=0.0))
    assert fused.config.confidence_temperature == CONFIDENCE_TEMPERATURE["decoder"]
    assert alone.config.confidence_temperature == CONFIDENCE_TEMPERATURE["chain"]
    given = CommandRecognizer(model, CommandConfig(COMMANDS, confidence_temperature=3.0))
    assert given.config.confidence_temperature == 3.0
    # commands.json written before session 21: a temperature for token-scaled scores, not this one
    old = CommandConfig.from_dict({"commands": COMMANDS, "threshold": -2.0, "temperature": 16})
    assert old.confidence_temperature is None and old.threshold == -2.0


def test_pronunciation_variants_combine_words():
    lexicon = Lexicon(dictionary={"zero": (("Z", "IH", "R", "OW"), ("Z", "IY", "R", "OW")),
                                  "one": (("W", "AH", "N"), ("HH", "W", "AH", "N"))})
    pronunciations = command_pronunciations(["Zero one!"], {}, lexicon)
    variants = pronunciation_variants("zero one", pronunciations)
    assert len(variants) == 4 and ["Z", "IY", "R", "OW", "W", "AH", "N"] in variants
    command = compile_command("Zero one!", {"char": CHARACTERS, "phone": PHONEMES}, pronunciations)
    assert command.text == "zero one" and len(command.targets["phone"]) == 4


def test_a_command_model_keeps_its_pronunciations_and_loads_without_the_dictionary(tmp_path, monkeypatch):
    lexicon = Lexicon(dictionary={"lights": (("L", "AY", "T", "S"),), "on": (("AA", "N"), ("AO", "N")),
                                  "read": (("R", "IY", "D"), ("R", "EH", "D"))})
    given = {"read": [["R", "EH", "D"]]}  # the user's own pronunciation wins over the dictionary's two
    model = tiny_model(phones=list(PHONEMES.tokens))
    recognizer = CommandRecognizer(model, CommandConfig(["Lights on", "read"], pronunciations=given), lexicon)
    assert recognizer.config.pronunciations == {"lights": [["L", "AY", "T", "S"]], "on": [["AA", "N"], ["AO", "N"]],
                                                "read": [["R", "EH", "D"]]}
    assert len(recognizer.commands[0].targets["phone"]) == 2 and len(recognizer.commands[1].targets["phone"]) == 1
    frames = [torch.randn(40, model.config.chain.input_dim)]
    recognizer.save(tmp_path / "cmd")

    def no_dictionary(*args, **kwargs):
        raise AssertionError("CMUdict looked up for a model that holds its pronunciations")
    monkeypatch.setattr("asr.commands.Lexicon", no_dictionary)
    loaded = CommandRecognizer.load(tmp_path / "cmd", TinyEncoder())
    assert loaded.commands == recognizer.commands
    assert torch.equal(loaded.score_frames(frames)[0], recognizer.score_frames(frames)[0])
    with pytest.raises(AssertionError):  # a word it holds no pronunciation for is looked up
        CommandRecognizer(model, replace(loaded.config, commands=["lights off"]))


def test_threshold_lies_between_true_and_impostor_scores():
    true = np.array([-0.1, -0.2, 0.0, -0.4])
    impostor = np.array([-3.0, -2.5, -4.0, -2.0])
    assert -2.0 < choose_threshold(true, impostor, floor=-10.0) < -0.2
    overlapping = choose_threshold(np.array([-1.0, -0.5, -3.0]), np.array([-2.0, -2.5, -0.8]), floor=-10.0)
    assert -3.0 <= overlapping <= -0.5
    far_apart = choose_threshold(true, np.array([-20.0, -18.0, -16.0]))  # commands unlike each other
    assert far_apart == DEFAULT_THRESHOLD  # enrollment never loosens the zero-shot threshold
    assert choose_threshold(true, impostor, floor=-10.0) == choose_threshold(true, impostor, floor=-2.0)


def test_most_permissive_threshold_lets_in_at_most_the_share_asked():
    rng = np.random.default_rng(0)
    for n, share in [(500, 0.01), (117, 0.02), (40, 0.0)]:
        scores = rng.normal(-3.0, 1.0, n)
        threshold = most_permissive_threshold(scores, share)
        grid = np.round(np.arange(-12.0, 3.0, 0.05), 6)
        expected = min(t for t in grid if (scores >= t).mean() <= share)  # the rule, by brute force
        assert threshold == pytest.approx(expected)
        assert (scores >= threshold).mean() <= share < (scores >= threshold - 0.05).mean()
    assert most_permissive_threshold(np.array([-2.0, -1.0]), 0.0) == pytest.approx(-0.95)  # on the grid
    with pytest.raises(ValueError):
        most_permissive_threshold(np.array([]))


def test_a_models_own_zero_shot_threshold_is_used_and_floors_enrollment():
    torch.manual_seed(0)
    model = tiny_model(("char",))
    negatives = [e.frames for e in synthetic_examples(60, seed=5)]
    fitted = fit_zero_shot_threshold(model, COMMANDS, negatives, max_accepted=0.05)
    assert CommandRecognizer(model, CommandConfig(COMMANDS)).config.threshold == DEFAULT_THRESHOLD  # not fitted
    assert fitted != DEFAULT_THRESHOLD
    model.config.command_threshold = fitted
    recognizer = CommandRecognizer(model, CommandConfig(COMMANDS))
    assert recognizer.config.threshold == fitted
    assert np.mean([r.command != NONE for r in recognizer.recognize_frames(negatives)]) <= 0.05
    assert CommandRecognizer(model, CommandConfig(COMMANDS, threshold=-0.5)).config.threshold == -0.5
    # Enrollment may raise the model's threshold, never lower it below it; an adapted model goes
    # only part of the way up to what its shots give, since it was trained on them.
    assert calibrate(recognizer, negatives[:6], [0, 1, 2, 0, 1, 2])["threshold"] >= fitted
    model.config.command_threshold = low = fitted - 5.0  # a looser base, so that the shots raise it
    calibration = calibrate(CommandRecognizer(model, CommandConfig(COMMANDS)), negatives[:6], [0, 1, 2, 0, 1, 2])
    assert calibration["learned_threshold"] > low
    assert calibration["threshold"] == pytest.approx(
        low + ENROLLED_THRESHOLD_SHARE * (calibration["learned_threshold"] - low))
    # With no fitted zero-shot threshold there is nothing to come back towards.
    model.config.command_threshold = None
    assert not has_fitted_zero_shot_threshold(model)
    model.config.command_decoder_threshold = -20.0  # fitted with the decoder's scores added only
    assert has_fitted_zero_shot_threshold(model, decoder_weight=1.0) and not has_fitted_zero_shot_threshold(model)
    unfitted = calibrate(CommandRecognizer(model, CommandConfig(COMMANDS)), negatives[:6], [0, 1, 2, 0, 1, 2])
    assert unfitted["threshold"] == unfitted["learned_threshold"] > DEFAULT_THRESHOLD


def test_a_threshold_fitted_by_source_holds_for_each_source():
    torch.manual_seed(0)
    model = tiny_model(("char",))
    sources = {"few": ([e.frames for e in synthetic_examples(20, seed=5)], None),
               "many": ([e.frames for e in synthetic_examples(80, seed=6)], None)}
    strictest = fit_zero_shot_threshold_by_source(model, COMMANDS, sources, max_accepted=0.05)
    for frames, _ in sources.values():
        assert strictest >= fit_zero_shot_threshold(model, COMMANDS, frames, max_accepted=0.05)
        model.config.command_threshold = strictest
        accepted = [r.command != NONE for r in CommandRecognizer(model, CommandConfig(COMMANDS)).recognize_frames(frames)]
        assert np.mean(accepted) <= 0.05


def test_decoder_scores_add_to_the_chain_and_need_their_own_threshold():
    torch.manual_seed(0)
    model = tiny_model(("char",))
    frames = [e.frames for e in synthetic_examples(4, seed=6)]
    decoded = [torch.tensor([-1.0, -8.0, -20.0])] * len(frames)
    model.config.command_threshold = -1.5
    assert CommandRecognizer(model, CommandConfig(COMMANDS)).config.decoder_weight == 0.0  # fitted without it
    with pytest.raises(ValueError, match="decoder weight 0.5"):  # a threshold fitted on the chain alone does not fit
        CommandRecognizer(model, CommandConfig(COMMANDS, decoder_weight=0.5))
    model.config.command_decoder_weight, model.config.command_decoder_threshold = 0.5, -6.0
    fused = CommandRecognizer(model, CommandConfig(COMMANDS))  # the model's fitted weight, and its threshold
    assert (fused.config.decoder_weight, fused.config.threshold) == (0.5, -6.0)
    with pytest.raises(ValueError, match="decoder_scores"):
        fused.score_frames(frames)
    with pytest.raises(TypeError, match="Whisper encoder"):  # the tiny model's encoder has no decoder
        fused.decoder_scores([np.zeros(16000, dtype=np.float32)])
    alone = CommandRecognizer(model, CommandConfig(COMMANDS, decoder_weight=0.0)).score_frames(frames)
    for chain, both in zip(alone, fused.score_frames(frames, decoded=decoded)):
        torch.testing.assert_close(both, chain + 0.5 * decoded[0])


def test_a_command_the_base_chain_finds_implausible_is_no_candidate():
    adapted = torch.tensor([-0.1, -1.0, -6.0])  # "ALEXA", "COMPUTER", ... as the adapted chain scores them
    base = torch.tensor([-4.0, -1.2, -2.0])  # the base chain: the first is far from what it heard
    candidates = plausible_to_base(adapted, base, base_floor=-3.3)
    assert torch.isinf(candidates[0]) and candidates[1:].tolist() == adapted[1:].tolist()
    assert decide(candidates, threshold=-1.8, temperature=1.0)[0] == 1  # the next best still competes
    index, confidence = decide(plausible_to_base(adapted, torch.full((3,), -5.0), -3.3), -1.8, 1.0)
    assert index == -1 and 0.0 < confidence <= 1.0  # nothing plausible to the base: "none"


def test_context_takes_one_recording_per_command_in_turn_and_round_trips_as_pcm():
    from asr.commands import choose_context, context_clips, context_tensors

    clips = [np.full(n, v, dtype=np.float32) for n, v in [(4000, 0.1), (5000, 0.2), (3000, -0.3), (6000, 0.4)]]
    labels = [0, 0, 1, 1]
    chosen = choose_context(clips, labels, seconds=0.9)  # 14,400 samples: 4000 + 3000 + 5000, then 6000 is over
    assert [c[0] for c in chosen] == pytest.approx([0.1, -0.3, 0.2])
    assert choose_context(clips, labels, seconds=0.0) == []
    back = context_clips(context_tensors(chosen))
    assert [len(c) for c in back] == [4000, 3000, 5000]
    assert all(np.abs(a - b).max() < 1e-4 for a, b in zip(back, chosen))


def test_a_recording_with_no_enrollment_context_is_followed_by_copies_of_itself():
    from asr.commands import self_copies

    clip = np.ones(6400, dtype=np.float32)  # 0.4 s; each copy takes 0.8 s with its gap
    assert len(self_copies(clip, 5.0)) == 6 and all(c is clip for c in self_copies(clip, 5.0))
    assert len(self_copies(np.ones(160_000, dtype=np.float32), 5.0)) == 1  # 10 s: one copy, if it fits at all
    assert self_copies(clip, 0.0) == [] and self_copies(clip[:0], 5.0) == []


def test_a_speaker_history_keeps_the_last_recordings_most_recent_first():
    from asr.commands import SpeakerHistory

    history = SpeakerHistory(2, max_seconds=1.0)
    assert history.recent() == []
    clips = [np.full(8000, v, dtype=np.float32) for v in (0.1, 0.2, 0.3)]
    for clip in clips:
        history.add(clip)
    assert [c[0] for c in history.recent()] == pytest.approx([0.3, 0.2])  # the oldest is gone
    history.add(np.ones(16_001, dtype=np.float32))  # over max_seconds: a sentence would fill the window
    history.add(np.ones(0, dtype=np.float32))
    assert [c[0] for c in history.recent()] == pytest.approx([0.3, 0.2])
    with pytest.raises(ValueError):
        SpeakerHistory(0)


def test_low_rank_adapter_starts_at_base_and_merges():
    base = torch.nn.Linear(6, 4)
    adapter = LowRankAdapter(base, rank=2)
    x = torch.randn(3, 6)
    expected = base(x).detach()
    assert torch.allclose(adapter(x), expected)
    with torch.no_grad():
        adapter.up.normal_()
    adapted = adapter(x).detach()
    assert torch.allclose(adapter.merged()(x), adapted, atol=1e-5)


def test_read_commands_and_example_folders(tmp_path):
    (tmp_path / "commands.txt").write_text("# my commands\nLights on\n\nNext slide\n")
    commands = read_commands(tmp_path / "commands.txt")
    assert commands == ["Lights on", "Next slide"]
    for folder in ("lights_on", "next slide"):
        (tmp_path / "ex" / folder).mkdir(parents=True)
        (tmp_path / "ex" / folder / "a.wav").write_bytes(b"")
    pairs = read_examples(tmp_path / "ex", commands)
    assert sorted(command for _, command in pairs) == ["Lights on", "Next slide"]
    with pytest.raises(ValueError, match="no examples"):
        read_examples(tmp_path / "ex", [*commands, "stop"])


def test_few_shot_adaptation_learns_commands_and_round_trips(tmp_path):
    """A toy chain (untrained, random lower layers) learns 4 one-word commands from 2 shots each."""
    torch.manual_seed(0)
    words = ["cab", "bead", "face", "dc"]
    pool = [e for e in synthetic_examples(400, seed=3) if e.text in words]
    enroll = [e for w in words for e in [x for x in pool if x.text == w][:2]]
    test = [e for w in words for e in [x for x in pool if x.text == w][2:8]]
    # Toy letters last 6 frames: no frame repeat needed (it would blur one-letter differences here).
    recognizer = CommandRecognizer(tiny_model(("char",)), CommandConfig(list(words), frame_repeat=1))
    labels = [words.index(e.text) for e in enroll]
    before = np.mean([r.best == e.text for r, e in zip(recognizer.recognize_frames([e.frames for e in test]), test)])

    frames = [e.frames.float() for e in enroll]
    targets = [{"char": list(recognizer.commands[label].targets["char"][0])} for label in labels]
    trained = train_adapters(recognizer.model, frames, targets, AdaptConfig(steps=150, lr=1e-2, rank=4, anchor=0.0))
    assert 0 < trained < sum(p.numel() for p in recognizer.model.chain.parameters())
    assert not any(isinstance(m, LowRankAdapter) for m in recognizer.model.chain.modules())
    calibration = calibrate(recognizer, frames, labels)
    recognizer.config.threshold = calibration["threshold"]

    results = recognizer.recognize_frames([e.frames for e in test])
    accuracy = np.mean([r.command == e.text for r, e in zip(results, test)])
    assert accuracy >= 0.9 and accuracy > before
    others = [e for e in synthetic_examples(100, seed=4) if e.text in ("ab", "fade", "bad")][:8]
    rejected = np.mean([r.command == NONE for r in recognizer.recognize_frames([e.frames for e in others])])
    assert rejected >= 0.6  # toy words outside the grammar, most one letter from a command

    recognizer.save(tmp_path / "cmd")
    assert sorted(p.name for p in (tmp_path / "cmd").iterdir()) == ["commands.json", "config.json", "model.safetensors"]
    loaded = CommandRecognizer.load(tmp_path / "cmd", TinyEncoder())
    assert loaded.config.threshold == pytest.approx(recognizer.config.threshold)
    assert [r.command for r in loaded.recognize_frames([e.frames for e in test])] == [r.command for r in results]


def test_thresholds_fitted_on_per_token_scores_are_flagged_on_load(tmp_path):
    """Model format 1 predates today's command scores (per label, at most 5): its thresholds were
    fitted on other scores."""
    recognizer = CommandRecognizer(tiny_model(("char",)), CommandConfig(["cab", "dc"], threshold=-2.0))
    recognizer.model.config.command_threshold = -1.8
    recognizer.save(tmp_path / "cmd")
    config_file = tmp_path / "cmd" / "config.json"
    assert json.loads(config_file.read_text())["format_version"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CommandRecognizer.load(tmp_path / "cmd", TinyEncoder())  # current: no warning
    config_file.write_text(config_file.read_text().replace('"format_version": 2', '"format_version": 1'))
    with pytest.warns(UserWarning) as caught:
        loaded = CommandRecognizer.load(tmp_path / "cmd", TinyEncoder())
    messages = [str(w.message) for w in caught]
    assert any("older command scores" in m and str(tmp_path / "cmd") in m and "adapt it again" in m for m in messages)
    assert any("older command scores" in m and "refit" in m for m in messages)  # the base model's zero-shot threshold
    assert loaded.config.threshold == -2.0 and loaded.model.config.format_version == 2
    assert loaded.model.saved_format_version == 1  # what the warning was read from
    loaded.model.config.command_threshold = None  # a format-1 model never fitted: nothing to flag
    loaded.model.save(tmp_path / "plain")
    plain = tmp_path / "plain" / "config.json"
    plain.write_text(plain.read_text().replace('"format_version": 2', '"format_version": 1'))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ASRModel.load(tmp_path / "plain", TinyEncoder())


def test_negative_sources_split_an4_and_the_words_left_out(tmp_path):
    from features.manifest import Utterance, write_manifest
    from recipes.commands.__main__ import negative_corpora, negative_sources

    test = [Utterance(f"{w}{i}", f"/{w}{i}.wav", w) for w in ("ALEXA", "COMPUTER", "JARVIS") for i in range(3)]
    an4 = [Utterance("a", "/a.wav", "YES"), Utterance("b", "/b.wav", "ALEXA")]
    sentences = [Utterance("s", "/s.wav", "Alexa, play some music")]
    sources = negative_sources(test, ["ALEXA", "COMPUTER"], {"an4": an4, "sentences": sentences})
    assert [u.id for u in sources["an4"]] == ["a"]  # an AN4 utterance that is a command is no negative
    assert [u.id for u in sources["sentences"]] == ["s"]  # containing a command is not being one
    assert [u.text for u in sources["other_words"]] == ["JARVIS"] * 3
    assert "other_words" not in negative_sources(test, ["ALEXA", "COMPUTER", "JARVIS"], {"an4": an4})
    write_manifest(sentences, tmp_path / "speechocean762" / "test" / "manifest.jsonl")
    named = negative_corpora([f"mine={tmp_path / 'speechocean762' / 'test' / 'manifest.jsonl'}",
                              str(tmp_path / "speechocean762" / "test" / "manifest.jsonl")], tmp_path)
    assert sorted(named) == ["mine", "speechocean762_test"] and [u.id for u in named["mine"]] == ["s"]


def test_espeak_synthesis_gives_distinct_voices_at_16_khz():
    from features.synth import Voice, synthesize

    espeak_or_skip()
    plain = synthesize("lights on")
    assert plain.dtype == np.float32 and 0.3 < len(plain) / 16_000 < 2.0 and 0.05 < np.abs(plain).max() <= 1.0
    slow = synthesize("lights on", Voice("en-gb-scotland", "f2", rate=100, pitch=80))
    assert len(slow) > 1.3 * len(plain)  # rate is in words a minute: 100 vs 160
    assert len(synthesize("lights on and off")) > len(plain)
    with pytest.raises(RuntimeError, match="no voice"):
        synthesize("x", Voice("xx-nonexistent"))


def test_real_recordings_of_a_speaker_not_enrolled_after_adapting_a_fresh_link(tmp_path):
    """FSDD speech through the real Whisper encoder, files in, commands out: a fresh (untrained)
    char link, adapted whole from 4 recordings each of ZERO / ONE / SIX by george and jackson,
    recognises lucas's recordings, which it never saw; a broken file gets its error and the
    rest go on; the saved command model gives the same answers, and with a speaker history reads
    each file after the ones before it."""
    from asr.commands import SpeakerHistory, adapt_recognizer, self_copies
    from asr.encoder import load_encoder
    from asr.model import ASRModel, build_config
    from asr.packing import encode_utterances, encode_with_context
    from features.audio import load_audio
    from features.manifest import read_corpus
    from tests.conftest import shared_or_skip

    corpus = read_corpus(shared_or_skip("fsdd/manifest.jsonl"))
    words = ["ZERO", "ONE", "SIX"]
    enroll = [u for w in words for u in [x for x in corpus if x.text == w and x.speaker in ("george", "jackson")][:4]]
    test = [u for w in words for u in [x for x in corpus if x.text == w and x.speaker == "lucas"][:6]]
    torch.manual_seed(0)
    encoder = load_encoder("whisper-tiny.en")
    config = build_config("whisper-tiny.en", encoder.dim, ["char"], d_model=96, layers_per_link=1)
    config.command_threshold = DEFAULT_THRESHOLD  # as if fitted: adaptation then keeps the base's tensors
    # A fresh link is no judge of plausibility: no base check here (base_margin=None).
    recognizer = CommandRecognizer(ASRModel(config, encoder), CommandConfig(list(words), base_margin=None))
    test_frames = encode_utterances(encoder, [load_audio(u.audio) for u in test])
    before = np.mean([r.best == u.text for r, u in zip(recognizer.recognize_frames(test_frames), test)])
    zero_shot = recognizer.recognize_files([test[0].audio])[0]  # no enrollment yet: copies of itself as context
    audio = load_audio(test[0].audio)
    own = recognizer.recognize_frames(encode_with_context(encoder, [audio], self_copies(audio, 5.0)))[0]
    assert zero_shot.score == own.score
    base_posteriors = recognizer.model.posteriors(test_frames)

    summary = adapt_recognizer(recognizer, [load_audio(u.audio) for u in enroll], [words.index(u.text) for u in enroll],
                               AdaptConfig(steps=60, lr=5e-3, whole_top_link=True, anchor=0.0, copies=1, trim_copies=0))
    assert summary["training_clips"] == 2 * len(enroll) and summary["threshold"] < summary["true_median"]
    after = [r.command for r in recognizer.recognize_frames(test_frames)]
    accuracy = np.mean([c == u.text for c, u in zip(after, test)])
    assert accuracy >= 0.8 and accuracy > before + 0.2, (before, accuracy)

    assert recognizer.base_model() is None  # the check is off
    recognizer.config.base_margin = 1.5
    rebuilt = recognizer.base_model().posteriors(test_frames)  # the base chain, exactly as it was
    assert all(torch.equal(a, b) for a, b in zip(rebuilt, base_posteriors))
    assert 0 < sum(t.numel() for t in recognizer.base_weights.values()) < sum(
        p.numel() for p in recognizer.model.chain.parameters())  # only what adaptation changed
    recognizer.config.base_margin = None

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not audio")
    quiet = tmp_path / "quiet.wav"  # the first test recording at a peak of -70 dBFS: too quiet to be a command
    write_at_peak(quiet, load_audio(test[0].audio), -70.0)
    recognizer.save(tmp_path / "cmd")
    assert (tmp_path / "cmd" / "base_links.safetensors").exists()
    loaded = CommandRecognizer.load(tmp_path / "cmd", encoder)
    loaded.config.base_margin = 1.5
    assert all(torch.equal(a, b) for a, b in zip(loaded.base_model().posteriors(test_frames), base_posteriors))
    loaded.config.base_margin = None
    results = loaded.recognize_files([test[0].audio, str(broken), test[-1].audio, str(quiet)], group_size=2)
    assert results[1].error and results[1].command == NONE
    assert results[3].command == NONE and results[3].error.endswith("too quiet (peak -70 dBFS, under the -60 dBFS asked for)")
    # The model keeps 10 s of its enrollment recordings (16-bit) and encodes each file followed by
    # copies of itself, then by them.
    assert summary["context_recordings"] == len(loaded.context) == len(recognizer.context) > 3
    assert sum(map(len, recognizer.context)) <= 10 * 16_000
    assert all(np.abs(a - b).max() < 1e-4 for a, b in zip(loaded.context, recognizer.context))
    own = [recognizer.recognize_frames(encode_with_context(encoder, [clip], self_copies(clip, 5.0) + loaded.context))[0]
           for clip in (load_audio(test[i].audio) for i in (0, -1))]
    assert [(r.command, r.score) for r in (results[0], results[2])] == [(r.command, r.score) for r in own]
    without_copies = recognizer.recognize_frames(encode_with_context(encoder, [load_audio(test[0].audio)], loaded.context))
    assert without_copies[0].score != results[0].score
    assert all(0.0 <= r.confidence <= 1.0 for r in results)
    # Each file is encoded on its own: its answer does not depend on the files passed with it.
    assert loaded.recognize_files([test[-1].audio])[0].score == results[2].score

    # Opt-in: the files are one speaker's, in order; each is read after those before it, most
    # recent first (in place of the copies of itself), then the enrollment context. An unreadable
    # file is not heard.
    history = SpeakerHistory(2)
    heard = loaded.recognize_files([test[0].audio, str(broken), test[1].audio, test[-1].audio], history=history)
    assert heard[0].score == results[0].score and heard[1].error  # nothing before the first
    first, second, last = (load_audio(test[i].audio) for i in (0, 1, -1))
    expected = recognizer.recognize_frames(encode_with_context(encoder, [last], [second, first] + loaded.context))[0]
    assert heard[3].score == expected.score != results[2].score
    assert [len(c) for c in history.recent()] == [len(last), len(second)]
    # By speaker: each speaker's recordings are read after that speaker's own only.
    by_speaker = loaded.encode_by_speaker([first, second, last], ["a", "b", "a"], 5)
    assert torch.equal(by_speaker[1], loaded.encode([second])[0])
    assert torch.equal(by_speaker[2], encode_with_context(encoder, [last], [first] + loaded.context)[0])



def test_adapt_from_the_command_text_alone_through_the_cli(tmp_path):
    """No recordings of the user: `asr adapt --synthesize 3` has espeak-ng speak each command in
    three voices and adapts the default model to those; `asr commands` then recognises real FSDD
    recordings (lucas) among the three commands, and a broken file gets its error."""
    import json

    from asr.commands import synthesized_examples
    from features.manifest import read_corpus
    from features.audio import load_audio
    from features.synth import COMMAND_VOICES
    from tests.conftest import asr, shared_or_skip

    espeak_or_skip()
    words = ["zero", "one", "six"]
    audios, labels = synthesized_examples(words, 2)
    assert labels == [0, 1, 2, 0, 1, 2] and all(a.dtype == np.float32 and 0.2 < len(a) / 16_000 < 2 for a in audios)
    assert len(audios[0]) != len(audios[3]) or not np.allclose(audios[0], audios[3])  # two voices
    with pytest.raises(ValueError, match="synthesized voices"):
        synthesized_examples(words, len(COMMAND_VOICES) + 1)

    corpus = read_corpus(shared_or_skip("fsdd/manifest.jsonl"))
    test = [u for w in words for u in [x for x in corpus if x.text == w.upper() and x.speaker == "lucas"][:4]]
    (tmp_path / "commands.txt").write_text("\n".join(words) + "\n")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not audio")
    too_long = tmp_path / "too_long.wav"  # over MAX_COMMAND_SECONDS: refused from its header
    sf.write(too_long, np.random.default_rng(0).normal(0, 0.1, 31 * 16_000).astype(np.float32), 16_000)
    noises = []  # no speech: "none" (the synthesized demo's model read such noise as "stop")
    for name, exponent, level_db in [("white", 0.0, -35), ("pink", 1.0, -25), ("brown", 2.0, -45)]:
        noises.append(tmp_path / f"{name}.wav")
        noise = colored_noise(16_000, exponent, np.random.default_rng(1)) * 10 ** (level_db / 20)
        sf.write(noises[-1], noise, 16_000)

    nothing = asr("adapt", "default", "--commands", tmp_path / "commands.txt", "--out", tmp_path / "cmd")
    assert nothing.returncode == 2 and "--synthesize" in nothing.stderr and not (tmp_path / "cmd").exists()
    done = asr("adapt", "default", "--commands", tmp_path / "commands.txt", "--synthesize", 3, "--steps", 30,
               "--out", tmp_path / "cmd")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "0 recordings + 9 synthesized" in done.stdout
    threshold, zero_shot, learned = map(float, re.search(
        r"threshold (\S+) \(zero-shot (\S+); the shots alone would give (\S+)\)", done.stdout).groups())
    assert zero_shot <= threshold <= learned
    assert (tmp_path / "cmd" / "context_audio.safetensors").exists()  # the voices are its encoder context
    quiet = tmp_path / "quiet.wav"  # a test recording at a peak of -70 dBFS (near-digital silence)
    write_at_peak(quiet, load_audio(test[0].audio), -70.0)
    tone = tmp_path / "tone.wav"  # a 1-kHz beep, which adapted models took for a command
    sf.write(tone, 0.1 * np.sin(2 * np.pi * 1000 * np.arange(16_000) / 16_000), 16_000)
    recognized = asr("commands", tmp_path / "cmd", *[u.audio for u in test], broken, too_long, quiet, tone,
                     "--format", "json")
    assert recognized.returncode == 1 and "broken.wav" in recognized.stderr
    assert "too_long.wav: 31 s long, over the 30 s limit" in recognized.stderr
    assert "quiet.wav: too quiet (peak -70 dBFS" in recognized.stderr
    assert "tone.wav: a steady 1000-Hz tone, not speech" in recognized.stderr
    results = json.loads(recognized.stdout)
    assert len(results) == len(test) + 4 and all(r["error"] and r["command"] == NONE for r in results[-4:])
    assert np.mean([r["command"].upper() == u.text for r, u in zip(results, test)]) >= 0.75
    heard_noise = json.loads(asr("commands", tmp_path / "cmd", *noises, "--format", "json").stdout)
    assert [r["command"] for r in heard_noise] == [NONE] * len(noises), heard_noise
    # --history: the files are one speaker's (lucas's), each read after up to 4 before it.
    heard = asr("commands", tmp_path / "cmd", *[u.audio for u in test], broken, "--history", 4, "--format", "json")
    assert heard.returncode == 1 and "broken.wav" in heard.stderr
    heard = json.loads(heard.stdout)
    assert heard[0]["score"] == results[0]["score"]  # nothing heard before the first
    assert any(a["score"] != b["score"] for a, b in zip(heard[1:len(test)], results[1:len(test)]))
    assert np.mean([r["command"].upper() == u.text for r, u in zip(heard, test)]) >= 0.75

    # Enrollment recordings that cannot be used are reported and left out; the rest adapt the model.
    for word in words:
        (tmp_path / "ex" / word).mkdir(parents=True)
        shot = next(u for u in corpus if u.text == word.upper() and u.speaker == "jackson")
        (tmp_path / "ex" / word / "shot.wav").write_bytes(Path(shot.audio).read_bytes())
    (tmp_path / "ex" / "zero" / "broken.wav").write_bytes(broken.read_bytes())
    (tmp_path / "ex" / "one" / "too_long.wav").write_bytes(too_long.read_bytes())
    shots = asr("adapt", "default", "--commands", tmp_path / "commands.txt", "--examples", tmp_path / "ex",
                "--steps", 30, "--out", tmp_path / "cmd_shots")
    assert shots.returncode == 1, shots.stderr[-2000:]
    errors = [line for line in shots.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "broken.wav" in errors[0] + errors[1] and "too_long.wav" in errors[0] + errors[1]
    assert "3 recordings" in shots.stdout and (tmp_path / "cmd_shots" / "commands.json").exists()


def test_commands_recipe_runs_zero_shot_text_only_and_k_shots_on_fsdd(tmp_path):
    """The recipe end to end on a few FSDD recordings: runs 0, text and 1 in results.json (and
    again with a speaker history), the model of the largest k saved, the splits written."""
    import json
    from collections import Counter

    from recipes.commands.__main__ import main
    from tests.conftest import shared_or_skip

    espeak_or_skip()
    data = shared_or_skip("fsdd/manifest.jsonl").parent
    out = tmp_path / "fsdd"
    assert main(["--data", str(data), "--shots", "1", "--max-test", "8", "--max-negatives", "4", "--steps", "5",
                 "--synthesized-voices", "1", "--negatives", f"an4={data.parent / 'an4' / 'test' / 'manifest.jsonl'}",
                 "--history", "3", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["runs"]) == ["0", "text", "1"] and results["n_test"] == 8
    assert results["runs"]["text"]["recordings"] == 0 and results["runs"]["text"]["synthesized_recordings"] == 10
    assert results["runs"]["1"]["recordings"] == 10 and results["runs"]["1"]["synthesized_recordings"] == 10
    assert results["adapt_seconds"] == results["runs"]["1"]["adapt_seconds"] > 0
    assert all(0 <= results["accuracy"][k] <= 1 for k in ("0", "text", "1"))
    assert set(results["test_speakers"]) == {"lucas", "nicolas"}
    splits = json.loads((out / "splits.json").read_text())
    per_speaker = Counter(row["id"].split("_")[0] for row in splits["test"])  # FSDD ids: speaker_digit_n
    for k, by_speaker in results["accuracy_by_speaker"].items():  # the overall share, split by speaker
        assert set(by_speaker) <= {"lucas", "nicolas"}
        pooled = sum(by_speaker[s] * per_speaker[s] for s in by_speaker) / sum(per_speaker[s] for s in by_speaker)
        assert pooled == pytest.approx(results["accuracy"][k], abs=1e-3), k
    for k, run in results["runs"].items():  # every decision's confidence: 8 test + 4 out of grammar
        right = run["accuracy"] * 8 + (1 - run["false_accept"]) * 4
        assert run["calibration"]["n"] == 12, k
        assert run["calibration"]["accuracy"] == pytest.approx(right / 12, abs=1e-3), k
        assert 0 <= run["calibration"]["ece"] <= 1 and 0 < run["calibration"]["mean_confidence"] <= 1
    assert results["calibration"] == results["runs"]["1"]["calibration"]
    # --history: each k scored again, each speaker's recordings read after that speaker's earlier ones.
    assert results["history"]["size"] == 3 and list(results["history"]["accuracy"]) == ["0", "text", "1"]
    for k, by_speaker in results["history"]["accuracy_by_speaker"].items():
        pooled = sum(by_speaker[s] * per_speaker[s] for s in by_speaker) / sum(per_speaker[s] for s in by_speaker)
        assert pooled == pytest.approx(results["history"]["accuracy"][k], abs=1e-3), k
        assert 0 <= results["history"]["false_accept"][k] <= 1
        assert results["runs"][k]["history"]["calibration"]["n"] == 12, k  # its decisions' confidence too
    decisions = json.loads((out / "decisions.json").read_text())  # every recording's answer, per k
    assert list(decisions) == ["0", "text", "1"]
    for k, rows in decisions.items():
        assert [r["source"] for r in rows] == ["test"] * 8 + ["an4"] * 4
        tests = rows[:8]
        assert np.mean([r["command"] == r["truth"] for r in tests]) == pytest.approx(results["accuracy"][k], abs=1e-3)
        assert all(r["truth"] == "none" and r["audio"].endswith(".flac") for r in rows[8:])  # AN4
        assert all(0 < r["confidence"] <= 1 and r["best"] in results["commands"] for r in rows)
    assert len(splits["test"]) == 8 and splits["shots"]["text"] == [] and len(splits["shots"]["1"]) == 10
    assert (out / "model" / "context_audio.safetensors").exists()


def test_the_synthesized_demo_runs_end_to_end_and_reports_what_it_promises(tmp_path, capsys):
    """The voice-command demo README offers on a fresh machine: espeak-ng speech, the shipped
    default model zero-shot and adapted (few steps here), a printed table and results.json."""
    import json

    from recipes.commands.demo import COMMANDS, ENROLL_VOICES, NEGATIVES, TEST_VOICES, run_demo

    espeak_or_skip()
    assert run_demo("default", str(tmp_path / "demo"), steps=10) == 0
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    k = str(len(ENROLL_VOICES))
    assert results["n_test"] == len(COMMANDS) * len(TEST_VOICES)
    assert results["n_negatives"] == len(NEGATIVES) * len(TEST_VOICES)
    assert list(results["accuracy"]) == ["0", k] and all(a >= 0.8 for a in results["accuracy"].values())
    for run in results["runs"].values():
        calibration = run["calibration"]
        assert calibration["n"] == results["n_test"] + results["n_negatives"]
        right = run["accuracy"] * results["n_test"] + (1 - run["false_accept"]) * results["n_negatives"]
        assert calibration["accuracy"] == pytest.approx(right / calibration["n"], abs=1e-3)  # rounded to 4 places
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "false accepts" in printed and "confidence ECE" in printed
    assert (tmp_path / "demo" / "model" / "commands.json").exists()
