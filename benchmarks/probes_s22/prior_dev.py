import json, sys, numpy as np, copy
sys.path.insert(0, 'benchmarks')
from enrollment_threshold import decided, threshold_at
prior = np.array(json.load(open('exp/probes22/priors.json'))[sys.argv[2] if len(sys.argv) > 2 else 'silence0.5'])
prior = prior - prior.mean()
saved = json.load(open(sys.argv[1]))
zs = saved['zero_shot_threshold']
for lam in (0, 0.25, 0.5, 1.0):
    shift = -lam * prior
    out = {}
    for run in saved['runs']:
        k = run['k']
        fix = lambda rows: [{**r, 'scores': (np.array(r['scores']) + shift).tolist(), 'base_scores': (np.array(r['base_scores']) + shift).tolist()} for r in rows]
        test = fix(run['test']); thr = threshold_at(run, 0.5, zs); floor = zs - 1.5
        truth = np.array([r['truth'] for r in test])
        acc = (decided(test, thr, floor) == truth).sum()
        top1 = (np.array([np.argmax(r['scores']) for r in test]) == truth).sum()
        fa = sum(int((decided(fix(rows), thr, floor) >= 0).sum()) for rows in run['negatives'].values())
        o = out.setdefault(k, [0, 0, 0, 0, 0]); o[0] += acc; o[1] += top1; o[2] += len(test); o[3] += fa
        o[4] += sum(len(v) for v in run['negatives'].values())
    print('lambda', lam, {k: f'acc {a} top1 {t} of {n}, FA {f} of {m}' for k, (a, t, n, f, m) in out.items()})
