"""What every recipe does after training: the decoding LM, scoring, results.json."""
from __future__ import annotations

import os
import time
from pathlib import Path

from asr.lm import build_ngram_lm
from asr.text import normalize_text
from asr.transcribe import LM_FILE, WORDS_FILE, Transcriber, evaluate
from features.manifest import Utterance
from training.trainer import save_results

LM_ORDER = 3


def write_decoding_lm(model_dir: Path, utterances: list[Utterance], order: int = LM_ORDER) -> None:
    """Lexicon (the training words) and an n-gram LM of the training transcripts, beside the model."""
    sentences = [normalize_text(u.text) for u in utterances if u.text]
    words = sorted({w for s in sentences for w in s.split()})
    tmp = model_dir / f".{WORDS_FILE}.tmp"
    tmp.write_text("\n".join(words) + "\n")
    os.replace(tmp, model_dir / WORDS_FILE)
    build_ngram_lm(sentences, order=order).write_arpa(model_dir / LM_FILE)


def write_sentence_lm(model_dir: Path, sentences: list[str], order: int = LM_ORDER) -> dict:
    """Lexicon (every word of `sentences`) and an n-gram LM of them, beside the model; for a
    decoding LM from more text than the training transcripts (e.g. LibriSpeech's lm-text)."""
    normalized = [s for s in (normalize_text(text) for text in sentences) if s]
    words = sorted({w for s in normalized for w in s.split()})
    tmp = model_dir / f".{WORDS_FILE}.tmp"
    tmp.write_text("\n".join(words) + "\n")
    os.replace(tmp, model_dir / WORDS_FILE)
    lm = build_ngram_lm(normalized, order=order, normalize=False)
    lm.write_arpa(model_dir / LM_FILE)
    return {"lm_sentences": len(normalized), "lm_words": len(words), "lm_order": lm.order,
            "lm_ngrams": list(lm.counts)}


def score_sets(model_dir: Path, test_sets: dict[str, list[Utterance]], out_dir: Path,
               decoders: tuple[str, ...] = ("beam", "greedy")) -> dict:
    """Score each test set with each decoder; full reports go to OUT/<set>_<decoder>.json.

    The first decoder (lexicon + n-gram LM beam search) gives the headline `results[set]`.
    """
    results = {}
    for decoder in decoders:
        transcriber = Transcriber.from_dir(model_dir, decoder)
        for name, utterances in test_sets.items():
            report = evaluate(transcriber, utterances)
            save_results(out_dir / f"{name}_{decoder}.json", report)
            key = name if decoder == decoders[0] else f"{name}_{decoder}"
            results[key] = {k: report[k] for k in ("wer", "cer", "n", "rtf", "decoder")}
            print(f"{name} ({decoder}): WER {100 * report['wer']:.2f}%  CER {100 * report['cer']:.2f}%  "
                  f"n={report['n']}  RTF {report['rtf']}")
    return results


def finish_recipe(out_dir: Path, train: list[Utterance], test_sets: dict[str, list[Utterance]],
                  summary: dict, started: float) -> dict:
    model_dir = out_dir / "model"
    write_decoding_lm(model_dir, train)
    results = score_sets(model_dir, test_sets, out_dir)
    results.update({k: summary[k] for k in ("train_seconds", "prepare_seconds", "steps", "best_step",
                                            "dev_wer", "trainable_params", "total_params",
                                            "trainable_share", "train_utterances",
                                            "distributed_world_size")})
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["config"] = summary["config"]
    save_results(out_dir / "results.json", results)
    return results
