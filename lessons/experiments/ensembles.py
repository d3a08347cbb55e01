"""Reward-model ensembles against reward hacking (the overview's "several reward constraints"): PPO without a KL
leash against one RM, and against the mean, the minimum and a lower confidence bound of three, scored on gold.

    python lessons/experiments/ensembles.py          # after train_sft.py and train_rm.py: one RM vs the mean, ~5 min
    python lessons/experiments/ensembles.py --seeds 0 1 2 --aggregates mean min lcb --leash   # committed, ~40 min
    python lessons/experiments/ensembles.py --quick          # seconds, on a --preset test chain

The members: three RMs, each train_rm.py on a bootstrap resample of out/preferences.jsonl (the pairs the single
RM learnt from: prompts drawn with replacement, each with all its pairs), seeds 0, 1, 2, 16 prompts per step as
for the single RM; each is normalised on SFT samples by train_rm.py itself (nano_rlhf/ensemble.py
says why that matters). The over-optimisation setting of lesson 6: beta = 0, lr 3e-4, 40 iterations, a held-out
evaluation every 4. Per arm and seed: the peak of held-out gold and the KL where it was reached (where gold
turns down), the final gold with its SE, the final gold paired by prompt with the single RM's run of the same
seed, and the RM-gold Spearman on the policy's final samples (the arm's own reward against gold). Over seeds,
stats.seed_claim decides whether an aggregate beats the single RM. --aggregates picks the ensemble arms (each
~1.5 min a seed; the default, the mean alone, keeps one seed near 5 minutes of a quiet 2-core CPU: three members
~3 min, two PPO runs). With --leash, one seed of each arm at PPO's defaults (the KL leash on) says whether the
ensemble still matters with the leash. What it costs: three RM trainings, and three RM passes per rollout in
score (the phase seconds are reported).
"""
import random
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontier import (chain_ids, gold_kl_figure, hacking_row, parse_args, save_results, seeds_flag,  # noqa: E402
                      train_run)

import train_rm  # noqa: E402
from nano_rlhf.checkpoint import load_checkpoint  # noqa: E402
from nano_rlhf.common import Timer, run_cli, with_preset  # noqa: E402
from nano_rlhf.data import load_preference_jsonl, read_preference_meta, write_preferences  # noqa: E402
from nano_rlhf.files import read_json, write_json  # noqa: E402
from nano_rlhf.stats import over_seeds, paired_prompt_means, seed_claim  # noqa: E402

K = 3
AGGREGATES = ("mean", "min", "lcb")
HACKING = {"beta": 0.0, "lr": 3e-4, "iterations": 40, "eval_interval": 4}   # lesson 6's over-optimisation run
QUICK = {"beta": 0.0, "lr": 3e-4, "iterations": 4, "eval_interval": 1}


def bootstrap(pairs: list, seed: int) -> list:
    """A resample of the pairs clustered by prompt: as many prompts as there are, drawn with replacement, each
    with all of its pairs (pairs of one prompt share its SFT samples, so they are not independent)."""
    by_prompt = {}
    for p in pairs:
        by_prompt.setdefault(p[0], []).append(p)
    prompts = sorted(by_prompt)
    rng = random.Random(seed)
    return [pair for _ in prompts for pair in by_prompt[prompts[rng.randrange(len(prompts))]]]


def member(k: int, args, ids: dict) -> str:
    """Train (or reuse) member k in <work-dir>/<split>/rm_member<k> -> the path of its rm.pt."""
    d = Path(args.work_dir) / args.eval_split / f"rm_member{k}"
    stamp = {"chain": ids, "member": k, "quick": args.quick, "split": args.eval_split}
    if read_json(d / "experiment.json") == stamp and (d / "rm.pt").is_file():
        print(f"[{d.name}] reusing {d / 'rm.pt'}")
        return str(d / "rm.pt")
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(args.out_dir, "sft.pt"), d / "sft.pt")
    source = f"{args.out_dir}/preferences.jsonl"
    meta, _ = read_preference_meta(source)
    write_preferences(str(d / "bootstrap.jsonl"), bootstrap(load_preference_jsonl(source), k),
                      {**(meta or {}), "bootstrap_of": source, "bootstrap_seed": k})
    preset = "test" if args.quick else "default"
    print(f"[{d.name}] training: python train_rm.py --data {d / 'bootstrap.jsonl'} --seed {k}")
    train_rm.main(with_preset(train_rm.Config, train_rm.PRESETS, preset, out_dir=str(d), seed=k,
                              data=str(d / "bootstrap.jsonl"), threads=args.threads, eval_split=args.eval_split))
    write_json(str(d / "experiment.json"), stamp)
    return str(d / "rm.pt")


