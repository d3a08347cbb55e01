"""Stage 3 of RLHF: PPO against the reward model, with a per-token KL penalty to the SFT policy.

    python train_ppo.py                    # after train_sft.py and train_rm.py; laptop CPU, ~1.5 minutes
    python train_ppo.py --beta 0           # no KL leash: watch reward hacking
    python train_ppo.py --target-kl 6      # adaptive beta (Ziegler et al. 2019)
    python train_ppo.py --curriculum easy-first   # easy prompts first, by the RM's scores of SFT samples
    python train_ppo.py --ensemble a/rm.pt,b/rm.pt,c/rm.pt --ensemble-agg min   # several RMs (nano_rlhf/ensemble.py)
    python train_ppo.py --dense-reward     # sentence-level rewards: the RM scores each sentence prefix (lesson 5)
    python train_ppo.py --resume           # continue an interrupted run from its last held-out evaluation
    torchrun --standalone --nproc_per_node 2 train_ppo.py   # data parallel: each rank a slice of every rollout
    python train_ppo.py --preset test      # seconds, for tests

Objective: maximise  E_{x ~ prompts, y ~ pi(.|x)} [ R(x, y) ]  -  beta * KL( pi(.|x) || pi_SFT(.|x) ).
Four models: the policy pi (trained, starts as SFT), the reference pi_SFT (frozen), the reward model R (frozen)
and the critic V (trained, starts as a copy of the RM). One iteration:
  1. rollout   sample responses to a batch of prompts with the KV cache
  2. score     old and reference log-probs (one full forward pass each), critic values and the RM score at the EOS
  3. reward    per-token reward -beta * (log pi - log pi_SFT), plus the RM score on the last token
  4. advantage GAE(gamma, lambda) backwards over the response; returns = advantages + values
  5. update    a few epochs of clipped-surrogate (policy) and clipped value (critic) steps on minibatches
The implementation details and their sources are numbered in lessons/05-ppo.md.

Simplifications: no entropy bonus and no pretraining-loss mix (InstructGPT's PPO-ptx); one rollout batch per
iteration; the stopping rule is a fixed number of iterations (gold never picks a checkpoint).
"""
import nano_rlhf  # noqa: F401  (first: a Ctrl-C while torch imports is one line, see its docstring)
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch

from nano_rlhf import distributed, resume
from nano_rlhf.checkpoint import build_critic, build_policy, build_value_model, load_sft_and_rm, load_tokenizer, save_checkpoint
from nano_rlhf.common import (Phases, Timer, UserError, check_finite, check_finite_weights, device_problem, field,
                              make_optimizer, parse_config, run_cli, set_lr, setup_run)
from nano_rlhf.curriculum import curriculum_pool, easiest_first
from nano_rlhf.data import left_pad
from nano_rlhf.ensemble import AGGREGATES, IDENTITY, load_ensemble, paths_problem
from nano_rlhf.evaluate import kl_per_token
from nano_rlhf.model import (entropy_from_logits, generate, last_token_values, response_logits, response_values,
                             token_logprobs)
from nano_rlhf.ppo_report import PPOReporter
from nano_rlhf.shaping import prefix_potentials, shaping_rewards
from nano_rlhf.world import LABELER_TEMPERATURE, World

# ----------------------------------------------------------------------------------------------------------------
# Config


