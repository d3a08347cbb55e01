"""The reward-KL frontier: gold (and RM) reward against KL(pi || pi_SFT) on held-out prompts, for best-of-n
(n = 1..64), PPO (beta = 0, the default, 4x the default), DPO (beta = 0.1, 0.3, 1) and the critic-free trainer
(train_grpo.py at its defaults: beta = 0, the default, 4x the default) and PPO on lesson 6's two remedies for
reward hacking (the mean of ensembles.py's three RMs; the RM of iterated_rlhf.py's last round, seed 0; beta = 0 and
the default), on one plot with SFT.

    python lessons/experiments/frontier.py            # after train_sft.py and train_rm.py: ~12 min on a laptop CPU
    python lessons/experiments/frontier.py --quick    # seconds, on a --preset test chain: checks the plumbing

Each PPO, DPO and critic-free run is the training script's own `main(cfg)` with a few overrides, in its own folder under
--work-dir (default out/experiments), holding copies of out/sft.pt, out/rm.pt and out/preferences.jsonl. A run
whose summary is already there, made from the same checkpoints and overrides, is reused: delete its folder (or the
work dir) to measure again, e.g. after changing a script's defaults. overoptimisation.py shares these runs.

The trained methods are the entries of METHODS (a training script, its beta grid, how its points are drawn): a new
method is one more entry, not another branch. KL is measured the same way for every trained method: on held-out
samples, summed over response tokens, averaged over
responses, at the sampling temperature (evaluate.policy_report). Best-of-n uses the analytic log n - (n - 1)/n,
an upper bound when responses repeat (nano_rlhf/best_of_n.py); its curve for every n comes from one draw of 64
SFT samples per prompt (best_of_n.expected_best_of_n). Gold is only reported: nothing here selects by it.
"""
import importlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)

import torch  # noqa: E402

from nano_rlhf import best_of_n as bon  # noqa: E402
from nano_rlhf.checkpoint import (build_policy, build_value_model, load_checkpoint, load_sft_and_rm,  # noqa: E402
                                  load_tokenizer)
from nano_rlhf.common import (ArgumentParser, Timer, UserError, bounded, out_dir_problem, run_cli,  # noqa: E402
                              setup_runtime, with_preset)
from nano_rlhf.evaluate import gold_scores  # noqa: E402
from nano_rlhf.files import read_json, write_json  # noqa: E402
from nano_rlhf.world import World, eval_seed  # noqa: E402

NS = (1, 2, 4, 8, 16, 32, 64)
EVAL_INTERVAL = 4    # PPO evaluations every 4 iterations: the history is a curve (overoptimisation.py plots it)


# ----------------------------------------------------------------------------------------------------------------
# Shared with overoptimisation.py: prerequisites, cached training runs, the best-of-n curve


def output_problem(path: str, name: str) -> str | None:
    """A file the run can write at the end (checked first, so that no work is lost to a bad path), or why not."""
    if os.path.lexists(path) and not os.path.isfile(path):
        return f"{name} {path}: is a folder, a device or a pipe; pass a file name"
    return out_dir_problem(os.path.dirname(path) or ".", f"{name}'s folder")


def numbers(row, keys) -> bool:
    """Every key holds a number: what a cached file must have to be reused (a damaged one is computed again)."""
    return isinstance(row, dict) and all(type(row.get(k)) in (int, float) for k in keys)


def usable_summary(stage: str, s) -> bool:
    if stage == "rm":                             # a reward model's report (rlaif.py trains many)
        return numbers(s, ("skill_vs_ceiling", "skill_se"))
    if not numbers(s, ("kl", f"gold_reward_{stage}", f"gold_reward_{stage}_se", f"rm_reward_{stage}")):
        return False
    h = s.get("history")
    return stage != "ppo" or (isinstance(h, list) and h and all(numbers(r, ("iteration", "kl", "gold", "rm"))
                                                                for r in h))


