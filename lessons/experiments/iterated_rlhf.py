"""Adversarial training as iterated RLHF (the overview's "adversarial training" against reward hacking): label new
comparisons of the over-optimised policy's own samples, retrain the RM on old + new pairs, restart PPO from SFT,
and score every round on gold.

    python lessons/experiments/iterated_rlhf.py                  # after train_sft.py and train_rm.py; ~6.5 min
    python lessons/experiments/iterated_rlhf.py --seeds 0 1 2    # the committed three-seed version, ~27 min
    python lessons/experiments/iterated_rlhf.py --quick          # seconds, on a --preset test chain

Round 0 is today's chain: out/rm.pt, and PPO in lesson 6's over-optimisation setting (beta 0, lr 3e-4, 40
iterations, a held-out evaluation every 4), where the policy finds the RM's holes. Each round r = 1, 2 then:
  1. new pairs: 2,000 training prompts, each with one sample of round r-1's final policy and one SFT sample,
     labelled by the simulated labeler (World.label: as always, the only way gold reaches training);
  2. a probe: 1,000 pairs made the same way on the held-out (--eval-split) prompts, never trained on;
  3. the RM retrained from SFT on every pair so far (out/preferences.jsonl and each round's new pairs), with
     train_rm.py --data and its defaults otherwise (16 prompts per step, each with all its pairs);
  4. PPO restarted from SFT against the new RM, in the same setting.
Bai et al. 2022 ("iterated online RLHF", Anthropic's HH assistant) did this weekly with people; Perez et al. 2022
find the failures with a red-team model instead of the policy itself. Per round: PPO's final and peak held-out
gold; on the probe, the accuracy of the RM before (round r-1's) and after (round r's) against the labels and the
gold order, and how often it prefers the policy's response against how often the labeler does (the hole: a large
gap before; does it close after?); the RM's own held-out skill on SFT pairs (train_rm's report); labels spent.
The seed is that of every PPO run, of the new pairs (sampling and labels) and of the retrained RMs; round 0's RM
is the chain's for every seed. Over seeds, stats.seed_claim decides whether round r's final gold beats round 0's.
"""
import random
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontier import (chain_ids, gold_kl_figure, hacking_row, parse_args, save_results, seeds_flag,  # noqa: E402
                      train_run)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import train_rm  # noqa: E402
from nano_rlhf.checkpoint import build_policy, build_value_model, load_checkpoint, load_tokenizer  # noqa: E402
from nano_rlhf.common import Timer, run_cli, setup_runtime, with_preset  # noqa: E402
from nano_rlhf.data import load_preference_jsonl, pairs_of, read_preference_meta, write_preferences  # noqa: E402
from nano_rlhf.evaluate import sample_policy  # noqa: E402
from nano_rlhf.files import read_json, write_json  # noqa: E402
from nano_rlhf.stats import over_seeds, seed_claim  # noqa: E402
from nano_rlhf.world import World, eval_seed  # noqa: E402

ROUNDS = 2                      # rounds after round 0
N_NEW, N_PROBE = 2000, 1000     # new training comparisons per round; held-out probe pairs per round
HACKING = {"beta": 0.0, "lr": 3e-4, "iterations": 40, "eval_interval": 4}   # lesson 6's over-optimisation run
QUICK = {"beta": 0.0, "lr": 3e-4, "iterations": 4, "eval_interval": 1}


