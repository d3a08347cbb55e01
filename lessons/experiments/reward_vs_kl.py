"""Proxy (RM) and gold reward against KL for two or more PPO runs, from their ppo_summary.json histories.

    python lessons/experiments/reward_vs_kl.py out/ppo_default out/ppo_beta0 --out lessons/figures/reward_vs_kl.png

Each run's held-out evaluations (every --eval-interval iterations) become one gold curve and one RM curve.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from nano_rlhf.common import ArgumentParser, fail, out_dir_problem  # noqa: E402
from nano_rlhf.plots import plot_curves  # noqa: E402

KEYS = ("iteration", "kl", "rm", "gold", "gold_se")      # what each held-out evaluation of the history holds


def read_history(run: str) -> list[dict]:
    """The held-out evaluations of one PPO run's ppo_summary.json, or a one-line error (exit code 2)."""
    path = os.path.join(run, "ppo_summary.json")
    redo = f"run `python train_ppo.py --out-dir {run}`"
    if not os.path.isfile(path):
        fail(f"{path} not found: {redo} first")
    try:
        with open(path, encoding="utf-8") as f:
            h = json.load(f)["history"]
        # a null (an undefined SE, say) is read as NaN: plotted as a gap, printed as nan
        return [{k: float("nan") if r[k] is None else float(r[k]) for k in KEYS} for r in h]
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        fail(f"{path} is not a readable PPO summary ({type(e).__name__}: {e}); {redo} again")


def parse_args(argv):
    """The flags, checked before anything is read (one line, exit code 2); read_history checks the runs."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="folders holding ppo_summary.json")
    ap.add_argument("--out", default="lessons/figures/reward_vs_kl.png", help="the PNG to write")
    args = ap.parse_args(argv)
    if problem := (f"--out {args.out}: is a folder, a device or a pipe; pass a file name"
                   if os.path.lexists(args.out) and not os.path.isfile(args.out) else
                   out_dir_problem(os.path.dirname(args.out) or ".", "--out's folder")):
        ap.error(problem)
    return args


def main(argv=None):
    args = parse_args(argv)
    gold, proxy = {}, {}
    for run, h in [(run, read_history(run)) for run in args.runs]:     # every run read before any output
        name = os.path.basename(os.path.normpath(run))
        kl = [r["kl"] for r in h]
        gold[name] = (kl, [r["gold"] for r in h])
        proxy[name] = (kl, [r["rm"] for r in h])
        print(f"{run}: " + "  ".join(f"it {r['iteration']:g}: KL {r['kl']:.2f} RM {r['rm']:+.2f} "
                                     f"gold {r['gold']:+.2f}±{r['gold_se']:.2f}" for r in h))
    plot_curves(args.out, [("gold reward (the simulated human)", gold), ("RM reward (the proxy)", proxy)],
                xlabel="KL(pi || pi_SFT), nats per response (held-out)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
