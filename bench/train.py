"""Benchmark: SFT training throughput (forward + backward + optimiser step) and model FLOPs utilisation.

    python bench/train.py                        # CPU, 1 thread, ~1 minute
    python bench/train.py --device cuda --compile

One step is exactly train_sft.py's: logits = model(x), train_sft.sft_loss, backward, gradient-norm clip, AdamW
from nano_rlhf.common.make_optimizer. Model sizes, batch and block size are those of train_sft.PRESETS "default"
and "gpu"; inputs are random tokens of length block_size - 1 (the longest batch SFT can see; real SFT batches are
right-padded to their longest example, ~50 tokens on the default world) with the loss on their second half.
Variants: explicit attention vs SDPA (GPTConfig.attn), and on CUDA also bf16 autocast and --compile; their steps
are interleaved, so a change in the machine's load hits them alike.

MFU (an estimate) = FLOPs per token x tokens/s / peak FLOP/s, with FLOPs per token = 6 N + 12 L C T (N =
parameters without the position embedding, the tied LM head counted once; the second term is attention's
scores and weighted sum; PaLM, Chowdhery et al. 2022, appendix B). Peak = --peak-tflops if given, else
MEASURED: the best FLOP/s of a large matmul on this device (fp32 on CPU with the same threads, bf16 on CUDA), not
the vendor's figure, so MFU here reads "share of what a big matmul reaches".
On CPU the gpu preset's model (8 x 512) and gpt2-124m (12 x 768, GPT-2 small's shape) are slow: they run with
--cpu-batch sequences per step (tokens/s barely depends on the batch on CPU).
"""
import dataclasses
import os
import statistics
import sys
import time
from contextlib import nullcontext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)
import torch  # noqa: E402
import train_sft  # noqa: E402
from nano_rlhf.common import (ArgumentParser, bounded, device_problem, make_optimizer, pick_device,  # noqa: E402
                              run_cli)
