import json
import math
import os
import random
from pathlib import Path

import pytest

from asr.lm import (
    BOS,
    UNK,
    ArpaError,
    build_mixed_lm,
    build_ngram_lm,
    interpolate_lms,
    mixture_weights,
    modified_kn_discounts,
    read_arpa,
)

SUBJECTS = ["the cat", "a dog", "my friend", "the old man", "her sister"]
VERBS = ["saw", "liked", "followed", "called", "found"]
OBJECTS = ["the bird", "a red ball", "the small house", "his brother", "the river"]
AN4_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "an4" / "train" / "manifest.jsonl"


def corpus(count: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}" for _ in range(count)]


def predictable(lm) -> list[str]:
    return [word for word in lm.vocabulary if word != BOS]


def total_probability(lm, context) -> float:
    return math.fsum(10.0 ** lm.log10_prob(word, context) for word in predictable(lm))


CONTEXTS = [(), (BOS,), (BOS, "the"), ("the", "cat"), ("cat", "saw"), ("saw", "the"),
            ("ball", "the"), ("unseen", "words"), ("the", "unseen"), (BOS, "my", "friend")]


@pytest.mark.parametrize("order,discount", [(1, None), (2, None), (3, None), (4, None), (3, 0.7)])
def test_probabilities_sum_to_one_over_the_vocabulary(order, discount):
    lm = build_ngram_lm(corpus(), order=order, discount=discount)
    for context in CONTEXTS:
        assert total_probability(lm, context) == pytest.approx(1.0, abs=1e-6), context


def test_bigram_matches_kneser_ney_by_hand():
    # Continuation counts a:1 b:2 c:2 </s>:2 (total 7), D = 0.5, 5 predictable words.
    lm = build_ngram_lm(["a b", "a c", "b c"], order=2, discount=0.5)
    assert 10 ** lm.log10_prob("a") == pytest.approx(0.9 / 7)
    assert 10 ** lm.log10_prob("b") == pytest.approx(1.9 / 7)
    assert 10 ** lm.log10_prob(UNK) == pytest.approx(0.4 / 7)
    assert 10 ** lm.log10_prob("never seen") == pytest.approx(0.4 / 7)
    # Context "a": two continuations, gamma = 2 * 0.5 / 2.
    assert 10 ** lm.log10_prob("b", ["a"]) == pytest.approx(0.5 / 2 + 0.5 * 1.9 / 7)
    assert 10 ** lm.log10_prob("</s>", ["a"]) == pytest.approx(0.5 * 1.9 / 7)
    # n-grams starting with <s> keep raw counts: <s> a twice, <s> b once.
    assert 10 ** lm.log10_prob("a", [BOS]) == pytest.approx(1.5 / 3 + (1.0 / 3) * 0.9 / 7)


def test_modified_discounts_follow_chen_and_goodman_and_fall_back():
    y = 10 / (10 + 2 * 4)
    assert modified_kn_discounts(10, 4, 2, 1) == pytest.approx(
        (1 - 2 * y * 4 / 10, 2 - 3 * y * 2 / 4, 3 - 4 * y * 1 / 2))
    assert modified_kn_discounts(10, 4, 0, 0) == pytest.approx((y, y, y))
    assert modified_kn_discounts(3, 0, 0, 0) == (0.5, 0.5, 0.5)


def test_pruned_model_is_smaller_and_still_sums_to_one(tmp_path):
    sentences = corpus(400) + ["a very rare sentence indeed", "another rare one said the dog"]
    full = build_ngram_lm(sentences, order=3)
    pruned = build_ngram_lm(sentences, order=3, min_count=3)
    assert pruned.counts[0] == full.counts[0] and pruned.counts[1] < full.counts[1] and pruned.counts[2] < full.counts[2]
    for context in CONTEXTS + [("very", "rare"), ("the", "dog")]:
        assert total_probability(pruned, context) == pytest.approx(1.0, abs=1e-6), context
    assert pruned.log10_prob("cat", ("saw", "the")) == pytest.approx(full.log10_prob("cat", ("saw", "the")))
    assert pruned.log10_prob("indeed", ("rare", "sentence")) < full.log10_prob("indeed", ("rare", "sentence"))
    pruned.write_arpa(tmp_path / "lm.arpa")  # and it is a valid ARPA file
    again = read_arpa(tmp_path / "lm.arpa")
    assert again.counts == pruned.counts
    assert again.log10_prob("indeed", ("rare", "sentence")) == pytest.approx(pruned.log10_prob("indeed", ("rare", "sentence")), abs=1e-6)