def policy_vs_sft_pairs(policy, ref, tok, world, prompts: list[str], n: int, seed: int, max_new: int, device,
                        autocast):
    """n comparisons, one per prompt (cycling through `prompts`): a policy sample against an SFT sample, in a
    random order, labelled by the simulated human -> (groups for train_rm's scoring, stats). A group is
    (prompt, [ids a, ids b], [(chosen, rejected)]) with the policy's response first. Responses without an EOS (the
    RM scores at the EOS) and identical pairs (a pure-noise label) are dropped, as train_rm does."""
    prompts = [prompts[i % len(prompts)] for i in range(n)]
    rng = random.Random(seed)
    mine = sample_policy(policy, tok, prompts, max_new_tokens=max_new, device=device, seed=seed, autocast=autocast)
    base = sample_policy(ref, tok, prompts, max_new_tokens=max_new, device=device, seed=seed + 1, autocast=autocast)
    groups, stats = [], {"unended_dropped": 0, "identical_dropped": 0}
    for p, a, b in zip(prompts, mine, base):
        if not (a.ended and b.ended):
            stats["unended_dropped"] += 1
        elif a.response == b.response:
            stats["identical_dropped"] += 1
        else:
            pick = world.label(p, a.response, b.response, rng)          # 0: the policy's response is preferred
            groups.append((p, [a.tokens, b.tokens], [(0, 1) if pick == 0 else (1, 0)]))
    return groups, stats


def probe_report(world, tok, rm, groups, device, autocast) -> dict:
    """An RM on the probe: train_rm's held-out metrics (accuracy against the labels, against the gold order,
    skill; SEs by prompt), and how often the RM and the labeler prefer the policy's response."""
    rc, rr = train_rm.comparison_scores(rm, tok, groups, device, autocast)
    pairs = pairs_of(groups, tok)
    policy_chosen = np.array([comps[0][0] == 0 for _, _, comps in groups])
    rm_prefers_policy = np.where(policy_chosen, rc > rr, rr > rc)
    m = train_rm.held_out_metrics(world, pairs, rc, rr, n_boot=200)
    return {**m, "rm_prefers_policy": float(rm_prefers_policy.mean()),
            "labeler_prefers_policy": float(policy_chosen.mean()), "n_pairs": len(groups)}


def new_round(r: int, seed: int, previous: Path, pairs: list, args, ids: dict) -> dict:
    """Round r >= 1 in <work-dir>/<split>/iterated_seed<seed>/round<r>: new pairs of round r-1's policy (in
    `previous`), the probe, the retrained RM (reused when its stamp matches) -> what the report needs."""
    d = Path(args.work_dir) / args.eval_split / f"iterated_seed{seed}" / f"round{r}"
    stamp = {"chain": ids, "round": r, "seed": seed, "quick": args.quick, "split": args.eval_split,
             "previous_policy": load_checkpoint(str(previous / "ppo.pt"), "ppo")["id"]}
    cached = read_json(d / "round.json")
    if cached and cached.get("stamp") == stamp and (d / "rm.pt").is_file():
        print(f"[round {r}, seed {seed}] reusing {d}")
        return cached
    t = Timer()
    device, autocast = setup_runtime(seed, "cpu", args.threads)
    sft = load_checkpoint(f"{args.out_dir}/sft.pt", "sft")
    tok, world, max_new = load_tokenizer(sft), World(sft["config"]["world_seed"]), sft["config"]["max_new_tokens"]
    ref, policy = build_policy(sft, device).eval(), build_policy(load_checkpoint(str(previous / "ppo.pt"), "ppo"),
                                                                 device).eval()
    n_new, n_probe = (64, 32) if args.quick else (N_NEW, N_PROBE)
    with torch.inference_mode():
        new, new_stats = policy_vs_sft_pairs(policy, ref, tok, world, [p.text for p in world.train_prompts], n_new,
                                             1000 * seed + r, max_new, device, autocast)
        probe, _ = policy_vs_sft_pairs(policy, ref, tok, world, [p.text for p in world.split(args.eval_split)],
                                       n_probe, eval_seed(args.eval_split, 40_000 + 1000 * seed + r), max_new, device,
                                       autocast)
    sample_seconds = t()
    before_rm = load_checkpoint(str(previous / "rm.pt"), "rm")
    before = probe_report(world, tok, build_value_model(before_rm, device).eval(), probe, device, autocast)

    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(args.out_dir, "sft.pt"), d / "sft.pt")
    all_pairs = pairs + pairs_of(new, tok)
    write_preferences(str(d / "pairs.jsonl"), all_pairs,
                      {"sampler": f"{sft['id']} and the round-{r - 1} policy", "labeler": "simulated human",
                       "iterated_round": r})
    print(f"[round {r}, seed {seed}] training: python train_rm.py --data {d / 'pairs.jsonl'} --seed {seed} "
          f"({len(pairs)} old + {len(new)} new pairs)")
    summary = train_rm.main(with_preset(train_rm.Config, train_rm.PRESETS, "test" if args.quick else "default",
                                        out_dir=str(d), seed=seed, data=str(d / "pairs.jsonl"),
                                        threads=args.threads, eval_split=args.eval_split))
    after = probe_report(world, tok, build_value_model(load_checkpoint(str(d / "rm.pt"), "rm"), device).eval(), probe,
                         device, autocast)
    out = {"stamp": stamp, "new_pairs": len(new), **new_stats, "pairs_total": len(all_pairs),
           "probe_before": before, "probe_after": after, "rm_skill": summary["skill_vs_ceiling"],
           "rm_skill_se": summary["skill_se"], "sample_label_seconds": sample_seconds,
           "rm_seconds": summary["wall_seconds"]}
    write_json(str(d / "round.json"), out)
    return out


