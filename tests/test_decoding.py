import pytest
import torch

from asr.decoding import (
    BeamConfig,
    BeamSearchDecoder,
    GreedyDecoder,
    build_decoder,
    greedy_decode,
    greedy_tokens,
    lexicon_words,
)
from asr.lm import build_ngram_lm
from asr.text import CHARACTERS, Vocabulary

LM_TEXT = ["hello world"] * 6 + ["hello there", "there is a word", "the world"]


def posteriors(*frames) -> torch.Tensor:
    """(1, T, V) log-probabilities; a frame is a token ("_" is the blank), which gets 0.9, or
    a {token: probability} dict; the rest of the mass is spread evenly."""
    rows = []
    for frame in frames:
        wanted = {frame: 0.9} if isinstance(frame, str) else frame
        wanted = {("<b>" if token == "_" else token): p for token, p in wanted.items()}
        rest = (1.0 - sum(wanted.values())) / (len(CHARACTERS) - len(wanted))
        rows.append([wanted.get(token, rest) for token in CHARACTERS.tokens])
    return torch.tensor(rows).log().unsqueeze(0)


def spelled(text: str) -> list[str]:
    """One frame per character with a blank after each: clean posteriors for `text`."""
    return [frame for character in text for frame in (character, "_")]


# "hello world" said with a weak second "l" and a weak "o": the best path drops both.
NEAR_MISS = posteriors(
    "h", "_", "e", "_", "l", {"l": 0.55, "_": 0.4}, "l", "_", "o", " ",
    "w", {"_": 0.55, "o": 0.4}, "r", "_", "l", "_", "d", "_",
)
# "hello world" where the acoustics slightly prefer "word": only an LM says "world".
WORD_OR_WORLD = posteriors(*spelled("hello "), "w", "_", "o", "_", "r", {"_": 0.5, "l": 0.45}, "d", "_")


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("lm") / "hello.arpa"
    build_ngram_lm(LM_TEXT, order=3).write_arpa(path)
    return path


def test_greedy_collapses_repeats_drops_blanks_and_respects_lengths():
    a, b = CHARACTERS.encode("ab")
    log_probs = torch.cat([posteriors("a", "a", "_", "a", "b", "b", "_", "_"),
                           posteriors("b", "_", "b", "a", "a", "b", "b", "b")])
    assert greedy_tokens(log_probs, torch.tensor([8, 3])) == [[a, a, b], [b, b]]
    assert greedy_tokens(log_probs) == [[a, a, b], [b, b, a, b]]
    assert greedy_decode(log_probs, torch.tensor([8, 0]), CHARACTERS) == ["aab", ""]


def test_greedy_cleans_spaces():
    log_probs = posteriors(" ", "a", " ", "_", " ", "b", " ", " ")
    assert greedy_decode(log_probs, None, CHARACTERS) == ["a b"]
    assert GreedyDecoder(CHARACTERS).decode(NEAR_MISS) == ["helo wrld"]


def test_lexicon_beam_search_corrects_a_near_miss(lm_path):
    assert greedy_decode(NEAR_MISS, None, CHARACTERS) == ["helo wrld"]
    decoder = BeamSearchDecoder(CHARACTERS, ["hello", "world"], lm_path)
    assert decoder.decode(NEAR_MISS) == ["hello world"]


def test_language_model_chooses_between_lexicon_words(lm_path):
    words = ["hello", "world", "word", "there"]
    assert greedy_decode(WORD_OR_WORLD, None, CHARACTERS) == ["hello word"]
    assert BeamSearchDecoder(CHARACTERS, words).decode(WORD_OR_WORLD) == ["hello word"]
    assert BeamSearchDecoder(CHARACTERS, words, lm_path).decode(WORD_OR_WORLD) == ["hello world"]
    in_memory = build_ngram_lm(LM_TEXT, order=3)
    assert BeamSearchDecoder(CHARACTERS, words, in_memory).decode(WORD_OR_WORLD) == ["hello world"]


def test_lexicon_free_beam_search(lm_path):
    plain = BeamSearchDecoder(CHARACTERS)
    assert plain.decode(NEAR_MISS) == ["helo wrld"]
    assert plain.decode(posteriors(*spelled("a new word"))) == ["a new word"]
    with_lm = BeamSearchDecoder(CHARACTERS, lm=lm_path)
    assert with_lm.decode(NEAR_MISS) == ["hello world"]
    # Words the LM never saw still come out, spelled as heard.
    assert with_lm.decode(posteriors(*spelled("hello zorp"))) == ["hello zorp"]


def test_beam_search_batches_with_lengths(lm_path):
    frames = NEAR_MISS.shape[1]
    padded = torch.cat([NEAR_MISS, posteriors(*spelled("hello"), *["x"] * (frames - 10))])
    lengths = torch.tensor([frames, 10])
    for decoder in (BeamSearchDecoder(CHARACTERS, ["hello", "world"], lm_path),
                    BeamSearchDecoder(CHARACTERS, lm=lm_path)):
        assert decoder.decode(padded, lengths) == ["hello world", "hello"]


def test_lexicon_words_are_normalized_and_spellable():
    assert lexicon_words(["Hello", "hello", "52", "naïve", "x-ray"], CHARACTERS) == [
        "fifty", "hello", "naive", "ray", "two", "x"]
    with pytest.raises(ValueError, match="no word"):
        lexicon_words(["123"], Vocabulary(("<b>", " ", "a")))


def test_build_decoder_entry_point(lm_path, tmp_path):
    assert isinstance(build_decoder("greedy", CHARACTERS), GreedyDecoder)
    beam = build_decoder("beam", CHARACTERS, ["hello", "world"], lm_path, BeamConfig(beam_size=8))
    assert beam.decode(NEAR_MISS) == ["hello world"]
    with pytest.raises(ValueError, match="greedy"):
        build_decoder("greedy", CHARACTERS, words=["hello"])
    with pytest.raises(ValueError, match="kind"):
        build_decoder("viterbi", CHARACTERS)
    with pytest.raises(FileNotFoundError):
        build_decoder("beam", CHARACTERS, lm_path=tmp_path / "missing.arpa")
    with pytest.raises(ValueError, match="space"):
        BeamSearchDecoder(Vocabulary(("<b>", "a", "b")))


def test_lexicon_search_keeps_repeated_letters_one_word_and_the_last_word():
    """Spelled letters (AN4: "x a g n a") held over several frames must not split into
    "x x a a ...", and the final word, which has no boundary after it, must not be dropped."""
    decoder = BeamSearchDecoder(CHARACTERS, words=["x", "a", "g", "n"], lm=None)
    frames = ["x", "x", "_", " ", "a", "a", "a", " ", "g", "g", "_", " ", "n", "n", "_", "a", "a"]
    assert decoder.decode(posteriors(*frames)) == ["x a g n a"]


def test_a_long_pause_becomes_a_word_boundary():
    from asr.decoding import mark_pauses
    frames = ["e", "i", "g", "h", "t"] + ["_"] * 12 + ["t", "w", "o"]
    marked = mark_pauses(posteriors(*frames)[0], blank=0, boundary=1, min_frames=10)
    assert greedy_decode(marked[None], None, CHARACTERS) == ["eight two"]
    short = ["a"] + ["_"] * 5 + ["b"]
    assert torch.equal(mark_pauses(posteriors(*short)[0], 0, 1, 10), posteriors(*short)[0])
