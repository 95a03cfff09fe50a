import json, numpy as np, sys
a=json.load(open('exp/confidence/scores.json')); b=json.load(open('exp/lead/scores.json'))
for ra, rb in zip(a['runs'], b['runs']):
    assert (ra['tested'], ra['k'], ra['seed']) == (rb['tested'], rb['k'], rb['seed'])
    assert [t['path'] for t in ra['test']] == [t['path'] for t in rb['test']]
    truth = np.array([t['truth'] for t in ra['test']])
    sa = np.array([t['scores'] for t in ra['test']]); sb = np.array([t['scores'] for t in rb['test']])
    out = [ (s.argmax(1) == truth).sum() for s in (sa, sb, (sa + sb) / 2)]
    print(ra['tested'], 'k', ra['k'], 'top1 lead0 / lead0.5 / mean:', out, 'of', len(truth), 'learned thr', round(ra['learned_threshold'],2), round(rb['learned_threshold'],2))
