"""Benchmark: one full PPO iteration (rollout + score + update), phase by phase, vs a naive version of it.

    python bench/ppo.py                      # CPU, 1 thread, ~1 minute
    python bench/ppo.py --repeats 20 --threads 2

Setting (the one TRL's PPO was timed at on this machine, 0.64-0.68 s/iteration re-measured, ~0.8 s earlier:
../shared/reference/facts.md, the project's shared notes beside the repository):
16 prompts of a fixed length x exactly 32 new tokens (eos_id=-1, never sampled), four separate GPTs (policy,
reference, reward model, critic) of 4 layers x 128 dims x 4 heads, fp32, 1 thread, 1 epoch, 1 minibatch, the
default tokenizer (train_bpe on World().corpus(), vocab 512). Prompts: real training prompts of the world with at
least --prompt-len tokens, cut to their last --prompt-len tokens. Weights are random (speed does not depend on
them): the reference is a copy of the policy and the critic a copy of the reward model, as in train_ppo.py.

"ours" calls train_ppo's own rollout, score and update with a train_ppo.Config (the same mathematics as training).
"naive" is the same iteration written the straightforward way from the same building blocks: no KV cache
(generate(use_cache=False)) and prompts left-padded to a fixed width (--naive-width) instead of the batch's own
longest prompt. Both recompute the old log-probs with a full forward pass of the policy after sampling, as
train_ppo.score does (under bf16 sampling's own log-probs round differently), so that pass is in both totals.
Both run in this process, interleaved.
"""
import copy
import os
import statistics
import sys
import time
from contextlib import nullcontext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)
import torch  # noqa: E402
import train_ppo  # noqa: E402
from nano_rlhf.common import (ArgumentParser, bounded, device_problem, fail, make_optimizer,  # noqa: E402
                              pick_device, run_cli)
from nano_rlhf.data import left_pad  # noqa: E402
from nano_rlhf.model import (GPT, GPTConfig, ValueModel, entropy_from_logits, generate, last_token_values,  # noqa: E402
                             response_logits, response_values, token_logprobs)
from nano_rlhf.tokenizer import train_bpe  # noqa: E402
from nano_rlhf.world import World  # noqa: E402

TRL_SECONDS = 0.66    # TRL 1.12 PPO at this setting on this machine: 0.64-0.68 s re-measured (facts.md; ~0.8 earlier)
TARGET_SECONDS = 0.4


def clock(device) -> float:
    """time.perf_counter after the device's queued work is done (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def build(cfg: GPTConfig, cp: train_ppo.Config, seed: int, device="cpu"):
    """policy, reference, RM, critic and the two optimisers, as train_ppo.main builds them."""
    torch.manual_seed(seed)
    policy, rm = GPT(cfg).to(device), ValueModel(cfg).to(device)
    ref, critic = copy.deepcopy(policy).eval(), copy.deepcopy(rm)
    rm.eval()
    for m in (ref, rm):
        m.requires_grad_(False)
    return policy, ref, rm, critic, make_optimizer(policy.parameters(), cp.lr), make_optimizer(critic.parameters(),
                                                                                            cp.critic_lr)


def ours(models, p_idx, p_mask, cp, pad_id, gen, norm):
    """train_ppo's three phases; returns their seconds."""
    policy, ref, rm, critic, opt_pi, opt_v = models
    t0 = clock(p_idx.device)
    exp = train_ppo.rollout(policy, p_idx, p_mask, cp, cp.max_new_tokens, -1, pad_id, gen, nullcontext)
    t1 = clock(p_idx.device)
    train_ppo.score(exp, policy, ref, rm, critic, norm, cp, cp.beta, nullcontext)
    t2 = clock(p_idx.device)
    train_ppo.update(exp, policy, critic, opt_pi, opt_v, cp, gen, nullcontext)
    t3 = clock(p_idx.device)
    assert exp.tokens.shape == (p_idx.size(0), cp.max_new_tokens) and bool(exp.mask.all())
    return t1 - t0, t2 - t1, t3 - t2


