import torch, numpy as np
from dataclasses import replace
torch.set_num_threads(1)
from asr.commands import CommandRecognizer
c = torch.load('exp/probes22/cache.pt', weights_only=False)
rec = CommandRecognizer.load('exp/fsdd_s21_300/model')
cmds = rec.config.commands
rows = c['test']['rows']; lab = np.array([cmds.index(r['text']) for r in rows]); spk = np.array([r['id'].split('_')[0] for r in rows])
dec = torch.stack(c['test']['decoded']).numpy()
for rep in (1, 2, 3, 4):
    rec.config = replace(rec.config, frame_repeat=rep)
    s = torch.stack(rec.score_frames(c['test']['frames'], decoded=c['test']['decoded'])).numpy()
    print(rep, 'sum', (s.argmax(1) == lab).sum(), 'nicolas', ((s.argmax(1) == lab) & (spk == 'nicolas')).sum(), 'chain', ((s - dec).argmax(1) == lab).sum())
