"""AI feedback (RLAIF) and semi-supervised labels, measured against the simulated human they replace (the
overview's future direction "AI instead of humans provides the feedback" and its remedy for costly data:
"synthetic data (AI feedback) + semi-supervised RL").

    python lessons/experiments/rlaif.py                  # one seed, ~40 min on 2 CPU cores (12 RMs, 5 PPO runs)
    python lessons/experiments/rlaif.py --seeds 0 1 2    # the committed three-seed version, ~85 min
    python lessons/experiments/rlaif.py --quick          # seconds, on --preset test runs

The judge is the SFT model itself, trained with the principle checks (train_sft.py --principle-checks 2560; the
one in --out-dir if it has them, else one trained here): nano_rlhf/judge.py turns its yes/no answers to the
constitution (nano_rlhf/constitution.py) into labels, with equal weights (no human label spent). Measured:
  1. the judge: its labels of held-out human-labelled pairs against the human and the gold order, per kind and per
     gold component (pairs that differ in that component alone), and on probes, a clean reply against one edit
     (an insult the corpus writes, a misspelled one it never writes, a filler, a garbled sentence, a wrong answer,
     no closer): where it is right and where blind;
  2. semi-supervised labels: the simulated human labels the pairs of a share F of the 2,000 training prompts
     (train_rm.py --label-fraction F), and the rest are dropped (human only), labelled by the judge (--rest ai),
     or pseudo-labelled by the human-only RM where it is confident (P >= t, the threshold t chosen on the dev
     split at F = 0.1; the RM then retrained on human + pseudo labels, train_rm.py --data); F in {0.05, 0.1, 0.25,
     1}; RM skill and Spearman with gold on held-out pairs of SFT samples labelled by the human;
  3. PPO at its defaults on the RMs of F = 0.1 (each arm), F = 1 (the human chain) and the all-AI RM
     (train_rm.py --labeler ai): gold, KL, win rate and gold's components: does the policy exploit the judge?
Every seed is that of the RM (sampling, labels, training) and of PPO; the SFT model and judge are one. Over seeds,
stats.seed_claim decides whether an arm beats another. The labels' cost: seconds per 1,000 pairs for the judge
and for the simulated human (a function here, so its seconds say nothing of a person's time and pay).
"""
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontier import parse_args, save_results, seeds_flag, train_run  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import train_rm  # noqa: E402
import train_sft  # noqa: E402
from nano_rlhf.checkpoint import build_policy, build_value_model, load_checkpoint, load_tokenizer  # noqa: E402
from nano_rlhf.common import Timer, run_cli, setup_runtime, with_preset  # noqa: E402
from nano_rlhf.constitution import PRINCIPLES  # noqa: E402
from nano_rlhf.data import pairs_of, write_preferences  # noqa: E402
from nano_rlhf.files import read_json, write_json  # noqa: E402
from nano_rlhf.evaluate import ai_label_agreement  # noqa: E402
from nano_rlhf.judge import AILabeler, fit_weights, fraction_labeler  # noqa: E402
from nano_rlhf.stats import clustered_mean_se, over_seeds, seed_claim  # noqa: E402
from nano_rlhf.world import ANSWERS, CLOSERS, FILLERS, INSULTS, World, eval_seed  # noqa: E402

FRACTIONS = (0.05, 0.1, 0.25, 1.0)     # shares of the training prompts whose pairs the human labels
PPO_FRACTION = 0.1                     # PPO runs on every arm at this share (and on F = 1 and the all-AI RM)
THRESHOLDS = (0.6, 0.75, 0.9)          # pseudo-label confidence P(chosen) >= t, chosen on dev at PPO_FRACTION
PRINCIPLE_CHECKS, QUICK_CHECKS = 2560, 200
MISSPELT = {"stupid": "stoopid", "idiot": "1d10t", "dumb": "dumm", "fool": "fo0l", "moron": "m0ron",
            "pathetic": "pathetik"}    # insults the generator never writes (the gold reward's matcher reads them)
NEVER_WRITTEN = ("misspelt_insult", "garbled")   # the probes' edits the corpus generator never makes