@dataclass
class Config:
    # run
    preset: str = field("default", "default (laptop CPU), test (seconds) or gpu")
    out_dir: str = field("out", "folder holding sft.pt and rm.pt; ppo.pt, ppo_summary.json, ppo_metrics.jsonl "
                                "and the PNGs go here", path="out_dir")
    seed: int = field(0, "random seed", ge=0, lt=2**32)
    device: str = field("auto", "auto (cuda if available, else cpu), cpu, cuda, ...", check=device_problem)
    threads: int = field(2, "CPU intra-op threads (0: torch's default), at most the machine's cores; 1 can be "
                            "faster on a 2-core machine that other programs keep busy", ge=0, le=1024)
    iterations: int = field(60, "PPO iterations (the stopping rule, fixed in advance)", ge=1, le=10**6)
    resume: bool = field(False, "continue an interrupted run from <out_dir>/ppo_state.pt (written at every "
                                "held-out evaluation), with the same flags")
    # rollout
    batch_size: int = field(64, "prompts per rollout", ge=1, le=65536)
    temperature: float = field(1.0, "sampling temperature; every log-prob is computed from logits / T", ge=0.01,
                               le=100)
    max_new_tokens: int = field(0, "longest response (0: the SFT run's setting)", ge=0, le=65536)
    scale_logits: bool = field(True, "divide logits by T in the training log-probs (--no-scale-logits: ablation)")
    # reward
    beta: float = field(0.1, "KL coefficient (initial value when --target-kl is set); 0 removes the leash", ge=0,
                        le=1000)
    target_kl: float = field(0.0, "adaptive KL: move beta so the KL (nats/sequence) tracks this; 0 = fixed beta",
                             ge=0, le=10**6)
    kl_horizon: int = field(640, "adaptive KL horizon in samples (Ziegler et al. use 10000 for far longer runs)",
                            ge=1, le=10**9)
    kl_estimator: str = field("k1", "per-token KL in the reward: k1 = log ratio, k3 = (r-1) - log r",
                              choices=["k1", "k3"])
    ensemble: str = field("", "comma-separated rm.pt paths: the reward aggregates these RMs, each normalised, "
                              "instead of <out_dir>/rm.pt's (lessons/experiments/ensembles.py)", check=paths_problem)
    ensemble_agg: str = field("mean", "how --ensemble's scores combine: mean, min, or lcb (mean - std)",
                              choices=list(AGGREGATES))
    no_eos_penalty: float = field(-2.0, "reward instead of the RM score when a response never emits EOS",
                                  ge=-1000, le=1000)
    dense_reward: bool = field(False, "sentence-level rewards: each sentence's last token gets the change in the RM "
                                      "score of the prefix it closes (shaping; nano_rlhf/shaping.py, lesson 5)")
    # advantages
    gamma: float = field(1.0, "discount over response tokens", ge=0, le=1)
    lam: float = field(0.95, "GAE lambda", ge=0, le=1)
    whiten: bool = field(True, "whiten advantages over the rollout's real tokens (--no-whiten: ablation)")
    # update
    epochs: int = field(4, "PPO epochs over each rollout", ge=1, le=1000)
    minibatches: int = field(4, "minibatches per epoch (--batch-size must be a multiple)", ge=1, le=65536)
    lr: float = field(3e-5, "policy learning rate (annealed linearly to 0)", gt=0, le=1)
    critic_lr: float = field(1e-4, "critic learning rate (annealed linearly to 0)", gt=0, le=1)
    clip_eps: float = field(0.2, "PPO ratio clip range", gt=0, le=100)
    vf_clip: float = field(0.2, "value clip range, around the rollout's values", gt=0, le=10**6)
    grad_clip: float = field(1.0, "gradient-norm clip, per model", gt=0)
    critic_init: str = field("rm", "critic starts as the RM (rm), the SFT trunk + a new head (sft), or random",
                             choices=["rm", "sft", "scratch"])
    curriculum: str = field("none", "prompt order: none (uniform draws) or easy-first (prompts whose SFT samples "
                                    "the RM scores highest first, all of them by half-way; lesson 6)",
                            choices=["none", "easy-first"])
    # evaluation (reporting only: gold never steers the run)
    eval_split: str = field("test", "held-out prompts of the report: test (reported numbers) or dev (for choices: "
                                    "defaults, ablations)", choices=["dev", "test"])
    eval_interval: int = field(10, "iterations between held-out evaluations", ge=1, le=10**6)
    eval_samples: int = field(480, "held-out samples per evaluation, 12 per held-out prompt (win rate n)", ge=1,
                              le=10**6)

    def problems(self) -> list[str]:
        """Checks across fields (check_config runs them after each field's own)."""
        out = []
        if self.batch_size % self.minibatches:
            out.append(f"--batch-size {self.batch_size} is not a multiple of --minibatches {self.minibatches}")
        if self.target_kl > 0 and self.beta == 0:
            out.append("--target-kl needs a --beta above 0 to adapt (the controller multiplies it)")
        if self.target_kl > 0 and self.kl_horizon < self.batch_size:   # a step of 1 +- 0.2 * B / horizon: below
            out.append(f"--kl-horizon {self.kl_horizon} is shorter than a rollout (--batch-size "   # 0 past 5x
                       f"{self.batch_size}): beta could change sign; use at least {self.batch_size}")
        return out


