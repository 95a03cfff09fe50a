"""k=5 model of the recipe split: utterance placed after `lead` s of silence in its window;
frames of the clip only ('slice') or of the lead too ('keep'). Decoder scores from pad 0,0."""
import json, sys, time, torch, numpy as np
torch.set_num_threads(2)
from asr.commands import CommandRecognizer, self_copies
from asr.packing import GAP_SECONDS, window_geometry, _align_up
from features.audio import load_audio
split = json.load(open('exp/fsdd_s21_300/splits.json'))
rec = CommandRecognizer.load(sys.argv[1] if sys.argv[1] != '-' else 'exp/fsdd_s21_300/model')
rows = split['test']
commands = rec.config.commands
labels = np.array([commands.index(r['text']) for r in rows])
spk = np.array([r['id'].split('_')[0] for r in rows])
audios = [load_audio(r['audio']) for r in rows]
dec = np.array(json.load(open('exp/probes22/pad_0,0_0.2,0_0.2,0.2_0.5,0.json'))['0,0']['decoder'])
enc = rec.model.encoder
window, _, hop = window_geometry(enc)
gap = _align_up(int(GAP_SECONDS * enc.sample_rate), hop)
def encode(audio, context, lead, keep):
    lead_n = _align_up(int(lead * 16000), hop)
    batch = torch.zeros(1, window)
    batch[0, lead_n:lead_n + len(audio)] = torch.from_numpy(audio)
    start = _align_up(lead_n + len(audio) + gap, hop)
    for clip in context:
        if start + len(clip) > window: break
        batch[0, start:start + len(clip)] = torch.from_numpy(clip)
        start = _align_up(start + len(clip) + gap, hop)
    with torch.inference_mode():
        f = enc(batch)[0]
    first = 0 if keep else lead_n // hop
    return f[first:lead_n // hop + enc.frames_for(len(audio))].float().clone()
for spec in sys.argv[2:]:
    lead, mode = spec.split(':')
    t = time.time()
    frames = [encode(a, rec.context or self_copies(a, rec.config.self_context_seconds), float(lead), mode == 'keep') for a in audios]
    chain = torch.stack(rec.score_frames(frames, decoded=[torch.zeros(10)] * len(frames))).numpy()
    for name, s in [('chain', chain), ('sum', chain + dec)]:
        ok = s.argmax(1) == labels
        print(spec, name, 'top1', ok.mean().round(4), 'nicolas', ok[spk == 'nicolas'].sum(), 'lucas', ok[spk == 'lucas'].sum(), round(time.time() - t), flush=True)