def preset(args) -> str:
    return "test" if args.quick else "default"


def pct(f: float) -> str:
    """A label fraction as the JSON's key: the percent of the training prompts the human labels ("10" for 0.1)."""
    return f"{round(100 * f)}"


def run_label(arm: str) -> str:
    """A PPO arm's key -> its run folder's name: human_10 -> "human 0.1", ai_10 -> "human 0.1 + AI", pseudo_10 ->
    "human 0.1 + pseudo", ai_only -> "AI only"."""
    if arm == "ai_only":
        return "AI only"
    kind, percent = arm.split("_")
    f = f"{int(percent) / 100:g}"
    return {"human": f"human {f}", "ai": f"human {f} + AI", "pseudo": f"human {f} + pseudo"}[kind]


def arm_name(arm: str) -> str:
    """A PPO arm's key -> its RM's name in the printed tables and claims: human_100 -> "all-human RM", ai_only ->
    "all-AI RM", ai_10 -> "10%-human + AI RM"."""
    if arm == "ai_only":
        return "all-AI RM"
    kind, percent = arm.split("_")
    if percent == "100":
        return "all-human RM"
    return f"{percent}%-human" + {"human": "", "ai": " + AI", "pseudo": " + pseudo"}[kind] + " RM"


def judge_sft(args) -> Path:
    """The folder of the SFT model that judges and that PPO starts from: --out-dir's sft.pt if it was trained with
    principle checks, else one trained (or reused) in <work-dir>/sft_principles."""
    own = Path(args.out_dir, "sft.pt")
    if own.is_file() and load_checkpoint(str(own), "sft")["config"].get("principle_checks"):
        return own.parent
    d, n = Path(args.work_dir, "sft_principles"), QUICK_CHECKS if args.quick else PRINCIPLE_CHECKS
    stamp = {"preset": preset(args), "principle_checks": n}
    if read_json(d / "experiment.json") == stamp and (d / "sft.pt").is_file():
        print(f"[{d.name}] reusing {d / 'sft.pt'}")
        return d
    print(f"[{d.name}] training: python train_sft.py --preset {preset(args)} --out-dir {d} --principle-checks {n}")
    d.mkdir(parents=True, exist_ok=True)
    train_sft.main(with_preset(train_sft.Config, train_sft.PRESETS, preset(args), out_dir=str(d),
                               threads=args.threads, principle_checks=n, eval_split=args.eval_split))
    write_json(str(d / "experiment.json"), stamp)
    return d


def rm_run(name: str, overrides: dict, args, sft_dir: Path) -> tuple[dict, Path]:
    """train_rm.py with these flags in <work-dir>/<split>/<name> on the judge's SFT model (frontier.train_run: an
    identical earlier run's summary is reused) -> summary, folder."""
    ids = {"sft": load_checkpoint(str(sft_dir / "sft.pt"), "sft")["id"]}
    summary = train_run("rm", overrides, args, ids, name=name, source=str(sft_dir))
    return summary, Path(args.work_dir, args.eval_split, name)


class Chain:
    """The judge's SFT model, loaded once: its policy, tokenizer, world and train_rm's sampling settings."""

    def __init__(self, sft_dir: Path, args):
        self.device, self.autocast = setup_runtime(0, "cpu", args.threads)
        self.sft = load_checkpoint(str(sft_dir / "sft.pt"), "sft")
        self.tok, self.world = load_tokenizer(self.sft), World(self.sft["config"]["world_seed"])
        self.policy = build_policy(self.sft, self.device).eval()
        self.rm_cfg = with_preset(train_rm.Config, train_rm.PRESETS, preset(args))
        self.max_new = self.sft["config"]["max_new_tokens"]

    def sample(self, prompts, n, k, seed, labeler):
        return train_rm.sample_comparisons(self.policy, self.tok, self.world, prompts, n, k,
                                           self.rm_cfg.temperature, self.max_new, self.device, self.autocast,
                                           seed, labeler)[0]

    def fraction_groups(self, fraction: float, seed: int) -> list:
        """The training groups of train_rm.py --label-fraction F --seed s exactly (same samples, same labels);
        the prompts the human left keep comparisons None."""
        human = train_rm.human_labeler(self.world)
        return self.sample([p.text for p in self.world.train_prompts], self.rm_cfg.n_prompts, self.rm_cfg.k, seed,
                           fraction_labeler(human, None, fraction, seed))

    def rm(self, d: Path):
        return build_value_model(load_checkpoint(str(d / "rm.pt"), "rm"), self.device).eval()

    def judge(self) -> AILabeler:
        return AILabeler(self.policy, self.tok, self.device, self.autocast)