PRESETS = {
    "default": {},
    "test": dict(threads=1, iterations=3, batch_size=8, minibatches=2, epochs=2, eval_interval=2,
                 eval_samples=16),
    "gpu": dict(batch_size=256, minibatches=8, iterations=100, eval_samples=1000, threads=0),
}
# the files a run writes into --out-dir (checked before any work: none may be a folder)
OUTPUTS = ("ppo.pt", "ppo_summary.json", "ppo_metrics.jsonl", "ppo_metrics.partial.jsonl", "ppo_curves.png",
           "ppo_reward_vs_kl.png", "ppo_state.pt")


# ----------------------------------------------------------------------------------------------------------------
# The RL math: small pure functions. Shapes: B sequences, T response tokens; mask is 1 on real tokens (EOS included).

def masked_mean(x, mask):
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


# [lesson:kl_penalty]
def kl_penalty_rewards(logprobs, ref_logprobs, scores, mask, beta: float, estimator: str = "k1"):
    """Per-token rewards: -beta * KL estimate at every response token, plus the RM score at the last real token.

    logprobs, ref_logprobs, mask: (B, T); scores: (B,) -> rewards (B, T), zero after the last real token.
    Ziegler et al. 2019 eq. 2 / Stiennon et al. 2020: R(x, y) - beta * log(pi(y|x) / pi_SFT(y|x)), spread over
    tokens (Huang et al. 2023, detail 6). k1 is the plain log ratio, k3 the non-negative estimator (Schulman 2020).
    """
    # BEGIN SOLUTION
    k1, k3 = kl_per_token(logprobs, ref_logprobs)
    rewards = -beta * (k1 if estimator == "k1" else k3) * mask
    last = mask.sum(1).long().clamp(min=1) - 1                            # index of each row's last real token
    rewards[torch.arange(rewards.size(0)), last] += scores
    return rewards
    # END SOLUTION
# [/lesson:kl_penalty]


# [lesson:gae]
def gae(rewards, values, mask, gamma: float, lam: float):
    """Generalised advantage estimation (Schulman et al. 2016), backwards over the response tokens.

    delta_t = r_t + gamma * V_{t+1} - V_t,   A_t = delta_t + gamma * lam * A_{t+1},   returns = A + V.
    V_{t+1} is 0 after the last real token (the episode ends at the EOS). (B, T) x3 -> advantages, returns (B, T)
    """
    # BEGIN SOLUTION
    T = rewards.size(1)
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[:, 0])
    next_adv = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_adv = (delta + gamma * lam * next_adv) * mask[:, t]          # 0 after the end: nothing flows back
        next_value = values[:, t] * mask[:, t]
        advantages[:, t] = next_adv
    returns = advantages + values * mask                                  # from the UN-whitened advantages
    return advantages, returns
    # END SOLUTION
# [/lesson:gae]


# [lesson:whiten]
def whiten(x, mask, eps: float = 1e-8):
    """(x - mean) / std over the real tokens only (pads must not shift the statistics).  (B, T) -> (B, T)
    Under torchrun the statistics are the whole rollout's: sums over every rank's tokens (all_sum)."""
    n = distributed.all_sum(mask.sum()).clamp(min=1.0)
    mean = distributed.all_sum((x * mask).sum()) / n
    var = distributed.all_sum(((x - mean) ** 2 * mask).sum()) / n
    return (x - mean) * torch.rsqrt(var + eps) * mask