def main(args) -> dict:
    timer = Timer()
    ids = chain_ids(args.out_dir)
    members = [member(k, args, ids) for k in range(K)]
    ids = {**ids, "members": [load_checkpoint(p, "rm")["id"] for p in members]}
    spec = ",".join(members)
    setting = QUICK if args.quick else HACKING
    aggregates = [a for a in AGGREGATES if a in args.aggregates]
    arms = {"single": {}, **{a: {"ensemble": spec, "ensemble_agg": a} for a in aggregates}}
    runs = {arm: {seed: train_run("ppo", {**setting, **over, "seed": seed}, args, ids,
                                  name=f"ensemble_{arm}_beta0_seed{seed}") for seed in args.seeds}
            for arm, over in arms.items()}
    leash = {} if not args.leash else {arm: train_run("ppo", {**over, "seed": args.seeds[0], **({"iterations": 3} if args.quick else {})},
                            args, ids, name=f"ensemble_{arm}_default_seed{args.seeds[0]}") for arm, over in arms.items()}

    out = {"split": args.eval_split, "seeds": args.seeds, "setting": setting, "k": K, "arms": {}, "paired": {},
           "over_seeds": {}, "claims": {}, "default_beta": {}, "members": []}
    for path in members:        # each member's own report (train_rm's, on held-out pairs of SFT samples)
        m = read_json(Path(path).parent / "rm_summary.json") or {}
        out["members"].append({k: m.get(k) for k in ("skill_vs_ceiling", "skill_se", "val_accuracy")})
    for arm in arms:
        out["arms"][arm] = {str(seed): hacking_row(s) for seed, s in runs[arm].items()}
    print(f"\n{args.eval_split} split, PPO with beta 0 and lr 3e-4 ({setting['iterations']} iterations) on one RM or "
          f"an ensemble of {K}; ± SE by prompt; the difference from the single RM paired by prompt")
    print(f"{'arm':<8}{'seed':>5}{'peak gold (KL, it)':>24}{'final gold':>17}{'vs single':>17}{'KL':>7}"
          f"{'RM-gold rho':>13}")
    for arm in arms:
        for seed in args.seeds:
            r = out["arms"][arm][str(seed)]
            d = out["paired"].setdefault(arm, {})[str(seed)] = paired_prompt_means(
                runs[arm][seed]["gold_by_prompt"], runs["single"][seed]["gold_by_prompt"])
            print(f"{arm:<8}{seed:>5}{r['peak_gold']:>+10.3f} ({r['peak_kl']:5.1f}, {r['peak_iteration']:2d})"
                  f"{r['gold']:>+10.3f} ± {r['gold_se']:.3f}{d['diff']:>+10.3f} ± {d['se']:.3f}{r['kl']:>7.1f}"
                  f"{r['spearman']:>13.2f}")
    for key in ("gold", "peak_gold", "spearman", "kl", "peak_kl"):
        values = {arm: [out["arms"][arm][str(s)][key] for s in args.seeds] for arm in arms}
        out["over_seeds"][key] = {arm: over_seeds(v) for arm, v in values.items()}
        if key in ("gold", "peak_gold", "spearman"):      # the claims; KL only describes
            out["claims"][key] = {a: seed_claim(values[a], values["single"], a, "single",
                                                fmt="+.3f" if key != "spearman" else "+.2f") for a in aggregates}
    print(f"\nover {len(args.seeds)} seed(s), each aggregate against the single RM (paired by seed):")
    for key in ("gold", "peak_gold", "spearman"):
        print(f"  {key}: " + "; ".join(f"{a}: {out['claims'][key][a]['text']}" for a in aggregates))
    if leash:
        print(f"\nwith the KL leash (PPO's defaults), seed {args.seeds[0]}:")
    for arm, s in leash.items():
        d = paired_prompt_means(s["gold_by_prompt"], leash["single"]["gold_by_prompt"])
        out["default_beta"][arm] = {"gold": s["gold_reward_ppo"], "gold_se": s["gold_reward_ppo_se"], "kl": s["kl"],
                                    "vs_single": d, "wall_seconds": s["wall_seconds"],
                                    "score_seconds": s["time_phases"].get("score")}
        print(f"  {arm:<8} gold {s['gold_reward_ppo']:+.3f} ± {s['gold_reward_ppo_se']:.3f} | vs single "
              f"{d['diff']:+.3f} ± {d['se']:.3f} | KL {s['kl']:.2f} | score phase {s['time_phases'].get('score', 0):.1f}s"
              f" of {s['wall_seconds']:.0f}s")

    colors = {"single": "tab:blue", "mean": "tab:green", "min": "tab:red", "lcb": "tab:purple"}
    fig = gold_kl_figure({arm: [out["arms"][arm][str(seed)]["curve"] for seed in args.seeds] for arm in arms}, colors,
                         f"beta = 0: one RM or an ensemble of {K} ({len(args.seeds)} seed(s))", args.eval_split)
    return save_results(fig, args, out, timer)


def flags(ap):
    seeds_flag(ap)
    ap.add_argument("--aggregates", nargs="+", choices=AGGREGATES, default=["mean"],
                    help="the ensemble arms beside the single RM (default mean; the committed tables: mean min lcb)")
    ap.add_argument("--leash", action="store_true",
                    help="also run every arm once at PPO's defaults (the KL leash on; seed: the first of --seeds)")


def parse(argv):
    """The flags: frontier.parse_args's, with --seeds and --leash."""
    return parse_args(argv, __doc__, "ensembles", flags)


if __name__ == "__main__":
    run_cli(main, parse(sys.argv[1:]))
