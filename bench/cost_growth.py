"""Benchmark: how the cost of a PPO iteration and of sampling grows with the work (batch size, response length).

    python bench/cost_growth.py                        # CPU, 1 thread, ~2 minutes (~25 s of it: recompute at 240)
    python bench/cost_growth.py --batches 16 64 --lengths 16 64 --gen-lengths 16 64 --repeats 1 --warmup 0   # ~10 s
    python bench/cost_growth.py --markdown             # the same tables as GitHub markdown

One bench model, 4 layers x 128 dims x 4 heads, vocab 512 (bench/ppo.py's), fp32, with block_size 256 so that a
16-token prompt + up to 240 new tokens fits; random weights and random 16-token prompts without padding (speed does
not depend on what they say). Every response is exactly N new tokens (eos_id=-1, a token never sampled).

ppo-batch, ppo-length: one PPO iteration, phase by phase (rollout, score, update, total), timed by bench/ppo.py's
`ours` on the four models its `build` makes: train_ppo's own rollout, score and update, with
train_ppo.Config(batch_size=B, epochs=1, minibatches=1, max_new_tokens=N) as in bench/ppo.py. Against B
(--batches, N = 32) and against N (--lengths, B = 16). Training's default config does 4 epochs x 4 minibatches,
so its update phase does 4x this one's work (the same tokens four times, in minibatches a quarter the size).
generate: nano_rlhf.model.generate of N new tokens for 16 prompts with the KV cache and without it (recompute the
whole context at every step), the same sampling seed for both. Recompute runs of more than --long new tokens are
slow (~25 s at 240 on 1 thread): timed --long-repeats times, without warm-up (as bench/generate.py's --long).

Each point: --warmup untimed runs, then --repeats timed ones, median [min-max]. Growth exponent: the slope of
log(seconds) on log(size) by least squares over the grid (1 = linear, 2 = quadratic); "last two": the slope between
the two largest sizes, the local exponent (a sum of a linear and a quadratic term bends upward).
"""
import importlib.util
import math
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)
import torch  # noqa: E402
import train_ppo  # noqa: E402
from nano_rlhf.common import ArgumentParser, bounded, run_cli  # noqa: E402
from nano_rlhf.model import GPTConfig, generate  # noqa: E402

if "bench_ppo" not in sys.modules:         # bench/ppo.py's build and ours (the name tests/test_cli_flags.py uses)
    _spec = importlib.util.spec_from_file_location("bench_ppo", os.path.join(HERE, "ppo.py"))
    sys.modules["bench_ppo"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["bench_ppo"])
bench_ppo = sys.modules["bench_ppo"]

BLOCK, PROMPT, VOCAB = 256, 16, 512
FIXED_N, FIXED_B = 32, 16                   # the response length of ppo-batch; the batch of ppo-length and generate
SERIES = ("ppo-batch", "ppo-length", "generate")
PHASES = ("rollout", "score", "update", "total")


def growth_exponent(sizes, seconds) -> float:
    """The least-squares slope of log(seconds) on log(size): seconds = c * size**k gives exactly k (1 linear,
    2 quadratic). Needs positive numbers and at least two distinct sizes (else ValueError)."""
    x, y = [math.log(s) for s in sizes], [math.log(t) for t in seconds]
    if len(x) != len(y) or len(set(x)) < 2:
        raise ValueError(f"need two or more distinct sizes with one time each, got {list(sizes)}, {list(seconds)}")
    mx, my = statistics.fmean(x), statistics.fmean(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)


def local_exponent(sizes, seconds) -> float:
    """The slope between the two largest sizes (sizes in increasing order): the growth at the end of the grid."""
    return growth_exponent(sizes[-2:], seconds[-2:])