def test_arpa_round_trip_gives_the_same_probabilities(tmp_path):
    lm = build_ngram_lm(corpus(), order=3)
    path = tmp_path / "lm.arpa"
    lm.write_arpa(path)
    assert sorted(os.listdir(tmp_path)) == ["lm.arpa"]  # no temporary file left behind
    text = path.read_text()
    assert text.startswith("\\data\\\nngram 1=") and text.rstrip().endswith("\\end\\")
    again = read_arpa(path)
    assert again.counts == lm.counts
    for context in CONTEXTS:
        for word in predictable(lm):
            assert again.log10_prob(word, context) == pytest.approx(lm.log10_prob(word, context), abs=1e-6)


def test_flashlight_kenlm_reads_our_arpa_and_agrees(tmp_path):
    kenlm_module = pytest.importorskip("flashlight.lib.text.decoder.kenlm")
    from flashlight.lib.text.dictionary import create_word_dict

    lm = build_ngram_lm(corpus(), order=3)
    lm.write_arpa(tmp_path / "lm.arpa")
    words = ["the", "cat", "saw", "a", "red", "ball", "zebra", UNK]
    dictionary = create_word_dict({word: [[word]] for word in words})
    kenlm = kenlm_module.KenLM(str(tmp_path / "lm.arpa"), dictionary)
    state, history = kenlm.start(False), [BOS]
    for word in ["the", "cat", "saw", "a", "zebra", "ball"]:
        state, score = kenlm.score(state, dictionary.get_index(word))
        assert score == pytest.approx(lm.log10_prob(word, history), abs=1e-5), word
        history.append(word)
    _, score = kenlm.finish(state)
    assert score == pytest.approx(lm.log10_prob("</s>", history), abs=1e-5)


def test_perplexity_is_lower_in_domain_than_on_shuffled_words():
    lm = build_ngram_lm(corpus(300, seed=0), order=3)
    held_out = corpus(50, seed=1)
    rng = random.Random(2)
    shuffled = [" ".join(rng.sample(s.split(), len(s.split()))) for s in held_out]
    in_domain = lm.perplexity(held_out)
    assert in_domain < 0.5 * lm.perplexity(shuffled)
    assert 1.0 < in_domain < 10.0


def test_text_is_normalized_and_tiny_corpora_work():
    lm = build_ngram_lm(["Enter 52.", "YES", "yes"], order=5)
    assert set(lm.words) == {"enter", "fifty", "two", "yes"}
    assert lm.order == 5  # "<s> enter fifty two </s>" has five words
    assert build_ngram_lm(["yes", "no"], order=5).order == 3
    for context in [(), (BOS,), (BOS, "enter"), ("fifty", "two")]:
        assert total_probability(lm, context) == pytest.approx(1.0, abs=1e-6)
    assert lm.log10_prob("yes", [BOS]) > lm.log10_prob("two", [BOS])


def test_an4_transcripts_if_present():
    if not AN4_TRAIN.exists():
        pytest.skip("AN4 data not present")
    sentences = [json.loads(line)["text"] for line in AN4_TRAIN.read_text().splitlines()]
    lm = build_ngram_lm(sentences, order=3)
    assert total_probability(lm, (BOS, "enter")) == pytest.approx(1.0, abs=1e-6)
    assert lm.perplexity(sentences[:100]) < 20


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no words"):
        build_ngram_lm(["", "?!"])
    with pytest.raises(ValueError, match="order"):
        build_ngram_lm(["a"], order=0)
    with pytest.raises(ValueError, match="discount"):
        build_ngram_lm(["a"], discount=1.5)
    (tmp_path / "bad.arpa").write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1 <s>\n-1 </s>\n\n\\end\\\n")
    with pytest.raises(ArpaError, match="header says 3"):
        read_arpa(tmp_path / "bad.arpa")


def test_reads_foreign_arpa_without_unk(tmp_path):
    (tmp_path / "other.arpa").write_text(
        "\\data\\\nngram 1=3\nngram 2=2\n\n\\1-grams:\n"
        "-99 <s> -0.30103\n-0.30103 </s>\n-0.30103 hi -0.1\n\n\\2-grams:\n"
        "-0.1 <s> hi\n-0.2 hi </s>\n\n\\end\\\n")
    lm = read_arpa(tmp_path / "other.arpa")
    assert lm.log10_prob("hi", [BOS]) == pytest.approx(-0.1)
    assert lm.log10_prob("</s>", [BOS]) == pytest.approx(-0.30103 - 0.30103)
    assert lm.log10_prob("zebra") == pytest.approx(-100.0)


