"""Top-1 (best command, no rejection), accuracy and out-of-grammar accepts per k, from each
recipe OUT folder's decisions.json: python benchmarks/probes_s23/top1.py exp/cut_base exp/cut_lead"""
import json
import sys

for run in sys.argv[1:]:
    decisions = json.load(open(f"{run}/decisions.json"))
    line = []
    for k, rows in decisions.items():
        test = [r for r in rows if r["source"] == "test"]
        negatives = [r for r in rows if r["source"] != "test"]
        line.append(f"k={k}: top1 {sum(r['best'] == r['truth'] for r in test)}/{len(test)} "
                    f"acc {sum(r['command'] == r['truth'] for r in test)} "
                    f"FA {sum(r['command'] != 'none' for r in negatives)}/{len(negatives)}")
    print(run, " | ".join(line))
