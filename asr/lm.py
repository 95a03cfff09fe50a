"""Word n-gram language models: interpolated modified Kneser-Ney, ARPA in and out.

`build_ngram_lm` estimates the model the way KenLM's lmplz does (Chen & Goodman's
interpolated modified Kneser-Ney, three discounts per order from the counts of counts, the
lower orders on continuation counts except n-grams that start with <s>) and stores it as
ARPA stores it: for every seen n-gram its fully interpolated log10 probability, and for every
n-gram that is a context its log10 backoff weight, so that the ARPA backoff rule reproduces
the interpolated model exactly.

N-grams live in numpy arrays, one sorted table per order: an n-gram's key is
`row of its (n-1)-gram prefix * vocabulary size + id of its last word`, and a unigram's row
is its word id. Counting, estimation and lookup are vectorized over these keys, which keeps a
3-gram of LibriSpeech train-clean-100 to a few seconds and tens of megabytes.
"""
from __future__ import annotations

import os
import tempfile
from array import array
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from asr.text import normalize_text

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
NO_PROB = -99.0  # ARPA's log10 probability of <s>, which is a context and never predicted
MISSING_UNK = -100.0  # log10 probability given to <unk> when an ARPA file lacks it (KenLM's choice)
_FALLBACK_DISCOUNT = 0.5
LM_FILE = "lm.arpa"  # beside a model: the word LM of its beam decoder
WORDS_FILE = "words.txt"  # beside a model: the beam decoder's lexicon, one word a line


class ArpaError(ValueError):
    """An ARPA file that cannot be read; str() names the file and the problem."""