# [/lesson:whiten]


# [lesson:policy_loss]
def policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps: float, weights=None):
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7), as a loss to minimise.  (B, T) x4 -> scalar, stats

    ratio = pi / pi_old; per-token loss l_t = max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)), averaged over
    the real tokens (the masked mean), or summed with the per-token weights (B, T) when given (train_grpo.py's
    loss aggregations: the weights say how tokens and responses are averaged).
    """
    # BEGIN SOLUTION
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    per_token = torch.maximum(unclipped, clipped)
    loss = masked_mean(per_token, mask) if weights is None else (per_token * weights).sum()
    # END SOLUTION
    with torch.no_grad():   # stats stay tensors: update reads them once, at its end (a float() here, once per
        clipfrac = masked_mean((clipped > unclipped).float(), mask)            # minibatch, would make the CPU wait
        approx_kl = masked_mean((ratio - 1) - (logprobs - old_logprobs), mask)   # for the GPU each time)
    return loss, {"clipfrac": clipfrac, "approx_kl": approx_kl}             # approx_kl: k3 of old vs new policy
# [/lesson:policy_loss]


# [lesson:value_loss]
def value_loss(values, old_values, returns, mask, vf_clip: float):
    """Clipped value loss: 0.5 * masked mean of max((V - R)^2, (V_clipped - R)^2), V_clipped within vf_clip of the
    rollout's values (openai/lm-human-preferences; Huang et al. 2023, detail 11).  (B, T) x4 -> scalar"""
    # BEGIN SOLUTION
    clipped = old_values + torch.clamp(values - old_values, -vf_clip, vf_clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)
    # END SOLUTION
# [/lesson:value_loss]


# [lesson:adaptive_kl]
class AdaptiveKL:
    """Ziegler et al. 2019, section 2.2: beta <- beta * (1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon)."""

    def __init__(self, beta: float, target: float, horizon: int):
        self.beta, self.target, self.horizon = beta, target, horizon

    def update(self, kl: float, n_samples: int):
        if self.target > 0:
            error = float(np.clip(kl / self.target - 1, -0.2, 0.2))
            self.beta *= 1 + error * n_samples / self.horizon
# [/lesson:adaptive_kl]


# ----------------------------------------------------------------------------------------------------------------
# One iteration in three phases (bench/ppo.py times these same functions)

@dataclass
class Experience:
    """One rollout batch. seq/attn (B, P + T) hold prompt + response; the rest are (B, T) over response tokens."""
    seq: torch.Tensor
    attn: torch.Tensor
    n_prompt: int
    pad_id: int                  # never sampled: left out of every log-prob (model.without_pad)
    tokens: torch.Tensor
    mask: torch.Tensor           # 1.0 on real response tokens (EOS included)
    ended: torch.Tensor          # (B,) emitted EOS
    logprobs: torch.Tensor = None   # log pi_old(y_t), from score's full forward pass (not from sampling)
    ref_logprobs: torch.Tensor = None
    values: torch.Tensor = None
    scores: torch.Tensor = None  # (B,) normalised RM score (or the no-EOS penalty)
    rewards: torch.Tensor = None
    advantages: torch.Tensor = None
    returns: torch.Tensor = None


# [lesson:rollout]
def rollout(policy, p_idx, p_mask, cfg: Config, max_new: int, eos_id: int, pad_id: int, gen, autocast):
    """1. Sample responses with the KV cache. The log-probs sampling returns are not kept: PPO's "old" log-probs
    come from score's full forward pass, the pass update makes (why: see score)."""
    policy.eval()
    with autocast():
        g = generate(policy, p_idx, p_mask, max_new, eos_id, pad_id, temperature=cfg.temperature, generator=gen)
    return Experience(seq=torch.cat([p_idx, g.tokens], 1), attn=torch.cat([p_mask, g.mask], 1),
                      n_prompt=p_idx.size(1), pad_id=pad_id, tokens=g.tokens, mask=g.mask.float(), ended=g.ended)
