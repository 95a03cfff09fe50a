"""Top-1 / accuracy of the recipe split's k=5 model with silence padded around each test clip."""
import json, sys, time, torch, numpy as np
torch.set_num_threads(2)
from asr.commands import CommandRecognizer
from features.audio import load_audio
split = json.load(open('exp/fsdd_s21_300/splits.json'))
rec = CommandRecognizer.load('exp/fsdd_s21_300/model')
rows = split['test']
commands = rec.config.commands
labels = np.array([commands.index(r['text']) for r in rows])
spk = np.array([r['id'].split('_')[0] for r in rows])
audios = [load_audio(r['audio']) for r in rows]
out = {}
for spec in sys.argv[1:]:
    before, after = (float(x) for x in spec.split(','))
    t = time.time()
    padded = [np.concatenate([np.zeros(int(before * 16000), np.float32), a, np.zeros(int(after * 16000), np.float32)]) for a in audios]
    frames = rec.encode(padded)
    decoded = rec.decoder_scores(padded)
    chain = torch.stack(rec.score_frames(frames, decoded=[torch.zeros_like(d) for d in decoded])).numpy()
    dec = torch.stack(decoded).numpy()
    res = rec.recognize_frames(frames, decoded=decoded)
    acc = np.array([r.command == commands[l] for r, l in zip(res, labels)])
    for name, s in [('chain', chain), ('decoder', dec), ('sum', chain + dec)]:
        ok = s.argmax(1) == labels
        print(spec, name, 'top1', ok.mean().round(4), 'nicolas', ok[spk == 'nicolas'].mean().round(4), 'lucas', ok[spk == 'lucas'].mean().round(4))
    print(spec, 'accuracy', acc.mean().round(4), 'nicolas', acc[spk == 'nicolas'].mean().round(4), round(time.time() - t), 's', flush=True)
    out[spec] = dict(chain=chain.tolist(), decoder=dec.tolist())
import os; os.makedirs('exp/probes22', exist_ok=True)
json.dump(out, open('exp/probes22/pad_%s.json' % '_'.join(sys.argv[1:]), 'w'))
