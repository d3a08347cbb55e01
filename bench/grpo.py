"""Benchmark: one full GRPO iteration (rollout, verify, score, update), phase by phase, beside PPO's iteration.

    python bench/grpo.py                     # CPU, 1 thread, ~1 minute
    python bench/grpo.py --repeats 20 --threads 2

Setting: bench/ppo.py's (16 prompts of a fixed length x exactly 32 new tokens, eos_id=-1 so EOS is never sampled,
GPTs of 4 layers x 128 dims x 4 heads, fp32, 1 thread, 1 epoch, 1 minibatch, the default tokenizer: train_bpe on
World().corpus(), vocab 512, random weights; prompts are real training prompts of the world with at least
--prompt-len tokens, cut to their last --prompt-len tokens), in two GRPO settings:
  (a) --prompts prompts x --group-size G: 16 x 4 = 64 responses, the setting TRL's GRPOTrainer was timed at on this
      machine (0.47 s/step: ../shared/reference/facts.md) and the speed goal's (<= 0.15 s median at 1 thread)
  (b) --prompts / G prompts x G: 4 x 4 = 16 responses, as many as PPO samples per iteration
and, as the baseline, PPO's iteration at its bench setting (--prompts prompts, bench/ppo.py's build and "ours").
All three run in this process, interleaved, each with its own models (the same random weights) and generator.

GRPO calls train_grpo's own rollout (train_ppo's), score and update with a train_grpo.Config (the same
mathematics as training) in the setting TRL's GRPOTrainer was timed at: one epoch of one minibatch, GRPO's k3
term in the loss at beta 0.04 (train_grpo's defaults otherwise: --reward rm, seq-mean). On-policy like this,
train_grpo.on_policy holds: score skips the policy's own forward pass and update takes pi_old from its pass.
Three models: policy, reference (a copy of the policy) and reward model, as train_grpo.main builds them; no critic.
The phases:
  rollout  G samples of each prompt with the KV cache (train_ppo.rollout)
  verify   decode every response and run the rule-based verifier on it, as train_grpo.main does each iteration
           whatever --reward is (here its 0/1s are passed to score and unused, the reward being the RM's; none of
           the 16 bench prompts is a sum, so the verifier only reads each prompt: a regex on 64 short strings more
           for sum prompts, microseconds)
  score    reference log-probs (one full forward pass), the RM, the rewards and the group advantages
  update   1 epoch x 1 minibatch of the clipped surrogate + beta * k3 (train_grpo.update)
Left out, as bench/ppo.py leaves them out: check_finite_weights after the update, the gold reward of the training
rollouts (reporting only) and logging. As EOS is never sampled, every response gets --no-eos-penalty, all rewards
of a group are equal and every advantage is 0: the time does not depend on it (the k3 term still has a gradient).
"""
import copy
import importlib.util
import os
import statistics
import sys
import time
from contextlib import nullcontext

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)
import torch  # noqa: E402
import train_grpo  # noqa: E402
import train_ppo  # noqa: E402
from nano_rlhf.common import ArgumentParser, bounded, fail, make_optimizer, run_cli  # noqa: E402
from nano_rlhf.data import left_pad  # noqa: E402
from nano_rlhf.model import GPT, GPTConfig, ValueModel  # noqa: E402
from nano_rlhf.tokenizer import train_bpe  # noqa: E402
from nano_rlhf.verifier import verify  # noqa: E402
from nano_rlhf.world import World  # noqa: E402

TRL_SECONDS = 0.47    # TRL 1.16 GRPOTrainer, 16 prompts x G 4 x 32 new tokens, on this machine (reference facts)
TARGET_SECONDS = 0.15
BETA = 0.04           # TRL's setting: GRPO's k3 term in the loss at DeepSeekMath's beta, one iteration per batch
TARGET_SETTING = dict(prompts=16, group_size=4, prompt_len=16, new_tokens=32, threads=1)   # the goal's setting
PHASES = ("rollout", "verify", "score", "update")


def bench_ppo():
    """bench/ppo.py's module, under the name tests/test_cli_flags.py and tests/test_bench.py load it by."""
    if "bench_ppo" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_ppo", os.path.join(ROOT, "bench", "ppo.py"))
        sys.modules["bench_ppo"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["bench_ppo"])
    return sys.modules["bench_ppo"]


def build(cfg: GPTConfig, cg: train_grpo.Config, seed: int):
    """policy, reference, RM and the policy's optimiser, as train_grpo.main builds them (the same random weights
    as bench/ppo.py's build for the same seed)."""
    torch.manual_seed(seed)
    policy, rm = GPT(cfg), ValueModel(cfg)
    ref = copy.deepcopy(policy).eval()
    rm.eval()
    for m in (ref, rm):
        m.requires_grad_(False)
    return policy, ref, rm, make_optimizer(policy.parameters(), cg.lr)