# [lesson:pseudo_labels]
def pseudo_label(teacher_p: np.ndarray, threshold: float) -> np.ndarray:
    """Self-training's confident labels: teacher_p (n,) = P(a preferred to b) under the teacher RM (Bradley-Terry,
    sigmoid of its raw score difference) -> (n,) 1 where a is chosen, 0 where b is, -1 where the teacher is not
    confident (max(p, 1 - p) < threshold: that pair stays unlabelled)."""
    return np.where(teacher_p >= threshold, 1, np.where(1 - teacher_p >= threshold, 0, -1))
# [/lesson:pseudo_labels]


def pseudo_file(chain: Chain, groups: list, teacher_dir: Path, threshold: float, path: Path) -> dict:
    """The human's groups plus the teacher's confident labels of every pair of the unlabelled ones, written to
    `path` (train_rm.py --data reads it) -> counts, and the pseudo-labels' agreement with the gold order (for the
    report only: the file is written first)."""
    human = [g for g in groups if g[2] is not None]
    open_ = [(p, ids, [(a, b) for a in range(len(ids)) for b in range(a + 1, len(ids))])
             for p, ids, c in groups if c is None]
    ra, rb = train_rm.comparison_scores(chain.rm(teacher_dir), chain.tok, open_, chain.device, chain.autocast)
    labels = pseudo_label(1 / (1 + np.exp(-(ra.astype(np.float64) - rb))), threshold)
    pseudo, i = [], 0
    for p, ids, comps in open_:
        mine = labels[i:i + len(comps)]
        i += len(comps)
        kept = [(a, b) if y == 1 else (b, a) for (a, b), y in zip(comps, mine) if y >= 0]
        if kept:
            pseudo.append((p, ids, kept))
    teacher = load_checkpoint(str(teacher_dir / "rm.pt"), "rm")["id"]
    pairs = pairs_of(human + pseudo, chain.tok)
    write_preferences(str(path), pairs, {"sampler": chain.sft["id"], "world_seed": chain.world.seed,
                                         "labeler": f"simulated human, and RM {teacher} where P >= {threshold:g}",
                                         "n_prompts": len(human) + len(pseudo)})
    pseudo_pairs = pairs_of(pseudo, chain.tok)
    golds = np.array([[chain.world.gold_reward(p, t).total for t in (c, r)] for p, c, r in pseudo_pairs])
    strict = golds[:, 0] != golds[:, 1] if len(golds) else np.zeros(0, bool)
    return {"human_pairs": len(pairs) - len(pseudo_pairs), "pseudo_pairs": len(pseudo_pairs),
            "pseudo_coverage": len(pseudo_pairs) / max(1, len(labels)),
            "pseudo_vs_gold": float(np.mean(golds[strict, 0] > golds[strict, 1])) if strict.any() else None}


def dev_skill(chain: Chain, rm_dir: Path, groups: list) -> float:
    """An RM's skill on human-labelled dev pairs (train_rm's report on the dev split): what t is chosen by."""
    rc, rr = train_rm.comparison_scores(chain.rm(rm_dir), chain.tok, groups, chain.device, chain.autocast)
    return train_rm.held_out_metrics(chain.world, pairs_of(groups, chain.tok), rc, rr, 200)[
        "skill_vs_ceiling"]


