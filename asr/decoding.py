"""CTC decoding: best path, and beam search with a lexicon and a word n-gram LM.

Beam search is flashlight's decoder through `torchaudio.models.decoder.ctc_decoder`:

* with `words`, a lexicon-constrained search: only those words come out, spelled with the
  vocabulary's characters, and the LM (an ARPA file, read by flashlight's built-in KenLM, all
  in C++) scores whole words. Spellings carry no word-boundary token, so a space between
  words is optional: the acoustic model may emit one (flashlight's silence token) or not;
* without `words`, a lexicon-free search over characters, any spelling allowed; an ARPA word
  LM is then applied from Python by `WordLMOnCharacters`, which is several times slower.

Scores add the acoustic log-probabilities (natural log) to `lm_weight` times the LM's log10
probabilities (as flashlight's KenLM returns them), plus `word_score` per word. A decoder
decodes one batch at a time (flashlight keeps search state in it).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Iterable, Iterator, Literal, Protocol, Sequence

import torch
from torch import Tensor
from torchaudio.models.decoder import CTCDecoder, CTCDecoderLM, CTCDecoderLMState, ctc_decoder

from asr.lm import BOS, EOS, UNK, NGramLM, read_arpa
from asr.text import Vocabulary, normalize_text

_MAX_REMEMBERED_WORD_SCORES = 1_000_000
BOUNDARY = "|"  # how the vocabulary's space is named to flashlight (its word-boundary/silence token)


class Decoder(Protocol):
    def decode(self, log_probs: Tensor, lengths: Tensor | None = None) -> list[str]: ...


# ---------------------------------------------------------------------------------------------
# Best path


def greedy_tokens(log_probs: Tensor, lengths: Tensor | None = None, blank: int = 0) -> list[list[int]]:
    """Best-path token ids per utterance: argmax per frame, repeats collapsed, blanks dropped.

    `log_probs` is (B, T, V); frames at or past `lengths[b]` are ignored.
    """
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (batch, frames, vocabulary), not {tuple(log_probs.shape)}")
    best = log_probs.detach().argmax(dim=-1).cpu()
    batch, frames = best.shape
    lengths = _lengths(lengths, batch, frames)
    previous = torch.nn.functional.pad(best[:, :-1], (1, 0), value=-1)
    inside = torch.arange(frames).unsqueeze(0) < lengths.unsqueeze(1)
    keep = (best != blank) & (best != previous) & inside
    return [row[mask].tolist() for row, mask in zip(best, keep)]


def greedy_decode(log_probs: Tensor, lengths: Tensor | None, vocab: Vocabulary) -> list[str]:
    """Best-path transcripts, spaces cleaned (no leading, trailing or doubled ones)."""
    return [" ".join(vocab.decode(ids).split()) for ids in greedy_tokens(log_probs, lengths, vocab.blank)]


@dataclass(frozen=True)
class GreedyDecoder:
    vocab: Vocabulary

    def decode(self, log_probs: Tensor, lengths: Tensor | None = None) -> list[str]:
        return greedy_decode(log_probs, lengths, self.vocab)


def _lengths(lengths: Tensor | None, batch: int, frames: int) -> Tensor:
    if lengths is None:
        return torch.full((batch,), frames, dtype=torch.int64)
    lengths = lengths.detach().to("cpu", torch.int64)
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must be ({batch},), not {tuple(lengths.shape)}")
    if bool((lengths < 0).any()) or bool((lengths > frames).any()):
        raise ValueError(f"lengths must lie in [0, {frames}], got {lengths.tolist()}")
    return lengths


# ---------------------------------------------------------------------------------------------
# Beam search


@dataclass(frozen=True)
class BeamConfig:
    """Flashlight beam search settings (see `torchaudio.models.decoder.ctc_decoder`)."""

    beam_size: int = 50  # hypotheses kept after each frame
    # Tokens tried per frame, the most probable first; None: all. A CTC model's 11th best
    # character in a frame is never on the best path, and trying fewer halves search time.
    beam_size_token: int | None = 10
    beam_threshold: float = 25.0  # drop hypotheses this far (natural log) below the best
    lm_weight: float = 1.0  # times the log10 LM probability
    word_score: float = 0.0  # added per word; lexicon search only (use sil_score without one)
    unk_score: float = float("-inf")  # per out-of-lexicon word, lexicon search only; -inf: none
    sil_score: float = 0.0  # per emitted word boundary (space)
    log_add: bool = False  # merge equal hypotheses by log-sum-exp instead of max


class BeamSearchDecoder:
    """CTC beam search over a character vocabulary, with or without a lexicon and word LM.

    `lm` is an ARPA path or an `NGramLM`. With `words` (the lexicon), out-of-lexicon words
    come out as "<unk>" when `unk_score` is finite.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        words: Iterable[str] | None = None,
        lm: str | os.PathLike | NGramLM | None = None,
        config: BeamConfig = BeamConfig(),
    ):
        if " " not in vocab.tokens or vocab.separator:
            raise ValueError("beam search needs a character vocabulary with a space token")
        if BOUNDARY in vocab.tokens:
            raise ValueError(f"the vocabulary already has {BOUNDARY!r}, the name given to its space")
        self.vocab = vocab
        self.config = config
        self.lexicon = lexicon_words(words, vocab) if words is not None else None
        self._tokens = [BOUNDARY if token == " " else token for token in vocab.tokens]
        if self.lexicon is not None:
            self._decoder = self._lexicon_decoder(lm)
        else:
            self._decoder = self._lexicon_free_decoder(lm)

    def decode(self, log_probs: Tensor, lengths: Tensor | None = None) -> list[str]:
        """Best transcript per utterance of (B, T, V) log-probabilities."""
        if log_probs.ndim != 3 or log_probs.shape[-1] != len(self.vocab):
            raise ValueError(f"log_probs must be (batch, frames, {len(self.vocab)}), not {tuple(log_probs.shape)}")
        batch, frames, _ = log_probs.shape
        lengths = _lengths(lengths, batch, frames)
        emissions = log_probs.detach().to("cpu", torch.float32)
        if self.lexicon is not None:
            emissions, lengths = self._close_last_word(emissions, lengths)
        results = self._decoder(emissions.contiguous(), lengths)
        return [self._text(hypotheses[0]) if hypotheses else "" for hypotheses in results]

    __call__ = decode

    def _close_last_word(self, emissions: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Append a certain word boundary after each utterance's last frame.

        Lexicon spellings end in the boundary token, so that repeated letters cannot be split
        into two one-letter words; the model rarely emits a boundary after the final word, which
        would then never be completed and be dropped.
        """
        batch, frames, size = emissions.shape
        closed = torch.full((batch, frames + 1, size), -1e4)
        closed[:, :frames] = emissions
        closed[torch.arange(batch), lengths] = torch.where(
            torch.arange(size) == self._tokens.index(BOUNDARY), 0.0, -1e4)
        return closed, lengths + 1

    def _text(self, hypothesis) -> str:  # noqa: ANN001 - torchaudio's CTCHypothesis
        if self.lexicon is not None:
            return " ".join(hypothesis.words)
        characters = (self._tokens[i] for i in hypothesis.tokens.tolist())
        return " ".join("".join(characters).replace(BOUNDARY, " ").split())

    def _lexicon_decoder(self, lm: str | os.PathLike | NGramLM | None) -> CTCDecoder:
        with tempfile.TemporaryDirectory(prefix="asr-lexicon-") as directory:
            lexicon_path = os.path.join(directory, "lexicon.txt")
            words_path = os.path.join(directory, "words.txt")
            with open(lexicon_path, "w", encoding="utf-8") as out:
                # Each spelling ends in the boundary, so "n n" cannot be read as two words "n".
                out.writelines(f"{word}\t{' '.join(word)} {BOUNDARY}\n" for word in self.lexicon)
            # The LM's word list carries <unk>; the lexicon must not, or <unk> would be spellable.
            with open(words_path, "w", encoding="utf-8") as out:
                out.writelines(f"{word}\n" for word in (UNK, *self.lexicon))
            lm_path = lm
            if isinstance(lm, NGramLM):
                lm_path = os.path.join(directory, "lm.arpa")
                lm.write_arpa(lm_path)
            with _stdout_to_stderr():  # KenLM prints its loading progress on stdout
                return ctc_decoder(
                    lexicon=lexicon_path,
                    tokens=self._tokens,
                    lm=os.fspath(lm_path) if lm_path is not None else None,
                    lm_dict=words_path,
                    **self._options(),
                )

    def _lexicon_free_decoder(self, lm: str | os.PathLike | NGramLM | None) -> CTCDecoder:
        scorer = None
        if lm is not None:
            model = lm if isinstance(lm, NGramLM) else read_arpa(lm)
            scorer = WordLMOnCharacters(model, self._tokens, BOUNDARY)
        return ctc_decoder(lexicon=None, tokens=self._tokens, lm=scorer, **self._options())

    def _options(self) -> dict:
        config = self.config
        return dict(
            nbest=1,
            beam_size=config.beam_size,
            beam_size_token=config.beam_size_token,
            beam_threshold=config.beam_threshold,
            lm_weight=config.lm_weight,
            word_score=config.word_score,
            unk_score=config.unk_score,
            sil_score=config.sil_score,
            log_add=config.log_add,
            blank_token=self.vocab.tokens[self.vocab.blank],
            sil_token=BOUNDARY,
            unk_word=UNK,
        )


def blank_runs(is_blank: Sequence[bool]) -> list[tuple[int, int]]:
    """[start, end) of each maximal run of True."""
    runs, start = [], None
    for t, silent in enumerate(list(is_blank) + [False]):
        if silent and start is None:
            start = t
        elif not silent and start is not None:
            runs.append((start, t))
            start = None
    return runs


def mark_pauses(log_probs: Tensor, blank: int, boundary: int, min_frames: int) -> Tensor:
    """Put a certain word boundary in the middle of every pause of >= min_frames blank frames.

    The chain is trained on single utterances, so it seldom emits a space across a long silence
    between two of them; without this, a recording of several sentences runs the last word of
    one into the first of the next ("eight" + "twelve" -> "eighttwelve"). (T, V) in and out.
    """
    marked = log_probs.clone()
    for start, end in blank_runs((log_probs.argmax(-1) == blank).tolist()):
        if end - start >= min_frames:
            middle = (start + end) // 2
            marked[middle] = -1e4
            marked[middle, boundary] = 0.0
    return marked


class PauseSegmenter:
    """Cuts a stream of (T, V) log-posteriors into segments to decode one at a time.

    A cut goes where `mark_pauses` puts a certain word boundary: the middle of each blank run of
    >= `min_frames` (the run at a segment's very start, the rest of the pause cut before, is
    skipped). A stretch of `max_frames` without such a pause is cut in its second half at its
    last frame whose best token is the word boundary, else in the middle of its longest blank
    run, else at `max_frames`. So a cut never falls inside a word the chain has spelled, and
    best-path text of the segments, joined by spaces, is that of the whole (marked) stream.
    Where cuts fall depends only on the posteriors, never on how they were pushed in, and at
    most twice `max_frames` plus one push of frames are held.
    """

    def __init__(self, blank: int, boundary: int, min_frames: int, max_frames: int):
        assert 0 < min_frames < max_frames
        self.blank, self.boundary = blank, boundary
        self.min_frames, self.max_frames = min_frames, max_frames
        self._held: Tensor | None = None
        self._start = 0  # stream frame where the held frames start

    @property
    def held(self) -> int:
        return 0 if self._held is None else self._held.shape[0]

    def push(self, log_probs: Tensor) -> Iterator[tuple[int, Tensor]]:
        """(first frame in the stream, (T', V) log-posteriors) of each segment now complete."""
        self._held = log_probs if self._held is None else torch.cat([self._held, log_probs])
        yield from self._segments(final=False)

    def finish(self) -> Iterator[tuple[int, Tensor]]:
        """The remaining segments, once the stream has ended."""
        yield from self._segments(final=True)
        if self.held:
            yield self._take(self.held)

    def _segments(self, final: bool) -> Iterator[tuple[int, Tensor]]:
        while self.held:
            cut = self._next_cut(final)
            if cut is None:
                return
            yield self._take(cut)

    def _take(self, cut: int) -> tuple[int, Tensor]:
        segment, start = self._held[:cut], self._start
        self._held = self._held[cut:]
        self._start += cut
        return start, segment

    def _next_cut(self, final: bool) -> int | None:
        best = self._held.argmax(-1)
        length = best.shape[0]
        for start, end in blank_runs((best == self.blank).tolist()):
            if start == 0:
                continue
            if start >= self.max_frames:
                break
            if end == length and not final:  # the run may go on, so where its middle falls is not known yet
                if (start + length) // 2 > self.max_frames:
                    break  # ... except that it is past max_frames
                return None
            if end - start >= self.min_frames:
                middle = (start + end) // 2
                if middle <= self.max_frames:
                    return middle
                break
        if length <= self.max_frames:
            return None
        return self._forced_cut(best[:self.max_frames])

    def _forced_cut(self, best: Tensor) -> int:
        half = self.max_frames // 2
        spaces = (best[half:] == self.boundary).nonzero()
        if len(spaces):
            return half + int(spaces[-1])
        runs = blank_runs((best[half:] == self.blank).tolist())
        if runs:
            start, end = max(runs, key=lambda run: run[1] - run[0])
            return half + (start + end) // 2
        return self.max_frames


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what C++ code writes to file descriptor 1 to stderr, so stdout stays clean output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def lexicon_words(words: Iterable[str], vocab: Vocabulary) -> list[str]:
    """The distinct normalized words that the vocabulary can spell, sorted.

    A phrase or a number given as a word contributes each of its words.
    """
    spellable = set(vocab.tokens) - {" ", vocab.tokens[vocab.blank]}
    found = {word for text in words for word in normalize_text(text).split() if set(word) <= spellable}
    if not found:
        raise ValueError("the lexicon has no word the vocabulary can spell")
    return sorted(found)


class WordLMOnCharacters(CTCDecoderLM):
    """A word n-gram LM for lexicon-free search over characters.

    flashlight asks the LM for a score at every emitted token. A state here means the word
    history and the word in progress. Each character of a word is charged the best unigram
    log10 probability of any LM word it could still become, less what the word was already
    charged (flashlight's lexicon "smearing"); the boundary token, or the end of the utterance,
    then settles the word at its true n-gram probability. A spelling that leaves every LM word
    is charged <unk> at once, so the search cannot run words together to put off their cost.
    """

    def __init__(self, lm: NGramLM, tokens: Sequence[str], boundary: str):
        CTCDecoderLM.__init__(self)
        self._lm = lm
        self._tokens = list(tokens)
        self._boundary = self._tokens.index(boundary)
        self._history_length = max(lm.order - 1, 0)
        self._start_history = (lm.word_id(BOS),)[: self._history_length]
        self._end = lm.word_id(EOS)
        self._unk_unigram = float(lm.log10_probs[0][lm.word_id(UNK)])
        self._prefix_best = _best_completions(lm, set(self._tokens) - {boundary})
        # flashlight keeps one state object per token path: what each one means, and the
        # (child, score) answer per (state, token), kept until the next utterance starts.
        self._meaning: dict[CTCDecoderLMState, _Meaning] = {}
        self._answers: dict[tuple[CTCDecoderLMState, int], tuple[CTCDecoderLMState, float]] = {}
        self._word_scores: dict[tuple[tuple[int, ...], int], float] = {}

    def start(self, start_with_nothing: bool) -> CTCDecoderLMState:
        state = CTCDecoderLMState()
        self._meaning = {state: (self._start_history, "", 0.0)}
        self._answers = {}
        if len(self._word_scores) > _MAX_REMEMBERED_WORD_SCORES:
            self._word_scores = {}
        return state

    def score(self, state: CTCDecoderLMState, usr_token_idx: int) -> tuple[CTCDecoderLMState, float]:
        answer = self._answers.get((state, usr_token_idx))
        if answer is not None:
            return answer
        history, partial, charged = self._meaning[state]
        if usr_token_idx == self._boundary:
            value, meaning = self._settle(history, partial, charged) if partial else (0.0, (history, "", 0.0))
        else:
            spelled = partial + self._tokens[usr_token_idx]
            if partial and partial not in self._prefix_best:
                target = charged  # already off every LM word and charged as <unk>
            else:
                target = self._prefix_best.get(spelled, self._unk_unigram)
            value, meaning = target - charged, (history, spelled, target)
        child = state.child(usr_token_idx)
        self._meaning[child] = meaning
        answer = self._answers[(state, usr_token_idx)] = (child, value)
        return answer

    def finish(self, state: CTCDecoderLMState) -> tuple[CTCDecoderLMState, float]:
        history, partial, charged = self._meaning[state]
        value = 0.0
        if partial:
            value, (history, _, _) = self._settle(history, partial, charged)
        return state, value + self._word_score(history, self._end)

    def _settle(self, history: tuple[int, ...], word: str, charged: float) -> tuple[float, _Meaning]:
        """Score of finishing `word`: its n-gram log10 probability less what it was charged."""
        word_id = self._lm.word_id(word)
        after = (history + (word_id,))[-self._history_length:] if self._history_length else ()
        return self._word_score(history, word_id) - charged, (after, "", 0.0)

    def _word_score(self, history: tuple[int, ...], word: int) -> float:
        key = (history, word)
        value = self._word_scores.get(key)
        if value is None:
            value = self._word_scores[key] = self._lm.log10_prob_ids(word, history)
        return value


_Meaning = tuple[tuple[int, ...], str, float]  # word history, word in progress, log10 charged for it


def _best_completions(lm: NGramLM, characters: set[str]) -> dict[str, float]:
    """For every prefix of an LM word spelled with `characters`, the best unigram log10
    probability among the words it begins."""
    best: dict[str, float] = {}
    for word, log10_prob in zip(lm.vocabulary, lm.log10_probs[0].tolist()):
        if word in (UNK, BOS, EOS) or not set(word) <= characters:
            continue
        for end in range(1, len(word) + 1):
            prefix = word[:end]
            if best.get(prefix, -math.inf) < log10_prob:
                best[prefix] = log10_prob
    return best


# ---------------------------------------------------------------------------------------------


def build_decoder(
    kind: Literal["greedy", "beam"],
    vocab: Vocabulary,
    words: Sequence[str] | None = None,
    lm_path: str | os.PathLike | None = None,
    config: BeamConfig | None = None,
) -> Decoder:
    """The one way the CLI and transcriber get a decoder.

    "greedy" takes no lexicon, LM or config. "beam" is lexicon-constrained when `words` is
    given and lexicon-free otherwise, with the ARPA LM at `lm_path` if any.
    """
    if kind == "greedy":
        if words is not None or lm_path is not None or config is not None:
            raise ValueError("greedy decoding takes no lexicon, language model or beam config")
        return GreedyDecoder(vocab)
    if kind == "beam":
        if lm_path is not None and not os.path.isfile(lm_path):
            raise FileNotFoundError(f"{os.fspath(lm_path)}: no such language model file")
        return BeamSearchDecoder(vocab, words, lm_path, config or BeamConfig())
    raise ValueError(f"decoder kind must be 'greedy' or 'beam', not {kind!r}")
