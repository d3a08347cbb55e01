"""Check: under bf16 autocast, does PPO's ratio start at 1? The same tokens' log-probs from passes of other shapes.

    python bench/bf16_check.py --device cuda      # bench/gpu_check.sh runs it on the GPU
    python bench/bf16_check.py --device cpu --batch 16 --new-tokens 16    # CPU bf16 (seconds)

train_ppo.score computes pi_old with one full forward pass over the whole rollout (B rows); train_ppo.update
recomputes the same log-probs over minibatches of B / minibatches rows. In fp32 the two agree to rounding; under
bf16 autocast a GPU may pick other kernels for another batch shape, and then every ratio of the first epoch is off
1 before any update (lessons/05-ppo.md, detail 16; tests/test_bf16.py checks this on CPU, whose kernels cannot
show CUDA's shape dependence). This samples a rollout from a model of the gpu preset's size (random weights, its
logits and blocks scaled as tests/test_bf16.py's trained_ish does), then reports, over the real response tokens:
  - score's pass vs update-shaped passes (minibatches of B/4 rows, in another order): max and mean |log ratio|,
    and the share of tokens whose ratio is already outside PPO's clip range [0.8, 1.2];
  - the same for the log-probs sampling returned (KV-cache steps), which train_ppo no longer uses as pi_old;
  - bf16 against fp32 for the same full pass (how far bf16 moves the numbers at all).
"""
import os
import sys
from contextlib import nullcontext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)
import torch  # noqa: E402
import train_sft  # noqa: E402
from nano_rlhf.common import ArgumentParser, bounded, device_problem, pick_device, run_cli  # noqa: E402
from nano_rlhf.model import GPT, GPTConfig, generate, response_logits, token_logprobs  # noqa: E402


def parse_args(argv=None):
    """The flags, checked before any work: a bad one is one line on stderr, exit code 2."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    ap.add_argument("--preset", default="gpu", choices=sorted(train_sft.PRESETS), help="model size (train_sft's)")
    ap.add_argument("--batch", type=bounded(int, 4, 65536), default=256, help="rollout rows (PPO's gpu preset: 256)")
    ap.add_argument("--minibatches", type=bounded(int, 1, 1024), default=4, help="update's minibatches")
    ap.add_argument("--new-tokens", type=bounded(int, 1, 4096), default=64, help="sampled tokens per row")
    ap.add_argument("--logit-scale", type=bounded(float, 0, 1000), default=10.0,
                    help="multiply the LM head so logits spread like a trained model's (~ +-10)")
    ap.add_argument("--block-scale", type=bounded(float, 0, 1000), default=3.0,
                    help="multiply the blocks' weight matrices, so that they matter as a trained model's do")
    ap.add_argument("--seed", type=bounded(int, 0, 2**32 - 1), default=0)
    args = ap.parse_args(argv)
    if problem := device_problem(args.device):
        ap.error(problem)
    if args.batch % args.minibatches:
        ap.error(f"--batch {args.batch} is not a multiple of --minibatches {args.minibatches}")
    return args


def stats(a, b, mask) -> str:
    d = (a - b).abs()[mask.bool()]
    return (f"max {d.max().item():.2e}  mean {d.mean().item():.2e}  outside the clip range "
            f"{(d > 0.18).float().mean().item():.2%}")     # |log r| > 0.18: r outside [0.8, 1.2] on one side


def main(argv=None):
    args = parse_args(argv)
    device = pick_device(args.device)
    c = train_sft.Config(**{k: v for k, v in train_sft.PRESETS[args.preset].items() if k != "threads"})
    torch.manual_seed(args.seed)
    model = GPT(GPTConfig(block_size=max(c.block_size, 16 + args.new_tokens + 1), vocab_size=c.vocab_size,
                          n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd)).to(device).eval()
    with torch.no_grad():
        model.lm_head.weight = torch.nn.Parameter(model.wte.weight * args.logit_scale)   # untied, trained-like spread
        for p in model.blocks.parameters():                   # at init (std 0.02) the blocks add little, and bf16
            if p.dim() > 1:                                   # rounding would be harmless (tests/test_bf16.py)
                p.mul_(args.block_scale)
    bf16 = lambda: torch.autocast(device.type, dtype=torch.bfloat16)  # noqa: E731
    eos, pad = c.vocab_size - 2, c.vocab_size - 1
    g = torch.Generator(device=device).manual_seed(args.seed)
    lengths = torch.randint(4, 17, (args.batch,), generator=g, device=device).tolist()
    P = max(lengths)
    p_idx = torch.full((args.batch, P), pad, device=device)
    p_mask = torch.zeros(args.batch, P, dtype=torch.long, device=device)
    for i, n in enumerate(lengths):
        p_idx[i, P - n:] = torch.randint(0, eos, (n,), generator=g, device=device)
        p_mask[i, P - n:] = 1
    with torch.no_grad(), bf16():
        out = generate(model, p_idx, p_mask, args.new_tokens, eos, pad, generator=g)
    seq, attn, mask = torch.cat([p_idx, out.tokens], 1), torch.cat([p_mask, out.mask], 1), out.mask.float()

    def full_pass(rows, autocast):
        with torch.no_grad(), autocast():
            return token_logprobs(response_logits(model, seq[rows], attn[rows], P), out.tokens[rows], pad_id=pad)

    everything = torch.arange(args.batch, device=device)
    score = full_pass(everything, bf16)                                        # train_ppo.score's pass
    perm = torch.randperm(args.batch, generator=g, device=device)
    mb = args.batch // args.minibatches
    update = torch.empty_like(score)
    for i in range(args.minibatches):                                          # train_ppo.update's passes
        j = perm[i * mb:(i + 1) * mb]
        update[j] = full_pass(j, bf16)
    fp32 = full_pass(everything, nullcontext)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}: {args.preset} preset model ({c.n_layer} x {c.n_embd}), {args.batch} rows x {args.new_tokens} "
          f"new tokens, {int(mask.sum())} real response tokens, bf16 autocast (fp32 LM head and log-softmax)")
    print(f"score's pass vs update's {args.minibatches} minibatches of {mb}: {stats(score, update, mask)}")
    print(f"sampling's log-probs vs score's pass:            {stats(out.logprobs, score, mask)}")
    print(f"bf16 vs fp32, the same full pass:                {stats(score, fp32, mask)}")
    worst = (score - update).abs()[mask.bool()].max().item()
    print(f"verdict: pi_old from score's pass is {'exact' if worst == 0 else f'off by up to {worst:.1e} in log ratio'}"
          " at the first minibatch of the first epoch")


if __name__ == "__main__":
    run_cli(main, None)    # out of memory, Ctrl-C: one line