def naive(models, p_idx, p_mask, cp, pad_id, gen, norm):
    """The same iteration without the KV cache and with fixed-width padding."""
    policy, ref, rm, critic, opt_pi, opt_v = models
    T = cp.temperature
    t0 = clock(p_idx.device)
    policy.eval()
    g = generate(policy, p_idx, p_mask, cp.max_new_tokens, -1, pad_id, temperature=T, generator=gen,
                 use_cache=False)
    seq, attn, P, mask = torch.cat([p_idx, g.tokens], 1), torch.cat([p_mask, g.mask], 1), p_idx.size(1), g.mask.float()
    t1 = clock(p_idx.device)
    with torch.no_grad():
        old_lp = token_logprobs(response_logits(policy, seq, attn, P), g.tokens, T, pad_id) * mask   # as score
        ref_lp = token_logprobs(response_logits(ref, seq, attn, P), g.tokens, T, pad_id) * mask
        old_v = response_values(critic, seq, attn, P) * mask
        scores = norm["gain"] * last_token_values(rm(seq, attn), attn) + norm["bias"]
    scores = torch.where(g.ended, scores, torch.full_like(scores, cp.no_eos_penalty))
    rewards = train_ppo.kl_penalty_rewards(old_lp, ref_lp, scores, mask, cp.beta, cp.kl_estimator)
    adv, returns = train_ppo.gae(rewards, old_v, mask, cp.gamma, cp.lam)
    adv = train_ppo.whiten(adv, mask)
    t2 = clock(p_idx.device)
    policy.train()
    critic.train()
    logits = response_logits(policy, seq, attn, P)                   # 1 epoch x 1 minibatch = the whole batch
    values = response_values(critic, seq, attn, P)
    pg_loss, _ = train_ppo.policy_loss(token_logprobs(logits, g.tokens, T, pad_id), old_lp, adv, mask, cp.clip_eps)
    vf_loss = train_ppo.value_loss(values, old_v, returns, mask, cp.vf_clip)
    for opt, loss, model in ((opt_pi, pg_loss, policy), (opt_v, vf_loss, critic)):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cp.grad_clip)
        opt.step()
    with torch.no_grad():
        float(train_ppo.masked_mean(entropy_from_logits(logits, T, pad_id), mask))   # the logged stat of update
    t3 = clock(p_idx.device)
    return t1 - t0, t2 - t1, t3 - t2