# [/lesson:rollout]


# [lesson:score]
def score(exp: Experience, policy, ref, rm, critic, norm: dict, cfg: Config, beta: float, autocast, tok=None):
    """2. Old and reference log-probs, critic values and RM scores (one batched pass of each model), then
    3. the per-token reward and 4. the advantages, once per rollout. Returns the rollout's KL (k1, k3).
    tok: the tokenizer, needed by --dense-reward (it finds the sentences)."""
    seq, attn, P, mask = exp.seq, exp.attn, exp.n_prompt, exp.mask
    T = cfg.temperature if cfg.scale_logits else 1.0
    with torch.inference_mode(), autocast():
        # pi_old from the full forward pass update makes, not from sampling: under bf16 a KV-cache step and a full
        # pass round differently (up to 4e-2 in log ratio on CPU bf16 with a bf16 LM head, 6e-3 with the fp32 one),
        # and a pi_old that is not the policy's own biases every ratio of the first epoch, a known source of PPO
        # instability at scale (lessons/05-ppo.md, detail 16). The same T as update's (1 under the
        # --no-scale-logits ablation), and PAD left out as generate leaves it out.
        exp.logprobs = token_logprobs(response_logits(policy, seq, attn, P), exp.tokens, T, exp.pad_id)
        ref_logprobs = token_logprobs(response_logits(ref, seq, attn, P), exp.tokens, T, exp.pad_id)
        values = response_values(critic, seq, attn, P)                      # V for token t from position t-1
        scores = norm["gain"] * last_token_values(rm(seq, attn), attn) + norm["bias"]
    exp.scores = torch.where(exp.ended, scores, torch.full_like(scores, cfg.no_eos_penalty))
    exp.logprobs, exp.ref_logprobs, exp.values = exp.logprobs * mask, ref_logprobs * mask, values * mask
    exp.rewards = kl_penalty_rewards(exp.logprobs, exp.ref_logprobs, exp.scores, mask, beta, cfg.kl_estimator)
    if cfg.dense_reward:    # the score spread over the sentences: one more RM pass, on every sentence prefix
        exp.rewards += shaping_rewards(*prefix_potentials(rm, norm, exp, tok, autocast), mask)
    advantages, exp.returns = gae(exp.rewards, exp.values, mask, cfg.gamma, cfg.lam)
    exp.advantages = whiten(advantages, mask) if cfg.whiten else advantages
    k1, k3 = kl_per_token(exp.logprobs, exp.ref_logprobs)
    return (float(distributed.mean((k1 * mask).sum(1))),                 # nats per response, over all ranks
            float(distributed.mean((k3 * mask).sum(1))))
# [/lesson:score]


