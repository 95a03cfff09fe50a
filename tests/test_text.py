import pytest

from asr.text import BLANK, CHARACTERS, Vocabulary, cardinal, normalize_text, ordinal, year


@pytest.mark.parametrize("number, words", [
    (0, "zero"),
    (7, "seven"),
    (13, "thirteen"),
    (40, "forty"),
    (52, "fifty two"),
    (100, "one hundred"),
    (123, "one hundred twenty three"),
    (1000, "one thousand"),
    (1001, "one thousand one"),
    (20_019, "twenty thousand nineteen"),
    (1_000_000, "one million"),
    (3_000_200_001, "three billion two hundred thousand one"),
])
def test_cardinal(number, words):
    assert cardinal(number) == words


@pytest.mark.parametrize("number, words", [
    (1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (8, "eighth"), (9, "ninth"),
    (12, "twelfth"), (20, "twentieth"), (21, "twenty first"), (30, "thirtieth"),
    (100, "one hundredth"),
])
def test_ordinal(number, words):
    assert ordinal(number) == words


@pytest.mark.parametrize("number, words", [
    (1999, "nineteen ninety nine"), (1905, "nineteen oh five"), (1900, "nineteen hundred"),
    (2005, "two thousand five"), (2024, "twenty twenty four"), (3000, "three thousand"),
])
def test_year(number, words):
    assert year(number) == words


@pytest.mark.parametrize("text, normal", [
    ("123", "one hundred twenty three"),
    ("2nd", "second"),
    ("the 21st century", "the twenty first century"),
    ("1,000", "one thousand"),
    ("1,234,567", "one million two hundred thirty four thousand five hundred sixty seven"),
    ("3.5", "three point five"),
    ("3.14", "three point one four"),
    ("50%", "fifty percent"),
    ("$5", "five dollars"),
    ("$1", "one dollar"),
    ("$2.50", "two dollars fifty cents"),
    ("in 1999", "in nineteen ninety nine"),
    ("the 1990s", "the nineteen nineties"),
    ("Enter 52.", "enter fifty two"),
    ("007", "zero zero seven"),
    ("-5 degrees", "minus five degrees"),
    ("mp3", "mp three"),
])
def test_numbers_are_spelled_out(text, normal):
    assert normalize_text(text) == normal


@pytest.mark.parametrize("text, normal", [
    ("ENTER FIVE TWO", "enter five two"),
    ("R O B", "r o b"),
    ("Hello, world!", "hello world"),
    ("Rock & Roll", "rock and roll"),
    ("well-known e-mail", "well known e mail"),
    ("don't", "don't"),
    ("Don\u2019t STOP", "don't stop"),
    ("'quoted'", "quoted"),
    ("He said \"yes\" -- then (quietly) left...", "he said yes then quietly left"),
    ("  spaced \t\n out  ", "spaced out"),
    ("caf\u00e9 na\u00efve", "cafe naive"),
    ("\uff21\uff22\uff23", "abc"),  # fullwidth letters fold under NFKC
    ("", ""),
    ("?!", ""),
])
def test_punctuation_case_and_apostrophes(text, normal):
    assert normalize_text(text) == normal


def test_normalized_text_uses_only_the_character_vocabulary():
    normal = normalize_text("It's 5:30 -- $3.99 (40% off) & the 3rd time!")
    assert set(normal) <= set(CHARACTERS.tokens[1:])
    assert normal == "it's five thirty three dollars ninety nine cents forty percent off and the third time"


def test_normalization_is_idempotent():
    for text in ["Enter 52.", "The 1990s, 'quoted' & don't", "$2.50 at 3.5%"]:
        once = normalize_text(text)
        assert normalize_text(once) == once


def test_characters_vocabulary_layout():
    assert CHARACTERS.tokens[:3] == (BLANK, " ", "'")
    assert CHARACTERS.tokens[3:] == tuple("abcdefghijklmnopqrstuvwxyz")
    assert len(CHARACTERS) == 29
    assert CHARACTERS.blank == 0


def test_characters_round_trip():
    text = "don't stop now"
    ids = CHARACTERS.encode(text)
    assert len(ids) == len(text)
    assert 0 not in ids
    assert CHARACTERS.decode(ids) == text
    assert CHARACTERS.encode("ab c") == [3, 4, 1, 5]


def test_decode_drops_blanks():
    assert CHARACTERS.decode([0, 3, 0, 0, 4, 0]) == "ab"


def test_encode_refuses_unknown_tokens():
    with pytest.raises(ValueError, match="'A'"):
        CHARACTERS.encode("A")


def test_multi_character_tokens():
    vocab = Vocabulary((BLANK, "AA", "B", "CH"), separator=" ")
    assert vocab.encode("B AA CH") == [2, 1, 3]
    assert vocab.encode(["CH", "B"]) == [3, 2]
    assert vocab.decode([2, 0, 1]) == "B AA"
    assert len(vocab) == 4


def test_tokens_must_be_unique():
    with pytest.raises(ValueError):
        Vocabulary((BLANK, "a", "a"))
