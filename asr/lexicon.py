"""Pronunciations: CMUdict (as shipped with pocketsphinx) with a trained G2P fallback.

The G2P is a letter-window model: CMUdict spellings are EM-aligned to their phonemes in
chunks (one letter to zero, one or two phonemes, or two letters to one phoneme), each letter
then carries the phonemes of its chunk, and a letter is pronounced the way it most often was
in the widest surrounding letter window seen in training, backing off to narrower windows.
The learned table ships as `asr/data/g2p.json`; `build_g2p_table()` remakes it.
"""
from __future__ import annotations

import importlib.util
import json
import math
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from asr.text import BLANK, Vocabulary

PHONEME_SET = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG "
    "OW OY P R S SH T TH UH UW V W Y Z ZH"
).split()
PHONEMES = Vocabulary((BLANK, *PHONEME_SET), separator=" ")

G2P_TABLE = Path(__file__).parent / "data" / "g2p.json"
HELD_OUT_WORDS = 2000  # CMUdict words kept out of the shipped G2P so it can be evaluated

Pronunciation = tuple[str, ...]
Dictionary = Mapping[str, tuple[Pronunciation, ...]]

_VARIANT = re.compile(r"\(\d+\)$")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_COMMENT = re.compile(r"#.*")
_STRESSED = re.compile(r" [A-Za-z]+[0-9]")
_SPELLING = re.compile(r"[a-z']+")


def cmudict_path() -> Path:
    """The CMUdict file inside the installed pocketsphinx package."""
    spec = importlib.util.find_spec("pocketsphinx")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pocketsphinx is not installed; it ships the CMU dictionary")
    for root in spec.submodule_search_locations:
        path = Path(root) / "model" / "en-us" / "cmudict-en-us.dict"
        if path.is_file():
            return path
    raise FileNotFoundError("pocketsphinx is installed but has no model/en-us/cmudict-en-us.dict")


def parse_cmudict(text: str) -> dict[str, tuple[Pronunciation, ...]]:
    """Word -> pronunciations in file order; 'word(2)' lines add variants, stress is dropped."""
    text = _COMMENT.sub("", text).replace("\t", " ")  # some releases carry '# comments'
    stressed = _STRESSED.search(text) is not None
    dictionary: dict[str, tuple[Pronunciation, ...]] = {}
    for line in text.splitlines():
        word, _, phones = line.strip().partition(" ")
        if not phones or word.startswith(";;;"):
            continue
        word = _VARIANT.sub("", word).lower() if word.endswith(")") else word.lower()
        if stressed:
            phones = phones.translate(_NO_DIGITS)
        pronunciation = tuple(phones.upper().split())
        known = dictionary.get(word, ())
        if pronunciation not in known:
            dictionary[word] = (*known, pronunciation)
    return dictionary


@lru_cache(maxsize=4)
def load_cmudict(path: str | None = None) -> Dictionary:
    """The parsed dictionary (cached: ~135k entries take a few tenths of a second)."""
    return parse_cmudict(Path(path or cmudict_path()).read_text(encoding="utf-8"))


def held_out_words(words: Iterable[str], count: int = HELD_OUT_WORDS) -> list[str]:
    """A fixed pseudo-random sample of plain spellings (stable across runs and machines)."""
    plain = sorted({w for w in words if _SPELLING.fullmatch(w)})
    return sorted(plain, key=lambda w: (zlib.crc32(w.encode()), w))[:count]


# ---------------------------------------------------------------- alignment

Chunk = tuple[str, str]  # (letters, space-joined phonemes); "" phonemes for a silent letter
_MOVES = ((1, 0), (1, 1), (1, 2), (2, 1))
# EM favours alignments with fewer chunks, so left free it glues letters like 'ma' -> M;
# two-letter chunks are therefore limited to real digraphs.
DIGRAPHS = frozenset(
    [c + c for c in "bcdfgklmnprstvz"]
    + "ch sh th ph gh ng ck wh kn wr gn ea ee oo ou ai ay ey oa".split()
)


def _steps(word: str, phones: Sequence[str], i: int, j: int) -> Iterator[tuple[int, int, Chunk]]:
    """Chunks that can end at letter i, phoneme j, with where they start."""
    for di, dj in _MOVES:
        if di <= i and dj <= j and (di == 1 or word[i - di:i] in DIGRAPHS):
            yield i - di, j - dj, (word[i - di:i], " ".join(phones[j - dj:j]))


def _expected_counts(word: str, phones: Sequence[str], probs: Mapping[Chunk, float],
                     counts: defaultdict[Chunk, float]) -> None:
    """One forward-backward pass: add the posterior count of every chunk use to `counts`."""
    n, m = len(word), len(phones)
    alpha = [[0.0] * (m + 1) for _ in range(n + 1)]
    alpha[0][0] = 1.0
    for i in range(1, n + 1):
        for j in range(m + 1):
            alpha[i][j] = sum(alpha[a][b] * probs.get(chunk, 0.0)
                              for a, b, chunk in _steps(word, phones, i, j))
    total = alpha[n][m]
    if total <= 0.0:
        return
    beta = [[0.0] * (m + 1) for _ in range(n + 1)]
    beta[n][m] = 1.0
    for i in range(n, 0, -1):
        for j in range(m, -1, -1):
            if beta[i][j] == 0.0:
                continue
            for a, b, chunk in _steps(word, phones, i, j):
                p = probs.get(chunk, 0.0)
                if p:
                    beta[a][b] += p * beta[i][j]
                    counts[chunk] += alpha[a][b] * p * beta[i][j] / total