def run_seed(seed: int, args, ids: dict, setting: dict) -> list[dict]:
    """Rounds 0..ROUNDS of one seed -> one row per round."""
    pairs = load_preference_jsonl(f"{args.out_dir}/preferences.jsonl")
    rm0 = read_json(Path(args.out_dir) / "rm_summary.json") or {}
    name = f"iterated_seed{seed}_round0_ppo"
    rows = [{"round": 0, "labels": len(pairs), "new_pairs": len(pairs),
             "rm_skill": rm0.get("skill_vs_ceiling"), "rm_skill_se": rm0.get("skill_se"),
             "ppo": hacking_row(train_run("ppo", {**setting, "seed": seed}, args, ids, name=name))}]
    previous = Path(args.work_dir) / args.eval_split / name
    for r in range(1, ROUNDS + 1):
        rnd = new_round(r, seed, previous, pairs, args, ids)
        d = Path(args.work_dir) / args.eval_split / f"iterated_seed{seed}" / f"round{r}"
        pairs = load_preference_jsonl(str(d / "preferences.jsonl"))
        rm_id = load_checkpoint(str(d / "rm.pt"), "rm")["id"]
        name = f"iterated_seed{seed}_round{r}_ppo"
        s = train_run("ppo", {**setting, "seed": seed}, args, {**ids, "rm": rm_id}, name=name, source=str(d))
        rows.append({"round": r, "labels": len(pairs), **{k: v for k, v in rnd.items() if k != "stamp"},
                     "ppo": hacking_row(s)})
        previous = Path(args.work_dir) / args.eval_split / name
    return rows


def last_round(args, ids: dict, seed: int = 0) -> Path:
    """The folder of the last round's RM (sft.pt, rm.pt, preferences.jsonl) of this seed, its rounds trained or
    reused: frontier.py's "iterated RM" entry."""
    run_seed(seed, args, ids, QUICK if args.quick else HACKING)
    return Path(args.work_dir) / args.eval_split / f"iterated_seed{seed}" / f"round{ROUNDS}"