def grpo(models, p_idx, p_mask, cg, tok, texts, gen, norm):
    """train_grpo's phases, and the decoding and verifying main does between rollout and score; their seconds."""
    policy, ref, rm, opt = models
    t0 = time.perf_counter()
    exp = train_grpo.rollout(policy, p_idx, p_mask, cg, cg.max_new_tokens, -1, tok.pad_id, gen, nullcontext)
    t1 = time.perf_counter()
    lengths = exp.mask.sum(1).long().tolist()
    responses = [tok.decode(exp.tokens[r, :n].tolist()) for r, n in enumerate(lengths)]
    verified = torch.tensor([verify(p, y) for p, y in zip(texts, responses)])
    t2 = time.perf_counter()
    train_grpo.score(exp, policy, ref, rm, norm, verified, cg, nullcontext)
    t3 = time.perf_counter()
    train_grpo.update(exp, policy, opt, cg, cg.max_new_tokens, gen, nullcontext)
    t4 = time.perf_counter()
    assert exp.tokens.shape == (p_idx.size(0), cg.max_new_tokens) and bool(exp.mask.all())
    return t1 - t0, t2 - t1, t3 - t2, t4 - t3


def ppo(models, p_idx, p_mask, cp, pad_id, gen, norm):
    """bench/ppo.py's "ours" (train_ppo's rollout, score and update), with no verify phase."""
    rollout, score, update = bench_ppo().ours(models, p_idx, p_mask, cp, pad_id, gen, norm)
    return rollout, 0.0, score, update


def iteration_flops(fn, models, fixed, gen, norm) -> float:
    """Floating-point operations of one iteration as torch counts them (matmuls, attention, their backward): the
    arithmetic the phases must do whatever the code around them."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fn(models, *fixed, gen, norm)
    return float(counter.get_total_flops())


def matmul_flops_per_second(n: int = 512, repeats: int = 20) -> float:
    """This CPU's fp32 matmul rate at the current thread count: the best of a few n x n x n products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best