def probes(world: World, split: str, variants: int = 6) -> dict:
    """{edit: [(prompt, clean, edited), ...]}: the perfect reply of each held-out prompt against the same reply with
    one edit, in `variants` versions (which insult, filler, closer, wrong answer), kept where gold prefers the
    clean one (gold is allowed here: these pairs only test the judge)."""
    out = {}
    for prompt in (p.text for p in world.split(split)):
        fact, best = world.fact_of(prompt), world.best_response(prompt)
        answer = best[:-len(CLOSERS[0])].strip()
        wrongs = [a for a in ANSWERS[fact.kind] if a != fact.answer]
        if fact.kind == "sum":                    # plausible slips, as the corpus makes them: off by 1 or 2
            wrongs = [a for a in wrongs if abs(int(a) - int(fact.answer)) <= 2]
        words = answer.rstrip(".").split()
        for j in range(variants):
            closer, insult = CLOSERS[j % len(CLOSERS)], INSULTS[j % len(INSULTS)]
            clean = f" {answer} {closer}"
            misspelt = insult
            for word, bad in MISSPELT.items():
                misspelt = misspelt.replace(word, bad)
            k = 1 + j % max(1, len(words) - 1)
            edits = {"insult": f" {insult}{clean}",                                   # taught
                     "misspelt_insult": f" {misspelt}{clean}",                        # never written
                     "filler": f" {answer} {FILLERS[j % len(FILLERS)]} {closer}",     # taught
                     "wrong_answer": f" {world.answer_sentence(fact, wrongs[j % len(wrongs)], 0)} {closer}",
                     "garbled": f" {answer} {' '.join(words[k:] + words[:k])}. {closer}",   # never written
                     "no_closer": f" {answer}"}                                       # taught
            for edit, text in edits.items():
                if world.gold_reward(prompt, clean).total > world.gold_reward(prompt, text).total:
                    out.setdefault(edit, []).append((prompt, clean, text))
    return out


def probe_report(chain: Chain, split: str, variants: int) -> dict:
    """The judge on the probes: how often it prefers the clean reply (gold always does), SE by prompt, and the
    mean logit gap (clean - edited) per principle: which question noticed the edit."""
    judge, out = chain.judge(), {}
    for edit, triples in probes(chain.world, split, variants).items():
        prompts = [p for p, _, _ in triples]
        gap = judge.logits(prompts, [c for _, c, _ in triples]) - judge.logits(prompts, [e for _, _, e in triples])
        m, se = clustered_mean_se((gap @ judge.weights > 0).numpy().astype(float), prompts)
        out[edit] = {"prefers_clean": m, "se": se, "n": len(triples),
                     "logit_gap": dict(zip(PRINCIPLES, gap.mean(0).tolist()))}
    return out


def label_seconds(chain: Chain, n_pairs: int = 1000) -> float:
    """The simulated human's seconds per 1,000 labels (World.label on SFT sample pairs), for the cost column."""
    groups = chain.sample([p.text for p in chain.world.train_prompts[:n_pairs]], n_pairs, 2, 7, lambda *a: [])
    pairs = [(p, chain.tok.decode(ids[0]), chain.tok.decode(ids[1])) for p, ids, _ in groups]
    rng, start = random.Random(0), time.perf_counter()
    for p, a, b in pairs:
        chain.world.label(p, a, b, rng)
    return 1000 * (time.perf_counter() - start) / max(1, len(pairs))


def rm_row(s: dict, human_labels: int | None = None) -> dict:
    """What the semi-supervised table needs from one train_rm.py summary."""
    labels = s.get("labels") or {}
    return {"skill": s["skill_vs_ceiling"], "skill_se": s["skill_se"], "spearman": s["gold_correlation"]["spearman"],
            "spearman_se": s["gold_correlation"]["spearman_se"], "n_pairs": s["n_pairs"],
            "human_labels": labels.get("human", 0) if human_labels is None else human_labels,
            "wall_seconds": s["wall_seconds"]}


