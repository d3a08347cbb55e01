"""Benchmark: the three plain commands of the recipe, one process each, timed from outside, with each stage's own
profile (where its time went, phase by phase).

    python bench/pipeline.py                         # the README's promise: ~5 minutes on a 2-core laptop CPU
    python bench/pipeline.py --preset test           # seconds: checks the tool itself
    python bench/pipeline.py --report-only           # the profile of the runs already in --out-dir

Runs `python train_sft.py`, `python train_rm.py` and `python train_ppo.py` with --out-dir (runs/pipeline by
default, so out/ is left alone), one after the other, exactly as a newcomer types them. "wall" is each process from
start to exit, timed here; "in script" is the stage's own total (its summary's time_phases, from the first line of
main to its last file); the difference is Python start-up and importing torch. The phases are the `phases.lap`
calls in each train_*.py (nano_rlhf.common.Phases): on CPU they are exact, since CPU work is synchronous.

Time is noisy on a shared machine: run nothing else meanwhile, and compare only runs made in one sitting.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)
from nano_rlhf.common import ArgumentParser, bounded, fail, out_dir_problem, run_cli  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
STAGES = ("sft", "rm", "ppo")
BUDGET = {"sft": 180.0, "total": 300.0}     # the promise, in seconds on this 2-core CPU (issue 14)


def parse_args(argv=None):
    """The flags, checked before any work: a bad one is one line on stderr, exit code 2."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default="runs/pipeline", help="folder for the three stages' files")
    ap.add_argument("--preset", choices=["default", "test"], default="default", help="the stages' preset")
    ap.add_argument("--seed", type=bounded(int, 0, 2**32 - 1), default=0, help="every stage's --seed")
    ap.add_argument("--threads", type=bounded(int, 0, 1024), default=None,
                    help="every stage's --threads (default: the stages' own default, 2)")
    ap.add_argument("--report-only", action="store_true", help="run nothing: profile the summaries in --out-dir")
    ap.add_argument("--markdown", action="store_true", help="print the tables as GitHub markdown (for README)")
    args = ap.parse_args(argv)
    if problem := out_dir_problem(args.out_dir):
        ap.error(problem)
    return args


def run_stage(stage: str, args) -> float:
    """One plain command in its own process -> its wall seconds. Its output goes to <out-dir>/<stage>.log."""
    cmd = [sys.executable, os.path.join(ROOT, f"train_{stage}.py"), "--out-dir", args.out_dir, "--seed",
           str(args.seed), "--preset", args.preset] + (["--threads", str(args.threads)] if args.threads is not None
                                                       else [])
    t0 = time.perf_counter()
    with open(os.path.join(args.out_dir, f"{stage}.log"), "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    if rc:
        fail(f"{' '.join(cmd)} failed (exit code {rc}): see {args.out_dir}/{stage}.log")
    print(f"{stage}: {wall:.1f}s", flush=True)
    return wall


def profile_rows(phases: dict, top: int = 6) -> list[tuple[str, float, float]]:
    """A stage's time_phases -> its `top` costliest phases as (name, seconds, share), the rest summed as "other"."""
    total = phases["total"] or 1.0
    items = sorted(((k, v) for k, v in phases.items() if k != "total"), key=lambda kv: -kv[1])
    rows = [(k, v, v / total) for k, v in items[:top]]
    rest = sum(v for _, v in items[top:])
    return rows + ([("other", rest, rest / total)] if rest else [])


def by_prefix(phases: dict) -> dict:
    """Phases named "a: b" summed by their prefix "a" ({"train": every "train: ..." lap, ...}): the coarse picture."""
    out = {}
    for k, v in phases.items():
        if k != "total":
            group = k.split(":")[0]
            out[group] = out.get(group, 0.0) + v
    return out


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    walls = {} if args.report_only else {stage: run_stage(stage, args) for stage in STAGES}
    summaries = {}
    for stage in STAGES:
        path = os.path.join(args.out_dir, f"{stage}_summary.json")
        try:
            with open(path) as f:
                summaries[stage] = json.load(f)
        except (OSError, ValueError) as e:
            fail(f"cannot read {path} ({e}): run `python bench/pipeline.py --out-dir {args.out_dir}` first")
        ph = summaries[stage].get("time_phases") if isinstance(summaries[stage], dict) else None
        if not (isinstance(ph, dict) and "total" in ph and all(type(v) in (int, float) for v in ph.values())):
            fail(f"{path} has no readable time_phases (written by an older nano-rlhf, or damaged): run "
                 f"`python bench/pipeline.py --out-dir {args.out_dir}` again")
    md = args.markdown
    sep = " | " if md else "  "
    head = ["stage", "wall s", "in script s", "start-up s", "coarse phases (s)"]
    print(("| " + " | ".join(head) + " |\n|" + "---|" * len(head)) if md else "\n" + sep.join(head))
    for stage in STAGES:
        ph = summaries[stage]["time_phases"]
        wall = walls.get(stage, float("nan"))
        coarse = ", ".join(f"{k} {v:.1f}" for k, v in sorted(by_prefix(ph).items(), key=lambda kv: -kv[1]))
        cells = [stage, f"{wall:.1f}", f"{ph['total']:.1f}", f"{wall - ph['total']:.1f}", coarse]
        print(("| " + " | ".join(cells) + " |") if md else sep.join(cells))
    if walls:
        total = sum(walls.values())
        print(f"\nthree plain commands: {total:.1f}s (budget {BUDGET['total']:.0f}s: "
              f"{'met' if total <= BUDGET['total'] else 'NOT met'}); SFT {walls['sft']:.1f}s (budget "
              f"{BUDGET['sft']:.0f}s: {'met' if walls['sft'] <= BUDGET['sft'] else 'NOT met'})"
              + ("" if args.preset == "default" else f" [preset {args.preset}: the budgets are for default]"))
    for stage in STAGES:
        ph = summaries[stage]["time_phases"]
        print(f"\n{stage} ({ph['total']:.1f}s in script), costliest phases:")
        if md:
            print("| phase | s | share |\n|---|---|---|")
        for name, sec, share in profile_rows(ph):
            print(f"| {name} | {sec:.1f} | {share:.0%} |" if md else f"  {name:<42} {sec:7.1f}s {share:6.1%}")


if __name__ == "__main__":
    run_cli(main, None)    # Ctrl-C: one line