def parse_args(argv=None):
    """The flags, checked before any work: a bad one is one line on stderr, exit code 2."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=bounded(int, 1, 1024), default=1, help="torch.set_num_threads")
    ap.add_argument("--repeats", type=bounded(int, 1, 10**4), default=3, help="timed runs per point (median)")
    ap.add_argument("--warmup", type=bounded(int, 0, 10**4), default=1, help="untimed runs before each point")
    ap.add_argument("--batches", type=bounded(int, 1, 4096), nargs="+", default=[16, 32, 64, 128, 256],
                    help=f"ppo-batch: prompts per iteration ({FIXED_N} new tokens each)")
    ap.add_argument("--lengths", type=bounded(int, 1, 4096), nargs="+", default=[16, 32, 64, 128],
                    help=f"ppo-length: new tokens per response (batch {FIXED_B})")
    ap.add_argument("--gen-lengths", type=bounded(int, 1, 4096), nargs="+", default=[16, 32, 64, 128, 240],
                    help=f"generate: new tokens per row (batch {FIXED_B}; 240 = {BLOCK} - the prompt)")
    ap.add_argument("--long", type=bounded(int, 0, 4096), default=128,
                    help="generate: recompute runs of more new tokens than this: --long-repeats runs, no warm-up")
    ap.add_argument("--long-repeats", type=bounded(int, 1, 10**4), default=1)
    ap.add_argument("--seed", type=bounded(int, 0, 2**63 - 1), default=0)
    ap.add_argument("--only", choices=SERIES, nargs="+", default=list(SERIES), help="which series to run")
    ap.add_argument("--markdown", action="store_true", help="print the tables as GitHub markdown")
    args = ap.parse_args(argv)
    for flag in ("lengths", "gen_lengths"):
        too_long = [n for n in getattr(args, flag) if PROMPT + n > BLOCK]
        if too_long:
            ap.error(f"--{flag.replace('_', '-')} {too_long[0]}: a {PROMPT}-token prompt + {too_long[0]} new tokens "
                     f"does not fit block_size {BLOCK} (at most {BLOCK - PROMPT})")
    return args


def cell(xs):
    return f"{statistics.median(xs):.4f} [{min(xs):.4f}-{max(xs):.4f}]"


def table(size_name, sizes, columns, markdown):
    """columns: {name: [timed runs at each size]}; a row per size, then the two exponent rows."""
    meds = {k: [statistics.median(r) for r in runs] for k, runs in columns.items()}
    rows = [[str(n)] + [cell(runs[i]) for runs in columns.values()] for i, n in enumerate(sizes)]
    for label, fn in (("exponent (fit)", growth_exponent), ("exponent (last two)", local_exponent)):
        rows.append([label] + [f"{fn(sizes, m):.2f}" if len(sizes) > 1 else "n/a" for m in meds.values()])
    header = [size_name] + [f"{k} s" for k in columns]
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header)] + rows]
    else:
        w = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        lines = [" | ".join(c.rjust(wi) for c, wi in zip(r, w)) for r in [header] + rows]
        lines.insert(1, "-" * len(lines[0]))
    print("\n".join(lines))
    return meds


def ppo_series(name, sizes, models, prompts, args):
    """One PPO iteration at each size; prints the table and which phase dominates at the largest size."""
    gen = torch.Generator().manual_seed(args.seed)
    runs = {p: [] for p in PHASES}
    for n in sizes:
        B, N = (n, FIXED_N) if name == "ppo-batch" else (FIXED_B, n)
        cp = train_ppo.Config(batch_size=B, epochs=1, minibatches=1, max_new_tokens=N, seed=args.seed)
        p_idx, p_mask = prompts[:B], torch.ones_like(prompts[:B])
        timed = []
        for i in range(args.warmup + args.repeats):
            t = bench_ppo.ours(models, p_idx, p_mask, cp, VOCAB - 1, gen, {"gain": 1.0, "bias": 0.0})
            if i >= args.warmup:
                timed.append((*t, sum(t)))
        for k, p in enumerate(PHASES):
            runs[p].append([t[k] for t in timed])
    fixed = f"{FIXED_N} new tokens" if name == "ppo-batch" else f"batch {FIXED_B}"
    print(f"\n{name}: one PPO iteration against {'batch size B' if name == 'ppo-batch' else 'new tokens N'} "
          f"({fixed}); seconds, median [min-max] of {args.repeats}")
    meds = table("B" if name == "ppo-batch" else "N", sizes, runs, args.markdown)
    top = max(PHASES[:3], key=lambda p: meds[p][-1])
    fastest = max(PHASES[:3], key=lambda p: growth_exponent(sizes, meds[p])) if len(sizes) > 1 else "n/a"
    print(f"-> at {sizes[-1]}: {top} is {meds[top][-1] / meds['total'][-1]:.0%} of the total; "
          f"fastest-growing phase: {fastest}")


def generate_series(sizes, model, prompts, args):
    mask = torch.ones_like(prompts)

    def run(n, use_cache):
        g = torch.Generator().manual_seed(args.seed)          # same seed: both variants sample the same way
        t0 = time.perf_counter()
        out = generate(model, prompts, mask, n, eos_id=-1, pad_id=VOCAB - 1, generator=g, use_cache=use_cache)
        assert out.tokens.shape == (prompts.size(0), n), out.tokens.shape
        return time.perf_counter() - t0

    runs = {"kv-cache": [], "recompute": []}
    for n in sizes:
        for name, use_cache in (("kv-cache", True), ("recompute", False)):
            slow = not use_cache and n > args.long
            for _ in range(0 if slow else args.warmup):
                run(n, use_cache)
            runs[name].append([run(n, use_cache) for _ in range(args.long_repeats if slow else args.repeats)])
    print(f"\ngenerate: N new tokens, batch {FIXED_B}, prompt {PROMPT}; seconds, median [min-max] of {args.repeats} "
          f"({args.long_repeats} for recompute above {args.long} new tokens)")
    meds = table("N", sizes, runs, args.markdown)
    print(f"-> at {sizes[-1]}: recompute / kv-cache = {meds['recompute'][-1] / meds['kv-cache'][-1]:.1f}x")


NOTES = """
notes: batch size: every phase does B times the same rows, so its cost is linear in B once the matmuls are big enough
  to amortise the Python and kernel-launch overhead, which is the same at any B: small batches are overhead-bound
  (exponent below 1), the rollout most (N sequential one-token steps of small matmuls), so its share falls as B
  grows; score is 4 forward passes (policy, reference, critic, RM), update 2 forwards + 2 backwards (~6 passes).
