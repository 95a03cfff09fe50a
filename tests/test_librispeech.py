"""LibriSpeech data preparation, limited-supervision splits and the recipe (2-process DDP).

Downloads are tested against a local HTTP server (Range requests, dropped connections, servers
that ignore Range, bad checksums) serving a small generated archive; never the internet.
"""
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from features import librispeech as ls
from features.manifest import (
    Utterance,
    duration_subset,
    read_librispeech,
    read_manifest,
    write_manifest,
)
from recipes.librispeech.__main__ import build_parser, build_sets, fetch_data
from tests.conftest import shared_or_skip

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- a local openslr


def fake_archive(subset: str = "test-clean") -> bytes:
    """A LibriSpeech-layout .tar.gz: 2 speakers x 2 utterances of tone, SPEAKERS.TXT."""
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"LibriSpeech/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("SPEAKERS.TXT", b";ID |SEX| SUBSET | MINUTES | NAME\n11 | F | test-clean | 8.0 | A\n12 | M | test-clean | 8.0 | B\n")
        for speaker in ("11", "12"):
            lines = []
            for n in range(2):
                utt = f"{speaker}-7-{n:04d}"
                audio = io.BytesIO()
                noise = 0.1 * rng.standard_normal(16000 * (2 + n))  # noise: ~0.5 MB in all, incompressible
                sf.write(audio, noise.astype(np.float32), 16000, format="FLAC")
                add(f"{subset}/{speaker}/7/{utt}.flac", audio.getvalue())
                lines.append(f"{utt} HELLO WORLD {n}")
            add(f"{subset}/{speaker}/7/{speaker}-7.trans.txt", ("\n".join(lines) + "\n").encode())
    return buffer.getvalue()


