"""Benchmark: batched sampling with the KV cache vs recomputing the whole context at every step.

    python bench/generate.py                          # CPU, 1 thread, ~75 s (most of it: recompute at 256)
    python bench/generate.py --lengths 16 64 --repeats 5 --threads 2

Same model (the default SFT size: 4 layers x 128 dims x 4 heads, vocab 512, random weights: speed does not depend
on what the weights say), same prompts, same sampling seed for both variants. Exactly N new tokens per row: the
eos_id passed to generate is -1, a token that is never sampled. The model is built with block_size = prompt + the
longest response (the default SFT model has block_size 96, too short for 256 new tokens).

Without the cache, step i runs the model over all P + i tokens, so a response of N tokens costs O(N^2) token
forwards; with it, one token per step. tokens/s counts new tokens only: batch * N / seconds.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)
import torch  # noqa: E402
from nano_rlhf.common import ArgumentParser, bounded, run_cli  # noqa: E402
from nano_rlhf.model import GPT, GPTConfig, generate  # noqa: E402


def parse_args(argv=None):
    """The flags, checked before any work: a bad one is one line on stderr, exit code 2."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=bounded(int, 1, 4096), default=32, help="prompts sampled together")
    ap.add_argument("--prompt-len", type=bounded(int, 1, 4096), default=16, help="tokens per prompt (no padding)")
    ap.add_argument("--lengths", type=bounded(int, 1, 4096), nargs="+", default=[16, 64, 256],
                    help="new tokens per row")
    ap.add_argument("--repeats", type=bounded(int, 1, 10**4), default=3, help="timed runs per variant and length")
    ap.add_argument("--warmup", type=bounded(int, 0, 10**4), default=1, help="untimed runs first")
    ap.add_argument("--long", type=bounded(int, 0, 4096), default=128, help="recompute runs of more new tokens than "
                    "this are slow (~50 s at 256 on 1 CPU thread): timed --long-repeats times, no warm-up")
    ap.add_argument("--long-repeats", type=bounded(int, 1, 10**4), default=1)
    ap.add_argument("--threads", type=bounded(int, 1, 1024), default=1, help="torch.set_num_threads")
    ap.add_argument("--n-layer", type=bounded(int, 1, 64), default=4)
    ap.add_argument("--n-embd", type=bounded(int, 1, 8192), default=128)
    ap.add_argument("--n-head", type=bounded(int, 1, 256), default=4)
    ap.add_argument("--vocab", type=bounded(int, 3, 10**6), default=512)
    ap.add_argument("--seed", type=bounded(int, 0, 2**63 - 1), default=0)
    args = ap.parse_args(argv)
    if args.n_embd % args.n_head:
        ap.error(f"--n-embd {args.n_embd} must be divisible by --n-head {args.n_head}")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    block = args.prompt_len + max(args.lengths)
    cfg = GPTConfig(block_size=block, vocab_size=args.vocab, n_layer=args.n_layer, n_head=args.n_head,
                    n_embd=args.n_embd)
    model = GPT(cfg).eval()
    pad_id = args.vocab - 1
    idx = torch.randint(0, args.vocab - 2, (args.batch, args.prompt_len))
    mask = torch.ones_like(idx)
    print(f"model {cfg.n_layer} layers x {cfg.n_embd} dims x {cfg.n_head} heads, vocab {cfg.vocab_size}, "
          f"{model.num_params() / 1e6:.2f}M params, block_size {block} = prompt {args.prompt_len} + "
          f"{max(args.lengths)} new tokens (the default SFT model has 96; built larger for this bench only)")
    print(f"batch {args.batch}, exactly N new tokens (eos_id=-1), threads {torch.get_num_threads()}, "
          f"repeats {args.repeats} after {args.warmup} warm-up; tokens/s = batch*N/s, median [min-max]\n")

    def run(n, use_cache):
        g = torch.Generator().manual_seed(args.seed)       # same seed: both variants sample the same tokens
        return generate(model, idx, mask, n, eos_id=-1, pad_id=pad_id, generator=g, use_cache=use_cache)

    print(f"{'N':>4} | {'variant':<9} | runs | {'seconds: median [min-max]':>27} | {'tokens/s':>8} | speed-up | "
          "same tokens")
    print("-" * 90)
    for n in args.lengths:
        slow = n > args.long                                # recompute: few runs, no warm-up
        times = {"recompute": [], "kv-cache": []}
        out = {}
        for i in range(args.warmup + args.repeats):         # interleaved: load changes hit both alike
            for name, use_cache in (("recompute", False), ("kv-cache", True)):
                if not use_cache and slow and (i < args.warmup or len(times[name]) >= args.long_repeats):
                    continue
                t0 = time.perf_counter()
                out[name] = run(n, use_cache).tokens
                if i >= args.warmup:
                    times[name].append(time.perf_counter() - t0)
                assert out[name].shape == (args.batch, n), out[name].shape
        res = {k: (len(t), statistics.median(t), min(t), max(t), out[k]) for k, t in times.items()}
        for name, (k, med, lo, hi, toks) in res.items():
            ratio = res["recompute"][1] / med
            same = (toks == res["recompute"][4]).float().mean().item()
            print(f"{n:>4} | {name:<9} | {k:>4} | {med:10.4f} [{lo:.4f}-{hi:.4f}] | {args.batch * n / med:8.0f} | "
                  f"{ratio:7.1f}x | {same:.1%}")
    print("\nspeed-up = median recompute seconds / median seconds; 'same tokens' = share of sampled tokens equal "
          "to the recompute run's (same seed; float differences can flip a rare draw).")


if __name__ == "__main__":
    run_cli(main, None)    # out of memory, Ctrl-C: one line
