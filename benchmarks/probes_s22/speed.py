"""Wider speed perturbation at adaptation: dev fold (lucas+nicolas enrolled -> george+jackson, 150),
natural clips and clips sped up x RATE (a proxy for nicolas's fast speech); top-1 chain+decoder."""
import random, sys, numpy as np, torch
from pathlib import Path
torch.set_num_threads(2)
from asr.commands import AdaptConfig, CommandConfig, CommandRecognizer, adapt_recognizer
from asr.encoder import load_encoder
from asr.model import ASRModel
from features.audio import load_audio
from features.augment import time_stretch
from features.manifest import read_corpus
from recipes.commands.__main__ import draw_shots, split
rate = float(sys.argv[1]); ranges = [tuple(map(float, r.split(','))) for r in sys.argv[2:]]
corpus = [u for u in read_corpus(Path('../shared/data/fsdd/manifest.jsonl')) if u.text]
commands = list(dict.fromkeys(u.text for u in corpus))
enroll, test, _, _ = split(corpus, ['lucas', 'nicolas'])
test = random.Random(0).sample(test, 150)
truth = np.array([commands.index(u.text) for u in test])
encoder = load_encoder(ASRModel.load('default').config.encoder)
sets = {'natural': [load_audio(u.audio) for u in test]}
sets['fast'] = [time_stretch(a, rate) for a in sets['natural']]
print('median s', {n: round(float(np.median([len(a) / 16000 for a in v])), 3) for n, v in sets.items()})
rec = CommandRecognizer(ASRModel.load('default', encoder), CommandConfig(commands))
decoded = {n: rec.decoder_scores(v) for n, v in sets.items()}
for k in (1, 5):
    for speed in ranges:
        rec = CommandRecognizer(ASRModel.load('default', encoder), CommandConfig(commands))
        shots = draw_shots(enroll, commands, k, k)
        summary = adapt_recognizer(rec, [load_audio(u.audio) for u in shots], [commands.index(u.text) for u in shots],
                                   AdaptConfig(threads=2, seed=0, speed_range=speed))
        res = {}
        for n, clips in sets.items():
            s = torch.stack(rec.score_frames(rec.encode(clips), decoded=decoded[n])).numpy()
            res[n] = int((s.argmax(1) == truth).sum())
        print(f'k={k} speed {speed}: top-1 {res} of 150, adapt {summary["adapt_seconds"]} s', flush=True)