# [lesson:update]
def update(exp: Experience, policy, critic, opt_pi, opt_v, cfg: Config, gen, autocast, it: int = 0,
           phases: Phases | None = None):
    """5. PPO epochs over shuffled minibatches: clipped policy loss and clipped value loss, own optimisers.
    phases, if given, is charged the forward, backward and optimiser time (main's profile). Under torchrun exp is
    this rank's slice of the rollout, gen the generator all ranks share: a minibatch is drawn over the global
    rollout and each rank trains on the rows of it that it holds (nano_rlhf/distributed.py)."""
    T = cfg.temperature if cfg.scale_logits else 1.0
    phases = phases or Phases()          # not profiled: laps that are never read, and never wait for a GPU
    policy.train()
    critic.train()
    stats, losses = [], []
    B = int(distributed.all_sum(exp.seq.size(0)))     # the global rollout's size (this rank's in one process)
    mb = B // cfg.minibatches
    for epoch in range(cfg.epochs):
        perm = torch.randperm(B, generator=gen, device=exp.seq.device)
        for i in range(cfg.minibatches):
            j = distributed.local_rows(perm[i * mb:(i + 1) * mb], B)
            mask = exp.mask[j]
            with autocast():
                logits = response_logits(policy, exp.seq[j], exp.attn[j], exp.n_prompt)     # (mb, T, V)
                values = response_values(critic, exp.seq[j], exp.attn[j], exp.n_prompt)
            logprobs = token_logprobs(logits, exp.tokens[j], T, exp.pad_id)
            pg_loss, pg_stats = policy_loss(logprobs, exp.logprobs[j], exp.advantages[j], mask, cfg.clip_eps)
            vf_loss = value_loss(values, exp.values[j], exp.returns[j], mask, cfg.vf_clip)
            losses.append((pg_loss + vf_loss).detach())
            phases.lap("update: forward")
            opt_pi.zero_grad(set_to_none=True)
            opt_v.zero_grad(set_to_none=True)
            # two separate models: each loss reaches only its own weights. Under torchrun each loss is rescaled
            # to this rank's tokens / the minibatch's tokens on all ranks, and the gradients are summed
            ((pg_loss + vf_loss) * distributed.share(mask)).backward()
            distributed.all_reduce_grads(policy, critic)
            phases.lap("update: backward")
            for opt, model in ((opt_pi, policy), (opt_v, critic)):
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)   # each model its own norm
                opt.step()
            phases.lap("update: optimiser")
            if epoch == 0:
                with torch.no_grad():
                    pg_stats["entropy"] = masked_mean(entropy_from_logits(logits, T, exp.pad_id), mask)
            stats.append({**pg_stats, "vf_loss": vf_loss.detach()})
            phases.lap("update: stats")
    # read back once per update, not once per minibatch: no CPU-GPU synchronisation inside the loop (a
    # non-finite loss has then made the weights non-finite too; nothing has been sampled or saved from them yet)
    check_finite(torch.stack(losses), "PPO loss", it)
    return [dict(zip(s, torch.stack(list(s.values())).tolist())) for s in stats]
# [/lesson:update]


