import json, numpy as np, torch
torch.set_num_threads(2)
from asr.commands import CommandRecognizer
rec = CommandRecognizer.load('exp/fsdd_s21_300/model')
cmds = rec.config.commands
priors = {}
rng = np.random.default_rng(0)
for name, audio in [('silence0.5', np.zeros(8000, np.float32)), ('silence0.1', np.zeros(1600, np.float32)),
                    ('noise0.5', (rng.standard_normal(8000) * 0.01).astype(np.float32))]:
    priors[name] = rec.decoder_scores([audio])[0].tolist()
    print(name, dict(zip(cmds, np.round(priors[name], 2))))
json.dump(priors, open('exp/probes22/priors.json', 'w'))
d = json.load(open('exp/probes22/pad_0,0_0.2,0_0.2,0.2_0.5,0.json'))
split = json.load(open('exp/fsdd_s21_300/splits.json')); rows = split['test']
lab = np.array([cmds.index(r['text']) for r in rows]); spk = np.array([r['id'].split('_')[0] for r in rows])
c = np.array(d['0,0']['chain']); dec = np.array(d['0,0']['decoder'])
for name, p in priors.items():
    for lam in (0, 0.1, 0.25, 0.5, 1.0):
        s = c + dec - lam * np.array(p)
        ok = s.argmax(1) == lab
        print(name, lam, ok.sum(), ok[spk == 'nicolas'].sum(), 'decoder alone', ((dec - lam * np.array(p)).argmax(1) == lab).sum())