class Server:
    """Serves `files` with Range support; `cut_after` drops the connection after that many body
    bytes (once per entry); `ignore_range` answers every request with the whole file (200)."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.cut_after: list[int] = []
        self.ignore_range = False
        self.requests: list[str | None] = []  # the Range header of each request
        self.sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(self.headers.get("Range"))
                if name not in server.files:
                    self.send_error(404)
                    return
                data = server.files[name]
                start = 0
                wanted = self.headers.get("Range")
                if wanted and not server.ignore_range:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.cut_after:
                    body = body[:server.cut_after.pop(0)]
                    self.close_connection = True
                # Counted before writing: the client may have read it all and the test asserted
                # before this thread runs again (it did: sent was 0 once, in a fresh-clone run).
                server.sent += len(body)
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/resources/12"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture()
def server():
    archive = fake_archive()
    served = Server({"test-clean.tar.gz": archive})
    served.md5 = hashlib.md5(archive).hexdigest()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def test_an_interrupted_download_resumes_with_a_range_request_and_is_verified(server, tmp_path):
    size = len(server.files["test-clean.tar.gz"])
    server.cut_after = [100_000, 50_000]  # two dropped connections, then the rest
    dest = ls.download(f"{server.url}/test-clean.tar.gz", tmp_path / "a.tar.gz", server.md5, backoff=0)
    assert dest.read_bytes() == server.files["test-clean.tar.gz"]
    assert server.requests == [None, "bytes=100000-", "bytes=150000-"]
    assert server.sent == size  # no byte fetched twice
    assert not (tmp_path / "a.tar.gz.part").exists()


def test_a_part_file_left_by_an_earlier_run_is_continued_not_restarted(server, tmp_path):
    data = server.files["test-clean.tar.gz"]
    (tmp_path / "a.tar.gz.part").write_bytes(data[:123_457])
    ls.download(f"{server.url}/test-clean.tar.gz", tmp_path / "a.tar.gz", server.md5)
    assert server.requests == ["bytes=123457-"] and server.sent == len(data) - 123_457
    assert ls.md5_of(tmp_path / "a.tar.gz") == server.md5
    # complete already: a second call neither downloads nor changes it
    ls.download(f"{server.url}/test-clean.tar.gz", tmp_path / "a.tar.gz", server.md5)
    assert len(server.requests) == 1


def test_a_complete_part_file_is_finished_without_a_body(server, tmp_path):
    (tmp_path / "a.tar.gz.part").write_bytes(server.files["test-clean.tar.gz"])
    ls.download(f"{server.url}/test-clean.tar.gz", tmp_path / "a.tar.gz", server.md5)
    assert server.sent == 0 and ls.md5_of(tmp_path / "a.tar.gz") == server.md5


def test_a_server_that_ignores_range_gets_the_whole_file_again(server, tmp_path):
    data = server.files["test-clean.tar.gz"]
    (tmp_path / "a.tar.gz.part").write_bytes(data[:5000])
    server.ignore_range = True
    ls.download(f"{server.url}/test-clean.tar.gz", tmp_path / "a.tar.gz", server.md5)
    assert (tmp_path / "a.tar.gz").read_bytes() == data  # not the first 5000 bytes twice


def test_a_checksum_mismatch_deletes_the_download_and_a_retry_recovers(server, tmp_path):
    data = server.files["test-clean.tar.gz"]
    (tmp_path / "a.tar.gz.part").write_bytes(b"x" * 1000)  # a corrupt partial file
    with pytest.raises(ls.ChecksumError, match="MD5"):
        ls.download(f"{server.url}/test-clean.tar.gz", tmp_path / "a.tar.gz", server.md5)
    assert not (tmp_path / "a.tar.gz").exists() and not (tmp_path / "a.tar.gz.part").exists()
    ls.download(f"{server.url}/test-clean.tar.gz", tmp_path / "a.tar.gz", server.md5)
    assert (tmp_path / "a.tar.gz").read_bytes() == data


def test_missing_file_fails_at_once_and_retries_are_bounded(server, tmp_path):
    with pytest.raises(ls.DownloadError, match="404"):
        ls.download(f"{server.url}/nope.tar.gz", tmp_path / "n.tar.gz", backoff=0)
    assert len(server.requests) == 1
    server.requests.clear()
    server.cut_after = [10] * 10
    with pytest.raises(ls.DownloadError, match="gave up after 2 retries"):
        ls.download(f"{server.url}/test-clean.tar.gz", tmp_path / "a.tar.gz", server.md5, retries=2, backoff=0)
    assert len(server.requests) == 3


def test_prepare_downloads_verifies_and_unpacks_a_missing_subset(server, tmp_path, monkeypatch):
    root = tmp_path / "LibriSpeech"
    with pytest.raises(FileNotFoundError, match="--download"):
        ls.prepare_librispeech(root, ["test-clean"])
    monkeypatch.setitem(ls.MD5, "test-clean", server.md5)
    assert ls.prepare_librispeech(root, ["test-clean"], download_missing=True, base_url=server.url) == ["test-clean"]
    utts = read_librispeech(root / "test-clean")
    assert sorted(u.id for u in utts) == ["11-7-0000", "11-7-0001", "12-7-0000", "12-7-0001"]
    assert utts[0].text == "HELLO WORLD 0" and all(Path(u.audio).exists() for u in utts)
    assert ls.read_speaker_sexes(root) == {"11": "F", "12": "M"}
    assert sorted(p.name for p in root.iterdir()) == [".archives", "SPEAKERS.TXT", "test-clean"]
    assert not list((root / ".archives").iterdir())  # archive removed once unpacked
    requests = len(server.requests)
    assert ls.prepare_librispeech(root, ["test-clean"], download_missing=True, base_url=server.url) == []
    assert len(server.requests) == requests  # present: not fetched again


def test_prepare_refuses_an_archive_with_the_wrong_checksum(server, tmp_path):
    root = tmp_path / "LibriSpeech"  # the real test-clean MD5 cannot match the fake archive
    with pytest.raises(ls.ChecksumError):
        ls.prepare_librispeech(root, ["test-clean"], download_missing=True, base_url=server.url)
    assert not (root / "test-clean").exists()


def test_extraction_rejects_members_outside_the_subset(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("LibriSpeech/../../escaped.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ls.DownloadError, match="unexpected member"):
        ls.extract_subset(archive, tmp_path / "root", "test-clean")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "root" / "test-clean").exists()


# ---------------------------------------------------------------- limited supervision


@pytest.fixture(scope="module")
def train_clean_100():
    return read_librispeech(shared_or_skip("librispeech/LibriSpeech/train-clean-100"))


def test_splits_of_real_librispeech_hit_their_size_and_nest(train_clean_100):
    assert len(train_clean_100) == 151
    ten = ls.limited_supervision(train_clean_100, "10min")
    twenty = ls.limited_supervision(train_clean_100, "20min")
    longest = max(u.duration for u in twenty)
    assert abs(sum(u.duration for u in ten) - 600) <= longest / 2
    assert abs(sum(u.duration for u in twenty) - 1200) <= longest / 2
    assert {u.id for u in ten} < {u.id for u in twenty}  # nested
    assert len({u.speaker for u in ten}) == len(ten)  # one utterance per speaker before any gets two
    assert ls.limited_supervision(train_clean_100, "all") == train_clean_100
    assert len(ls.limited_supervision(train_clean_100, "1h")) == 151  # ~31 min here: all of it
    shuffled = list(train_clean_100)
    random.Random(1).shuffle(shuffled)
    assert {u.id for u in ls.limited_supervision(shuffled, "10min")} == {u.id for u in ten}
    assert {u.id for u in ls.limited_supervision(train_clean_100, "10min", seed=1)} != {u.id for u in ten}


def test_split_names():
    assert [ls.parse_split(s) for s in ("10min", "1h", "10h", "all", "90s", "2.5h")] == [600, 3600, 36000, None, 90, 9000]
    with pytest.raises(ValueError):
        ls.parse_split("10 minutes")


def synthetic_corpus(speakers: int = 20, per_speaker: int = 30) -> list[Utterance]:
    rng = random.Random(0)
    return [Utterance(f"{s}-1-{i:04d}", f"/nowhere/{s}-{i}.flac", "A", str(s), round(rng.uniform(2, 16), 2))
            for s in range(100, 100 + speakers) for i in range(per_speaker)]


@pytest.mark.parametrize("seconds", [60, 600, 3600])
def test_duration_subset_balances_speakers_and_sexes(seconds):
    utts = synthetic_corpus()
    sexes = {str(s): "F" if s % 4 == 0 else "M" for s in range(100, 120)}  # 5 F, 15 M
    chosen = duration_subset(utts, seconds, seed=3, groups=sexes)
    assert abs(sum(u.duration for u in chosen) - seconds) <= 8
    counts = {}
    for u in chosen:
        counts[u.speaker] = counts.get(u.speaker, 0) + 1
    if len(counts) == 20:
        assert max(counts.values()) - min(counts.values()) <= 1
    else:  # fewer utterances than speakers: one each, sexes alternating while both last
        assert set(counts.values()) == {1}
        females = sum(sexes[s] == "F" for s in counts)
        assert females == min(5, (len(counts) + 1) // 2) or females == min(5, len(counts) // 2)


def test_duration_subset_reads_missing_durations_only_where_needed(train_clean_100, tmp_path):
    bare = [replace(u, duration=None) for u in train_clean_100]
    bare.append(Utterance("0-0-0000", str(tmp_path / "missing.flac"), "A", "0"))  # unreadable: passed over
    chosen = duration_subset(bare, 120, seed=0)
    assert chosen and all(u.duration for u in chosen) and "0-0-0000" not in {u.id for u in chosen}
    assert [u.id for u in chosen] == [u.id for u in ls.limited_supervision(train_clean_100, "2min")]


# ---------------------------------------------------------------- the recipe


def test_recipe_sets_hold_out_dev_speakers_and_add_extra_and_named_test_sets(tmp_path, an4_train_manifest, an4_test_manifest):
    root = shared_or_skip("librispeech/LibriSpeech")
    write_manifest(read_manifest(an4_train_manifest)[:5], tmp_path / "extra.jsonl")
    args = build_parser().parse_args([
        "--root", str(root), "--labeled", "10min", "--dev-speakers", "6", "--extra", str(tmp_path / "extra.jsonl"),
        "--test", f"an4={an4_test_manifest}", str(an4_test_manifest), "--max-test", "3"])
    train, dev, tests, info = build_sets(args)
    assert info["labeled_utterances"] == len(train) - 5 and 540 < info["labeled_seconds"] < 660
    assert len(dev) == 6 and not {u.speaker for u in dev} & {u.speaker for u in train}
    assert list(tests) == ["test-clean", "an4", "an4_test"] and [len(t) for t in tests.values()] == [3, 3, 3]
    assert tests["an4"] == tests["an4_test"]  # the same seeded choice
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--labeled", "ten minutes"])


def test_recipe_fetches_on_rank_0_while_other_ranks_wait_for_the_subsets(tmp_path, monkeypatch):
    subsets = ("test-clean", "dev-clean", "dev-other", "test-other")  # train on test-clean: small
    archives = {f"{s}.tar.gz": fake_archive(s) for s in subsets}
    server = Server(archives)
    for subset in subsets:
        monkeypatch.setitem(ls.MD5, subset, hashlib.md5(archives[f"{subset}.tar.gz"]).hexdigest())
    root = tmp_path / "LibriSpeech"
    args = build_parser().parse_args(["--root", str(root), "--train-subset", "test-clean", "--mirror", server.url])
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(FileNotFoundError, match="--download"):
        fetch_data(args)
    args.download = True
    monkeypatch.setenv("RANK", "1")
    waiting = threading.Thread(target=fetch_data, args=(args, 0.02), daemon=True)
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive() and not server.requests  # rank 1 never downloads, it waits
    monkeypatch.setenv("RANK", "0")
    fetch_data(args)
    waiting.join(5)
    server.httpd.shutdown()
    server.httpd.server_close()
    assert not waiting.is_alive() and len(server.requests) == 4
    assert all(ls.subset_present(root, s) for s in subsets)


def test_recipe_trains_data_parallel_and_scores_every_test_set(tmp_path, an4_train_manifest, an4_test_manifest):
    """torchrun, 2 CPU processes: a few real utterances, 20 steps, a tiny chain; checks the
    plumbing (sets, DDP, LM, scoring, results.json), not accuracy."""
    shared = shared_or_skip("librispeech/LibriSpeech")
    root = tmp_path / "LibriSpeech"
    for subset, n in (("train-clean-100", 6), ("test-clean", 1)):
        for transcript in sorted((shared / subset).rglob("*.trans.txt"))[:n]:
            folder = root / subset / transcript.relative_to(shared / subset).parent
            folder.mkdir(parents=True)
            (folder / transcript.name).write_text(transcript.read_text())
            for audio in transcript.parent.glob("*.flac"):
                (folder / audio.name).symlink_to(audio)
    write_manifest(read_manifest(an4_train_manifest)[:4], tmp_path / "extra.jsonl")
    write_manifest(read_manifest(an4_test_manifest)[:2], tmp_path / "an4_test.jsonl")
    (tmp_path / "unlabeled").mkdir()
    (tmp_path / "unlabeled" / "a.flac").symlink_to(read_manifest(an4_test_manifest)[5].audio)
    lm_text = tmp_path / "lm.txt"
    lm_text.write_text("103-1240-0000 HELLO THERE MISSUS RACHEL\nA PLAIN LINE OF TEXT\n")
    out = tmp_path / "exp"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "recipes.librispeech", "--root", str(root), "--labeled", "all", "--dev-speakers", "2",
               "--extra", str(tmp_path / "extra.jsonl"), "--test", f"an4={tmp_path / 'an4_test.jsonl'}",
               "--lm-text", str(lm_text), "--unlabeled", str(tmp_path / "unlabeled"), "--steps", "20", "--eval-every", "10", "--warmup", "5",
               "--chain", "unit,phone,char", "--units", "8", "--ssl-steps", "6",
               "--d-model", "64", "--layers-per-link", "1", "--threads", "1", "--batch-frames", "3000",
               "--cache-dir", str(tmp_path / "cache"), "--quiet", "--out", str(out)]
    # ~40 s on 2 idle cores; the long limit is for a machine busy with other work. On a timeout,
    # SIGTERM lets torchrun stop its workers (they run in sessions of their own).
    run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = run.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        run.terminate()
        try:
            run.communicate(timeout=60)
        finally:
            run.kill()
        pytest.fail("the recipe did not finish in 900 s")
    assert run.returncode == 0, stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["distributed_world_size"] == 2 and results["steps"] == 20
    assert results["train_utterances"] == 4 + 4  # 6 speakers, 2 held out for dev; 4 AN4
    for name, n in (("test-clean", 2), ("an4", 2)):
        for key in (name, f"{name}_greedy"):
            assert results[key]["n"] == n and 0 <= results[key]["wer"] and 0 <= results[key]["cer"] <= 1.5
    assert results["test-clean"]["decoder"] == "beam" and results["test-clean_greedy"]["decoder"] == "greedy"
    assert results["data"]["lm_sentences"] == 2 + 8
    assert results["ssl"]["utterances"] == 1 + 8 and results["ssl"]["iterations"][0]["steps"] == 6  # unlabeled + train audio
    config = json.loads((out / "model" / "config.json").read_text())
    assert [link["name"] for link in config["chain"]["links"]] == ["unit", "phone", "char"]
    words = (out / "model" / "words.txt").read_text().split()
    assert {"rachel", "plain", "yes", "go"} <= set(words)  # LM text (ids dropped) + training transcripts
    assert {p.name for p in (out / "model").iterdir()} >= {"config.json", "model.safetensors", "lm.arpa", "words.txt"}
    assert len(read_manifest(out / "data" / "train.jsonl")) == 8