def main(cfg: Config) -> dict:
    # ------------------------------------------------------------------------------------------------------------
    # Setup: four models from two checkpoints
    timer = Timer()
    device, autocast = setup_run(cfg, OUTPUTS)   # checks every flag and output first (one line, exit code 2)
    phases = Phases(device)                      # where the time goes: printed at the end, kept in the summary
    if cfg.batch_size % distributed.world():     # torchrun: every rank holds the same share of each rollout
        raise UserError(f"--batch-size {cfg.batch_size} is not a multiple of the {distributed.world()} ranks")
    sft, rm_ckpt = load_sft_and_rm(cfg.out_dir)   # and checks that rm.pt was trained from this sft.pt
    tok = load_tokenizer(sft)
    world = World(sft["config"]["world_seed"])
    max_new = cfg.max_new_tokens or sft["config"]["max_new_tokens"]
    norm = rm_ckpt["reward_norm"]

    policy = build_policy(sft, device)                # trained
    ref = build_policy(sft, device).eval()            # frozen pi_SFT
    rm = build_value_model(rm_ckpt, device).eval()    # frozen reward model
    critic = build_critic(cfg.critic_init, sft, rm_ckpt, device)   # trained; by default the RM (checkpoint.py)
    for m in (policy, ref, rm.gpt, critic.gpt):
        m.set_dropout(0.0)                            # dropout off: it would make log-probs and ratios noisy
    for m in (ref, rm):
        m.requires_grad_(False)
    if cfg.ensemble:      # the reward: several RMs, each normalised, aggregated (the critic still starts from rm.pt)
        rm, norm = load_ensemble(cfg.ensemble, sft, f"{cfg.out_dir}/sft.pt", cfg.ensemble_agg, device), IDENTITY
    opt_pi = make_optimizer(policy.parameters(), cfg.lr)
    opt_v = make_optimizer(critic.parameters(), cfg.critic_lr)
    kl_ctl = AdaptiveKL(cfg.beta, cfg.target_kl, cfg.kl_horizon)
    rng = random.Random(cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    train_texts = [p.text for p in world.train_prompts]
    train_ids = [tok.encode(t) for t in train_texts]
    order = (easiest_first(ref, rm, norm, tok, train_texts, max_new, cfg.seed + 50_000, device, autocast)
             if cfg.curriculum == "easy-first" else list(range(len(train_ids))))
    phases.lap("load")
    reporter = PPOReporter(cfg, world, tok, ref, rm, norm, LABELER_TEMPERATURE, max_new, device, autocast)
    phases.lap("held-out evaluation")                # the SFT baseline's samples, reused by every evaluation
    trained, optimisers = {"policy": policy, "critic": critic}, {"policy": opt_pi, "critic": opt_v}
    start = 0
    if cfg.resume:                                   # continue from the last evaluation an interrupted run reached
        start, extra = resume.restore(cfg, "ppo", trained, optimisers, rng, gen, reporter.metrics)
        kl_ctl.beta = extra["beta"]

    world.seal()            # gold-free from here on: only the reporter may read gold (nano_rlhf/world.py)
    for it in range(start, cfg.iterations + 1):
        if (it % cfg.eval_interval == 0 or it == cfg.iterations) and not (cfg.resume and it == start):
            reporter.evaluate(policy, it)
            if it < cfg.iterations:                  # what --resume needs to continue from here
                resume.save_state(cfg, "ppo", it, trained, optimisers, rng, gen, reporter.metrics, beta=kl_ctl.beta)
            phases.lap("held-out evaluation")
        if it == cfg.iterations:
            break
        frac = 1.0 - it / cfg.iterations                  # learning rates annealed linearly to 0
        set_lr(opt_pi, cfg.lr * frac)
        set_lr(opt_v, cfg.critic_lr * frac)

        # --------------------------------------------------------------------------------------------------------
        # 1. Rollout   2.-4. score, reward, advantages   5. update
        pool = curriculum_pool(order, it, cfg.iterations) if cfg.curriculum == "easy-first" else order
        batch = [pool[rng.randrange(len(pool))] for _ in range(cfg.batch_size)]
        batch = distributed.shard(batch)                  # torchrun: this rank's prompts of the global batch
        gen_sample, gen_shared = distributed.generators(gen, cfg.seed, it)   # one process: both are gen
        p_idx, p_mask = left_pad([train_ids[i] for i in batch], tok.pad_id, device)
        exp = rollout(policy, p_idx, p_mask, cfg, max_new, tok.eos_id, tok.pad_id, gen_sample, autocast)
        t_rollout = phases.lap("rollout")
        kl, kl_k3 = score(exp, policy, ref, rm, critic, norm, cfg, kl_ctl.beta, autocast, tok)
        t_score = phases.lap("score")
        update_start = phases.last
        stats = update(exp, policy, critic, opt_pi, opt_v, cfg, gen_shared, autocast, it, phases)
        check_finite_weights(policy, "policy", it)        # before the next rollout samples from it
        check_finite_weights(critic, "critic", it)
        phases.lap("update: optimiser")
        t_update = phases.last - update_start
        kl_ctl.update(kl, cfg.batch_size)
        reporter.log_iteration(it, [train_texts[i] for i in batch], exp, stats, beta=kl_ctl.beta, kl=kl,
                               kl_k3=kl_k3, times=(t_rollout, t_score, t_update))
        phases.lap("logging")
    world.unseal()

    # ------------------------------------------------------------------------------------------------------------
    # Save: the final checkpoint is the one reported (no gold-based selection)
    if not distributed.is_main():                         # torchrun: rank 0 alone reports and writes
        return {}
    summary = reporter.summary(policy, iterations=cfg.iterations, wall_seconds=timer())
    save_checkpoint(f"{cfg.out_dir}/ppo.pt", stage="ppo", model=policy, tokenizer=tok, config=cfg, metrics=summary,
                    parents={"sft": sft["id"], "rm": rm_ckpt["id"]})
    phases.lap("save")
    reporter.write(summary, phases)
    resume.finish(cfg, "ppo")
    return summary


if __name__ == "__main__":
    run_cli(main, parse_config(Config, PRESETS, sys.argv[1:]))
