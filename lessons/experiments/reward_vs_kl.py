"""Proxy (RM) and gold reward against KL for two or more PPO runs, from their ppo_summary.json histories.

    python lessons/experiments/reward_vs_kl.py out/ppo_default out/ppo_beta0 --out lessons/figures/reward_vs_kl.png

Each run's held-out evaluations (every --eval-interval iterations) become one gold curve and one RM curve.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from nano_rlhf.plots import plot_curves  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="folders holding ppo_summary.json")
    ap.add_argument("--out", default="lessons/figures/reward_vs_kl.png", help="the PNG to write")
    args = ap.parse_args(argv)
    gold, proxy = {}, {}
    for run in args.runs:
        path = os.path.join(run, "ppo_summary.json")
        if not os.path.exists(path):
            sys.exit(f"error: {path} not found: run `python train_ppo.py --out-dir {run}` first")
        s = json.load(open(path))
        name = os.path.basename(os.path.normpath(run))
        h = s["history"]
        kl = [r["kl"] for r in h]
        gold[name] = (kl, [r["gold"] for r in h])
        proxy[name] = (kl, [r["rm"] for r in h])
        print(f"{run}: " + "  ".join(f"it {r['iteration']}: KL {r['kl']:.2f} RM {r['rm']:+.2f} "
                                     f"gold {r['gold']:+.2f}±{r['gold_se']:.2f}" for r in h))
    plot_curves(args.out, [("gold reward (the simulated human)", gold), ("RM reward (the proxy)", proxy)],
                xlabel="KL(pi || pi_SFT), nats per response (held-out)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
