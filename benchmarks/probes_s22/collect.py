"""Cache encoder frames, chain scores and decoder scores for the recipe split's k=5 model."""
import json, sys, time, torch
torch.set_num_threads(2)
from asr.commands import CommandRecognizer
from features.audio import load_audio
split = json.load(open('exp/fsdd_s21_300/splits.json'))
rec = CommandRecognizer.load('exp/fsdd_s21_300/model')
out = {}
for name, rows in [('shots', split['shots']['5']), ('test', split['test'])]:
    t = time.time()
    audios = [load_audio(r['audio']) for r in rows]
    frames = rec.encode(audios)
    decoded = rec.decoder_scores(audios)
    scores = rec.score_frames(frames, decoded=decoded)
    phone = rec.model.posteriors(frames, link='phone')
    char = rec.model.posteriors(frames, link='char')
    out[name] = dict(rows=rows, frames=frames, scores=scores, decoded=decoded, phone=phone, char=char)
    print(name, len(rows), frames[0].shape, phone[0].shape, time.time() - t, flush=True)
import os; os.makedirs('exp/probes22', exist_ok=True)
torch.save(out, 'exp/probes22/cache.pt')