response length: attention is quadratic in length, each new token attending to all earlier ones. Score and update
  are full passes over P + N tokens: linear in N for the projections and MLP, quadratic for attention, whose share
  of the FLOPs is about T / (6 d) (1/3 at T = 256, d = 128), so their exponent starts near 1 and bends upward.
  Sampling without the cache re-runs the whole prefix at every step: O(N^2) token-forwards and O(N^3) attention, so
  recompute dominates and its exponent heads for 2 and beyond. With the cache each step is one token: projection
  and MLP work linear in N, attention per step linear in the context, O(N^2) in total with a small constant: the
  kv-cache exponent starts near 1 (below 1 while per-step overhead dominates at batch 16) and bends upward once the
  context is long enough for attention over the cache to matter (the last-two exponent)."""


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = GPTConfig(block_size=BLOCK, vocab_size=VOCAB, n_layer=4, n_head=4, n_embd=128)
    models = bench_ppo.build(cfg, train_ppo.Config(), args.seed)   # policy, ref, RM, critic, two optimisers
    g = torch.Generator().manual_seed(args.seed)
    prompts = torch.randint(0, VOCAB - 2, (max(args.batches + [FIXED_B]), PROMPT), generator=g)   # no pads
    print(f"torch {torch.__version__}, {platform.machine()} CPU ({os.cpu_count()} cores), threads "
          f"{torch.get_num_threads()}; model {cfg.n_layer} layers x {cfg.n_embd} dims x {cfg.n_head} heads, vocab "
          f"{VOCAB}, block_size {BLOCK}, {models[0].num_params() / 1e6:.2f}M params (x 4 models for PPO), fp32; "
          f"prompt {PROMPT} tokens; {args.warmup} warm-up + {args.repeats} timed runs per point")
    if "ppo-batch" in args.only:
        ppo_series("ppo-batch", sorted(set(args.batches)), models, prompts, args)
    if "ppo-length" in args.only:
        ppo_series("ppo-length", sorted(set(args.lengths)), models, prompts, args)
    if "generate" in args.only:
        generate_series(sorted(set(args.gen_lengths)), models[0].eval(), prompts[:FIXED_B], args)
    print(NOTES)


if __name__ == "__main__":
    run_cli(main, None)    # out of memory, Ctrl-C: one line
