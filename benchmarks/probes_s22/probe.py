import torch, numpy as np, sys
from collections import Counter
c = torch.load('exp/probes22/cache.pt', weights_only=False)
commands = ['ZERO','ONE','TWO','THREE','FOUR','FIVE','SIX','SEVEN','EIGHT','NINE']
def dtw(cost):
    T, S = cost.shape
    D = np.full((T + 1, S + 1), np.inf); D[0, 0] = 0
    for i in range(1, T + 1):
        for j in range(1, S + 1):
            D[i, j] = cost[i-1, j-1] + min(D[i-1, j], D[i, j-1], D[i-1, j-1])
    return D[T, S] / (T + S)
def feats(kind, part):
    if kind == 'enc':
        out = []
        for f in c[part]['frames']:
            f = f.float(); f = f - f.mean(0) if NORM else f
            out.append(torch.nn.functional.normalize(f, dim=-1).numpy())
        return out
    return [p.exp().numpy() for p in c[part][kind]]
def cost(kind, a, b):
    if kind == 'enc':
        return 1 - a @ b.T
    return -np.log(np.clip(a @ b.T, 1e-6, None))
shot_labels = [commands.index(r['text']) for r in c['shots']['rows']]
test_labels = np.array([commands.index(r['text']) for r in c['test']['rows']])
speakers = np.array([r['id'].split('_')[0] for r in c['test']['rows']])
chain = torch.stack(c['test']['scores']).numpy()
print('chain top1', (chain.argmax(1) == test_labels).mean(), {s: (chain.argmax(1) == test_labels)[speakers == s].mean() for s in set(speakers)})
for kind in sys.argv[1:]:
    global NORM
    NORM = kind == 'encn'; kind = 'enc' if kind.startswith('enc') else kind
    S = feats(kind, 'shots'); T = feats(kind, 'test')
    d = np.array([[dtw(cost(kind, t, s)) for s in S] for t in T])
    per = np.full((len(T), 10), np.inf)
    for j, l in enumerate(shot_labels):
        per[:, l] = np.minimum(per[:, l], d[:, j])
    dscore = -per
    ok = dscore.argmax(1) == test_labels
    print(kind, NORM, 'dtw top1', ok.mean(), {s: ok[speakers == s].mean() for s in set(speakers)})
    z = (dscore - dscore.mean(1, keepdims=True)) / dscore.std(1, keepdims=True)
    zc = (chain - chain.mean(1, keepdims=True)) / chain.std(1, keepdims=True)
    for w in [0.1, 0.25, 0.5, 1, 2]:
        comb = chain + w * (dscore - dscore.max(1, keepdims=True)) / dscore.std()
        ok = comb.argmax(1) == test_labels
        print(f'  w={w} comb top1 {ok.mean():.4f}', {s: round(ok[speakers == s].mean(), 4) for s in set(speakers)})
    np.save(f'exp/probes22/d_{kind}{int(NORM)}.npy', d)
