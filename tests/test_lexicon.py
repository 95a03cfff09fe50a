import json
import time
from pathlib import Path

import pytest

from asr.lexicon import (
    G2P,
    G2P_TABLE,
    PHONEME_SET,
    PHONEMES,
    Lexicon,
    align,
    cmudict_path,
    default_g2p,
    edit_distance,
    evaluate_g2p,
    held_out_words,
    letter_outputs,
    load_cmudict,
    parse_cmudict,
)
from asr.text import BLANK, normalize_text

AN4 = Path("/work/shared/data/an4")


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon()


def test_phoneme_vocabulary():
    assert len(PHONEME_SET) == 39
    assert PHONEMES.tokens[0] == BLANK and PHONEMES.blank == 0
    assert len(PHONEMES) == 40
    ids = PHONEMES.encode("S P IY CH")
    assert 0 not in ids
    assert PHONEMES.decode(ids) == "S P IY CH"
    assert PHONEMES.encode(["ZH", "AA"]) == [39, 1]


def test_cmudict_is_found_and_loads_fast():
    assert cmudict_path().name == "cmudict-en-us.dict"
    load_cmudict.cache_clear()
    start = time.perf_counter()
    dictionary = load_cmudict()
    assert time.perf_counter() - start < 1.5  # < 1 s on an idle core; slack for busy CI
    assert len(dictionary) > 120_000
    assert load_cmudict() is dictionary


def test_parse_cmudict_variants_stress_and_comments():
    text = "\n".join([
        ";;; a comment line",
        "READ  R IY1 D",
        "read(2)  R EH1 D  # past tense",
        "read(3) R IY1 D",
        "tomato\tT AH0 M EY1 T OW2",
        "",
    ])
    assert parse_cmudict(text) == {
        "read": (("R", "IY", "D"), ("R", "EH", "D")),
        "tomato": (("T", "AH", "M", "EY", "T", "OW"),),
    }


def test_known_words(lexicon):
    assert lexicon.pronunciations("speech") == [["S", "P", "IY", "CH"]]
    assert lexicon.pronunciations("rubout") == [["R", "AH", "B", "AW", "T"]]
    assert "speech" in lexicon and "flimp" not in lexicon


def test_variant_pronunciations_in_file_order(lexicon):
    assert lexicon.pronunciations("read") == [["R", "EH", "D"], ["R", "IY", "D"]]
    assert lexicon.pronunciations("either") == [["IY", "DH", "ER"], ["AY", "DH", "ER"]]
    assert lexicon.pronunciations("a") == [["AH"], ["EY"]]


def test_every_phoneme_in_the_dictionary_is_in_the_vocabulary():
    phones = {p for prons in load_cmudict().values() for pron in prons for p in pron}
    assert phones == set(PHONEME_SET)


def test_sentence_phonemes_take_first_pronunciations(lexicon):
    assert lexicon.phonemes("enter five two") == "EH N T ER F AY V T UW".split()
    assert lexicon.phonemes(normalize_text("Speech, 2nd!")) == "S P IY CH S EH K AH N D".split()
    assert lexicon.phonemes("") == []


def test_out_of_vocabulary_words_get_a_guess(lexicon):
    assert lexicon.out_of_vocabulary(["speech", "flimp", "flimp"]) == ["flimp"]
    (guess,) = lexicon.pronunciations("flimp")
    assert edit_distance(guess, "F L IH M P".split()) <= 1
    assert all(p in PHONEME_SET for p in guess)
    assert lexicon.phonemes("the flimp")[-len(guess):] == guess


def test_lexicon_with_own_dictionary_and_g2p():
    g2p = G2P({"[a]": "EY", "[b]": "B", "[c]": "K S"}, backoff=((0, 0),))
    lexicon = Lexicon({"ab": (("AE", "B"), ("EY", "B"))}, g2p)
    assert lexicon.pronunciations("ab") == [["AE", "B"], ["EY", "B"]]
    assert lexicon.pronunciations("cab") == [["K", "S", "EY", "B"]]
    assert lexicon.phonemes("ab cab") == ["AE", "B", "K", "S", "EY", "B"]


def test_g2p_backs_off_to_narrower_windows():
    g2p = G2P({"[c]": "K", "[c]e": "S", "#[c]h": "CH", "[e]": "", "[h]": "HH"},
              backoff=((1, 1), (0, 1), (0, 0)))
    assert g2p("ca") == ["K"]
    assert g2p("ce") == ["S"]
    assert g2p("ch") == ["CH", "HH"]
    assert g2p("ach") == ["K", "HH"]  # '#[c]h' needs c word-initial
    assert g2p("Q!") == []  # unseen letters are silent, non-letters ignored


def test_g2p_save_load_round_trip(tmp_path):
    g2p = G2P({"[a]": "EY", "[b]": "B", "a[b]": "", "[x]": "K S"}, backoff=((1, 0), (0, 0)))
    g2p.save(tmp_path / "g2p.json")
    assert G2P.load(tmp_path / "g2p.json") == g2p


def test_alignment_chunks():
    probs = {("x", "K S"): 0.1, ("e", ""): 0.2, ("t", "T"): 0.2, ("e", "EH"): 0.2,
             ("ph", "F"): 0.1, ("p", "P"): 0.1, ("h", ""): 0.01, ("o", "OW"): 0.1,
             ("n", "N"): 0.1}
    assert align("text", ["T", "EH", "K", "S", "T"], probs) == [
        ("t", "T"), ("e", "EH"), ("x", "K S"), ("t", "T")]
    chunks = align("phone", ["F", "OW", "N"], probs)
    assert chunks == [("ph", "F"), ("o", "OW"), ("n", "N"), ("e", "")]
    assert letter_outputs(chunks) == ["F", "", "OW", "N", ""]
    assert align("ox", ["OW"], {("o", "OW"): 1.0}) is None


def test_edit_distance():
    assert edit_distance("K AE T".split(), "K AE T".split()) == 0
    assert edit_distance("K AE T".split(), "B AE T S".split()) == 2
    assert edit_distance([], ["A"]) == 1


def test_shipped_g2p_table_is_small():
    assert G2P_TABLE.is_file()
    assert G2P_TABLE.stat().st_size < 2_000_000
    json.loads(G2P_TABLE.read_text())


def test_held_out_words_are_stable():
    dictionary = load_cmudict()
    words = held_out_words(dictionary)
    assert len(words) == 2000 and words == held_out_words(dictionary)
    assert words == held_out_words(reversed(list(dictionary)))
    assert all(w in dictionary and w.isalpha() or "'" in w for w in words)


@pytest.mark.parametrize("word", ["cheers", "boarded", "viewers", "squeezed", "slowed", "backlog"])
def test_g2p_is_close_on_held_out_regular_words(word):
    assert word in held_out_words(load_cmudict())
    guess = default_g2p()(word)
    assert min(edit_distance(guess, pron) for pron in load_cmudict()[word]) <= 1


def test_g2p_error_rate_on_held_out_sample():
    score = evaluate_g2p(words=held_out_words(load_cmudict())[:400])
    assert score.words == 400
    assert score.phoneme_error_rate < 0.15
    assert score.word_accuracy > 0.45


@pytest.mark.skipif(not AN4.is_dir(), reason="AN4 data not present")
def test_every_an4_word_is_pronounceable(lexicon):
    words = set()
    for split in ("train", "test"):
        for line in (AN4 / split / "manifest.jsonl").read_text().splitlines():
            words.update(normalize_text(json.loads(line)["text"]).split())
    assert len(words) > 90
    assert lexicon.out_of_vocabulary(words) == []
    assert all(lexicon.phonemes(w) for w in words)
