"""Reward-model over-optimisation (Gao, Schulman & Hilton 2022) in the tiny world: proxy (RM) and gold reward
against d = sqrt(KL(pi || pi_SFT)) along a PPO run without a KL penalty (beta = 0), one with the default beta, two
more without the penalty on lesson 6's remedies (frontier.py's ensemble-mean and iterated-RM entries), and for
best-of-n, with Gao et al.'s functional forms fitted by least squares:

    best-of-n   R(d) = d (alpha - beta d)          RL   R(d) = d (alpha - beta log d)

R is the reward minus the SFT policy's (so R(0) = 0; SFT measured on the best-of-n samples, n = 1); alpha and
beta are fitted constants (not PPO's KL coefficient). Gao et al. fit the gold reward; the proxy is fitted here
too, for comparison (each run against its own reward: the chain RM, the ensemble aggregate or the iterated RM,
each normalised on SFT samples).

    python lessons/experiments/overoptimisation.py          # after train_sft.py and train_rm.py; ~5 min
    python lessons/experiments/overoptimisation.py --quick  # seconds, on a --preset test chain

The PPO runs evaluate on held-out prompts every 4 iterations (the `history` of ppo_summary.json). They live in
<work-dir> (default out/experiments) and are shared with frontier.py, which trains these two runs among others
and draws the same best-of-n samples: after it, this script only reads, fits and plots (seconds); alone, it
trains the two PPO runs (about 5 minutes). Small-sample caveat: one run per setting, 480 held-out samples per
evaluation (gold SE about 0.07), 3 x 40 prompts x 64 samples for best-of-n; read the fits as shapes, not laws.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontier import METHODS, bon_curve, chain_ids, method_run, parse_args, ppo_overrides, train_run  # noqa: E402

import numpy as np  # noqa: E402

import train_ppo  # noqa: E402
from nano_rlhf.common import Timer, run_cli  # noqa: E402
from nano_rlhf.files import write_json  # noqa: E402


def fit(d, r, form: str):
    """Least squares for R = alpha d - beta d^2 (bon) or R = alpha d - beta d log d (rl) -> alpha, beta, R^2."""
    d, r = np.asarray(d, dtype=np.float64), np.asarray(r, dtype=np.float64)
    second = d ** 2 if form == "bon" else np.where(d > 0, d * np.log(np.maximum(d, 1e-12)), 0.0)
    X = np.stack([d, -second], 1)                          # R = X @ (alpha, beta); no intercept: R(0) = 0
    (alpha, beta), *_ = np.linalg.lstsq(X, r, rcond=None)
    ss = float(((r - X @ (alpha, beta)) ** 2).sum())
    r2 = 1 - ss / float(((r - r.mean()) ** 2).sum()) if len(r) > 1 and r.std() > 0 else float("nan")
    return float(alpha), float(beta), r2


def curve_fn(form: str, alpha: float, beta: float):
    return lambda d: d * (alpha - beta * (d if form == "bon" else np.log(np.maximum(d, 1e-12))))


def main(args) -> dict:
    timer = Timer()
    ids = chain_ids(args.out_dir)
    default_beta = train_ppo.Config().beta
    bon = bon_curve(args, ids)
    # One SFT baseline for every series: best-of-1, i.e. the SFT policy's own N samples per prompt (7,680 by
    # default), the most precise estimate we have. PPO's report of SFT (480 samples) differs by sampling noise.
    c = bon["rows"]
    gold_sft, rm_sft = c[0]["gold"], c[0]["rm"]
    series = {}   # name -> (form, d, gold - gold_SFT, rm - rm_SFT, labels)
    series["best-of-n"] = ("bon", [np.sqrt(r["kl"]) for r in c], [r["gold"] - gold_sft for r in c],
                           [r["rm"] - rm_sft for r in c], [f"n={r['n']}" for r in c])
    runs = {f"PPO beta={beta}": train_run("ppo", ppo_overrides(beta, args), args, ids) for beta in (0.0, default_beta)}
    # lesson 6's remedies without the leash (frontier.py's entries with their own reward): does gold turn later?
    runs.update({f"{m.label} beta=0.0": method_run(m, 0.0, args, ids) for m in METHODS if m.reward})
    for name, s in runs.items():
        h = s["history"]
        series[name] = ("rl", [np.sqrt(max(r["kl"], 0.0)) for r in h], [r["gold"] - gold_sft for r in h],
                        [r["rm"] - rm_sft for r in h], [f"it {r['iteration']}" for r in h])

    fits = {}
    for name, (form, d, gold, rm, labels) in series.items():
        print(f"\n{name}: reward relative to SFT against d = sqrt(KL)\n{'':>8}{'KL':>8}{'d':>7}{'gold':>8}{'RM':>8}")
        for lab, di, g, r in zip(labels, d, gold, rm):
            print(f"{lab:>8}{di ** 2:>8.3f}{di:>7.3f}{g:>+8.3f}{r:>+8.3f}")
        fits[name] = {"form": form, "gold": fit(d, gold, form), "rm": fit(d, rm, form)}
    print(f"\nfitted Gao et al. forms (least squares through the origin): best-of-n d(alpha - beta d), "
          f"RL d(alpha - beta log d); SFT gold {gold_sft:+.3f}, RM {rm_sft:+.3f} (best-of-1)")
    print(f"{'series':<30}{'reward':<7}{'alpha':>9}{'beta':>9}{'R^2':>7}{'peak at d':>13}")
    for name, f in fits.items():
        for key in ("gold", "rm"):
            a, b, r2 = f[key]
            if b <= 0:
                peak = "none"           # still rising: no over-optimisation within this form
            else:                       # dR/dd = 0: bon d* = alpha / 2 beta; RL d* = exp(alpha / beta - 1)
                d_star = a / (2 * b) if f["form"] == "bon" else float(np.exp(min(a / b - 1, 50.0)))
                peak = f"{d_star:.2f}" if d_star <= max(series[name][1]) else "beyond data"
            print(f"{name:<30}{key:<7}{a:>+9.3f}{b:>+9.3f}{r2:>7.2f}{peak:>13}")

    from nano_rlhf.plots import plt, save_figure   # the Agg backend, and atomic PNG writes
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"best-of-n": "tab:green", f"PPO beta={default_beta}": "tab:blue", "PPO beta=0.0": "tab:red",
              **{f"{m.label} beta=0.0": m.color for m in METHODS if m.reward}}
    for ax, key, i in ((axes[0], "gold", 2), (axes[1], "rm", 3)):
        for name, s in series.items():
            d = np.asarray(s[1])
            ax.plot(d, s[i], "o", ms=4, color=colors.get(name), label=name)
            xs = np.linspace(0, max(d.max(), 1e-3), 100)
            ax.plot(xs, curve_fn(s[0], *fits[name][key][:2])(xs), "--", color=colors.get(name), lw=1)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(("gold" if key == "gold" else "RM (proxy)") + " reward minus SFT's; dashed: Gao et al. fits")
        ax.set_xlabel("d = sqrt(KL(pi || pi_SFT)), sqrt(nats)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    save_figure(fig, args.png)
    out = {"split": args.eval_split, "fits": fits,
           "series": {k: dict(zip(("form", "d", "gold", "rm", "labels"), v)) for k, v in series.items()}}
    write_json(args.json, out)
    print(f"\nwrote {args.png} and {args.json} in {timer():.0f}s")
    return out


if __name__ == "__main__":
    run_cli(main, parse_args(sys.argv[1:], __doc__, "overoptimisation"))