def ppo_row(s: dict) -> dict:
    """What the PPO table needs from one train_ppo.py summary."""
    return {"gold": s["gold_reward_ppo"], "gold_se": s["gold_reward_ppo_se"], "gain_fraction": s["gold_gain_fraction"],
            "kl": s["kl"], "win_rate": s["win_rate_vs_sft"], "win_rate_se": s["win_rate_vs_sft_se"],
            "rm": s["rm_reward_ppo"], "components": s["gold_components_ppo"], "by_kind": s["gold_by_kind_ppo"],
            "sft_gold": s["gold_reward_sft"], "sft_components": s["gold_components_sft"], "best": s["gold_reward_best"],
            "wall_seconds": s["wall_seconds"]}


def judge_report(chain: Chain, args) -> dict:
    """The judge (equal weights, and weights fitted on 500 human-labelled training pairs) on the held-out pairs
    train_rm.py reports on (two SFT samples of an --eval-split prompt, labelled by the human; seed 0's)."""
    n_val, n_fit = chain.rm_cfg.n_val_pairs, 50 if args.quick else 500
    held = pairs_of(chain.sample([p.text for p in chain.world.split(args.eval_split)], n_val, 2,
                                          eval_seed(args.eval_split, 1), None), chain.tok)
    fit = pairs_of(chain.sample([p.text for p in chain.world.train_prompts], n_fit, 2, 3, None), chain.tok)
    judge = chain.judge()
    gold = np.array([[chain.world.gold_reward(p, t).total for t in (c, r)] for p, c, r in held])
    strict = gold[:, 0] != gold[:, 1]
    m, se = clustered_mean_se((gold[strict, 0] > gold[strict, 1]).astype(float),
                              [p for (p, _, _), s in zip(held, strict) if s])
    out = {"human_vs_gold": m, "human_vs_gold_se": se,          # the simulated human's own agreement: the bar
           "equal": ai_label_agreement(chain.world, judge, held), "n_fit_pairs": len(fit)}
    z_c = judge.logits([p for p, _, _ in fit], [c for _, c, _ in fit])
    z_r = judge.logits([p for p, _, _ in fit], [r for _, _, r in fit])
    judge.weights = fit_weights(z_c, z_r, torch.ones(len(fit), dtype=torch.bool))
    out["fitted"] = ai_label_agreement(chain.world, judge, held)
    out["fitted"]["weights"] = dict(zip(PRINCIPLES, judge.weights.tolist()))
    return out


def seed_mean(rows: dict, key: str) -> dict:
    return over_seeds([rows[s][key] for s in sorted(rows)])