def main(args) -> dict:
    timer = Timer()
    ids = chain_ids(args.out_dir)
    meta, _ = read_preference_meta(f"{args.out_dir}/preferences.jsonl")
    setting = QUICK if args.quick else HACKING
    runs = {seed: run_seed(seed, args, ids, setting) for seed in args.seeds}
    out = {"split": args.eval_split, "seeds": args.seeds, "setting": setting, "rounds": ROUNDS,
           "new_pairs_per_round": 64 if args.quick else N_NEW, "probe_pairs": 32 if args.quick else N_PROBE,
           "chain_labeler": (meta or {}).get("labeler"), "runs": {str(s): rows for s, rows in runs.items()},
           "over_seeds": {}, "claims": {}}

    print(f"\n{args.eval_split} split, PPO with beta 0 and lr 3e-4 ({setting['iterations']} iterations) each round, "
          "restarted from SFT; ± SE by prompt. Probe: held-out pairs of the previous round's policy against SFT")
    print(f"{'seed':<5}{'round':>6}{'labels':>8}{'final gold':>17}{'peak gold (KL)':>17}{'KL':>6}"
          f"{'probe acc before -> after':>28}{'prefers policy: RM before/after, labeler':>44}")
    for seed, rows in runs.items():
        for row in rows:
            p = row["ppo"]
            line = (f"{seed:<5}{row['round']:>6}{row['labels']:>8}{p['gold']:>+10.3f} ± {p['gold_se']:.3f}"
                    f"{p['peak_gold']:>+10.3f} ({p['peak_kl']:4.1f}){p['kl']:>6.1f}")
            if row["round"]:
                b, a = row["probe_before"], row["probe_after"]
                line += (f"{b['val_accuracy']:>13.3f} -> {a['val_accuracy']:.3f} ± {a['val_accuracy_se']:.3f}"
                         f"{b['rm_prefers_policy']:>20.2f} / {a['rm_prefers_policy']:.2f}, "
                         f"{b['labeler_prefers_policy']:.2f}")
            print(line)
    for key in ("gold", "peak_gold"):
        values = {r: [runs[s][r]["ppo"][key] for s in args.seeds] for r in range(ROUNDS + 1)}
        out["over_seeds"][key] = {str(r): over_seeds(v) for r, v in values.items()}
        out["claims"][key] = {str(r): seed_claim(values[r], values[0], f"round {r}", "round 0", fmt="+.3f")
                              for r in range(1, ROUNDS + 1)}
    for key in ("val_accuracy", "gold_order_accuracy", "rm_prefers_policy", "labeler_prefers_policy"):
        for when in ("before", "after"):
            values = {r: [runs[s][r][f"probe_{when}"][key] for s in args.seeds] for r in range(1, ROUNDS + 1)}
            out["over_seeds"][f"probe_{when}_{key}"] = {str(r): over_seeds(v) for r, v in values.items()}
        if key == "labeler_prefers_policy":      # the same labels before and after: nothing to compare
            continue
        out["claims"][f"probe_{key}"] = {
            str(r): seed_claim([runs[s][r]["probe_after"][key] for s in args.seeds],
                               [runs[s][r]["probe_before"][key] for s in args.seeds], "after", "before", fmt="+.3f")
            for r in range(1, ROUNDS + 1)}
    print(f"\nover {len(args.seeds)} seed(s):")
    for key in ("gold", "peak_gold"):
        print(f"  {key}: " + "; ".join(out["claims"][key][str(r)]["text"] for r in range(1, ROUNDS + 1)))
    for key in ("val_accuracy", "rm_prefers_policy"):
        print(f"  probe {key}, round r's RM against round r-1's: " + "; ".join(
            f"round {r}: {out['claims'][f'probe_{key}'][str(r)]['text']}" for r in range(1, ROUNDS + 1)))

    colors = dict(zip((f"round {r}" for r in range(ROUNDS + 1)), ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    fig = gold_kl_figure({f"round {r}": [runs[seed][r]["ppo"]["curve"] for seed in args.seeds]
                          for r in range(ROUNDS + 1)}, colors,
                         f"beta = 0, iterated RLHF: rounds 0-{ROUNDS} ({len(args.seeds)} seed(s))", args.eval_split)
    return save_results(fig, args, out, timer)


def parse(argv):
    """The flags: frontier.parse_args's, with --seeds."""
    return parse_args(argv, __doc__, "iterated_rlhf", seeds_flag)


if __name__ == "__main__":
    run_cli(main, parse(sys.argv[1:]))
