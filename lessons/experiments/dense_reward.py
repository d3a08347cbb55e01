"""Dense rewards (the overview's "sparse reward -> dense reward functions"): the RM's one terminal score against
sentence-level rewards, for PPO with its default critic, PPO with a critic from scratch, and the critic-free
trainer, scored on gold.

    python lessons/experiments/dense_reward.py                  # after train_sft.py and train_rm.py; ~5.5 min
    python lessons/experiments/dense_reward.py --seeds 0 1 2    # the committed three-seed version, ~27 min
    python lessons/experiments/dense_reward.py --quick          # seconds, on a --preset test chain

The dense arms add --dense-reward: the RM scores every sentence prefix of a response closed with the EOS, and each
sentence's last token gets the difference of consecutive prefix scores (potential-based shaping, Ng et al. 1999:
the return is R - Phi(empty), a constant per prompt, so the best policy is unchanged; Wu et al. 2023's sentence
level rewards). train_grpo.py uses the same differences as process supervision (Shao et al. 2024, §4.1.3): each
step's reward normalised over its group's steps, a token's advantage the sum over the steps at or after it; both
critic-free arms use GRPO's std normalisation (--advantage grpo), DeepSeekMath's outcome against its process
supervision. The prediction: PPO's default critic starts as the RM, so V already differs from token to token and
GAE already hands out per-token credit: little effect there; more with a critic from scratch (--critic-init
scratch) and without a critic. Every arm runs 40 iterations, evaluated every 10 (gold at 10, 20 and 40).

Each run is cached in <work-dir> like frontier.py's (same checkpoints, same flags: reused). Reported per seed, on
the held-out split: gold, its paired difference dense - terminal of the same seed and trainer (by prompt: both
evaluations sample the same prompts), KL, and the critic's explained variance over the run (PPO, the iteration
log); over seeds, stats.seed_claim decides whether dense beats terminal for each trainer.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontier import chain_ids, parse_args, save_results, seeds_flag, train_run  # noqa: E402

import numpy as np  # noqa: E402

from nano_rlhf.common import Timer, run_cli  # noqa: E402
from nano_rlhf.stats import over_seeds, paired_prompt_means, seed_claim  # noqa: E402

ITERATIONS = 40                 # evaluations every 10 (train_ppo's and train_grpo's default --eval-interval)
# (trainer, label, stage, the flags both of its arms share); each trainer runs terminal and --dense-reward
TRAINERS = (("ppo", "PPO, critic from the RM (default)", "ppo", {}),
            ("ppo_scratch", "PPO, critic from scratch", "ppo", {"critic_init": "scratch"}),
            ("grpo", "critic-free (GRPO)", "grpo", {"advantage": "grpo"}))
SHAPES = ("terminal", "dense")



def overrides(shared: dict, shape: str, seed: int, quick: bool) -> dict:
    """One arm's flags: the trainer's, --dense-reward for the dense arm, the seed and (not --quick) 40 iterations."""
    return {**shared, **({"dense_reward": True} if shape == "dense" else {}), "seed": seed,
            **({} if quick else {"iterations": ITERATIONS})}


def row(s: dict, stage: str) -> dict:
    """What the table and the figure need from one run's summary."""
    log = s.get("iteration_log", [])
    ev = [r["explained_var"] for r in log if "explained_var" in r]
    return {"gold": s[f"gold_reward_{stage}"], "gold_se": s[f"gold_reward_{stage}_se"], "kl": s["kl"],
            "explained_var": float(np.nanmean(ev)) if ev else float("nan"),
            "explained_var_last": ev[-1] if ev else float("nan"),
            "gold_at": {str(h["iteration"]): h["gold"] for h in s["history"]},
            "history": [(h["iteration"], h["gold"]) for h in s["history"]]}