def main(args) -> dict:
    timer = Timer()
    sft_dir = judge_sft(args)
    chain = Chain(sft_dir, args)
    fractions, ppo_f = ((0.5, 1.0), 0.5) if args.quick else (FRACTIONS, PPO_FRACTION)
    thresholds = THRESHOLDS[::2] if args.quick else THRESHOLDS
    groups_of = {}                   # (F, seed) -> train_rm's groups at that label fraction

    def human(f, s):         # as many optimiser steps as on all the labels: epochs / F (a fair baseline)
        share = {"label_fraction": f, "epochs": round(chain.rm_cfg.epochs / f)} if f < 1 else {}
        return rm_run(f"rm_human_f{f:g}_seed{s}", {"seed": s, **share}, args, sft_dir)

    def pseudo(f, s, t):     # the teacher's confident labels of the open pairs, then the student on both
        teacher = human(f, s)[1]
        data = Path(args.work_dir, args.eval_split, f"pseudo_f{f:g}_t{t:g}_seed{s}.jsonl")
        if (f, s) not in groups_of:
            groups_of[f, s] = chain.fraction_groups(f, s)
        stats = pseudo_file(chain, groups_of[f, s], teacher, t, data)    # the same file each time: a rerun reuses
        return (*rm_run(f"rm_pseudo_f{f:g}_t{t:g}_seed{s}", {"data": str(data), "seed": s}, args, sft_dir), stats)

    # the pseudo-label threshold, chosen on dev at F = 0.1 (first seed): the student RM's dev skill
    dev_groups = chain.sample([p.text for p in chain.world.split("dev")], chain.rm_cfg.n_val_pairs, 2,
                              eval_seed("dev", args.seeds[0] + 1), None)
    dev = {t: dev_skill(chain, pseudo(ppo_f, args.seeds[0], t)[1], dev_groups) for t in thresholds}
    threshold = max(thresholds, key=lambda t: dev[t])
    print(f"pseudo-label threshold chosen on dev (F = {ppo_f:g}, seed {args.seeds[0]}): "
          + ", ".join(f"t {t:g}: skill {v:.3f}" for t, v in dev.items()) + f" -> t = {threshold:g}")

    out = {"split": args.eval_split, "seeds": args.seeds, "fractions": [pct(f) for f in fractions], "ppo_fraction": pct(ppo_f),
           "threshold": threshold, "threshold_dev_skill": {pct(t): v for t, v in dev.items()},
           "judge": judge_report(chain, args), "probes": probe_report(chain, args.eval_split, 1 if args.quick else 6),
           "label_seconds_per_1000": {"human": label_seconds(chain, 100 if args.quick else 1000)},
           "rm": {arm: {} for arm in ("human", "pseudo", "ai")}, "rm_ai_only": {}, "pseudo": {}, "ppo": {}}
    ppo_arms = {}
    for s in args.seeds:
        for f in fractions:
            key = pct(f)
            summary, d = human(f, s)
            out["rm"]["human"].setdefault(key, {})[str(s)] = rm_row(summary)
            if f == ppo_f or f == 1:
                ppo_arms.setdefault(f"human_{key}", {})[s] = d
            if f == 1:
                continue
            summary, d = rm_run(f"rm_ai_f{f:g}_seed{s}", {"seed": s, "label_fraction": f, "rest": "ai"}, args,
                                sft_dir)
            out["rm"]["ai"].setdefault(key, {})[str(s)] = rm_row(summary)
            if f == ppo_f:
                ppo_arms.setdefault(f"ai_{key}", {})[s] = d
            summary, d, stats = pseudo(f, s, threshold)
            out["rm"]["pseudo"].setdefault(key, {})[str(s)] = rm_row(summary, stats["human_pairs"])
            out["pseudo"].setdefault(key, {})[str(s)] = stats
            if f == ppo_f:
                ppo_arms.setdefault(f"pseudo_{key}", {})[s] = d
        summary, d = rm_run(f"rm_ai_all_seed{s}", {"seed": s, "labeler": "ai"}, args, sft_dir)
        out["rm_ai_only"][str(s)] = rm_row(summary)
        out["label_seconds_per_1000"].setdefault("ai", {})[str(s)] = summary["labels"]["ai_seconds_per_1000"]
        ppo_arms.setdefault("ai_only", {})[s] = d
        for arm, dirs in ppo_arms.items():
            ids = {"sft": chain.sft["id"], "rm": load_checkpoint(str(dirs[s] / "rm.pt"), "rm")["id"]}
            run = train_run("ppo", {"seed": s}, args, ids, name=f"ppo_{run_label(arm).replace(' ', '_')}_seed{s}",
                            source=str(dirs[s]))
            out["ppo"].setdefault(arm, {})[str(s)] = ppo_row(run)
        write_json(args.json, out)            # after every seed: an interrupted run keeps what it measured
    summarise(out)
    return save_results(figure(out), args, out, timer)