@dataclass(frozen=True, eq=False)
class NGramLM:
    """A backoff n-gram model in ARPA form.

    `keys[k]` holds the sorted keys of the (k+1)-grams (`keys[0]` is simply 0..V-1),
    `log10_probs[k]` and `log10_backoffs[k]` run parallel to it.
    """

    vocabulary: tuple[str, ...]
    keys: tuple[np.ndarray, ...]
    log10_probs: tuple[np.ndarray, ...]
    log10_backoffs: tuple[np.ndarray, ...]
    discounts: tuple[tuple[float, float, float], ...] = ()
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {word: i for i, word in enumerate(self.vocabulary)})
        for special in (UNK, BOS, EOS):
            if special not in self._index:
                raise ValueError(f"language model vocabulary lacks {special}")

    @property
    def order(self) -> int:
        return len(self.keys)

    @property
    def counts(self) -> tuple[int, ...]:
        """Number of n-grams of each order, unigrams first."""
        return tuple(len(keys) for keys in self.keys)

    @property
    def words(self) -> list[str]:
        """The vocabulary without <unk>, <s> and </s>."""
        return [word for word in self.vocabulary if word not in (UNK, BOS, EOS)]

    def word_id(self, word: str) -> int:
        return self._index.get(word, self._index[UNK])

    def knows(self, word: str) -> bool:
        return word in self._index

    def ngrams(self) -> list[list[tuple[str, ...]]]:
        """Every n-gram the model holds, as word tuples, one list per order in table order."""
        size = len(self.vocabulary)
        grams = [[(word,) for word in self.vocabulary]]
        for k in range(1, self.order):
            prefixes, words = np.divmod(self.keys[k], size)
            grams.append([grams[-1][p] + (self.vocabulary[w],) for p, w in zip(prefixes.tolist(), words.tolist())])
        return grams

    def log10_prob(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 p(word | context); `context` is the preceding words, oldest first, and may
        start with <s>. Words outside the vocabulary are <unk>."""
        return self.log10_prob_ids(self.word_id(word), tuple(self.word_id(w) for w in context))

    def log10_prob_ids(self, word: int, context: tuple[int, ...]) -> float:
        """`log10_prob` on word ids, by the ARPA backoff rule."""
        context = context[max(len(context) - self.order + 1, 0):] if self.order > 1 else ()
        backoff = 0.0
        for start in range(len(context) + 1):
            history = context[start:]
            row = self._row(history + (word,))
            if row >= 0:
                return backoff + float(self.log10_probs[len(history)][row])
            if history:
                history_row = self._row(history)
                if history_row >= 0:
                    backoff += float(self.log10_backoffs[len(history) - 1][history_row])
        raise AssertionError("every word id has a unigram")  # pragma: no cover

    def sentence_log10_prob(self, sentence: str, normalize: bool = True) -> tuple[float, int]:
        """Total log10 probability of a sentence with its </s>, and the number of predictions."""
        words = (normalize_text(sentence) if normalize else sentence).split()
        ids = [self.word_id(w) for w in words] + [self._index[EOS]]
        context: tuple[int, ...] = (self._index[BOS],)
        total = 0.0
        for word in ids:
            total += self.log10_prob_ids(word, context)
            context = (context + (word,))[-(self.order - 1):] if self.order > 1 else ()
        return total, len(ids)

    def perplexity(self, sentences: Iterable[str], normalize: bool = True) -> float:
        """Per-word perplexity, </s> counted as a word and out-of-vocabulary words as <unk>."""
        total, count = 0.0, 0
        for sentence in sentences:
            log10_prob, predictions = self.sentence_log10_prob(sentence, normalize)
            total += log10_prob
            count += predictions
        if count == 0:
            raise ValueError("perplexity of no sentences")
        return 10.0 ** (-total / count)

    def write_arpa(self, path: str | os.PathLike) -> None:
        """Write the model in ARPA format, atomically (a temporary file renamed into place)."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            os.chmod(temporary, 0o644)  # mkstemp makes it private; an LM is an ordinary artifact
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                self._write_arpa_body(out)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    def _write_arpa_body(self, out) -> None:  # noqa: ANN001 - a text file
        out.write("\\data\\\n")
        for k, count in enumerate(self.counts):
            out.write(f"ngram {k + 1}={count}\n")
        texts: list[str] = list(self.vocabulary)
        for k in range(self.order):
            if k > 0:
                prefixes, words = np.divmod(self.keys[k], len(self.vocabulary))
                texts = [f"{texts[p]} {self.vocabulary[w]}" for p, w in zip(prefixes.tolist(), words.tolist())]
            out.write(f"\n\\{k + 1}-grams:\n")
            probs = self.log10_probs[k].tolist()
            if k + 1 < self.order:
                is_context = np.zeros(len(texts), dtype=bool)
                is_context[self.keys[k + 1] // len(self.vocabulary)] = True
                backoffs = self.log10_backoffs[k].tolist()
                out.writelines(
                    f"{p:.7f}\t{t}\t{b:.7f}\n" if c else f"{p:.7f}\t{t}\n"
                    for p, t, b, c in zip(probs, texts, backoffs, is_context.tolist())
                )
            else:
                out.writelines(f"{p:.7f}\t{t}\n" for p, t in zip(probs, texts))
        out.write("\n\\end\\\n")

    def _row(self, ids: tuple[int, ...]) -> int:
        """Row of an n-gram in its order's table, or -1 when the model lacks it."""
        row = ids[0]
        size = len(self.vocabulary)
        for k in range(1, len(ids)):
            keys = self.keys[k]
            key = row * size + ids[k]
            position = int(np.searchsorted(keys, key))
            if position == len(keys) or int(keys[position]) != key:
                return -1
            row = position
        return row


def write_decoding_lm(model_dir: str | os.PathLike, sentences: Iterable[str] | Mapping[str, Iterable[str]],
                      order: int = 3, min_count: int | Mapping[str, int] = 1) -> dict:
    """Give a model folder its beam decoder's lexicon (every word of `sentences`) and an n-gram
    LM of them (`build_ngram_lm`); returns what was built. `asr lm` and the recipes call this.

    Sentences given by source (a mapping from a source's name to its sentences) get one LM per
    source, mixed with weights fit on held-out text (`build_mixed_lm`); `min_count` may then name
    a cutoff per source (sources not named: 1).
    """
    if isinstance(sentences, Mapping):
        sources = {name: [s for s in (normalize_text(t) for t in texts) if s] for name, texts in sentences.items()}
        cutoffs = min_count if isinstance(min_count, Mapping) else dict.fromkeys(sources, min_count)
        lm, weights = build_mixed_lm(sources, order, cutoffs)
        normalized = [s for texts in sources.values() for s in texts]
        built = {"lm_min_count": dict(cutoffs), "lm_weights": {k: round(w, 4) for k, w in weights.items()}}
    else:
        if isinstance(min_count, Mapping):
            raise ValueError("min_count by source needs sentences by source")
        normalized = [s for s in (normalize_text(text) for text in sentences) if s]
        lm = build_ngram_lm(normalized, order=order, normalize=False, min_count=min_count)
        built = {"lm_min_count": min_count}
    words = sorted({w for s in normalized for w in s.split()})
    handle, temporary = tempfile.mkstemp(dir=model_dir, prefix=f".{WORDS_FILE}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write("\n".join(words) + "\n")
    os.chmod(temporary, 0o644)
    os.replace(temporary, os.path.join(model_dir, WORDS_FILE))
    lm.write_arpa(os.path.join(model_dir, LM_FILE))
    return {"lm_sentences": len(normalized), "lm_words": len(words), "lm_order": lm.order,
            **built, "lm_ngrams": list(lm.counts)}


# ---------------------------------------------------------------------------------------------
# Estimation


@dataclass(frozen=True)
class _Table:
    """The distinct n-grams of one order in a corpus, rows sorted by key."""

    keys: np.ndarray  # int64
    raw: np.ndarray  # int64 occurrence counts
    prefix: np.ndarray  # row of the (n-1)-gram prefix; empty for unigrams
    suffix: np.ndarray  # row of the (n-1)-gram suffix; empty for unigrams
    first: np.ndarray  # id of the first word


def build_ngram_lm(
    sentences: Iterable[str],
    order: int = 3,
    discount: float | None = None,
    normalize: bool = True,
    min_count: int = 1,
) -> NGramLM:
    """Estimate an interpolated Kneser-Ney word n-gram model.

    With `discount=None` (the default) it is modified Kneser-Ney: three discounts per order,
    D1, D2, D3+, from Chen & Goodman's count-of-counts estimates. An order whose counts of
    counts cannot give valid discounts (tiny corpora, e.g. no n-gram seen exactly 3 times)
    falls back to one discount n1 / (n1 + 2 n2), or 0.5 when even that is undefined.
    A float `discount` in (0, 1] gives plain interpolated Kneser-Ney with that one discount.

    Sentences are normalized with `normalize_text` (pass `normalize=False` for text that is
    already normalized); empty ones are skipped. The order is lowered to the longest padded
    sentence when the corpus has no n-gram of the asked order.

    `min_count` > 1 prunes: n-grams of order 2 and up seen fewer times are dropped (a count
    cutoff, as SRILM's -gtNmin or KenLM's --prune), the survivors keep their probabilities and
    each context's backoff weight is recomputed so that its distribution still sums to one.
    """
    if order < 1:
        raise ValueError(f"order must be at least 1, not {order}")
    if discount is not None and not 0.0 < discount <= 1.0:
        raise ValueError(f"discount must be in (0, 1], not {discount}")
    vocabulary, stream, lengths = _id_stream(sentences, normalize)
    if not len(lengths):
        raise ValueError("no words to build a language model from")
    order = min(order, int(lengths.max()))
    index = {word: i for i, word in enumerate(vocabulary)}
    sentence_end = np.repeat(np.cumsum(lengths), lengths)
    tables = _count_ngrams(stream, sentence_end, order, len(vocabulary))
    adjusted = _adjusted_counts(tables, bos=index[BOS])
    discounts = tuple(_discounts(counts, discount) for counts in adjusted)
    probs, backoffs = _interpolate(tables, adjusted, discounts, bos=index[BOS])
    keys = [table.keys for table in tables]
    if min_count > 1:
        keys, probs, backoffs = _prune(tables, probs, min_count, len(vocabulary))
    with np.errstate(divide="ignore"):
        log10_probs = tuple(np.log10(p) for p in probs)
    log10_probs[0][index[BOS]] = NO_PROB
    return NGramLM(
        vocabulary=vocabulary,
        keys=tuple(keys),
        log10_probs=log10_probs,
        log10_backoffs=tuple(np.log10(b) for b in backoffs),
        discounts=discounts,
    )


def _id_stream(sentences: Iterable[str], normalize: bool) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Vocabulary (specials first, then words as first seen), all sentences as one id stream
    `<s> w... </s> <s> ...`, and each sentence's length with its <s> and </s>."""
    ids = {UNK: 0, BOS: 1, EOS: 2}
    bos, eos = ids[BOS], ids[EOS]
    stream = array("q")  # 8 bytes a word: a list of str would take ten times that
    lengths = array("q")
    for sentence in sentences:
        words = (normalize_text(sentence) if normalize else sentence).split()
        if not words:
            continue
        if BOS in words or EOS in words:
            raise ValueError(f"sentences must not contain {BOS} or {EOS}; they are added around each one")
        stream.append(bos)
        stream.extend([ids.setdefault(word, len(ids)) for word in words])
        stream.append(eos)
        lengths.append(len(words) + 2)
    return tuple(ids), np.frombuffer(stream, dtype=np.int64), np.frombuffer(lengths, dtype=np.int64)


def _count_ngrams(stream: np.ndarray, sentence_end: np.ndarray, order: int, size: int) -> list[_Table]:
    positions = np.arange(len(stream))
    row_at = stream  # row, in the current order's table, of the n-gram starting at each position
    tables = [_Table(np.arange(size, dtype=np.int64), np.bincount(stream, minlength=size),
                     np.empty(0, np.int64), np.empty(0, np.int64), np.arange(size, dtype=np.int64))]
    for n in range(2, order + 1):
        starts = positions[positions + n <= sentence_end]
        keys = row_at[starts] * size + stream[starts + n - 1]
        unique, first_seen, inverse, raw = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
        prefix = unique // size
        # A suffix starts one position later; n-gram rows of order n-1 are known at every start.
        suffix = row_at[starts[first_seen] + 1]
        tables.append(_Table(unique, raw, prefix, suffix, tables[-1].first[prefix]))
        next_row_at = np.full(len(stream), -1, dtype=np.int64)
        next_row_at[starts] = inverse.reshape(-1)
        row_at = next_row_at
    return tables


def _adjusted_counts(tables: list[_Table], bos: int) -> list[np.ndarray]:
    """Kneser-Ney counts: raw counts for the highest order and for n-grams starting with <s>
    (nothing precedes them), elsewhere the number of distinct words seen before the n-gram."""
    adjusted = []
    for n, table in enumerate(tables, start=1):
        if n == len(tables):
            counts = table.raw.copy()
        else:
            continuation = np.bincount(tables[n].suffix, minlength=len(table.keys))
            counts = np.where(table.first == bos, table.raw, continuation)
        if n == 1:
            counts[bos] = 0  # <s> is only ever a context
        adjusted.append(counts.astype(np.int64))
    return adjusted


def _discounts(counts: np.ndarray, fixed: float | None) -> tuple[float, float, float]:
    if fixed is not None:
        return fixed, fixed, fixed
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == c)) for c in (1, 2, 3, 4))
    return modified_kn_discounts(n1, n2, n3, n4)