def test_short_contexts_are_used_whole_by_higher_orders():
    lm = build_ngram_lm(["a b c d e"] * 3 + ["a b c d f", "x c d g"], order=4)
    assert lm.log10_prob("d", ["b", "c"]) > lm.log10_prob("d", ["c"])
    assert lm.log10_prob("e", ["a", "b", "c", "d"]) == lm.log10_prob("e", ["b", "c", "d"])


COMMANDS = ["turn the lights on", "turn off the lights", "next slide please", "the lights are on",
            "previous slide", "lights off please", "turn the music up"]


def component(lm, word, context) -> float:
    return 10.0 ** lm.log10_prob(word, context) if lm.knows(word) else 0.0


def test_interpolated_lm_is_the_mixture_on_its_ngrams_and_sums_to_one(tmp_path):
    stories, commands = build_ngram_lm(corpus(), order=3), build_ngram_lm(COMMANDS * 3, order=3, min_count=1)
    mixed = interpolate_lms([stories, commands], [0.3, 0.7])
    assert set(mixed.vocabulary) == set(stories.vocabulary) | set(commands.vocabulary)
    for gram in [("the", "cat", "saw"), ("turn", "the", "lights"), ("the", "lights"), ("cat",), ("slide",),
                 (BOS, "turn"), ("lights", "</s>")]:
        expected = 0.3 * component(stories, gram[-1], gram[:-1]) + 0.7 * component(commands, gram[-1], gram[:-1])
        assert 10.0 ** mixed.log10_prob(gram[-1], gram[:-1]) == pytest.approx(expected, rel=1e-9), gram
    for context in CONTEXTS + [("turn", "the"), ("lights", "are"), ("cat", "lights"), ("the", "music")]:
        assert total_probability(mixed, context) == pytest.approx(1.0, abs=1e-9), context
    mixed.write_arpa(tmp_path / "mixed.arpa")
    again = read_arpa(tmp_path / "mixed.arpa")
    assert again.log10_prob("lights", ("turn", "the")) == pytest.approx(mixed.log10_prob("lights", ("turn", "the")), abs=1e-6)
    alone = interpolate_lms([stories, stories], [0.5, 0.5])  # a model mixed with itself is itself
    for context in CONTEXTS:
        for word in ["cat", "bird", "the", "</s>"]:
            assert alone.log10_prob(word, context) == pytest.approx(stories.log10_prob(word, context), abs=1e-12)


def test_mixture_weights_maximize_held_out_likelihood_with_sets_counting_equally():
    stories, commands = build_ngram_lm(corpus(), order=3), build_ngram_lm(COMMANDS, order=3)
    held_stories, held_commands = corpus(20, seed=1), ["turn the lights off", "next slide"]

    def mean_log_likelihood(weights):
        per_set = []
        for sentences in (held_stories, held_commands):
            mixed = interpolate_lms([stories, commands], weights)
            log10_prob, count = zip(*(mixed.sentence_log10_prob(s) for s in sentences))
            per_set.append(sum(log10_prob) / sum(count))
        return sum(per_set) / 2

    best = mixture_weights([stories, commands], [held_stories, held_commands])
    assert sum(best) == pytest.approx(1.0) and 0.2 < best[1] < 0.8  # the short set is not outvoted
    for other in ([best[0] - 0.1, best[1] + 0.1], [best[0] + 0.1, best[1] - 0.1]):
        assert mean_log_likelihood(best) > mean_log_likelihood(other)
    assert mixture_weights([stories, commands], [held_stories])[0] > 0.95


def test_build_mixed_lm_weighs_sources_on_held_out_text():
    lm, weights = build_mixed_lm({"stories": corpus(400), "commands": COMMANDS * 20}, order=3)
    assert set(weights) == {"stories", "commands"} and sum(weights.values()) == pytest.approx(1.0)
    assert all(w > 0.2 for w in weights.values())
    assert lm.log10_prob("lights", ("turn", "the")) > -1.0 and lm.log10_prob("cat", (BOS, "the")) > -1.5
    for context in CONTEXTS:
        assert total_probability(lm, context) == pytest.approx(1.0, abs=1e-9), context