def main(args) -> dict:
    timer = Timer()
    ids = chain_ids(args.out_dir)
    runs = {(t, shape): {seed: train_run(stage, overrides(shared, shape, seed, args.quick), args, ids)
                         for seed in args.seeds}
            for t, _, stage, shared in TRAINERS for shape in SHAPES}
    out = {"split": args.eval_split, "seeds": args.seeds, "iterations": 3 if args.quick else ITERATIONS,
           "arms": {}, "paired": {}, "over_seeds": {}, "claims": {}}
    for t, _, stage, _ in TRAINERS:
        out["arms"][t] = {shape: {str(seed): row(s, stage) for seed, s in runs[t, shape].items()} for shape in SHAPES}
        out["paired"][t] = {str(seed): paired_prompt_means(runs[t, "dense"][seed]["gold_by_prompt"],
                                                           runs[t, "terminal"][seed]["gold_by_prompt"])
                            for seed in args.seeds}
    checkpoints = sorted({int(i) for i in out["arms"]["ppo"]["terminal"][str(args.seeds[0])]["gold_at"]} - {0})

    print(f"\n{args.eval_split} split, {out['iterations']} iterations; gold ± SE by prompt (n = "
          f"{runs['ppo', 'terminal'][args.seeds[0]]['n_prompts']} prompts); dense − terminal paired by prompt")
    print(f"{'trainer':<36}{'seed':<6}{'terminal gold':>16}{'dense gold':>17}{'dense − terminal':>20}"
          f"{'KL t / d':>13}{'EV t / d':>15}")
    for t, label, _, _ in TRAINERS:
        for seed in map(str, args.seeds):
            a, b, d = out["arms"][t]["terminal"][seed], out["arms"][t]["dense"][seed], out["paired"][t][seed]
            ev = f"{a['explained_var']:+.2f} / {b['explained_var']:+.2f}" if t != "grpo" else "—"
            print(f"{label:<36}{seed:<6}{a['gold']:>+9.3f} ± {a['gold_se']:.3f}{b['gold']:>+10.3f} ± "
                  f"{b['gold_se']:.3f}{d['diff']:>+13.3f} ± {d['se']:.3f}{a['kl']:>7.2f} / {b['kl']:.2f}   {ev:>13}")
    print(f"\nover {len(args.seeds)} seed(s), mean ± SE over seeds; the claim: dense − terminal, paired by seed")
    for t, label, _, _ in TRAINERS:
        for it in checkpoints:
            g = {shape: [out["arms"][t][shape][str(s)]["gold_at"][str(it)] for s in args.seeds] for shape in SHAPES}
            for shape in SHAPES:
                out["over_seeds"].setdefault(t, {}).setdefault(str(it), {})[shape] = over_seeds(g[shape])
            out["claims"].setdefault(t, {})[str(it)] = seed_claim(g["dense"], g["terminal"], "dense", "terminal")
        kl = {shape: [out["arms"][t][shape][str(s)]["kl"] for s in args.seeds] for shape in SHAPES}
        out["over_seeds"][t]["kl"] = {shape: over_seeds(kl[shape]) for shape in SHAPES}
        if t != "grpo":        # the critic's explained variance over the run (a critic-free run has none)
            ev = {shape: [out["arms"][t][shape][str(s)]["explained_var"] for s in args.seeds] for shape in SHAPES}
            out["over_seeds"][t]["explained_var"] = {shape: over_seeds(ev[shape]) for shape in SHAPES}
        os_ = out["over_seeds"][t][str(checkpoints[-1])]
        print(f"{label}: terminal {os_['terminal']['mean']:+.3f} ± {os_['terminal']['se']:.3f}, dense "
              f"{os_['dense']['mean']:+.3f} ± {os_['dense']['se']:.3f} at iteration {checkpoints[-1]}; "
              + "; ".join(f"it {it}: {out['claims'][t][str(it)]['text']}" for it in checkpoints))
    out["claim"] = {t: out["claims"][t][str(checkpoints[-1])] for t, _, _, _ in TRAINERS}   # the final, reported

    from nano_rlhf.plots import plt   # the Agg backend
    fig, axes = plt.subplots(1, len(TRAINERS), figsize=(13, 4), sharey=True)
    for ax, (t, label, _, _) in zip(axes, TRAINERS):
        for shape, color in (("terminal", "tab:blue"), ("dense", "tab:orange")):
            hists = [out["arms"][t][shape][str(s)]["history"] for s in args.seeds]
            for h in hists:
                ax.plot([x for x, _ in h], [y for _, y in h], "-", color=color, alpha=0.3, lw=1)
            its = [x for x, _ in hists[0]]
            ax.plot(its, [np.mean([h[i][1] for h in hists]) for i in range(len(its))], "-o", ms=4, color=color,
                    label=f"{shape} (mean of {len(hists)} seed{'s' * (len(hists) > 1)})")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"held-out gold ({args.eval_split})")
    axes[0].legend(fontsize=8)
    fig.suptitle("dense (sentence-level) rewards against the terminal RM score")
    return save_results(fig, args, out, timer)


def parse(argv):
    """The flags: frontier.parse_args's, with --seeds."""
    return parse_args(argv, __doc__, "dense_reward", seeds_flag)


if __name__ == "__main__":
    run_cli(main, parse(sys.argv[1:]))