def modified_kn_discounts(n1: int, n2: int, n3: int, n4: int) -> tuple[float, float, float]:
    """Chen & Goodman's D1, D2, D3+ from the numbers of n-grams seen 1, 2, 3 and 4 times,
    with the fallback described in `build_ngram_lm` when they are not all in (0, k)."""
    if n1 > 0 and n2 > 0:
        y = n1 / (n1 + 2 * n2)
        if n3 > 0 and n4 > 0:
            d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
            if all(0.0 < value < k for k, value in enumerate(d, start=1)):
                return d
        return y, y, y
    return _FALLBACK_DISCOUNT, _FALLBACK_DISCOUNT, _FALLBACK_DISCOUNT


def _interpolate(
    tables: list[_Table],
    adjusted: list[np.ndarray],
    discounts: tuple[tuple[float, float, float], ...],
    bos: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Interpolated probabilities of every stored n-gram, and backoff weights (gamma) of every
    n-gram as a context (1 where it is none)."""
    probs: list[np.ndarray] = []
    backoffs: list[np.ndarray] = []
    for n, (table, counts, d) in enumerate(zip(tables, adjusted, discounts), start=1):
        taken = _discount_of(counts, d)
        if n == 1:
            total = float(counts.sum())
            predictable = len(counts) - 1  # everything but <s>, <unk> and </s> included
            gamma = float(taken.sum()) / total
            p = (counts - taken) / total + gamma / predictable
            p[bos] = 0.0
        else:
            parents = len(tables[n - 2].keys)
            context_total = np.bincount(table.prefix, weights=counts, minlength=parents)
            context_taken = np.bincount(table.prefix, weights=taken, minlength=parents)
            gamma_of = np.divide(context_taken, context_total, out=np.ones(parents), where=context_total > 0)
            p = (counts - taken) / context_total[table.prefix] + gamma_of[table.prefix] * probs[-1][table.suffix]
            backoffs.append(gamma_of)
        probs.append(p)
    backoffs.append(np.ones(len(tables[-1].keys)))
    return probs, backoffs


def _prune(
    tables: list[_Table], probs: list[np.ndarray], min_count: int, size: int,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Keys, probabilities and backoffs with the rare n-grams (order >= 2) left out.

    The kept set needs no closing step: an n-gram's prefix and suffix were each seen at least
    as often as it was, so they pass the same cutoff. Backoff of context h becomes
    (1 - sum of kept p(w|h)) / (1 - sum over the same w of p(w|h')), h' being h less its first word.
    """
    keep = [np.ones(len(tables[0].keys), dtype=bool)] + [table.raw >= min_count for table in tables[1:]]
    new_row = [np.cumsum(mask) - 1 for mask in keep]
    keys, kept_probs, backoffs = [tables[0].keys], [probs[0]], []
    for n in range(1, len(tables)):
        table, mask = tables[n], keep[n]
        prefix = table.prefix[mask]
        keys.append(new_row[n - 1][prefix] * size + table.keys[mask] % size)  # still sorted: rows keep order
        kept_probs.append(probs[n][mask])
        parents = len(tables[n - 1].keys)
        kept_mass = np.bincount(prefix, weights=probs[n][mask], minlength=parents)
        lower_mass = np.bincount(prefix, weights=probs[n - 1][table.suffix[mask]], minlength=parents)
        left = 1.0 - lower_mass
        gamma = np.divide(1.0 - kept_mass, left, out=np.ones(parents), where=left > 1e-12)
        backoffs.append(gamma[keep[n - 1]])
    backoffs.append(np.ones(len(keys[-1])))
    return keys, kept_probs, backoffs


def _discount_of(counts: np.ndarray, d: tuple[float, float, float]) -> np.ndarray:
    taken = np.select([counts == 1, counts == 2, counts >= 3], list(d), default=0.0)
    return np.minimum(taken, counts)


# ---------------------------------------------------------------------------------------------
# Mixing


def interpolate_lms(models: Sequence[NGramLM], weights: Sequence[float]) -> NGramLM:
    """The linear mixture p(w|h) = sum_i weight_i p_i(w|h) as one backoff model, as SRILM's static
    -mix-lm builds it.

    The mixture holds every n-gram any model holds, with the mixture's probability. A word a
    model lacks gets probability 0 from it, so the mixture still sums to one over the union of
    the vocabularies. Each context's backoff weight is then set so that its distribution sums to
    one; for n-grams no model holds, bow(h) p(w|h') stands in for the exact mixture (exact when
    the models back off alike), which is what lets a decoder use it as an ordinary ARPA model.
    """
    if not models or len(models) != len(weights):
        raise ValueError(f"{len(models)} models and {len(weights)} weights")
    if min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, not {list(weights)}")
    weights = [w / sum(weights) for w in weights]
    order = max(m.order for m in models)
    grams: list[set[tuple[str, ...]]] = [set() for _ in range(order)]
    vocabulary = {UNK: None, BOS: None, EOS: None}  # an ordered set: specials, then words as first met
    for model in models:
        for k, model_grams in enumerate(model.ngrams()):
            grams[k].update(model_grams)
        vocabulary.update(dict.fromkeys(model.vocabulary))

    def mixed(gram: tuple[str, ...]) -> float:
        word, context = gram[-1], gram[:-1]
        return sum(weight * 10.0 ** model.log10_prob(word, context)
                   for model, weight in zip(models, weights) if model.knows(word))

    words = tuple(vocabulary)
    probs: list[dict[tuple[str, ...], float]] = [{(w,): mixed((w,)) for w in words}]
    backoffs: list[dict[tuple[str, ...], float]] = []

    def mixture_backed_off(word: str, context: tuple[str, ...]) -> float:
        """p(word | context) by the backoff rule over the orders built so far."""
        weight = 1.0
        for start in range(len(context) + 1):
            history = context[start:]
            if history + (word,) in probs[len(history)]:
                return weight * probs[len(history)][history + (word,)]
            weight *= backoffs[len(history) - 1].get(history, 1.0) if history else 1.0
        raise AssertionError("every word has a unigram")  # pragma: no cover

    for n in range(1, order):
        children: dict[tuple[str, ...], list[str]] = {}
        for gram in grams[n]:
            children.setdefault(gram[:-1], []).append(gram[-1])
        probs.append({gram: mixed(gram) for gram in grams[n]})
        gammas = {}
        for context, followers in children.items():
            kept = sum(probs[n][context + (w,)] for w in followers)
            lower = sum(mixture_backed_off(w, context[1:]) for w in followers)
            gammas[context] = max(1.0 - kept, 1e-12) / (1.0 - lower) if 1.0 - lower > 1e-12 else 1.0
        backoffs.append(gammas)
    return _lm_from_tables(words, probs, backoffs)


def _lm_from_tables(words: tuple[str, ...], probs: list[dict[tuple[str, ...], float]],
                    backoffs: list[dict[tuple[str, ...], float]]) -> NGramLM:
    size = len(words)
    index = {word: i for i, word in enumerate(words)}
    rows = {(word,): i for i, word in enumerate(words)}
    keys = [np.arange(size, dtype=np.int64)]
    ordered = [list(rows)]
    for n in range(1, len(probs)):
        grams = sorted(probs[n], key=lambda g: rows[g[:-1]] * size + index[g[-1]])
        keys.append(np.array([rows[g[:-1]] * size + index[g[-1]] for g in grams], dtype=np.int64))
        rows = {gram: row for row, gram in enumerate(grams)}
        ordered.append(grams)
    with np.errstate(divide="ignore"):
        log10_probs = [np.log10(np.array([probs[n][g] for g in grams])) for n, grams in enumerate(ordered)]
    log10_probs[0][index[BOS]] = NO_PROB
    log10_backoffs = [np.log10(np.array([backoffs[n].get(g, 1.0) if n < len(backoffs) else 1.0 for g in grams]))
                      for n, grams in enumerate(ordered)]
    return NGramLM(vocabulary=words, keys=tuple(keys), log10_probs=tuple(log10_probs),
                   log10_backoffs=tuple(log10_backoffs))


def token_probabilities(models: Sequence[NGramLM], sentences: Iterable[str]) -> np.ndarray:
    """(tokens, models): each model's probability of each word of the sentences and each </s>.

    A word some model knows gets 0 from the models that lack it (as in `interpolate_lms`); a
    word no model knows is <unk> to all of them.
    """
    order = max(m.order for m in models)
    rows = []
    for sentence in sentences:
        context: tuple[str, ...] = (BOS,)
        for word in normalize_text(sentence).split() + [EOS]:
            target = word if any(m.knows(word) for m in models) else UNK
            rows.append([10.0 ** m.log10_prob(target, context) if m.knows(target) else 0.0 for m in models])
            context = (context + (word,))[-(order - 1):] if order > 1 else ()
    if not rows:
        raise ValueError("no sentences to weigh the models on")
    return np.array(rows)


def mixture_weights(models: Sequence[NGramLM], held_out: Sequence[Sequence[str]], iterations: int = 200,
                    tolerance: float = 1e-7) -> list[float]:
    """The interpolation weights that maximize the mixture's mean log-likelihood per word of
    held-out text, each set of `held_out` sentences counting as much as the others however many
    words it has (a domain of short commands is not outvoted by one of long sentences): EM from
    equal weights, as SRILM's compute-best-mix does, with each word weighted by 1 / its set's
    word count."""
    tables = [token_probabilities(models, sentences) for sentences in held_out if sentences]
    if not tables:
        raise ValueError("no held-out sentences to weigh the models on")
    token_probs = np.concatenate(tables)
    token_weights = np.concatenate([np.full(len(t), 1.0 / len(t)) for t in tables])
    token_weights /= token_weights.sum()
    weights = np.full(len(models), 1.0 / len(models))
    for _ in range(iterations):
        shares = token_probs * weights
        shares /= shares.sum(1, keepdims=True)
        updated = token_weights @ shares
        converged = np.abs(updated - weights).max() < tolerance
        weights = updated
        if converged:
            break
    return weights.tolist()


def build_mixed_lm(sources: dict[str, list[str]], order: int = 3, min_counts: dict[str, int] | None = None,
                   held_out: int = 300, seed: int = 0) -> tuple[NGramLM, dict[str, float]]:
    """One n-gram LM per text source, linearly interpolated (`interpolate_lms`).

    The weights come from held-out text: up to `held_out` sentences of each source (at most a
    tenth of it, a seeded choice) are left out of that source's LM, the weights that best
    predict the held-out sentences, each source's counting equally, are found (`mixture_weights`),
    and then each LM is rebuilt
    on all of its text and mixed with those weights. `min_counts` prunes a source's LM
    (`build_ngram_lm`'s `min_count`; 1 for sources not named). Sentences must be normalized.
    Returns the mixture and the weight of each source.
    """
    min_counts = min_counts or {}
    rng = np.random.default_rng(seed)
    fit_models, dev = [], []
    for name, sentences in sources.items():
        chosen = set(rng.permutation(len(sentences))[:min(held_out, len(sentences) // 10)].tolist())
        dev.append([s for i, s in enumerate(sentences) if i in chosen])
        rest = [s for i, s in enumerate(sentences) if i not in chosen]
        fit_models.append(build_ngram_lm(rest, order, normalize=False, min_count=min_counts.get(name, 1)))
    weights = mixture_weights(fit_models, dev) if len(sources) > 1 else [1.0]
    models = [build_ngram_lm(sentences, order, normalize=False, min_count=min_counts.get(name, 1))
              for name, sentences in sources.items()]
    mixture = models[0] if len(models) == 1 else interpolate_lms(models, weights)
    return mixture, dict(zip(sources, weights))


# ---------------------------------------------------------------------------------------------
# Reading ARPA


def read_arpa(path: str | os.PathLike) -> NGramLM:
    """Read an ARPA file (ours or any other tool's) into an `NGramLM`.

    Every n-gram's prefix must be in the file too, as ARPA requires. A missing <unk> gets
    log10 probability -100.
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        data = handle.read()
    declared = _declared_counts(path, data)
    sections = []
    for n, count in enumerate(declared, start=1):
        body = _section(path, data, n, last=n == len(declared))
        fields, per_line = _split_section(body)
        if len(per_line) != count:
            raise ArpaError(f"{path}: header says {count} {n}-grams, the section has {len(per_line)}")
        if np.any((per_line < n + 1) | (per_line > n + 2)):
            raise ArpaError(f"{path}: a {n}-gram line without {n} words and a probability")
        sections.append((fields, per_line))
    return _from_arpa_sections(path, sections)


def _declared_counts(path: str, data: bytes) -> list[int]:
    start, end = data.find(b"\\data\\"), data.find(b"\\1-grams:")
    if start < 0 or end < 0:
        raise ArpaError(f"{path}: not an ARPA file (no \\data\\ header or no \\1-grams: section)")
    declared = {}
    for line in data[start:end].splitlines()[1:]:
        if line.strip():
            try:
                name, value = line.split(b"=")
                declared[int(name.split()[1])] = int(value)
            except (ValueError, IndexError):
                raise ArpaError(f"{path}: bad header line {line.decode(errors='replace')!r}") from None
    if sorted(declared) != list(range(1, len(declared) + 1)):
        raise ArpaError(f"{path}: header orders {sorted(declared)} are not 1..n")
    return [declared[n] for n in range(1, len(declared) + 1)]


def _section(path: str, data: bytes, n: int, last: bool) -> bytes:
    marker = f"\\{n}-grams:".encode()
    start = data.find(marker)
    if start < 0:
        raise ArpaError(f"{path}: no {marker.decode()} section")
    start += len(marker)
    end = data.find(b"\\end\\" if last else f"\\{n + 1}-grams:".encode(), start)
    if end < 0:
        raise ArpaError(f"{path}: {marker.decode()} section is not followed by the next one")
    return data[start:end]


_WHITESPACE = np.frombuffer(b" \t\r\n\v\f", dtype=np.uint8)


def _split_section(body: bytes) -> tuple[list[bytes], np.ndarray]:
    """The whitespace-separated fields of a section, flat, and how many each non-empty line has.

    One split of the whole section plus byte arithmetic; splitting line by line in Python
    is several times slower on million-line files.
    """
    raw = np.frombuffer(body, dtype=np.uint8)
    space = np.isin(raw, _WHITESPACE)
    field_starts = np.flatnonzero(~space & np.concatenate(([True], space[:-1])))
    line_ends = np.append(np.flatnonzero(raw == ord("\n")), len(raw))
    fields_before = np.searchsorted(field_starts, line_ends)
    per_line = np.diff(fields_before, prepend=0)
    return body.split(), per_line[per_line > 0]


def _from_arpa_sections(path: str, sections: list[tuple[list[bytes], np.ndarray]]) -> NGramLM:
    fields, per_line = sections[0]
    starts = (np.cumsum(per_line) - per_line).tolist()
    vocabulary = [fields[i + 1].decode() for i in starts]
    probs = [_floats(path, fields, starts)]
    backoffs = [_backoffs(path, fields, starts, per_line, 1)]
    for special in (BOS, EOS, UNK):
        if special not in vocabulary:
            if special != UNK:
                raise ArpaError(f"{path}: no {special} unigram")
            vocabulary.append(UNK)
            probs[0] = np.append(probs[0], MISSING_UNK)
            backoffs[0] = np.append(backoffs[0], 0.0)
    index = {word.encode(): i for i, word in enumerate(vocabulary)}
    if len(index) != len(vocabulary):
        raise ArpaError(f"{path}: repeated unigram")
    size = len(vocabulary)
    keys = [np.arange(size, dtype=np.int64)]
    for n, (fields, per_line) in enumerate(sections[1:], start=2):
        first = np.cumsum(per_line) - per_line
        starts = first.tolist()
        # Looking every field up is faster than picking the word fields out first.
        ids = np.fromiter((index.get(field, -1) for field in fields), dtype=np.int64, count=len(fields))
        words = [ids[first + 1 + j] for j in range(n)]
        if any(np.any(column < 0) for column in words):
            raise ArpaError(f"{path}: a {n}-gram word that is not a unigram")
        row = words[0]
        for j in range(1, n - 1):
            row = _find_rows(keys[j], row * size + words[j], path, n)
        new_keys = row * size + words[n - 1]
        sort = np.argsort(new_keys, kind="stable")
        keys.append(new_keys[sort])
        if np.any(np.diff(keys[-1]) == 0):
            raise ArpaError(f"{path}: repeated {n}-gram")
        probs.append(_floats(path, fields, starts)[sort])
        backoffs.append(_backoffs(path, fields, starts, per_line, n)[sort])
    return NGramLM(tuple(vocabulary), tuple(keys), tuple(probs), tuple(backoffs))


def _floats(path: str, fields: list[bytes], positions: list[int]) -> np.ndarray:
    try:
        return np.fromiter((float(fields[i]) for i in positions), dtype=np.float64, count=len(positions))
    except ValueError:
        raise ArpaError(f"{path}: a probability or backoff that is not a number") from None


def _backoffs(path: str, fields: list[bytes], starts: list[int], per_line: np.ndarray, n: int) -> np.ndarray:
    backoffs = np.zeros(len(starts))
    has = np.flatnonzero(per_line == n + 2)
    backoffs[has] = _floats(path, fields, (np.asarray(starts, dtype=np.int64)[has] + n + 1).tolist())
    return backoffs


def _find_rows(keys: np.ndarray, wanted: np.ndarray, path: str, n: int) -> np.ndarray:
    rows = np.searchsorted(keys, wanted)
    found = rows < len(keys)
    found[found] = keys[rows[found]] == wanted[found]
    if not np.all(found):
        raise ArpaError(f"{path}: a {n}-gram's prefix is missing from the file")
    return rows
