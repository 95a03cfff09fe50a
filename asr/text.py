"""Text normalization and token vocabularies.

`normalize_text` is the one normalization shared by training targets and scoring, so that
"Enter 52." from a peer and "ENTER FIFTY TWO" from a reference compare word for word:
lowercase a-z words, inner apostrophes kept, numbers spelled out, single spaces.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Sequence

BLANK = "<b>"

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion")
_IRREGULAR_ORDINALS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}
_CURRENCIES = {"$": ("dollar", "cent"), "£": ("pound", "penny"), "€": ("euro", "cent")}
_SYMBOLS = {"&": " and ", "%": " percent ", "@": " at ", "+": " plus ", "=": " equals "}
# Digit strings longer than this (phone numbers, ids) are read digit by digit.
_MAX_CARDINAL_DIGITS = 15

_NUMBER = re.compile(
    r"(?P<minus>(?<![\w.])-)?"
    r"(?P<currency>[$£€])?"
    r"(?:(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.(?P<frac>\d+))?|\.(?P<bare_frac>\d+))"
    r"(?P<suffix>(?:st|nd|rd|th|s)(?![a-z]))?",
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_NOT_ALLOWED = re.compile(r"[^a-z' ]+")
_LOOSE_APOSTROPHE = re.compile(r"(?<![a-z])'|'(?![a-z])")
_ALREADY_NORMAL = re.compile(r"[a-z]+(?: [a-z]+)*")  # text that normalize_text leaves as it is


def cardinal(number: int) -> str:
    """English words for a non-negative integer: 123 -> 'one hundred twenty three'."""
    if number < 0:
        raise ValueError(f"cardinal() takes a non-negative integer, not {number}")
    if number == 0:
        return "zero"
    groups: list[str] = []
    for scale in _SCALES:
        number, group = divmod(number, 1000)
        if group:
            groups.append(f"{_below_thousand(group)} {scale}".strip())
        if number == 0:
            break
    else:
        raise ValueError("number too large to spell")
    return " ".join(reversed(groups))


def _below_thousand(number: int) -> str:
    hundreds, rest = divmod(number, 100)
    words = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest:
        words.append(_below_hundred(rest))
    return " ".join(words)


def _below_hundred(number: int) -> str:
    if number < 20:
        return _ONES[number]
    tens, ones = divmod(number, 10)
    return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")


def ordinal(number: int) -> str:
    """2 -> 'second', 21 -> 'twenty first', 100 -> 'one hundredth'."""
    *head, last = cardinal(number).split()
    if last in _IRREGULAR_ORDINALS:
        last = _IRREGULAR_ORDINALS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def year(number: int) -> str:
    """How a year is read: 1999 -> 'nineteen ninety nine', 1905 -> 'nineteen oh five'."""
    century, rest = divmod(number, 100)
    if not 1100 <= number <= 2099 or 2000 <= number <= 2009:
        return cardinal(number)
    if rest == 0:
        return f"{cardinal(century)} hundred"
    if rest < 10:
        return f"{cardinal(century)} oh {_ONES[rest]}"
    return f"{cardinal(century)} {_below_hundred(rest)}"


def _plural(words: str) -> str:
    """'nineteen ninety' -> 'nineteen nineties' (for '1990s')."""
    *head, last = words.split()
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return " ".join([*head, last])


def _digits(text: str) -> str:
    return " ".join(_ONES[int(d)] for d in text)


def _spell_integer(text: str) -> str:
    """Integer part as written: commas mean a plain cardinal, a bare 4-digit number a year."""
    plain = text.replace(",", "")
    if len(plain) > _MAX_CARDINAL_DIGITS or (len(plain) > 1 and plain.startswith("0")):
        return _digits(plain)
    if "," not in text and len(plain) == 4:
        return year(int(plain))
    return cardinal(int(plain))


def _spell_number(match: re.Match[str]) -> str:
    whole, frac = match["int"], match["frac"] or match["bare_frac"]
    suffix, currency = match["suffix"], match["currency"]
    words: list[str] = ["minus"] if match["minus"] else []
    if suffix in ("st", "nd", "rd", "th") and whole is not None and frac is None:
        words.append(ordinal(int(whole.replace(",", ""))))
    elif currency and whole is not None and frac is not None and len(frac) == 2:
        unit, subunit = _CURRENCIES[currency]
        amount, cents = int(whole.replace(",", "")), int(frac)
        words.append(f"{cardinal(amount)} {unit}{'' if amount == 1 else 's'}")
        if cents:
            words.append(f"{cardinal(cents)} {subunit if cents == 1 else _plural_unit(subunit)}")
        return " " + " ".join(words) + " "
    else:
        spoken = _spell_integer(whole) if whole is not None else ""
        if frac is not None:
            spoken = f"{spoken} point {_digits(frac)}".strip()
        if suffix == "s":
            spoken = _plural(spoken)
        elif suffix:
            spoken = f"{spoken} {suffix}"
        words.append(spoken)
        if currency:
            unit, _ = _CURRENCIES[currency]
            singular = whole is not None and frac is None and int(whole.replace(",", "")) == 1
            words.append(unit if singular else unit + "s")
    return " " + " ".join(words) + " "


def _plural_unit(unit: str) -> str:
    return "pence" if unit == "penny" else unit + "s"


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalize_text(text: str) -> str:
    """The shared normalization: 'Enter 52.' -> 'enter fifty two', "Don't-stop" -> "don't stop"."""
    if _ALREADY_NORMAL.fullmatch(text):  # most of a lexicon or LM text: 0.7 s per 30k-word lexicon
        return text
    text = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES)
    text = _strip_accents(text)
    text = _NUMBER.sub(_spell_number, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = _NOT_ALLOWED.sub(" ", text)
    text = _LOOSE_APOSTROPHE.sub(" ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Vocabulary:
    """Tokens by index, index 0 the CTC blank.

    `separator` joins decoded tokens: "" for characters, " " for phonemes; encode splits a
    string the same way (or takes a sequence of tokens as is).
    """

    tokens: tuple[str, ...]
    separator: str = ""
    blank: int = 0
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique")
        object.__setattr__(self, "_index", {token: i for i, token in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str | Sequence[str]) -> list[int]:
        pieces: Iterable[str] = text
        if isinstance(text, str) and self.separator:
            pieces = text.split() if self.separator.isspace() else text.split(self.separator)
        try:
            return [self._index[piece] for piece in pieces]
        except KeyError as error:
            raise ValueError(f"token {error.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Tokens for ids, blanks dropped (no CTC collapsing of repeats)."""
        return self.separator.join(self.tokens[i] for i in ids if i != self.blank)


CHARACTERS = Vocabulary((BLANK, " ", "'", *"abcdefghijklmnopqrstuvwxyz"))