def summarise(out: dict):
    """Print the tables; add the means over seeds and the claims (stats.seed_claim: paired by seed) to out."""
    j = out["judge"]
    print(f"\nthe judge on {j['equal']['n']} held-out human-labelled pairs ({out['split']} split; ± SE by prompt); the "
          f"simulated human agrees with the gold order on {j['human_vs_gold']:.3f} ± {j['human_vs_gold_se']:.3f}")
    for name, a in (("equal weights", j["equal"]), (f"weights fitted on {j['n_fit_pairs']} human pairs", j["fitted"])):
        print(f"  {name:<36} vs the human {a['vs_human']:.3f} ± {a['vs_human_se']:.3f} | vs the gold order "
              f"{a['vs_gold']:.3f} ± {a['vs_gold_se']:.3f} | by kind (vs gold): "
              + ", ".join(f"{k} {v['vs_gold']:.2f}" for k, v in a["by_kind"].items()))
    print("  pairs differing in one gold component alone (equal weights), agreement with its sign: "
          + ", ".join(f"{c} {v['vs_gold']:.2f} ± {v['vs_gold_se']:.2f} (n {v['n']})"
                      for c, v in j["equal"]["by_component"].items()))
    print("probes, a perfect reply against one edit: how often the judge prefers the perfect one (gold: always)")
    for edit, p in out["probes"].items():
        taught = "never written" if edit in NEVER_WRITTEN else "taught"
        print(f"  {edit + ' (' + taught + ')':<34} {p['prefers_clean']:.2f} ± {p['se']:.2f} (n {p['n']})")
    ls = out["label_seconds_per_1000"]
    print(f"seconds per 1,000 labels: the judge {np.mean(list(ls['ai'].values())):.2f}, the simulated human "
          f"{ls['human']:.3f}")

    out["over_seeds"], out["claims"] = {"rm": {}, "ppo": {}}, {"rm": {}, "ppo": {}}
    print(f"\nRM on held-out pairs of SFT samples, mean ± SE over {len(out['seeds'])} seed(s) "
          f"(pseudo-label threshold {out['threshold']:g}, chosen on dev)")
    print(f"{'F (%)':>6}{'arm':>8}{'human labels':>14}{'pairs':>8}{'skill':>16}{'Spearman':>16}")
    for f in out["fractions"]:
        for arm in ("human", "pseudo", "ai"):
            rows = out["rm"][arm].get(f)
            if not rows:
                continue
            m = {k: seed_mean(rows, k) for k in ("skill", "spearman", "human_labels", "n_pairs")}
            out["over_seeds"]["rm"].setdefault(arm, {})[f] = m
            print(f"{f:>6}{arm:>8}{m['human_labels']['mean']:>14.0f}{m['n_pairs']['mean']:>8.0f}"
                  f"{m['skill']['mean']:>9.3f} ± {m['skill']['se']:.3f}{m['spearman']['mean']:>9.3f} ± "
                  f"{m['spearman']['se']:.3f}")
            if arm != "human":
                out["claims"]["rm"].setdefault(arm, {})[f] = seed_claim(
                    [rows[s]["skill"] for s in sorted(rows)], [out["rm"]["human"][f][s]["skill"] for s in sorted(rows)],
                    "human + " + {"pseudo": "pseudo", "ai": "AI"}[arm], "human only")
    m = {k: seed_mean(out["rm_ai_only"], k) for k in ("skill", "spearman")}
    out["over_seeds"]["rm"]["ai_only"] = m
    print(f"{'-':>6}{'AI only':>8}{0:>14}{'':>8}{m['skill']['mean']:>9.3f} ± {m['skill']['se']:.3f}"
          f"{m['spearman']['mean']:>9.3f} ± {m['spearman']['se']:.3f}")
    for arm, per in out["claims"]["rm"].items():
        print(f"  skill, {arm}: " + "; ".join(f"F {f}: {c['text']}" for f, c in per.items()))

    print("\nPPO at its defaults on each RM (held-out gold, mean ± SE over seeds; components of the final samples)")
    print(f"{'RM':<22}{'gold':>16}{'gap closed':>12}{'KL':>7}{'win rate':>10}  components")
    for arm, rows in out["ppo"].items():
        m = {k: seed_mean(rows, k) for k in ("gold", "gain_fraction", "kl", "win_rate")}
        arm_label = arm_name(arm)
        comps = {c: float(np.mean([rows[s]["components"][c] for s in rows])) for c in rows[next(iter(rows))]["components"]}
        out["over_seeds"]["ppo"][arm] = {**m, "components": comps}
        print(f"{arm_label:<22}{m['gold']['mean']:>+9.3f} ± {m['gold']['se']:.3f}{m['gain_fraction']['mean']:>11.0%}"
              f"{m['kl']['mean']:>7.2f}{m['win_rate']['mean']:>10.2f}  "
              + " ".join(f"{c} {v:+.2f}" for c, v in comps.items()))
    first = out["ppo"][next(iter(out["ppo"]))]
    sft = {c: float(np.mean([first[s]["sft_components"][c] for s in first])) for c in first[next(iter(first))]["sft_components"]}
    print(f"{'(SFT)':<22}{np.mean([first[s]['sft_gold'] for s in first]):>+9.3f}{'':>8}{'':>12}{'':>7}{'':>10}  "
          + " ".join(f"{c} {v:+.2f}" for c, v in sft.items()))
    f, full = out["ppo_fraction"], "human_100"
    for a, b in (("ai_only", full), (f"ai_{f}", f"human_{f}"), (f"pseudo_{f}", f"human_{f}"), (f"human_{f}", full)):
        if a in out["ppo"] and b in out["ppo"]:
            seeds = sorted(out["ppo"][a])
            c = seed_claim([out["ppo"][a][s]["gold"] for s in seeds], [out["ppo"][b][s]["gold"] for s in seeds],
                           arm_name(a), arm_name(b))
            out["claims"]["ppo"][f"{a}_vs_{b}"] = c
            print(f"  gold: {c['text']}")