def train_alignment(pairs: Sequence[tuple[str, Pronunciation]], iterations: int = 5,
                    ) -> dict[Chunk, float]:
    """EM estimate of the joint chunk distribution, starting from uniform."""
    probs: dict[Chunk, float] = {
        chunk: 1.0 for word, phones in pairs for i in range(1, len(word) + 1)
        for j in range(len(phones) + 1) for _, _, chunk in _steps(word, phones, i, j)}
    for _ in range(iterations):
        counts: defaultdict[Chunk, float] = defaultdict(float)
        for word, phones in pairs:
            _expected_counts(word, phones, probs, counts)
        total = sum(counts.values())
        probs = {chunk: c / total for chunk, c in counts.items() if c / total > 1e-7}
    return dict(probs)


def align(word: str, phones: Sequence[str], probs: Mapping[Chunk, float]) -> list[Chunk] | None:
    """Most probable chunk segmentation, or None when no allowed one exists."""
    n, m = len(word), len(phones)
    best = [[-math.inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int, Chunk] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(m + 1):
            for a, b, chunk in _steps(word, phones, i, j):
                p = probs.get(chunk)
                if p and best[a][b] + math.log(p) > best[i][j]:
                    best[i][j] = best[a][b] + math.log(p)
                    back[i][j] = (a, b, chunk)
    if best[n][m] == -math.inf:
        return None
    chunks: list[Chunk] = []
    i, j = n, m
    while (i, j) != (0, 0):
        a, b, chunk = back[i][j]  # type: ignore[misc]
        chunks.append(chunk)
        i, j = a, b
    return chunks[::-1]


def letter_outputs(chunks: Sequence[Chunk]) -> list[str]:
    """One output per letter; a two-letter chunk speaks on its first letter."""
    outputs: list[str] = []
    for letters, phones in chunks:
        outputs.append(phones)
        outputs.extend("" for _ in letters[1:])
    return outputs


# ---------------------------------------------------------------- letter-window predictor

Window = tuple[int, int]  # letters of context to the left, to the right
BACKOFF: tuple[Window, ...] = (
    (3, 3), (2, 3), (3, 2), (2, 2), (1, 3), (3, 1), (1, 2), (2, 1), (1, 1),
    (0, 2), (2, 0), (0, 1), (1, 0), (0, 0),
)
_PAD = "#"


def _context(padded: str, i: int, window: Window) -> str:
    """Key for letter i of the word (index into `padded`, offset by the pad width)."""
    left, right = window
    return f"{padded[i - left:i]}[{padded[i]}]{padded[i + 1:i + 1 + right]}"


def _padded(word: str, windows: Sequence[Window]) -> tuple[str, int]:
    width = max(max(w) for w in windows)
    return _PAD * width + word + _PAD * width, width


@dataclass(frozen=True)
class G2P:
    """Letter-window grapheme-to-phoneme predictor.

    A letter's context key is '<left letters>[letter]<right letters>', '#' padding the word
    ends; the first window in `backoff` whose key is in `table` gives the answer.
    """

    table: Mapping[str, str]
    backoff: tuple[Window, ...] = BACKOFF

    def letter_output(self, padded: str, i: int) -> str:
        for window in self.backoff:
            output = self.table.get(_context(padded, i, window))
            if output is not None:
                return output
        return ""  # a letter never seen in training is taken as silent

    def __call__(self, word: str) -> list[str]:
        word = "".join(_SPELLING.findall(word.lower()))
        padded, offset = _padded(word, self.backoff)
        outputs = (self.letter_output(padded, offset + i) for i in range(len(word)))
        return [phone for output in outputs for phone in output.split()]

    def save(self, path: str | Path) -> None:
        """JSON grouped by answer (answer -> space-separated contexts), which keeps it small."""
        grouped: dict[str, list[str]] = defaultdict(list)
        for context, output in sorted(self.table.items()):
            grouped[output].append(context)
        data = {"backoff": [list(w) for w in self.backoff],
                "contexts": {output: " ".join(keys) for output, keys in sorted(grouped.items())}}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> G2P:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        table = {context: output for output, contexts in data["contexts"].items()
                 for context in contexts.split()}
        return cls(table, tuple((left, right) for left, right in data["backoff"]))


def _training_pairs(dictionary: Dictionary, exclude: Iterable[str] = ()
                    ) -> list[tuple[str, Pronunciation]]:
    skip = set(exclude)
    return [(word, pron) for word, prons in dictionary.items()
            if word not in skip and _SPELLING.fullmatch(word) for pron in prons]


def train_g2p(pairs: Sequence[tuple[str, Pronunciation]], backoff: tuple[Window, ...] = BACKOFF,
              em_words: int = 25_000, em_iterations: int = 5, min_count: int = 1) -> G2P:
    """Align (EM on a sample of `em_words` pairs, then Viterbi on all) and count windows."""
    sample = sorted(pairs, key=lambda p: zlib.crc32(" ".join((p[0], *p[1])).encode()))[:em_words]
    probs = train_alignment(sample, em_iterations)
    counts: dict[Window, dict[str, Counter[str]]] = {w: defaultdict(Counter) for w in backoff}
    for word, phones in pairs:
        chunks = align(word, phones, probs)
        if chunks is None:
            continue  # e.g. abbreviations with more than two phonemes per letter
        padded, offset = _padded(word, backoff)
        for i, output in enumerate(letter_outputs(chunks)):
            for window in backoff:
                counts[window][_context(padded, offset + i, window)][output] += 1
    return _prune(counts, backoff, min_count)


def _prune(counts: Mapping[Window, Mapping[str, Counter[str]]], backoff: tuple[Window, ...],
           min_count: int) -> G2P:
    """Fill the table from the narrowest window up, keeping a context only where its
    majority answer differs from what the narrower windows inside it answer.

    Most wide contexts agree with a narrower one, which is what keeps the table small.
    """
    table: dict[str, str] = {}
    model = G2P(table, backoff)
    for level, window in reversed(list(enumerate(backoff))):
        added: dict[str, str] = {}
        for key, outputs in counts[window].items():
            if sum(outputs.values()) < min_count and window != (0, 0):
                continue
            fallback = _backoff_answer(model, key, level)
            best, best_count = outputs.most_common(1)[0]
            if fallback is not None and outputs[fallback] == best_count:
                continue
            added[key] = best
        table.update(added)
    return model


def _backoff_answer(model: G2P, key: str, level: int) -> str | None:
    """The answer of the first later window in the back-off order that lies inside this one."""
    left, right = model.backoff[level]
    padded = key.replace("[", "").replace("]", "")
    for window in model.backoff[level + 1:]:
        if window[0] <= left and window[1] <= right:
            output = model.table.get(_context(padded, left, window))
            if output is not None:
                return output
    return None


def build_g2p_table(path: str | Path = G2P_TABLE) -> G2P:
    """Retrain the shipped G2P on CMUdict minus the held-out evaluation words, and save it."""
    dictionary = load_cmudict()
    model = train_g2p(_training_pairs(dictionary, held_out_words(dictionary)))
    model.save(path)
    default_g2p.cache_clear()
    return model


@lru_cache(maxsize=1)
def default_g2p() -> G2P:
    """The shipped G2P (retrained, about two minutes, if its table file is missing)."""
    if not G2P_TABLE.is_file():
        return build_g2p_table()
    return G2P.load(G2P_TABLE)


# ---------------------------------------------------------------- evaluation

def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class G2PScore:
    words: int
    word_errors: int
    phoneme_errors: int
    reference_phonemes: int

    @property
    def phoneme_error_rate(self) -> float:
        return self.phoneme_errors / max(self.reference_phonemes, 1)

    @property
    def word_accuracy(self) -> float:
        return 1.0 - self.word_errors / max(self.words, 1)


def evaluate_g2p(g2p: G2P | None = None, words: Sequence[str] | None = None,
                 dictionary: Dictionary | None = None) -> G2PScore:
    """Score against CMUdict, each word against its closest listed pronunciation.

    The default words are the held-out ones the shipped table was trained without.
    """
    g2p = g2p or default_g2p()
    dictionary = dictionary or load_cmudict()
    words = held_out_words(dictionary) if words is None else words
    word_errors = phoneme_errors = reference_phonemes = 0
    for word in words:
        guess = g2p(word)
        errors, reference = min((edit_distance(guess, pron), pron) for pron in dictionary[word])
        word_errors += errors > 0
        phoneme_errors += errors
        reference_phonemes += len(reference)
    return G2PScore(len(words), word_errors, phoneme_errors, reference_phonemes)


# ---------------------------------------------------------------- lexicon

class Lexicon:
    """CMUdict lookups, with the G2P guess for words it lacks."""

    def __init__(self, dictionary: Dictionary | None = None, g2p: G2P | None = None):
        self.dictionary = load_cmudict() if dictionary is None else dictionary
        self._g2p = g2p

    @property
    def g2p(self) -> G2P:
        return self._g2p or default_g2p()

    def __contains__(self, word: str) -> bool:
        return word in self.dictionary

    def pronunciations(self, word: str) -> list[list[str]]:
        known = self.dictionary.get(word)
        return [list(p) for p in known] if known else [self.g2p(word)]

    def phonemes(self, text: str) -> list[str]:
        """Phonemes of a normalized sentence, first pronunciation of each word."""
        return [phone for word in text.split() for phone in self.pronunciations(word)[0]]

    def out_of_vocabulary(self, words: Iterable[str]) -> list[str]:
        return sorted({w for w in words if w not in self.dictionary})
