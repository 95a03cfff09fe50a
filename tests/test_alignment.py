import torch

from asr.alignment import Word, align_words, format_srt, format_vtt, subtitle_cues
from asr.text import CHARACTERS


def posteriors(frames: str) -> torch.Tensor:
    """One frame per character of `frames` ("_" = blank), each 0.9 likely."""
    rows = torch.full((len(frames), len(CHARACTERS)), 0.1 / (len(CHARACTERS) - 1))
    for t, char in enumerate(frames):
        rows[t, 0 if char == "_" else CHARACTERS.encode(char)[0]] = 0.9
    return rows.log()


def test_words_get_the_frames_of_their_letters():
    log_probs = posteriors("__hhi__ __yoo_u___")
    words = align_words(log_probs, "hi you", CHARACTERS, frame_seconds=0.04)
    assert [w.word for w in words] == ["hi", "you"]
    assert abs(words[0].start - 2 * 0.04) < 1e-6 and abs(words[0].end - 5 * 0.04) < 1e-6
    assert abs(words[1].start - 10 * 0.04) < 1e-6 and abs(words[1].end - 15 * 0.04) < 1e-6
    assert all(abs(w.confidence - 0.9) < 1e-4 for w in words)


def test_unalignable_text_gives_no_words():
    assert align_words(posteriors("_a_"), "abcdef", CHARACTERS, 0.04) == []
    assert align_words(posteriors("_a_"), "", CHARACTERS, 0.04) == []


def test_subtitles_break_at_pauses_and_format_clock_times():
    words = [Word("one", 0.0, 0.4, 1.0), Word("two", 0.5, 0.9, 1.0), Word("three", 3661.5, 3662.25, 1.0)]
    assert subtitle_cues(words) == [(0.0, 0.9, "one two"), (3661.5, 3662.25, "three")]
    assert format_srt(words) == ("1\n00:00:00,000 --> 00:00:00,900\none two\n\n"
                                 "2\n01:01:01,500 --> 01:01:02,250\nthree\n")
    assert format_vtt(words).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:00.900\none two\n")