def parse_args(argv, doc: str, name: str, extra=None):
    """The flags, checked before any work: one line on stderr and exit code 2 if one is wrong. (--out-dir's
    checkpoints are checked by main, through chain_ids: the same one-line errors, naming what to run.)
    extra(parser), if given, adds an experiment's own flags."""
    ap = ArgumentParser(description=doc.split("\n")[0])
    if extra:
        extra(ap)
    ap.add_argument("--out-dir", default="out", help="folder holding sft.pt, rm.pt and preferences.jsonl")
    ap.add_argument("--work-dir", default="", help="folder for the runs (default: <out-dir>/experiments)")
    ap.add_argument("--quick", action="store_true", help="tiny runs (--preset test), for tests: seconds")
    ap.add_argument("--png", default="", help=f"plot path (default: {name}.png next to this script; "
                                              f"<work-dir>/{name}.png with --quick)")
    ap.add_argument("--threads", type=bounded(int, 0, 1024), default=None,
                    help="CPU threads for every run (0: torch's default; default 2, 1 with --quick)")
    ap.add_argument("--eval-split", choices=["dev", "test"], default="test",
                    help="held-out prompts of every report: test (reported numbers) or dev (for choices, such as "
                         "the beta grids)")
    args = ap.parse_args(argv)
    args.threads = (1 if args.quick else 2) if args.threads is None else args.threads   # the scripts' default: 2
    args.work_dir = args.work_dir or f"{args.out_dir}/experiments"
    args.png = args.png or (f"{args.work_dir}/{name}.png" if args.quick else str(HERE / f"{name}.png"))
    args.json = str(Path(args.png).with_suffix(".json"))    # the numbers behind the plot (the lessons quote them)
    if problem := (out_dir_problem(args.work_dir, "--work-dir") or output_problem(args.png, "--png")
                   or output_problem(args.json, "--png's .json")):
        ap.error(problem)
    return args


def seeds_flag(ap):
    """--seeds, for the experiments that repeat every arm over seeds (curriculum, ensembles, dense_reward)."""
    ap.add_argument("--seeds", type=bounded(int, 0, 2**32 - 1), nargs="+", default=[0],
                    help="training seeds of every arm (default 0; the committed tables: 0 1 2)")


def save_results(fig, args, out: dict, timer) -> dict:
    """The end of an experiment: its figure to --png, its numbers to the .json beside it, one closing line."""
    from nano_rlhf.plots import save_figure
    save_figure(fig, args.png)
    write_json(args.json, out)
    print(f"\nwrote {args.png} and {args.json} in {timer():.0f}s")
    return out


def hacking_row(s: dict) -> dict:
    """What the remedies' tables need from one PPO run (ensembles.py, iterated_rlhf.py): final and peak held-out
    gold (the KL and iteration of the peak: where gold turns down), the RM-gold Spearman on the final samples,
    seconds, and the (iteration, KL, gold) curve."""
    hist = s["history"]
    peak = max(hist, key=lambda h: h["gold"])
    return {"gold": s["gold_reward_ppo"], "gold_se": s["gold_reward_ppo_se"], "kl": s["kl"], "rm": s["rm_reward_ppo"],
            "peak_gold": peak["gold"], "peak_iteration": peak["iteration"], "peak_kl": peak["kl"],
            "spearman": hist[-1]["rm_gold_spearman"], "wall_seconds": s["wall_seconds"],
            "score_seconds": s["time_phases"].get("score"),
            "curve": [(h["iteration"], h["kl"], h["gold"]) for h in hist]}


