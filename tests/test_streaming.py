"""Long files in bounded memory: block-wise reading and resampling, windows cut as samples
arrive, posteriors cut into segments at pauses, and the same words as the whole signal in memory."""
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from asr.decoding import PauseSegmenter, greedy_decode, mark_pauses
from asr.packing import split_long, stream_pieces
from asr.text import CHARACTERS
from features.audio import SAMPLE_RATE, StreamResampler, load_audio, stream_audio
from features.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("rate", [44_100, 22_050, 8_000, 48_000])
def test_block_resampling_equals_resampling_the_whole_signal(rate):
    rng = np.random.default_rng(rate)
    signal = rng.standard_normal(3 * rate + 77).astype(np.float32)
    whole = AF.resample(torch.from_numpy(signal), rate, SAMPLE_RATE).numpy()
    reference = None
    for block in [4410, 33_333, len(signal)]:
        resampler = StreamResampler(rate, SAMPLE_RATE)
        outs, held = [], 0
        for i in range(0, len(signal), block):
            outs.append(resampler.push(signal[i:i + block]))
            held = max(held, resampler.held)
        out = np.concatenate(outs + [resampler.flush()])
        assert len(out) == len(whole)
        assert np.max(np.abs(out - whole)) < 2e-4  # torchaudio's own kernel, to its float rounding
        if reference is None:
            reference = out
        assert np.max(np.abs(out - reference)) < 1e-6  # where the blocks fall changes nothing
        assert held <= 2 * resampler.margin + rate + block
    with pytest.raises(AssertionError):  # cut without context, the seams would show
        halves = [AF.resample(torch.from_numpy(part), rate, SAMPLE_RATE).numpy()
                  for part in np.array_split(signal[:len(signal) // rate * rate], 2)]
        assert np.max(np.abs(np.concatenate(halves) - whole[:sum(map(len, halves))])) < 1e-3


def test_streaming_reader_holds_a_block_not_the_file(tmp_path, an4_test_manifest):
    """Three minutes of 44.1-kHz stereo speech (a 64-MB float32 signal once decoded): the reader
    allocates a few blocks' worth, and gives the same samples as the whole-file loader."""
    speech = np.concatenate([load_audio(u.audio) for u in read_manifest(an4_test_manifest)[:20]])
    rate = 44_100
    path = tmp_path / "stereo.wav"
    with sf.SoundFile(str(path), "w", rate, 2, subtype="PCM_16") as out:
        for _ in range(4):
            chunk = AF.resample(torch.from_numpy(speech), SAMPLE_RATE, rate).numpy()
            out.write(np.stack([chunk, 0.5 * chunk], axis=1))
    seconds = sf.info(str(path)).duration
    assert seconds > 170
    tracemalloc.start()
    total, longest = 0, 0
    pieces = []
    for block in stream_audio(path, block_seconds=2.0):
        total += len(block)
        longest = max(longest, len(block))
        pieces.append(block[::1000].copy())  # a sparse fingerprint, not the signal
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 6e6, f"the reader allocated {peak / 1e6:.1f} MB at its peak"
    assert longest <= 2.0 * SAMPLE_RATE + 1000
    whole = load_audio(path)
    assert total == len(whole) == int(np.ceil(seconds * SAMPLE_RATE))
    assert seconds * rate * 2 * 4 > 40 * peak  # the file decoded whole: 40x what the reader held


@pytest.mark.parametrize("block", [7_000, 32_000, 100_000, 1_000_000])
def test_stream_pieces_are_split_long_pieces_while_holding_one_window(block):
    window, context, hop = 100 * 320, 10 * 320, 320
    rng = np.random.default_rng(block)
    for n in [5_000, 32_000, 32_001, 90_001, 333_333]:
        signal = rng.standard_normal(n).astype(np.float32)
        consumed = [0]

        def blocks():
            for i in range(0, n, block):
                consumed[0] = min(n, i + block)
                yield signal[i:i + block]

        streamed = []
        for piece, samples in stream_pieces(blocks(), window, context, hop):
            assert np.array_equal(samples, signal[piece.audio_start:piece.audio_end])
            assert consumed[0] <= piece.audio_end + block  # read no further ahead than one block
            streamed.append(piece)
        assert streamed == split_long(0, n, window, context, hop)


def frames_of(letters: str) -> torch.Tensor:
    """(T, V) log-posteriors, one frame per character ("_" = blank), 0.9 likely."""
    rows = torch.full((len(letters), len(CHARACTERS)), 0.1 / (len(CHARACTERS) - 1))
    for t, char in enumerate(letters):
        rows[t, 0 if char == "_" else CHARACTERS.encode(char)[0]] = 0.9
    return rows.log()


def test_pause_segments_never_split_or_repeat_a_word():
    rng = np.random.default_rng(0)
    words = ["go", "stop", "seven", "x", "enter", "rubout", "aa"]
    letters = ""
    for _ in range(400):  # words with blanks inside, short gaps, pauses, and long runs without a pause
        word = rng.choice(words)
        letters += "".join(c + "_" * int(rng.integers(0, 3)) for c in word)
        letters += rng.choice([" ", "_ _", "__", "_" * 12, "_" * 30, " " * 2])
    letters += "end" + "_" * 50
    stream = frames_of(letters)
    blank, space = 0, CHARACTERS.encode(" ")[0]
    whole = greedy_decode(mark_pauses(stream, blank, space, 10)[None], None, CHARACTERS)[0]
    cuts = None
    for push in [1, 37, 500, len(letters)]:
        segmenter = PauseSegmenter(blank, space, min_frames=10, max_frames=80)
        segments, peak = [], 0
        for i in range(0, len(letters), push):
            segments += list(segmenter.push(stream[i:i + push]))
            peak = max(peak, segmenter.held)
        segments += list(segmenter.finish())
        starts = [start for start, _ in segments]
        assert starts[0] == 0 and all(s.shape[0] <= 80 for _, s in segments)
        assert torch.equal(torch.cat([s for _, s in segments]), stream)  # they tile the stream
        assert all(a + s.shape[0] == b for (a, s), b in zip(segments, starts[1:]))
        assert cuts is None or starts == cuts  # where the cuts fall does not depend on the pushes
        cuts = starts
        assert peak <= 2 * 80 + push
        text = " ".join(greedy_decode(mark_pauses(s, blank, space, 10)[None], None, CHARACTERS)[0] for _, s in segments)
        assert " ".join(text.split()) == whole
    assert len(cuts) > 20


@pytest.fixture(scope="module")
def random_chain_transcriber():
    """Whisper tiny.en under an untrained chain: its text is arbitrary but a pure function of the
    audio, which is all that comparing two ways of feeding the same audio needs."""
    from asr.encoder import load_encoder
    from asr.model import ASRModel, build_config
    from asr.transcribe import Transcriber
    encoder = load_encoder("whisper-tiny.en")
    torch.manual_seed(0)
    model = ASRModel(build_config("whisper-tiny.en", encoder.dim, ["char"], d_model=64, layers_per_link=1), encoder)
    return Transcriber(model, decoder="greedy", timestamps=True)


def test_streamed_file_gives_the_words_of_the_whole_signal(tmp_path, an4_test_manifest, random_chain_transcriber):
    """A 100-s file at 22.05 kHz (four windows), read in 3-s blocks, against the same signal
    loaded whole and fed in one piece."""
    utts = read_manifest(an4_test_manifest)[:34]
    pause = np.zeros(8000, dtype=np.float32)
    audio = np.concatenate([np.concatenate([load_audio(u.audio), pause]) for u in utts])
    rate = 22_050
    sf.write(tmp_path / "long.wav", AF.resample(torch.from_numpy(audio), SAMPLE_RATE, rate).numpy(), rate,
             subtype="FLOAT")
    transcriber = random_chain_transcriber
    whole = load_audio(tmp_path / "long.wav")
    assert len(whole) > 3 * 480_000
    text, words = transcriber.transcribe_audio([whole])[0]
    streamed_text, streamed_words, n_samples = transcriber.transcribe_stream(
        stream_audio(tmp_path / "long.wav", block_seconds=3.0))
    assert n_samples == len(whole)
    assert streamed_text == text and len(text.split()) > 20
    assert [w.word for w in streamed_words] == [w.word for w in words] == text.split()
    assert all(abs(a.start - b.start) < 1e-6 and abs(a.end - b.end) < 1e-6 for a, b in zip(words, streamed_words))
    starts = [w.start for w in words]
    assert starts == sorted(starts) and words[-1].end <= len(whole) / SAMPLE_RATE + 0.04
    assert words[-1].start > 0.8 * len(whole) / SAMPLE_RATE  # times are on the file's clock


PEAK_RSS_SCRIPT = textwrap.dedent("""
    import resource, sys, torch
    from asr.encoder import FrozenEncoder
    from asr.model import ASRModel, build_config
    from asr.transcribe import Transcriber

    class Blocks(FrozenEncoder):  # a Whisper-shaped window encoder that costs nothing
        name, sample_rate, frame_rate, window_samples, dim = "blocks", 16000, 50.0, 480000, 8
        def frames_for(self, n):
            return -(-n // 320)
        def forward(self, audio):
            blocks = audio.reshape(audio.shape[0], -1, 320)
            stats = [blocks.mean(-1), blocks.std(-1), blocks.abs().amax(-1)]
            return torch.stack(stats + [s * 2 for s in stats] + [blocks[..., 0], blocks[..., -1]], -1)

    torch.manual_seed(0)
    model = ASRModel(build_config("blocks", 8, ["char"], d_model=32, layers_per_link=1, heads=2), Blocks())
    result, = Transcriber(model, decoder="greedy", timestamps=True).transcribe_files([sys.argv[1]])
    assert result.error is None, result.error
    print(result.duration, len(result.words), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")


def peak_rss(tmp_path: Path, seconds: int) -> tuple[float, int]:
    path = tmp_path / f"{seconds}.wav"
    rng = np.random.default_rng(seconds)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, subtype="PCM_16") as out:
        for _ in range(seconds // 10):
            tone = np.sin(np.arange(10 * SAMPLE_RATE) * rng.uniform(0.05, 0.3)) * rng.uniform(0, 0.5)
            out.write((tone + 0.01 * rng.standard_normal(10 * SAMPLE_RATE)).astype(np.float32))
    done = subprocess.run([sys.executable, "-c", PEAK_RSS_SCRIPT, str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    duration, n_words, rss_kb = done.stdout.split()
    assert abs(float(duration) - seconds) < 0.01 and int(n_words) > 0
    return float(duration), int(rss_kb)


def test_peak_memory_does_not_grow_with_the_file(tmp_path):
    """A 2-min and a 30-min file through transcribe_files (cheap stand-in encoder, real reader,
    windows, chain, segmenter, decoder and aligner): the longer one would need 115 MB more for its
    samples alone if anything held the whole signal; streaming, peak RSS stays level."""
    _, short = peak_rss(tmp_path, 120)
    _, long = peak_rss(tmp_path, 1800)
    assert (long - short) / 1024 < 40, f"peak RSS {short / 1024:.0f} MB for 2 min, {long / 1024:.0f} MB for 30 min"