def _timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def parse_args(argv=None):
    """The flags, checked before any work: a bad one is one line on stderr, exit code 2."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=bounded(int, 1, 10**4), default=10, help="timed iterations per setting")
    ap.add_argument("--warmup", type=bounded(int, 0, 10**4), default=2, help="untimed iterations first")
    ap.add_argument("--threads", type=bounded(int, 1, 1024), default=1, help="torch.set_num_threads")
    ap.add_argument("--prompts", type=bounded(int, 1, 4096), default=16,
                    help="prompts per iteration of setting (a) and of PPO; setting (b) has --prompts / --group-size")
    ap.add_argument("--group-size", type=bounded(int, 2, 4096), default=4, help="G: responses per prompt")
    ap.add_argument("--prompt-len", type=bounded(int, 1, 4096), default=16, help="tokens per prompt (fixed)")
    ap.add_argument("--new-tokens", type=bounded(int, 1, 4096), default=32,
                    help="exactly this many sampled tokens per response")
    ap.add_argument("--seed", type=bounded(int, 0, 2**32 - 1), default=0)
    args = ap.parse_args(argv)
    if args.prompts % args.group_size:
        ap.error(f"--prompts {args.prompts} is not a multiple of --group-size {args.group_size}: setting (b) "
                 "samples --prompts / --group-size prompts G times each, as many responses as PPO's --prompts")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    N, G, P = args.prompts, args.group_size, args.prompt_len

    world = World()
    tok = train_bpe([p + r for p, r in world.corpus()], 512)
    ids = [tok.encode(p.text) for p in world.train_prompts]
    chosen = [i for i, s in enumerate(ids) if len(s) >= P][:N]
    if len(chosen) < N:
        fail(f"only {len(chosen)} of the world's prompts have >= {P} tokens: lower --prompt-len or --prompts")
    prompts = [ids[i][-P:] for i in chosen]
    texts = [world.train_prompts[i].text for i in chosen]          # what the verifier reads, as in main

    block = max(96, P + args.new_tokens)
    cfg = GPTConfig(block_size=block, vocab_size=tok.vocab_size, n_layer=4, n_head=4, n_embd=128)
    norm = {"gain": 1.0, "bias": 0.0}
    cp = train_ppo.Config(batch_size=N, epochs=1, minibatches=1, max_new_tokens=args.new_tokens,
                          threads=args.threads, seed=args.seed)
    settings = {}                                                  # name -> (fn, models, fixed arguments, rows)
    for name, n in ((f"GRPO {N} x G {G}", N), (f"GRPO {N // G} x G {G}", N // G)):
        cg = train_grpo.Config(prompts_per_iteration=n, group_size=G, epochs=1, minibatches=1, kl_in="loss",
                               beta=BETA, max_new_tokens=args.new_tokens, threads=args.threads, seed=args.seed)
        rows = [k for k in range(n) for _ in range(G)]             # grouped: G copies in a row, as main
        p_idx, p_mask = left_pad([prompts[k] for k in rows], tok.pad_id)
        settings[name] = (grpo, build(cfg, cg, args.seed), (p_idx, p_mask, cg, tok, [texts[k] for k in rows]),
                          n * G)
    p_idx, p_mask = left_pad(prompts, tok.pad_id)
    settings[f"PPO {N}"] = (ppo, bench_ppo().build(cfg, cp, args.seed), (p_idx, p_mask, cp, tok.pad_id), N)
    names = list(settings)

    print(f"tokenizer: train_bpe on World().corpus(), vocab {tok.vocab_size}; model {cfg.n_layer} layers x "
          f"{cfg.n_embd} dims x {cfg.n_head} heads ({settings[names[0]][1][0].num_params() / 1e6:.2f}M params) x 3 "
          f"models (GRPO) or 4 (PPO), block_size {block}, fp32, threads {torch.get_num_threads()}")
    print(f"{P} tokens per prompt x exactly {args.new_tokens} new tokens; GRPO: (a) {N} prompts x G {G} = {N * G} "
          f"and (b) {N // G} x G {G} = {N} responses, Config(epochs=1, minibatches=1, reward=rm, beta={BETA}, "
          f"kl_in=loss: on-policy, no separate pi_old pass); PPO: {N} prompts, Config(epochs=1, minibatches=1); "
          f"{args.repeats} timed iterations after {args.warmup} warm-up, interleaved\n")

    times = {name: [] for name in names}
    gens = {name: torch.Generator().manual_seed(args.seed) for name in names}
    for i in range(args.warmup + args.repeats):
        for name, (fn, models, fixed, _) in settings.items():
            t = fn(models, *fixed, gens[name], norm)
            if i >= args.warmup:
                times[name].append((*t, sum(t)))

    def cell(xs):
        return f"{statistics.median(xs):.3f} [{min(xs):.3f}-{max(xs):.3f}]"

    med = {name: [statistics.median(t[k] for t in times[name]) for k in range(5)] for name in names}
    w = 24
    print(f"{'seconds':<11} | " + " | ".join(f"{name:>{w}}" for name in names))
    print(f"{'phase':<11} | " + " | ".join(f"{'median [min-max]':>{w}}" for _ in names))
    print("-" * (14 + 27 * len(names)))
    for k, phase in enumerate(PHASES + ("total",)):
        cells = [cell([t[k] for t in times[name]]) if not (name.startswith("PPO") and phase == "verify") else "-"
                 for name in names]
        print(f"{phase:<11} | " + " | ".join(f"{c:>{w}}" for c in cells))
    print(f"{'responses/s':<11} | " + " | ".join(f"{settings[n][3] / med[n][4]:>{w}.1f}" for n in names))
    print(f"{'/ PPO total':<11} | " + " | ".join(f"{med[n][4] / med[names[2]][4]:>{w - 1}.2f}x" for n in names))

    flops = {n: iteration_flops(settings[n][0], settings[n][1], settings[n][2], gens[n], norm) for n in names}
    rate = matmul_flops_per_second()
    print(f"{'GFLOP':<11} | " + " | ".join(f"{flops[n] / 1e9:>{w}.2f}" for n in names))
    print(f"{'GFLOP/s':<11} | " + " | ".join(f"{flops[n] / med[n][4] / 1e9:>{w}.1f}" for n in names))
    print(f"{'floor s':<11} | " + " | ".join(f"{flops[n] / rate:>{w}.3f}" for n in names))
    print(f"(GFLOP: torch.utils.flop_counter's count of one iteration; floor: that many FLOPs at this CPU's best "
          f"fp32 512^3 matmul rate, {rate / 1e9:.0f} GFLOP/s at {torch.get_num_threads()} thread(s), the time no "
          "code could beat without doing less arithmetic)")

    a = med[names[0]][4]
    vs_trl = f"{TRL_SECONDS / a:.1f}x faster" if a <= TRL_SECONDS else f"{a / TRL_SECONDS:.1f}x slower"
    at_target = all(getattr(args, k) == v for k, v in TARGET_SETTING.items())
    print("\ntotal = median of per-iteration sums. score = reference log-probs (on-policy GRPO skips the policy's "
          "own pass), the RM, rewards and group advantages (PPO's: + pi_old, the critic, GAE and whitening); verify = "
          "decode + verifier, which PPO has not.")
    print(f"Reference: TRL 1.16 GRPOTrainer at 16 prompts x G 4 x 32 new tokens on this machine ~{TRL_SECONDS} "
          f"s/step -> ours (a) {vs_trl}. Target <= {TARGET_SECONDS} s median at (a): "
          f"{'met' if a <= TARGET_SECONDS else 'NOT met'} ({a:.3f} s)"
          + ("." if at_target else "; the target is for 16 prompts x G 4, 16 + 32 tokens, 1 thread, not this setting."))


if __name__ == "__main__":
    run_cli(main, None)    # out of memory, Ctrl-C: one line