def gold_kl_figure(curves: dict, colors: dict, title: str, split: str):
    """{label: [one (iteration, KL, gold) curve per seed]} -> a figure of held-out gold against KL along each run,
    the later seeds fainter."""
    from nano_rlhf.plots import plt   # the Agg backend
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, per_seed in curves.items():
        for i, curve in enumerate(per_seed):
            ax.plot([kl for _, kl, _ in curve], [g for _, _, g in curve], "-o", ms=3, color=colors[label],
                    alpha=0.9 - 0.25 * i, label=label if i == 0 else None)
    ax.set_xlabel("KL(pi || pi_SFT), nats (held-out)")
    ax.set_ylabel(f"held-out gold ({split})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def chain_ids(out_dir: str) -> dict:
    """The ids of out/sft.pt and out/rm.pt, or a one-line error saying what to run."""
    for f, what in (("sft.pt", "`python train_sft.py` and then `python train_rm.py`"),
                    ("rm.pt", "`python train_rm.py`")):
        if not Path(out_dir, f).exists():
            raise UserError(f"{out_dir}/{f} not found: run {what} first (or pass the right --out-dir)")
    sft, rm = load_sft_and_rm(out_dir)          # also checks that rm.pt was trained from this sft.pt
    return {"sft": sft["id"], "rm": rm["id"]}


def run_name(stage: str, overrides: dict) -> str:
    return stage + "".join(f"_{k}{v}" for k, v in sorted(overrides.items()) if k != "threads")


def train_run(stage: str, overrides: dict, args, ids: dict, name: str = "", source: str = "") -> dict:
    """Train with train_<stage>.py's main(cfg) in <work-dir>/<name> (by default named after the overrides), or
    reuse the summary of an identical run. Its sft.pt, rm.pt and preferences come from `source` (default: --out-dir;
    ids must then name that folder's checkpoints, since they decide reuse)."""
    module = importlib.import_module(f"train_{stage}")
    preset = "test" if args.quick else "default"
    d = Path(args.work_dir) / args.eval_split / (name or run_name(stage, overrides))
    stamp = {"chain": ids, "preset": preset, "overrides": overrides, "split": args.eval_split}
    summary_file, stamp_file = d / f"{stage}_summary.json", d / "experiment.json"
    cached = read_json(summary_file) if read_json(stamp_file) == stamp else None
    if usable_summary(stage, cached):             # missing, damaged or from other settings: train again
        print(f"[{d.name}] reusing {summary_file}")
        return cached
    d.mkdir(parents=True, exist_ok=True)
    for f in ("sft.pt", "rm.pt", "preferences.jsonl", "preferences.meta.json"):
        if Path(source or args.out_dir, f).exists():
            shutil.copyfile(Path(source or args.out_dir, f), d / f)
    print(f"[{d.name}] training: python train_{stage}.py --preset {preset} --out-dir {d} --eval-split "
          f"{args.eval_split} " +
          " ".join(f"--{k.replace('_', '-')} {v}" for k, v in overrides.items()))
    t = Timer()
    cfg = with_preset(module.Config, module.PRESETS, preset, out_dir=str(d), threads=args.threads,
                      eval_split=args.eval_split, **overrides)
    summary = module.main(cfg)
    write_json(str(stamp_file), stamp)
    print(f"[{d.name}] done in {t():.0f}s")
    return summary


def ppo_overrides(beta: float, args) -> dict:
    """PPO at this beta, evaluated often enough for a curve (every iteration of the 3 of --quick)."""
    return {"beta": beta, "eval_interval": 1 if args.quick else EVAL_INTERVAL}


@dataclass(frozen=True)
class Method:
    """A trained method on the frontier. Its train_<stage>.py's summary holds kl, gold_reward_<stage>(_se) and
    rm_reward_<stage>; it is trained at each beta of betas(its default beta, --quick), with overrides(beta, args)."""
    stage: str
    label: str
    betas: Callable[[float, bool], list]
    overrides: Callable[[float, object], dict]
    marker: str
    color: str
    history: bool = False          # also draw its held-out evaluations along the run (a faint line)
    key: str = ""                  # its name in main's result (default: the stage); two entries may share a stage
    # a reward other than out/rm.pt: reward(args, ids) -> (extra overrides, folder its rm.pt comes from or "", ids
    # of everything it was built from); its runs are named <key>_beta<b>. Trained (or reused) on first use.
    reward: Callable | None = None

    @property
    def name(self) -> str:
        return self.key or self.stage


def ensemble_reward(args, ids: dict):
    """ensembles.py's three bootstrap RMs (trained or reused), aggregated by their mean: Coste et al. 2023's plain
    "mean optimisation" (the experiment also runs min and the lower bound; the frontier shows one, not the best)."""
    import ensembles
    members = [ensembles.member(k, args, ids) for k in range(ensembles.K)]
    return ({"ensemble": ",".join(members), "ensemble_agg": "mean"}, "",
            {**ids, "members": [load_checkpoint(p, "rm")["id"] for p in members]})


def iterated_reward(args, ids: dict):
    """The RM of iterated_rlhf.py's last round, seed 0 (its rounds trained or reused)."""
    import iterated_rlhf
    d = iterated_rlhf.last_round(args, ids)
    return {}, str(d), {**ids, "rm": load_checkpoint(str(d / "rm.pt"), "rm")["id"]}


# PPO: no leash, the default beta and four times it (overoptimisation.py reuses the first two runs); DPO: the
# default beta and simple values around it. The runs' own defaults otherwise (iterations, lr, epochs...).
METHODS = (
    Method("ppo", "PPO", lambda b, quick: sorted({0.0, b, 4 * b}), ppo_overrides, "s", "tab:blue", history=True),
    Method("dpo", "DPO", lambda b, quick: sorted({b, 1.0} if quick else {0.1, 0.3, 1.0, b}),
           lambda b, args: {"beta": b}, "^", "tab:red"),
    # the critic-free trainer at its defaults (lesson 9): no leash, the default beta and four times it
    Method("grpo", "critic-free", lambda b, quick: [b] if quick else sorted({0.0, b, 4 * b}),
           lambda b, args: {"beta": b}, "D", "tab:purple"),
    # the remedies of lesson 6 against over-optimisation: PPO with no leash and with the default beta, on another
    # reward (overoptimisation.py also fits their beta = 0 curves)
    Method("ppo", "PPO, ensemble mean", lambda b, quick: [0.0, b], ppo_overrides, "P", "tab:olive", history=True,
           key="ppo_ensemble", reward=ensemble_reward),
    Method("ppo", "PPO, iterated RM", lambda b, quick: [0.0, b], ppo_overrides, "X", "tab:brown", history=True,
           key="ppo_iterated", reward=iterated_reward),
)


def method_run(m: Method, beta: float, args, ids: dict) -> dict:
    """One run of method m at this beta (a cached run reused, see train_run)."""
    extra, source, ids = m.reward(args, ids) if m.reward else ({}, "", ids)
    return train_run(m.stage, {**m.overrides(beta, args), **extra}, args, ids,
                     name=f"{m.name}_beta{beta}" if m.reward else "", source=source)


def train_method(m: Method, args, ids: dict) -> dict:
    """{beta: summary} of one method's runs over its beta grid."""
    default_beta = importlib.import_module(f"train_{m.stage}").Config().beta
    return {b: method_run(m, b, args, ids) for b in m.betas(default_beta, args.quick)}


def bon_curve(args, ids: dict, ns=NS) -> dict:
    """Best-of-n gold and RM score for every n in ns from max(ns) SFT samples per held-out prompt (cached)."""
    N = 8 if args.quick else max(ns)
    ns = [n for n in ns if n <= N]
    reps = 1 if args.quick else 3                 # each held-out prompt 3 times (120 prompts x 64 samples)
    path = Path(args.work_dir) / f"bon_curve_{args.eval_split}.json"
    stamp = {"chain": ids, "N": N, "reps": reps, "ns": ns, "split": args.eval_split}
    cached = read_json(path)                      # missing, damaged or from other settings: sample again
    if (numbers(cached, ("n_samples",)) and cached.get("stamp") == stamp and isinstance(cached.get("rows"), list)
            and len(cached["rows"]) == len(ns) and all(numbers(r, ("n", "kl", "gold", "gold_se", "rm"))
                                                       for r in cached["rows"])):
        print(f"[best-of-n] reusing {path}")
        return cached
    t = Timer()
    device, autocast = setup_runtime(0, "cpu", args.threads)
    sft, rm_ckpt = load_checkpoint(f"{args.out_dir}/sft.pt", "sft"), load_checkpoint(f"{args.out_dir}/rm.pt", "rm")
    tok, world = load_tokenizer(sft), World(sft["config"]["world_seed"])
    policy, rm = build_policy(sft, device).eval(), build_value_model(rm_ckpt, device).eval()
    prompts = [p.text for p in world.split(args.eval_split)] * reps
    prompts = prompts[:8] if args.quick else prompts
    score_fn = bon.rm_scorer(rm, rm_ckpt["reward_norm"], tok, -2.0, device, autocast)
    with torch.inference_mode():
        _, _, samples, scores = bon.best_of_n(policy, tok, prompts, N, score_fn, seed=eval_seed(args.eval_split, 30_000),
                                              device=device,
                                              max_new_tokens=sft["config"]["max_new_tokens"], autocast=autocast)
    rows = bon.curve(samples, scores, [g.total for g in gold_scores(world, samples)], N, ns)
    out = {"stamp": stamp, "rows": rows, "n_samples": len(samples), "seconds": t()}
    write_json(str(path), out)
    print(f"[best-of-n] {len(samples)} SFT samples scored in {out['seconds']:.0f}s")
    return out


# ----------------------------------------------------------------------------------------------------------------


def main(args) -> dict:
    timer = Timer()
    ids = chain_ids(args.out_dir)
    curve = bon_curve(args, ids)
    runs = {m.name: train_method(m, args, ids) for m in METHODS}

    rows = [("SFT", 0.0, curve["rows"][0]["gold"], curve["rows"][0]["gold_se"], curve["rows"][0]["rm"])]
    rows += [(f"best-of-{r['n']}", r["kl"], r["gold"], r["gold_se"], r["rm"]) for r in curve["rows"][1:]]
    for m in METHODS:
        rows += [(f"{m.label} beta={b}", s["kl"], s[f"gold_reward_{m.stage}"], s[f"gold_reward_{m.stage}_se"],
                  s[f"rm_reward_{m.stage}"]) for b, s in runs[m.name].items()]
    print(f"\n{args.eval_split} split: reward against KL(pi || pi_SFT), ± SE clustered by prompt (SFT and best-of-n: {curve['n_samples']} samples; trained "
          f"methods: their final report)\n{'policy':<16}{'KL (nats)':>10}{'gold':>17}{'RM':>8}")
    for name, kl, g, se, r in rows:
        print(f"{name:<16}{kl:>10.3f}{g:>+10.3f} ± {se:.3f}{r:>+8.3f}")

    from nano_rlhf.plots import plt, save_figure   # the Agg backend, and atomic PNG writes
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, title in ((axes[0], "gold", "gold reward (simulated human)"), (axes[1], "rm", "RM (proxy) reward")):
        c = curve["rows"]
        ax.plot([r["kl"] for r in c], [r[key] for r in c], "o-", color="tab:green", label="best-of-n (analytic KL)")
        for r in c[1:]:
            ax.annotate(f"n={r['n']}", (r["kl"], r[key]), fontsize=7, xytext=(3, -9), textcoords="offset points")
        for m in METHODS:
            grid = runs[m.name]
            for i, (b, s) in enumerate(grid.items()):
                ax.plot(s["kl"], s[f"{key}_reward_{m.stage}"], m.marker, color=m.color,
                        alpha=0.4 + 0.6 * i / len(grid), label=f"{m.label} beta={b}")
                if m.history:          # the held-out evaluations along the run, faint
                    h = s["history"]
                    ax.plot([r["kl"] for r in h], [r[key] for r in h], "-", color=m.color, alpha=0.25, lw=1)
        ax.plot(0, c[0][key], "k*", ms=12, label="SFT")
        ax.set_title(title)
        ax.set_xlabel("KL(pi || pi_SFT), nats per response")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save_figure(fig, args.png)
    out = {"split": args.eval_split, "rows": [dict(zip(("policy", "kl", "gold", "gold_se", "rm"), r)) for r in rows],
           "n_bon_samples": curve["n_samples"]}
    write_json(args.json, out)
    print(f"\nwrote {args.png} and {args.json} in {timer():.0f}s")
    return {**out, "bon": curve, **runs}


if __name__ == "__main__":
    run_cli(main, parse_args(sys.argv[1:], __doc__, "frontier"))