def parse_args(argv=None):
    """The flags, checked before any work: a bad one is one line on stderr, exit code 2."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=bounded(int, 1, 10**4), default=10, help="timed iterations per variant")
    ap.add_argument("--warmup", type=bounded(int, 0, 10**4), default=2, help="untimed iterations first")
    ap.add_argument("--threads", type=bounded(int, 1, 1024), default=1, help="torch.set_num_threads")
    ap.add_argument("--batch", type=bounded(int, 1, 4096), default=16, help="prompts per iteration")
    ap.add_argument("--prompt-len", type=bounded(int, 1, 4096), default=16, help="tokens per prompt (fixed)")
    ap.add_argument("--new-tokens", type=bounded(int, 1, 4096), default=32,
                    help="exactly this many sampled tokens per prompt")
    ap.add_argument("--naive-width", type=bounded(int, 1, 4096), default=64,
                    help="naive: prompts left-padded to this width")
    ap.add_argument("--seed", type=bounded(int, 0, 2**63 - 1), default=0)
    ap.add_argument("--device", default="cpu", help="cpu (the reported setting) or cuda: fp32, TF32 matmuls")
    args = ap.parse_args(argv)
    if problem := device_problem(args.device):
        ap.error(problem)
    if args.naive_width < args.prompt_len:
        ap.error(f"--naive-width {args.naive_width} must be >= --prompt-len {args.prompt_len}")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True

    world = World()
    tok = train_bpe([p + r for p, r in world.corpus()], 512)
    ids = [tok.encode(p.text) for p in world.train_prompts]
    prompts = [s[-args.prompt_len:] for s in ids if len(s) >= args.prompt_len][:args.batch]
    if len(prompts) < args.batch:
        fail(f"only {len(prompts)} of the world's prompts have >= {args.prompt_len} tokens: lower --prompt-len "
             "or --batch")
    p_idx, p_mask = left_pad(prompts, tok.pad_id, device)                          # (B, P): no pads
    n_pad = args.naive_width - args.prompt_len                                      # naive: fixed-width padding
    w_idx = torch.cat([torch.full((args.batch, n_pad), tok.pad_id, device=device), p_idx], 1)
    w_mask = torch.cat([torch.zeros(args.batch, n_pad, dtype=p_mask.dtype, device=device), p_mask], 1)

    block = max(96, args.naive_width + args.new_tokens)
    cfg = GPTConfig(block_size=block, vocab_size=tok.vocab_size, n_layer=4, n_head=4, n_embd=128)
    cp = train_ppo.Config(batch_size=args.batch, epochs=1, minibatches=1, max_new_tokens=args.new_tokens,
                          threads=args.threads, seed=args.seed)
    norm = {"gain": 1.0, "bias": 0.0}
    variants = {"ours": (ours, build(cfg, cp, args.seed, device), p_idx, p_mask),
                "naive": (naive, build(cfg, cp, args.seed, device), w_idx, w_mask)}
    print(f"tokenizer: train_bpe on World().corpus(), vocab {tok.vocab_size}; model {cfg.n_layer} layers x "
          f"{cfg.n_embd} dims x {cfg.n_head} heads ({variants['ours'][1][0].num_params() / 1e6:.2f}M params) x 4 "
          f"models, block_size {block}, fp32, {device}, threads {torch.get_num_threads()}")
    print(f"{args.batch} prompts x {args.prompt_len} tokens (naive: left-padded to {args.naive_width}) x exactly "
          f"{args.new_tokens} new tokens; Config(batch_size={cp.batch_size}, epochs={cp.epochs}, "
          f"minibatches={cp.minibatches}); {args.repeats} timed iterations after {args.warmup} warm-up, "
          "interleaved\n")

    times = {name: [] for name in variants}
    gens = {name: torch.Generator(device=device).manual_seed(args.seed) for name in variants}
    for i in range(args.warmup + args.repeats):
        for name, (fn, models, idx, mask) in variants.items():
            t = fn(models, idx, mask, cp, tok.pad_id, gens[name], norm)
            if i >= args.warmup:
                times[name].append((*t, sum(t)))

    def cell(xs):
        med = statistics.median(xs)
        return f"{med:.3f} [{min(xs):.3f}-{max(xs):.3f}]", med

    print(f"{'phase':<8} | {'ours s: median [min-max]':>25} | {'samples/s':>9} | {'naive s: median [min-max]':>26} | "
          f"{'samples/s':>9} | naive/ours")
    print("-" * 100)
    for k, phase in enumerate(("rollout", "score", "update", "total")):
        (a, ma), (b, mb) = (cell([t[k] for t in times[n]]) for n in ("ours", "naive"))
        print(f"{phase:<8} | {a:>25} | {args.batch / ma:9.1f} | {b:>26} | {args.batch / mb:9.1f} | {mb / ma:9.1f}x")
    med = statistics.median(t[3] for t in times["ours"])
    print(f"\ntotal = median of per-iteration sums; score includes rewards, GAE and whitening. Reference: TRL 1.12 "
          f"PPO at this setting on this machine ~{TRL_SECONDS} s/iteration -> ours {TRL_SECONDS / med:.1f}x faster. "
          f"Target <= {TARGET_SECONDS} s median: {'met' if med <= TARGET_SECONDS else 'NOT met'} ({med:.3f} s).")


if __name__ == "__main__":
    run_cli(main, None)    # out of memory, Ctrl-C: one line
