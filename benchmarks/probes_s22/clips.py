"""Durations of nicolas's clips misread in 3+ of the 8 runs of two recipe draws, against those never misread."""
import json, numpy as np, soundfile as sf, librosa
from collections import defaultdict
errs = defaultdict(int); seen = set()
for d in ['exp/fsdd_s21_300', 'exp/fsdd_s22_300_seed2']:
    for k, rows in json.load(open(d + '/decisions.json')).items():
        for r in rows:
            if r['source'] != 'test' or 'nicolas' not in r['audio']:
                continue
            seen.add(r['audio'])
            errs[r['audio']] += r['command'] != r['truth']
def dur(p):
    a, sr = sf.read(p)
    return len(a) / sr, 1 - len(librosa.effects.trim(a, top_db=15, frame_length=256, hop_length=64)[0]) / len(a)
for name, ps in [('misread in >= 3 of 8 runs', [p for p in seen if errs[p] >= 3]), ('never misread', [p for p in seen if errs[p] == 0])]:
    ds = np.array([dur(p) for p in ps])
    print(name, len(ps), 'median s', np.median(ds[:, 0]).round(3), 'share off at a 15-dB trim', np.median(ds[:, 1]).round(3))
for p in sorted((p for p in seen if errs[p] >= 3), key=lambda p: -errs[p]):
    print(p.split('/')[-1], errs[p], np.round(dur(p), 3))
