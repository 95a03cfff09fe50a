"""End to end through the `asr` command: train on real AN4 speech, transcribe, evaluate, bad files."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from features.manifest import read_manifest, write_manifest
from tests.conftest import asr

TRAIN_UTTERANCES = 160
STEPS = 400


@pytest.fixture(scope="module")
def trained(tmp_path_factory, an4_train_manifest, an4_test_manifest):
    """A chain trained by `asr train` on 160 real AN4 utterances (about two minutes; CTC sits
    on all-blank output for the first ~200 steps, then learns fast)."""
    work = tmp_path_factory.mktemp("cli")
    utts = read_manifest(an4_train_manifest)
    write_manifest(utts[:TRAIN_UTTERANCES], work / "train.jsonl")
    write_manifest(utts[TRAIN_UTTERANCES:TRAIN_UTTERANCES + 20], work / "dev.jsonl")
    done = asr("train", "--train", work / "train.jsonl", "--dev", work / "dev.jsonl", "--out", work / "exp",
               "--steps", STEPS, "--warmup", 40, "--lr", 3e-3, "--eval-every", 100, "--cache-dir", work / "cache", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    return work


def test_train_writes_a_model_folder_and_reports_the_trainable_share(trained):
    summary = json.loads((trained / "exp" / "train_summary.json").read_text())
    assert summary["steps"] == STEPS and summary["train_utterances"] == TRAIN_UTTERANCES
    assert 0 < summary["trainable_share"] < 0.5
    assert summary["trainable_params"] + 7_000_000 < summary["total_params"]  # encoder: ~8M, frozen
    assert {p.name for p in (trained / "exp" / "model").iterdir()} == {"config.json", "model.safetensors"}
    assert not list((trained / "exp").glob(".*"))  # no staging folders left behind


def test_model_learns_the_speech_it_was_trained_on(trained):
    done = asr("evaluate", trained / "exp" / "model", trained / "train.jsonl", "--json", trained / "fit.json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((trained / "fit.json").read_text())
    assert report["n"] == TRAIN_UTTERANCES
    assert report["wer"] < 0.5, report["wer"]  # an untrained chain scores 1.0 (all blanks)


def test_transcribe_a_batch_with_bad_files_reports_each_and_goes_on(trained, tmp_path, an4_test_manifest):
    good = [u.audio for u in read_manifest(an4_test_manifest)[:2]]
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("not audio at all\n" * 30)
    sf.write(tmp_path / "silent.wav", np.zeros(16_000, dtype=np.float32), 16_000)
    data = Path(good[0]).read_bytes()
    (tmp_path / "truncated.flac").write_bytes(data[:len(data) // 4])
    paths = [good[0], *(str(tmp_path / name) for name in ["missing.wav", "empty.wav", "notes.wav",
                                                          "silent.wav", "truncated.flac"]), good[1]]
    done = asr("transcribe", trained / "exp" / "model", *paths, "--format", "json")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 5
    for path, line in zip(paths[1:6], errors):
        assert path in line
    results = json.loads(done.stdout)
    assert [r["path"] for r in results] == paths
    assert [bool(r["error"]) for r in results] == [False, True, True, True, True, True, False]
    assert results[0]["text"] and results[-1]["text"] and results[0]["duration"] > 0


def test_transcribe_a_folder_writes_one_subtitle_file_per_recording(trained, tmp_path, an4_test_manifest):
    folder = tmp_path / "in" / "nested"
    folder.mkdir(parents=True)
    for utt in read_manifest(an4_test_manifest)[:3]:
        (folder / Path(utt.audio).name).write_bytes(Path(utt.audio).read_bytes())  # copies: folders are read resolved
    (tmp_path / "in" / "readme.md").write_text("not audio, and not an audio suffix: skipped\n")
    other = tmp_path / "in" / "other"  # a recording of the same name in another folder keeps its own output
    other.mkdir()
    same_name = next(folder.iterdir()).name
    (other / same_name).write_bytes(Path(read_manifest(an4_test_manifest)[3].audio).read_bytes())
    done = asr("transcribe", trained / "exp" / "model", tmp_path / "in", "--format", "srt",
               "--output-dir", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    clashing = Path(same_name).with_suffix(".srt").name
    expected = [Path(p).with_suffix(".srt").name for p in folder.iterdir() if p.name != same_name]
    assert written == sorted([*expected, f"nested__{clashing}", f"other__{clashing}"])
    assert any("-->" in (tmp_path / "out" / name).read_text() for name in written)  # cues with timings
    assert (tmp_path / "out" / f"nested__{clashing}").read_text() != (tmp_path / "out" / f"other__{clashing}").read_text()


def test_output_names_tell_apart_inputs_of_the_same_name():
    from asr.transcribe import output_stems
    assert output_stems(["a/x/yes.wav", "b/x/yes.wav", "c/no.wav", "a/x/yes.wav"]) == [
        "a__x__yes", "b__x__yes", "no", "a__x__yes"]
    assert output_stems(["d/a.wav", "d/a.flac", "e/b.wav"]) == ["a.wav", "a.flac", "b"]


def test_evaluate_scores_a_corpus_with_a_broken_file_as_all_deletions(trained, tmp_path, an4_test_manifest):
    utts = read_manifest(an4_test_manifest)[:5]
    (tmp_path / "broken.flac").write_bytes(b"fLaC" + b"\0" * 100)
    utts.append(utts[0].__class__("broken", str(tmp_path / "broken.flac"), "YES", "x", 1.0))
    write_manifest(utts, tmp_path / "m.jsonl")
    done = asr("evaluate", trained / "exp" / "model", tmp_path / "m.jsonl", "--json", tmp_path / "r.json",
               "--decoder", "greedy")
    assert done.returncode == 1 and "broken.flac" in done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n"] == 6 and len(report["errors"]) == 1
    assert report["utterances"][-1]["hyp"] == "" and report["rtf"] > 0
    assert set(report) >= {"wer", "cer", "rtf", "utterances"}


def test_long_recording_keeps_every_word_across_window_seams_with_timings(trained, tmp_path, an4_test_manifest):
    """~100 s of speech (over three 30-s windows): the words of a long file match those of its
    pieces transcribed one by one, and word timings run forward inside the file."""
    from asr.scoring import score
    from features.audio import load_audio
    utts = read_manifest(an4_test_manifest)[:36]
    pause = np.zeros(8000, dtype=np.float32)
    audio = np.concatenate([np.concatenate([load_audio(u.audio), pause]) for u in utts])
    sf.write(tmp_path / "long.flac", audio, 16_000)
    done = asr("transcribe", trained / "exp" / "model", tmp_path / "long.flac", "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    long = json.loads(done.stdout)[0]
    assert long["duration"] == pytest.approx(len(audio) / 16_000) and long["duration"] > 90
    pieces = asr("transcribe", trained / "exp" / "model", *[u.audio for u in utts], "--format", "json")
    separate = " ".join(r["text"] for r in json.loads(pieces.stdout))
    reference = " ".join(u.text for u in utts)
    # This small model scores ~15-18% either way (measured 17.8% whole, 15.4% pieces); words run
    # together across pauses made the whole file 20+ points worse than its pieces.
    assert score([reference], [long["text"]])["wer"] < score([reference], [separate])["wer"] + 0.08
    starts = [w["start"] for w in long["words"]]
    assert len(long["words"]) == len(long["text"].split())
    assert starts == sorted(starts) and 0 <= starts[0] and long["words"][-1]["end"] <= long["duration"]
    assert all(0 <= w["confidence"] <= 1 for w in long["words"])


def test_lm_from_your_own_text_makes_beam_search_keep_to_its_words(trained, tmp_path):
    from asr.lm import read_arpa
    from asr.text import normalize_text
    utts = read_manifest(trained / "train.jsonl")
    (tmp_path / "text.txt").write_text("".join(u.text.lower() + "\n" for u in utts))
    done = asr("lm", trained / "exp" / "model", tmp_path / "text.txt", "--out", tmp_path / "with_lm",
               "--min-count", 2)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3-gram LM" in done.stdout
    lexicon = set((tmp_path / "with_lm" / "words.txt").read_text().split())
    assert lexicon == {w for u in utts for w in normalize_text(u.text).split()}  # as the scorer reads text
    assert read_arpa(tmp_path / "with_lm" / "lm.arpa").order == 3
    assert {p.name for p in (trained / "exp" / "model").iterdir()} == {"config.json", "model.safetensors"}

    done = asr("transcribe", tmp_path / "with_lm", *[u.audio for u in utts[:8]], "--decoder", "beam")
    assert done.returncode == 0, done.stderr[-2000:]
    said = [w for line in done.stdout.splitlines() for w in line.split("\t")[-1].split()]
    assert said and set(said) <= lexicon

    refused = asr("lm", "default", tmp_path / "text.txt")
    assert refused.returncode != 0 and "read-only" in refused.stderr


def test_a_bad_model_corpus_commands_file_or_empty_folder_is_one_line_naming_it(tmp_path, an4_test_manifest):
    recording = read_manifest(an4_test_manifest)[0].audio
    (tmp_path / "commands.txt").write_text("lights on\n")
    (tmp_path / "blank.txt").write_text("\n# no command here\n")
    (tmp_path / "no-audio-here").mkdir()
    runs = {
        "no-model": asr("transcribe", tmp_path / "no-model", recording),
        "no-command-model": asr("commands", tmp_path / "no-command-model", recording),
        "no-corpus.jsonl": asr("evaluate", "default", tmp_path / "no-corpus.jsonl"),
        "no-examples": asr("adapt", "default", "--commands", tmp_path / "commands.txt",
                           "--examples", tmp_path / "no-examples", "--out", tmp_path / "out"),
        "no-commands.txt": asr("adapt", "default", "--commands", tmp_path / "no-commands.txt",
                               "--examples", tmp_path, "--out", tmp_path / "out"),
        "blank.txt": asr("adapt", "default", "--commands", tmp_path / "blank.txt", "--synthesize", 1,
                         "--out", tmp_path / "out"),
        "no-audio-here": asr("transcribe", "default", tmp_path / "no-audio-here"),
    }
    for name, done in runs.items():
        assert done.returncode == 2, (name, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
        error = done.stderr.strip().splitlines()[-1]
        assert (error.startswith("asr ") and ": error: " in error or error.startswith("error: ")) and name in error, error
    assert not (tmp_path / "out").exists()