from nano_rlhf.model import GPT, GPTConfig  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, n: int, dtype) -> float:
    """Best FLOP/s of an n x n matmul over a few runs (the 'peak' when --peak-tflops is not given)."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best = 0.0
    for _ in range(8):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0))
    return best


# the sizes it can time: train_sft.py's presets, and a GPT-2-small-sized model (124M parameters with GPT-2's
# 50,257-token vocabulary and 1,024 positions; Radford et al. 2019), the scale a GPU user grows into
SIZES = {**train_sft.PRESETS,
         "gpt2-124m": dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, block_size=1024, batch_size=16)}


def size_config(preset: str):
    return dataclasses.replace(train_sft.Config(), **SIZES[preset])


def make_step(preset: str, batch: int, attn: str, bf16: bool, compile_: bool, device, seed: int):
    """A function running one training step of a fresh model; also returns the model and the size's Config."""
    c = size_config(preset)
    torch.manual_seed(seed)
    model = GPT(GPTConfig(block_size=c.block_size, vocab_size=c.vocab_size, n_layer=c.n_layer, n_head=c.n_head,
                          n_embd=c.n_embd, attn=attn)).to(device).train()
    opt = make_optimizer(model.parameters(), c.lr, c.weight_decay)
    fwd = torch.compile(model) if compile_ else model
    T = c.block_size - 1
    x = torch.randint(0, c.vocab_size - 2, (batch, T), device=device)
    y = torch.randint(0, c.vocab_size - 2, (batch, T), device=device)
    m = torch.zeros(batch, T, dtype=torch.long, device=device)
    m[:, T // 2:] = 1
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else nullcontext

    def step():
        with autocast():
            logits = fwd(x)
        loss = train_sft.sft_loss(logits, y, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
        opt.step()
    return step, model, c


def parse_args(argv=None):
    """The flags, checked before any work: a bad one is one line on stderr, exit code 2."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    ap.add_argument("--threads", type=bounded(int, 0, 1024), default=1,
                    help="torch.set_num_threads (0: leave torch's default)")
    ap.add_argument("--presets", nargs="+", default=["default", "gpu"], choices=sorted(SIZES),
                    help="model sizes: train_sft.py's presets, or gpt2-124m (GPT-2 small's shape)")
    ap.add_argument("--repeats", type=bounded(int, 1, 10**4), default=5, help="timed steps per variant")
    ap.add_argument("--warmup", type=bounded(int, 0, 10**4), default=1,
                    help="untimed steps first (more with --compile)")
    ap.add_argument("--cpu-batch", type=bounded(int, 1, 4096), default=8,
                    help="sequences per step for the gpu preset on CPU")
    ap.add_argument("--compile", action="store_true", help="CUDA: also time torch.compile(model) under bf16")
    ap.add_argument("--peak-tflops", type=bounded(float, 0, 10**6), default=0.0,
                    help="device peak for MFU; 0 = measure a large matmul (rough CPU figure: ~0.05-0.1 per core)")
    ap.add_argument("--seed", type=bounded(int, 0, 2**63 - 1), default=0)
    args = ap.parse_args(argv)
    if problem := device_problem(args.device):
        ap.error(problem)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True     # as setup_runtime does
    if args.compile and cuda:
        args.warmup = max(args.warmup, 3)
    if args.peak_tflops > 0:
        peak, how = args.peak_tflops * 1e12, "given by --peak-tflops"
    else:
        peak = matmul_peak(device, 8192 if cuda else 2048, torch.bfloat16 if cuda else torch.float32)
        how = f"measured: best {'8192^2 bf16' if cuda else '2048^2 fp32'} matmul"
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device {name}; peak {peak / 1e12:.3f} TFLOP/s ({how}); {args.repeats} timed steps after "
          f"{args.warmup} warm-up; median [min-max]\n")

    variants = [("explicit", False, False), ("sdpa", False, False)]
    if cuda:
        variants += [("explicit", True, False), ("sdpa", True, False)] + ([("sdpa", True, True)] if args.compile
                                                                          else [])
    print(f"{'preset':<9} | {'model':<24} | {'batch x T':>9} | {'variant':<20} | {'ms/step: median [min-max]':>25} | "
          f"{'tokens/s':>9} | {'vs explicit':>11} | {'MFU':>6}")
    print("-" * 130)
    for preset in args.presets:
        c = size_config(preset)
        batch = c.batch_size if cuda or preset == "default" else args.cpu_batch
        steps = [make_step(preset, batch, *v, device, args.seed) for v in variants]
        times = [[] for _ in variants]
        for i in range(args.warmup + args.repeats):      # variants interleaved: load changes hit them alike
            for k, (step, _, _) in enumerate(steps):
                sync(device)
                t0 = time.perf_counter()
                step()
                sync(device)
                if i >= args.warmup:
                    times[k].append(time.perf_counter() - t0)
        base = None
        for (attn, bf16, compile_), (_, model, c), times in zip(variants, steps, times):
            med = statistics.median(times)
            T = c.block_size - 1
            tok_s = batch * T / med
            n = model.num_params() - model.wpe.weight.numel()
            flops_tok = 6 * n + 12 * c.n_layer * c.n_embd * T
            base = base or med
            label = attn + (" bf16" if bf16 else " fp32") + (" compile" if compile_ else "")
            desc = f"{c.n_layer}x{c.n_embd}x{c.n_head}h V{c.vocab_size} {n / 1e6:.2f}M"
            print(f"{preset:<9} | {desc:<24} | {f'{batch}x{T}':>9} | {label:<20} | "
                  f"{f'{med * 1e3:.1f} [{min(times) * 1e3:.1f}-{max(times) * 1e3:.1f}]':>25} | {tok_s:9.0f} | "
                  f"{base / med:10.2f}x | {flops_tok * tok_s / peak:6.1%}")
    print("\ntokens/s = batch x T / median step; 'vs explicit' = speed relative to the preset's explicit fp32 row; "
          "MFU = (6 N + 12 L C T) x tokens/s / peak, an estimate.")


if __name__ == "__main__":
    run_cli(main, None)    # out of memory, Ctrl-C: one line
