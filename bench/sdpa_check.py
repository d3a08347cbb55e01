"""Check: which fused attention kernel runs on a left-padded batch? SDPA with the model's boolean padding mask.

    python bench/sdpa_check.py --device cuda      # bench/gpu_check.sh runs it on the GPU
    python bench/sdpa_check.py --device cpu       # seconds

The RL stages attend over left-padded prompts, so model.py passes scaled_dot_product_attention a boolean
(B, 1, T, S) mask (model.attention_bias). FlashAttention takes no arbitrary mask, so on CUDA such a batch falls
back to another backend; which one, and at what cost, is what this measures. For each backend alone (forced
with torch.nn.attention.sdpa_kernel) at the shapes of the gpu preset's model: does it run with the mask, its
time per call (forward + backward) relative to SDPA's own choice, and its largest difference from the math
backend in the output (bf16 on CUDA), and which one SDPA picks by itself (the aten op the profiler sees); then
the unmasked causal call (is_causal=True, the SFT path) beside it.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

from nano_rlhf.common import ArgumentParser, bounded, device_problem, pick_device, run_cli  # noqa: E402
from nano_rlhf.model import attention_bias  # noqa: E402

BACKENDS = [("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
            ("cudnn", SDPBackend.CUDNN_ATTENTION), ("math", SDPBackend.MATH)]


def parse_args(argv=None):
    """The flags, checked before any work: a bad one is one line on stderr, exit code 2."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    ap.add_argument("--batch", type=bounded(int, 1, 65536), default=64, help="rows (a PPO minibatch at --preset gpu)")
    ap.add_argument("--heads", type=bounded(int, 1, 256), default=8, help="attention heads (gpu preset: 8)")
    ap.add_argument("--head-dim", type=bounded(int, 8, 256), default=64, help="per-head width (gpu preset: 64)")
    ap.add_argument("--length", type=bounded(int, 2, 8192), default=96, help="prompt + response tokens")
    ap.add_argument("--repeats", type=bounded(int, 1, 10**5), default=20, help="timed calls per backend")
    args = ap.parse_args(argv)
    if problem := device_problem(args.device):
        ap.error(problem)
    return args


def timed(fn, repeats: int, device) -> float:
    """Seconds per call of fn, after 3 untimed calls (kernel selection, caches)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeats


def chosen(fn) -> str:
    """The backend SDPA dispatches fn's call to: the aten op it runs (flash, efficient, cudnn or math), by profiler."""
    with torch.profiler.profile() as prof:
        fn()
    ops = {e.key for e in prof.key_averages() if e.key.startswith("aten::_scaled_dot_product")
           and "backward" not in e.key}
    return ", ".join(sorted(o.removeprefix("aten::_scaled_dot_product_") for o in ops)) or "none found"


def main(argv=None):
    args = parse_args(argv)
    device = pick_device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    g = torch.Generator(device="cpu").manual_seed(0)
    B, H, T, D = args.batch, args.heads, args.length, args.head_dim
    q, k, v = (torch.randn(B, H, T, D, generator=g).to(device, dtype).requires_grad_() for _ in range(3))
    pads = torch.randint(0, T // 3, (B,), generator=g)                     # left pads: up to a third of each row
    attn = (torch.arange(T)[None] >= pads[:, None]).long().to(device)
    mask = attention_bias(attn, T)                                          # (B, 1, T, T), as model.py builds it

    def call(masked: bool):
        def run():
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask) if masked else \
                F.scaled_dot_product_attention(q, k, v, is_causal=True)
            y.float().sum().backward()
            return y
        return run

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}: SDPA on ({B}, {H}, {T}, {D}) {str(dtype).removeprefix('torch.')}, forward + backward")
    for masked in (True, False):
        what = "boolean padding mask (the RL stages)" if masked else "is_causal, no mask (SFT)"
        default = timed(call(masked), args.repeats, device)
        with sdpa_kernel(SDPBackend.MATH):
            reference = call(masked)().detach().float()
        print(f"{what}: SDPA runs {chosen(call(masked))}, {default * 1e3:.2f} ms per call")
        for label, backend in BACKENDS:
            try:
                with sdpa_kernel(backend):
                    t = timed(call(masked), args.repeats, device)
                    diff = (call(masked)().detach().float() - reference).abs().max().item()
                print(f"  {label:<9} runs: {t * 1e3:7.2f} ms ({t / default:4.2f}x SDPA's choice), max |y - math| "
                      f"{diff:.1e}")
            except RuntimeError:               # "No available kernel": this backend refuses these inputs
                print(f"  {label:<9} does not run with these inputs on this device")


if __name__ == "__main__":
    run_cli(main, None)    # out of memory, Ctrl-C: one line
