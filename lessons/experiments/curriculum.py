"""A curriculum for PPO (the overview's "unstable training -> curriculum RL"): easy prompts first, against the
usual uniform draws, scored on gold.

    python lessons/experiments/curriculum.py                  # after train_sft.py and train_rm.py; ~3.5 min
    python lessons/experiments/curriculum.py --seeds 0 1 2    # the committed three-seed version, ~10 min
    python lessons/experiments/curriculum.py --quick          # seconds, on a --preset test chain

Both arms are train_ppo.py at its defaults; the curriculum arm adds --curriculum easy-first: a difficulty that
needs no gold (the mean RM score of 4 SFT samples of each training prompt, easiest_first in
nano_rlhf/curriculum.py), the easiest quarter of the prompts first, the pool growing linearly to all of them by half-way (curriculum_pool;
Bengio et al. 2009's "baby steps"). Each run is cached in <work-dir> like frontier.py's (same checkpoints, same
flags: reused). Reported per seed, on the held-out split: gold, its paired difference from the uniform arm of the
same seed (by prompt: both evaluations sample the same prompts), KL, and `honest` on the sum prompts (the kind
the SFT model gets wrong most); over seeds, stats.seed_claim decides whether one arm beats the other.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontier import chain_ids, parse_args, save_results, seeds_flag, train_run  # noqa: E402

from nano_rlhf.common import Timer, run_cli  # noqa: E402
from nano_rlhf.stats import over_seeds, paired_prompt_means, seed_claim  # noqa: E402

ARMS = {"uniform": {}, "easy-first": {"curriculum": "easy-first"}}



def paired(a: dict, b: dict) -> dict:
    """Summary a's gold minus summary b's, paired by prompt, with its SE over the prompts."""
    return paired_prompt_means(a["gold_by_prompt"], b["gold_by_prompt"])


def row(s: dict) -> dict:
    sums = s["gold_by_kind_ppo"].get("sum", {})
    return {"gold": s["gold_reward_ppo"], "gold_se": s["gold_reward_ppo_se"], "kl": s["kl"],
            "honest_sums": sums.get("honest", float("nan")), "gold_sums": sums.get("gold", float("nan")),
            "honest_sums_sft": s["gold_by_kind_sft"].get("sum", {}).get("honest", float("nan")),
            "history": [(h["iteration"], h["gold"]) for h in s["history"]]}


def main(args) -> dict:
    timer = Timer()
    ids = chain_ids(args.out_dir)
    runs = {arm: {seed: train_run("ppo", {**over, "seed": seed}, args, ids) for seed in args.seeds}
            for arm, over in ARMS.items()}
    out = {"split": args.eval_split, "seeds": args.seeds, "arms": {}, "paired": {}}
    for arm in ARMS:
        out["arms"][arm] = {str(seed): row(s) for seed, s in runs[arm].items()}
    print(f"\n{args.eval_split} split, PPO at its defaults; ± SE by prompt; easy-first − uniform paired by prompt")
    print(f"{'seed':<6}{'uniform gold':>17}{'easy-first gold':>19}{'difference':>18}{'KL u / e':>13}"
          f"{'honest on sums u / e (SFT)':>30}")
    for seed in args.seeds:
        u, e = out["arms"]["uniform"][str(seed)], out["arms"]["easy-first"][str(seed)]
        d = out["paired"][str(seed)] = paired(runs["easy-first"][seed], runs["uniform"][seed])
        print(f"{seed:<6}{u['gold']:>+10.3f} ± {u['gold_se']:.3f}{e['gold']:>+12.3f} ± {e['gold_se']:.3f}"
              f"{d['diff']:>+11.3f} ± {d['se']:.3f}{u['kl']:>7.2f} / {e['kl']:.2f}"
              f"{u['honest_sums']:>+14.2f} / {e['honest_sums']:+.2f} ({u['honest_sums_sft']:+.2f})")
    g = {arm: [out["arms"][arm][str(s)]["gold"] for s in args.seeds] for arm in ARMS}
    h = {arm: [out["arms"][arm][str(s)]["honest_sums"] for s in args.seeds] for arm in ARMS}
    out["over_seeds"] = {f"gold_{arm}": over_seeds(g[arm]) for arm in ARMS}
    out["over_seeds"].update({f"honest_sums_{arm}": over_seeds(h[arm]) for arm in ARMS})
    out["claim"] = seed_claim(g["easy-first"], g["uniform"], "easy-first", "uniform")
    out["claim_honest_sums"] = seed_claim(h["easy-first"], h["uniform"], "easy-first", "uniform", fmt="+.2f")
    print(f"over {len(args.seeds)} seed(s): gold {out['claim']['text']}; honest on sums "
          f"{out['claim_honest_sums']['text']}")

    from nano_rlhf.plots import plt   # the Agg backend
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for arm, color in (("uniform", "tab:blue"), ("easy-first", "tab:orange")):
        for i, seed in enumerate(args.seeds):
            hist = out["arms"][arm][str(seed)]["history"]
            ax.plot([x for x, _ in hist], [y for _, y in hist], "-o", ms=3, color=color, alpha=0.9 - 0.2 * i,
                    label=f"{arm} seed {seed}")
    ax.set_xlabel("PPO iteration")
    ax.set_ylabel(f"held-out gold ({args.eval_split})")
    ax.set_title("curriculum: easy prompts first vs uniform draws")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_results(fig, args, out, timer)


def parse(argv):
    """The flags: frontier.parse_args's, with --seeds."""
    return parse_args(argv, __doc__, "curriculum", seeds_flag)


if __name__ == "__main__":
    run_cli(main, parse(sys.argv[1:]))
