"""Dev proxy for nicolas-like clips: george+jackson test clips (fold enrolled lucas+nicolas) cut
tight (librosa trim at TOP_DB), top-1 of chain+decoder with lead 0 vs 0.5, zero-shot and k=5."""
import random, sys, numpy as np, torch
from dataclasses import replace
from pathlib import Path
torch.set_num_threads(2)
from asr.commands import AdaptConfig, CommandConfig, CommandRecognizer, adapt_recognizer
from asr.encoder import load_encoder
from asr.model import ASRModel
from features.audio import load_audio
from features.augment import trim_quiet_edges
from features.manifest import read_corpus
from recipes.commands.__main__ import draw_shots, split
top_db = float(sys.argv[1])
corpus = [u for u in read_corpus(Path('../shared/data/fsdd/manifest.jsonl')) if u.text]
commands = list(dict.fromkeys(u.text for u in corpus))
enroll, test, _, _ = split(corpus, ['lucas', 'nicolas'])
test = random.Random(0).sample(test, 150)
truth = np.array([commands.index(u.text) for u in test])
encoder = load_encoder(ASRModel.load('default').config.encoder)
raw = [load_audio(u.audio) for u in test]
clips = [trim_quiet_edges(a, top_db) for a in raw] if top_db > 0 else raw
print('kept share of samples', np.mean([len(c) / len(a) for c, a in zip(clips, raw)]).round(3))
rec = CommandRecognizer(ASRModel.load('default', encoder), CommandConfig(commands))
decoded = rec.decoder_scores(clips)
for k in (0, 5):
    rec = CommandRecognizer(ASRModel.load('default', encoder), CommandConfig(commands))
    if k:
        shots = draw_shots(enroll, commands, k, 0 + k)
        adapt_recognizer(rec, [load_audio(u.audio) for u in shots], [commands.index(u.text) for u in shots], AdaptConfig(threads=2, seed=0))
    for lead in (0.0, 0.5):
        rec.config = replace(rec.config, lead_seconds=lead)
        s = torch.stack(rec.score_frames(rec.encode(clips), decoded=decoded)).numpy()
        chain = s - torch.stack(decoded).numpy()
        print(f'top_db {top_db} k={k} lead {lead}: top-1 {(s.argmax(1) == truth).sum()} / 150, chain alone {(chain.argmax(1) == truth).sum()}', flush=True)