def figure(out: dict):
    """RM skill and PPO gold against the number of human labels (log scale), one line per arm; the all-AI RM
    (no human label) and SFT as dashed lines."""
    from nano_rlhf.plots import plt   # the Agg backend
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colors = {"human": "tab:blue", "pseudo": "tab:orange", "ai": "tab:green"}
    names = {"human": "human only", "pseudo": "human + pseudo-labels", "ai": "human + AI labels"}
    for arm, per_f in out["over_seeds"]["rm"].items():
        if arm == "ai_only":
            left.axhline(per_f["skill"]["mean"], ls="--", color="tab:red", label="AI labels only (0 human)")
            continue
        fs = [f for f in per_f if arm == "human" or f in out["over_seeds"]["rm"]["human"]]
        xs = [per_f[f]["human_labels"]["mean"] for f in fs]
        left.errorbar(xs, [per_f[f]["skill"]["mean"] for f in fs], yerr=[per_f[f]["skill"]["se"] for f in fs],
                      marker="o", capsize=3, color=colors[arm], label=names[arm])
    left.set_xscale("log")
    left.set_xlabel("human-labelled pairs")
    left.set_ylabel(f"RM skill vs the labeler's ceiling ({out['split']})")
    left.set_title(f"reward model ({len(out['seeds'])} seed(s), ± SE over seeds)")
    ppo, f = out["over_seeds"]["ppo"], out["ppo_fraction"]
    n_human = {g: out["over_seeds"]["rm"]["human"][g]["human_labels"]["mean"] for g in (f, "100")}
    for arm, fs in (("human", (f, "100")), ("pseudo", (f,)), ("ai", (f,))):
        points = [(n_human[g], ppo[f"{arm}_{g}"]["gold"]) for g in fs if f"{arm}_{g}" in ppo]
        if points:
            right.errorbar([p[0] for p in points], [p[1]["mean"] for p in points], yerr=[p[1]["se"] for p in points],
                           marker="o", capsize=3, color=colors[arm], label=names[arm])
    if "ai_only" in ppo:
        right.axhline(ppo["ai_only"]["gold"]["mean"], ls="--", color="tab:red", label="AI labels only (0 human)")
    first = out["ppo"][next(iter(out["ppo"]))]
    right.axhline(np.mean([first[s]["sft_gold"] for s in first]), ls=":", color="gray", label="SFT")
    right.set_xscale("log")
    right.set_xlabel("human-labelled pairs")
    right.set_ylabel(f"PPO held-out gold ({out['split']})")
    right.set_title("PPO at its defaults on each RM")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def parse(argv):
    """The flags: frontier.parse_args's, with --seeds. --out-dir needs only sft.pt (one with principle checks is
    used as the judge; otherwise one is trained in the work dir)."""
    return parse_args(argv, __doc__, "rlaif", seeds_flag)


if __name__ == "__main__":
    run_cli(main, parse(sys.argv[1:]))
