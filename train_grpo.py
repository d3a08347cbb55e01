"""Critic-free RL: Dr. GRPO, GRPO, RLOO and REINFORCE with a baseline, against the RM or a rule-based verifier.

    python train_grpo.py                           # after train_sft.py and train_rm.py; laptop CPU, ~1 minute
    python train_grpo.py --advantage grpo --kl-in loss --beta 0.05   # GRPO as DeepSeekMath wrote it
    python train_grpo.py --advantage rloo          # or reinforce
    python train_grpo.py --reward verifier         # RL with verifiable rewards, on the sum prompts (no rm.pt)
    python train_grpo.py --loss-agg constant       # Dr. GRPO's normaliser; token-mean is DAPO's
    python train_grpo.py --dense-reward --advantage grpo   # process supervision: a reward per sentence (lesson 6)
    python train_grpo.py --resume                  # continue an interrupted run from its last evaluation
    torchrun --standalone --nproc_per_node 2 train_grpo.py   # data parallel: each rank whole groups of a rollout
    python train_grpo.py --preset test             # seconds, for tests

What differs from train_ppo.py, and nothing else: no critic and no GAE. Each prompt gets G responses, and a
response's advantage is its reward compared with the other responses to the same prompt (a group baseline), the
same number at every one of its tokens. One iteration:
  1. rollout   G samples of each of --prompts-per-iteration prompts, with the KV cache (train_ppo.rollout)
  2. score     old and reference log-probs, and one reward per response: the RM's score, the verifier's 0/1, or both;
               with --kl-in reward, minus beta * the response's log pi/pi_SFT (PPO's objective, summed per response)
  3. advantage group_advantages(rewards): drgrpo, grpo, rloo or reinforce
  4. update    epochs of PPO's clipped surrogate (train_ppo.policy_loss) on minibatches of whole groups, the tokens
               averaged by --loss-agg; with --kl-in loss, plus beta * k3 per token (GRPO's form)
The clipped surrogate, the masked mean, the KL estimators and the rollout are PPO's, imported. Lesson 9 teaches it.

Defaults were chosen on the DEV split (lessons/results/grpo_dev.sh, lesson 9): PPO's budget (64 responses per
iteration: 8 prompts x G = 8; 60 iterations; 4 epochs x 4 minibatches; lr 3e-5) and PPO's objective (the KL in the
reward, beta 0.1), which kept the KL within 15% of PPO's; and Dr. GRPO's advantage r - group mean, which had the
best two-seed dev mean (+0.89; GRPO's std division +0.84, the k3 term in the loss instead +0.81 to +0.83, GRPO's
published form +0.77; one run's SE is about 0.1, so these are leanings, not findings). The stopping rule is the
fixed number of iterations; gold never steers a run.
"""
import nano_rlhf  # noqa: F401  (first: a Ctrl-C while torch imports is one line, see its docstring)
import os
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch

from nano_rlhf import distributed, resume
from nano_rlhf.checkpoint import (build_policy, build_value_model, check_parent, load_checkpoint, load_tokenizer,
                                  save_checkpoint)
from nano_rlhf.common import (Phases, Timer, UserError, check_finite, check_finite_weights, device_problem, field,
                              make_optimizer, parse_config, run_cli, set_lr, setup_run, warn)
from nano_rlhf.data import left_pad
from nano_rlhf.evaluate import gold_report, kl_per_token, sample_policy
from nano_rlhf.model import entropy_from_logits, last_token_values, response_logits, token_logprobs
from nano_rlhf.ppo_report import PPOReporter
from nano_rlhf.shaping import prefix_potentials, process_steps, shaping_rewards
from nano_rlhf.stats import mean_se
from nano_rlhf.verifier import is_sum, pass_at_k, verify
from nano_rlhf.world import LABELER_TEMPERATURE, World, eval_seed
from train_ppo import masked_mean, policy_loss, rollout

# ----------------------------------------------------------------------------------------------------------------
# Config


@dataclass
class Config:
    # run
    preset: str = field("default", "default (laptop CPU), test (seconds) or gpu")
    out_dir: str = field("out", "folder holding sft.pt and rm.pt (rm.pt is optional with --reward verifier); "
                                "grpo.pt, grpo_summary.json, grpo_metrics.jsonl and the PNGs go here", path="out_dir")
    seed: int = field(0, "random seed", ge=0, lt=2**32)
    device: str = field("auto", "auto (cuda if available, else cpu), cpu, cuda, ...", check=device_problem)
    threads: int = field(2, "CPU intra-op threads (0: torch's default), at most the machine's cores; 1 can be "
                            "faster on a 2-core machine that other programs keep busy", ge=0, le=1024)
    iterations: int = field(60, "iterations (the stopping rule, fixed in advance; PPO's default)", ge=1, le=10**6)
    resume: bool = field(False, "continue an interrupted run from <out_dir>/grpo_state.pt (written at every "
                                "held-out evaluation), with the same flags")
    # rollout
    prompts_per_iteration: int = field(8, "prompts per rollout; each is sampled --group-size times", ge=1,
                                       le=65536)
    group_size: int = field(8, "G: responses per prompt, compared with each other (at least 2)", ge=2, le=65536)
    temperature: float = field(1.0, "sampling temperature; every log-prob is computed from logits / T", ge=0.01,
                               le=100)
    max_new_tokens: int = field(0, "longest response (0: the SFT run's setting)", ge=0, le=65536)
    # reward
    reward: str = field("rm", "rm: the reward model's normalised score; verifier: 1 if the sum is right, else 0 "
                              "(sum prompts only); rm+verifier: both added", choices=["rm", "verifier", "rm+verifier"])
    verifier_weight: float = field(1.0, "weight of the verifier's 0/1 in --reward rm+verifier", ge=0, le=1000)
    no_eos_penalty: float = field(-2.0, "RM score of a response that never emits EOS (the verifier gives it 0)",
                                  ge=-1000, le=1000)
    # advantages
    advantage: str = field("drgrpo", "drgrpo: r - group mean (chosen on dev); grpo: (r - group mean) / (group std "
                                     "+ eps); rloo: r - mean of the other G-1; reinforce: r - batch mean",
                           choices=["grpo", "drgrpo", "rloo", "reinforce"])
    std_eps: float = field(1e-4, "grpo's eps in (group std + eps)", gt=0, le=10)
    dense_reward: bool = field(False, "process supervision (DeepSeekMath): one reward per sentence, the RM's score "
                                      "difference of its prefixes; normalised over the group's steps as --advantage "
                                      "(grpo or drgrpo) normalises responses (nano_rlhf/shaping.py)")
    # KL to pi_SFT
    beta: float = field(0.1, "KL coefficient (PPO's; its KL within 15% of PPO's on dev); 0 removes the leash",
                        ge=0, le=1000)
    kl_in: str = field("reward", "reward: beta * summed k1 taken from each response's reward (PPO's objective; "
                                 "RLOO); loss: beta * k3 added to the loss per token (GRPO)",
                       choices=["reward", "loss"])
    # update
    loss_agg: str = field("seq-mean", "how token losses are averaged: seq-mean (GRPO), token-mean (DAPO), "
                                      "constant (Dr. GRPO: / (responses x max new tokens))",
                          choices=["seq-mean", "token-mean", "constant"])
    epochs: int = field(4, "epochs over each rollout (1 with --minibatches 1: purely on-policy)", ge=1, le=1000)
    minibatches: int = field(4, "minibatches per epoch, of whole groups (--prompts-per-iteration must be a "
                                "multiple)", ge=1, le=65536)
    lr: float = field(3e-5, "policy learning rate (annealed linearly to 0)", gt=0, le=1)
    clip_eps: float = field(0.2, "ratio clip range", gt=0, le=100)
    grad_clip: float = field(1.0, "gradient-norm clip", gt=0)
    # evaluation (reporting only: gold never steers the run)
    eval_split: str = field("test", "held-out prompts of the report: test (reported numbers) or dev (for choices: "
                                    "defaults, ablations)", choices=["dev", "test"])
    eval_interval: int = field(10, "iterations between held-out evaluations", ge=1, le=10**6)
    eval_samples: int = field(480, "held-out samples per evaluation, 12 per held-out prompt (win rate n)", ge=1,
                              le=10**6)
    pass_samples: int = field(16, "samples per held-out sum prompt for pass@1 and pass@k", ge=1, le=10**4)
    pass_k: int = field(8, "k of pass@k (at most --pass-samples)", ge=1, le=10**4)

    def problems(self) -> list[str]:
        """Checks across fields (check_config runs them after each field's own)."""
        out = []
        if self.prompts_per_iteration % self.minibatches:
            out.append(f"--prompts-per-iteration {self.prompts_per_iteration} is not a multiple of --minibatches "
                       f"{self.minibatches} (a group stays whole within a minibatch)")
        if self.dense_reward and (self.reward == "verifier" or self.advantage not in ("grpo", "drgrpo")):
            out.append("--dense-reward needs the RM (--reward rm or rm+verifier) and --advantage grpo or drgrpo")
        if self.pass_k > self.pass_samples:
            out.append(f"--pass-k {self.pass_k} is more than --pass-samples {self.pass_samples}: pass@k needs at "
                       "least k samples per prompt")
        return out


PRESETS = {
    "default": {},
    "test": dict(threads=1, iterations=3, prompts_per_iteration=4, group_size=4, minibatches=2, epochs=2,
                 eval_interval=2, eval_samples=16, pass_samples=4, pass_k=2),
    "gpu": dict(prompts_per_iteration=32, minibatches=8, iterations=100, eval_samples=1000, threads=0),
}
# the files a run writes into --out-dir (checked before any work: none may be a folder)
OUTPUTS = ("grpo.pt", "grpo_summary.json", "grpo_metrics.jsonl", "grpo_metrics.partial.jsonl", "grpo_curves.png",
           "grpo_reward_vs_kl.png", "grpo_state.pt")


# ----------------------------------------------------------------------------------------------------------------
# The math: small pure functions. Shapes: N prompts x G responses = B rows, grouped (rows g*G .. g*G + G - 1 are
# the responses to prompt g); T response tokens; mask is 1 on real tokens (EOS included).

# [lesson:group_advantages]
def group_advantages(rewards, how: str, eps: float = 1e-4):
    """One advantage per response, from the rewards of its group; no critic.  rewards (N, G) -> (N, G)

    grpo       (r - mean of the group) / (std of the group + eps)     Shao et al. 2024 (DeepSeekMath)
    drgrpo     r - mean of the group                                   Liu et al. 2025 (Dr. GRPO)
    rloo       r - mean of the OTHER G - 1 rewards of the group        Ahmadian et al. 2024; Kool et al. 2019
    reinforce  r - mean over the whole batch (all N * G responses)     REINFORCE with a batch baseline
    The std is the sample std (n - 1), as in the open implementations (TRL, OpenRLHF, verl). A group whose
    rewards are all equal gets advantage 0 everywhere (except under reinforce): it teaches nothing.
    """
    # BEGIN SOLUTION
    mean = rewards.mean(1, keepdim=True)
    if how == "grpo":
        return (rewards - mean) / (rewards.std(1, keepdim=True) + eps)
    if how == "drgrpo":
        return rewards - mean
    if how == "rloo":                                   # leave-one-out: each response's baseline excludes itself
        G = rewards.size(1)
        return rewards - (rewards.sum(1, keepdim=True) - rewards) / (G - 1)
    if how == "reinforce":
        return rewards - rewards.mean()
    # END SOLUTION
    raise ValueError(f"unknown advantage {how!r}")      # internal: the flag is checked by choices=
# [/lesson:group_advantages]


def process_advantages(step_rewards, steps, G: int, how: str, eps: float = 1e-4):
    """Process supervision (Shao et al. 2024, §4.1.3): each step's reward normalised over all steps of its group's
    G responses (grpo: (r - mean) / (std + eps), DeepSeekMath's; drgrpo: r - mean), and each token's advantage the
    sum of the normalised rewards of its response's steps that end at or after it.
    step_rewards (B, T): the reward of the step ending at t; steps (B, T) bool: where steps end -> (B, T)"""
    B, T = steps.shape
    r, s = step_rewards.reshape(-1, G * T), steps.reshape(-1, G * T).float()       # a row per group
    n = s.sum(1, keepdim=True)
    mean = (r * s).sum(1, keepdim=True) / n
    std = (((r - mean) ** 2 * s).sum(1, keepdim=True) / (n - 1)).sqrt()       # sample std, as group_advantages
    normed = ((r - mean) / (std + eps) if how == "grpo" else r - mean) * s
    return normed.reshape(B, T).flip(1).cumsum(1).flip(1)                     # sum over the steps ending at >= t


# [lesson:loss_weights]
def loss_weights(mask, how: str, max_new: int):
    """How the per-token losses l_it of a minibatch are averaged: loss = sum_i sum_t w_it * l_it.
    mask (n, T) -> w (n, T), zero on pads. With |o_i| = mask[i].sum() the length of response i:

    token-mean  sum_i sum_t l_it / sum_i |o_i|            every token counts the same      (DAPO, Yu et al. 2025)
    seq-mean    (1/n) sum_i (1/|o_i|) sum_t l_it           every response counts the same   (GRPO, Shao et al. 2024)
    constant    sum_i sum_t l_it / (n * max_new)            a fixed normaliser             (Dr. GRPO, Liu et al. 2025)
    """
    # BEGIN SOLUTION
    if how == "token-mean":
        return mask / mask.sum().clamp(min=1.0)
    if how == "seq-mean":
        return mask / (mask.sum(1, keepdim=True).clamp(min=1.0) * mask.size(0))
    if how == "constant":
        return mask / (mask.size(0) * max_new)
    # END SOLUTION
    raise ValueError(f"unknown loss aggregation {how!r}")   # internal: the flag is checked by choices=
# [/lesson:loss_weights]


# [lesson:sequence_rewards]
def sequence_rewards(rm_scores, verified, ended, cfg: Config):
    """The reward of each response before any KL term.  (B,) x3 -> (B,)

    rm          the RM's normalised score at the EOS; --no-eos-penalty instead for a response that never ends
    verifier    1.0 if the sum is right (nano_rlhf/verifier.py), else 0.0; a response cut off by the length limit
                gets 0, as truncated answers do in RLVR
    rm+verifier the two added, the verifier weighted by --verifier-weight
    """
    score = torch.where(ended, rm_scores, torch.full_like(rm_scores, cfg.no_eos_penalty))
    check = verified * ended
    if cfg.reward == "rm":
        return score
    return check if cfg.reward == "verifier" else score + cfg.verifier_weight * check
# [/lesson:sequence_rewards]


# ----------------------------------------------------------------------------------------------------------------
# One iteration in three phases (bench/grpo.py times these same functions)

# [lesson:score]
def on_policy(cfg: Config) -> bool:
    """One epoch of one minibatch: the update's own forward pass IS pi_old (ratio exactly 1), so score needs no
    separate pass of the policy, unless the KL is in the reward (it needs log pi before the advantages)."""
    return cfg.epochs == 1 and cfg.minibatches == 1 and cfg.kl_in == "loss"


def score(exp, policy, ref, rm, norm: dict, verified, cfg: Config, autocast, tok=None):
    """2. Old and reference log-probs and the sequence rewards, then 3. the advantages, once per rollout.
    verified (B,): the verifier's 0/1 of each response (zeros when the reward does not use it). Returns the
    rewards (B,) before any KL term. On-policy (on_policy(cfg)) exp.logprobs stays None: update fills it in.
    tok: the tokenizer, needed by --dense-reward (it finds the sentences)."""
    seq, attn, P, mask = exp.seq, exp.attn, exp.n_prompt, exp.mask
    T = cfg.temperature
    with torch.inference_mode(), autocast():
        if not on_policy(cfg):
            exp.logprobs = token_logprobs(response_logits(policy, seq, attn, P), exp.tokens, T, exp.pad_id) * mask
        exp.ref_logprobs = token_logprobs(response_logits(ref, seq, attn, P), exp.tokens, T, exp.pad_id) * mask
        rm_scores = (norm["gain"] * last_token_values(rm(seq, attn), attn) + norm["bias"] if rm is not None
                     else torch.zeros(seq.size(0), device=seq.device))
    seq_rewards = sequence_rewards(rm_scores, verified, exp.ended, cfg)
    exp.scores = seq_rewards
    if cfg.kl_in == "reward":                                             # PPO's place for the leash, summed
        exp.scores = seq_rewards - cfg.beta * (kl_per_token(exp.logprobs, exp.ref_logprobs)[0] * mask).sum(1)
    adv = group_advantages(exp.scores.view(-1, cfg.group_size), cfg.advantage, cfg.std_eps).reshape(-1)
    if cfg.advantage == "reinforce" and distributed.world() > 1:   # torchrun: the batch-mean baseline is the mean
        adv = exp.scores - distributed.mean(exp.scores)            # over every rank's responses, not over mine
    exp.advantages = adv[:, None] * mask                                  # the same advantage at every token
    if cfg.dense_reward:      # process supervision: a step per sentence; the terminal score (and KL) in the last
        phi, phi_empty, ends = prefix_potentials(rm, norm, exp, tok, autocast)
        steps = process_steps(ends, mask, exp.ended)
        step_rewards = shaping_rewards(phi, phi_empty, steps, mask)
        step_rewards[torch.arange(mask.size(0)), mask.sum(1).long() - 1] += exp.scores
        exp.advantages = process_advantages(step_rewards, steps, cfg.group_size, cfg.advantage, cfg.std_eps) * mask
    return seq_rewards


def rollout_kl(exp) -> tuple[float, float]:
    """KL(pi_old || pi_SFT) of the rollout in nats per response, by k1 and by k3 (after update on-policy)."""
    k1, k3 = kl_per_token(exp.logprobs, exp.ref_logprobs)
    return (float(distributed.mean((k1 * exp.mask).sum(1))),             # over all ranks' responses (torchrun)
            float(distributed.mean((k3 * exp.mask).sum(1))))
# [/lesson:score]


# [lesson:update]
def update(exp, policy, opt, cfg: Config, max_new: int, gen, autocast, it: int = 0, phases: Phases | None = None):
    """4. Epochs of the clipped surrogate over shuffled minibatches of whole groups (group statistics were taken
    over the whole group, so a group is never split), the tokens averaged by loss_weights, plus beta * k3 when
    the KL is in the loss. phases, if given, is charged the forward, backward and optimiser time. Under torchrun
    exp holds this rank's whole groups and gen is shared: the minibatch's groups are drawn over the global rollout
    (nano_rlhf/distributed.py), and each rank's loss is rescaled to its part of the minibatch's normaliser."""
    T, G = cfg.temperature, cfg.group_size
    phases = phases or Phases()          # not profiled: laps that are never read, and never wait for a GPU
    policy.train()
    stats, losses = [], []
    n_groups = int(distributed.all_sum(exp.seq.size(0) // G))   # the global rollout's groups
    per_mb = n_groups // cfg.minibatches
    in_group = torch.arange(G, device=exp.seq.device)
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n_groups, generator=gen, device=exp.seq.device)
        for i in range(cfg.minibatches):
            mine = distributed.local_rows(perm[i * per_mb:(i + 1) * per_mb], n_groups)   # my groups of it
            j = (mine[:, None] * G + in_group).reshape(-1)                               # rows of whole groups
            mask = exp.mask[j]
            with autocast():
                logits = response_logits(policy, exp.seq[j], exp.attn[j], exp.n_prompt)     # (mb, T, V)
            logprobs = token_logprobs(logits, exp.tokens[j], T, exp.pad_id)
            if exp.logprobs is None:          # on-policy: this pass is pi_old (score skipped it), the ratio is 1
                exp.logprobs = torch.zeros_like(exp.mask)
                exp.logprobs[j] = logprobs.detach() * mask
            w = loss_weights(mask, cfg.loss_agg, max_new)
            loss, pg_stats = policy_loss(logprobs, exp.logprobs[j], exp.advantages[j], mask, cfg.clip_eps, w)
            if cfg.kl_in == "loss" and cfg.beta > 0:
                # GRPO's k3 = pi_SFT/pi - log(pi_SFT/pi) - 1 per token, differentiated: its expected gradient is
                # that of KL(pi_SFT || pi), not of KL(pi || pi_SFT) (lesson 9; Tang & Munos 2025)
                k3 = kl_per_token(logprobs, exp.ref_logprobs[j])[1]
                loss = loss + cfg.beta * (k3 * w).sum()
            losses.append(loss.detach())
            phases.lap("update: forward")
            opt.zero_grad(set_to_none=True)
            # torchrun: the weights normalise by my tokens (token-mean) or responses (the others); rescaled to
            # all ranks' count, the summed gradients are those of the one-process loss
            (loss * distributed.share(mask if cfg.loss_agg == "token-mean" else mask[:, :1])).backward()
            distributed.all_reduce_grads(policy)
            phases.lap("update: backward")
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            opt.step()
            phases.lap("update: optimiser")
            if epoch == 0:
                with torch.no_grad():
                    pg_stats["entropy"] = masked_mean(entropy_from_logits(logits, T, exp.pad_id), mask)
            stats.append({**pg_stats, "loss": loss.detach()})
            phases.lap("update: stats")
    check_finite(torch.stack(losses), "GRPO loss", it)   # read back once per update (as PPO's update does)
    return [dict(zip(s, torch.stack(list(s.values())).tolist())) for s in stats]
# [/lesson:update]


# ----------------------------------------------------------------------------------------------------------------
# Reporting beside PPO's report: pass@k on the held-out sum prompts, and the group statistics of a rollout

def pass_report(policy, tok, world, prompts: list[str], cfg: Config, max_new: int, seed: int, device, autocast):
    """pass@1 and pass@k (Chen et al. 2021) by the verifier on --pass-samples samples of each held-out sum prompt,
    with SEs over the prompts, and gold (with its components) of those samples."""
    samples = sample_policy(policy, tok, [p for p in prompts for _ in range(cfg.pass_samples)],
                            max_new_tokens=max_new, temperature=cfg.temperature, seed=seed, device=device,
                            autocast=autocast)
    n, rep = cfg.pass_samples, gold_report(world, samples)    # gold: reported only, never fed back
    correct = [sum(verify(s.prompt, s.response) * s.ended for s in samples[i * n:(i + 1) * n])
               for i in range(len(prompts))]
    out = {"n_prompts": len(prompts), "n_samples": len(samples), "k": cfg.pass_k, "gold": rep["gold_reward"],
           "gold_se": rep["gold_reward_se"], "gold_components": rep["gold_components"]}
    for k in (1, cfg.pass_k):
        out[f"pass@{k}"], out[f"pass@{k}_se"] = mean_se([pass_at_k(n, int(c), k) for c in correct])
    return out


def group_stats(rewards, G: int) -> dict:
    """Mean reward, mean within-group std, and the fraction of groups whose rewards are all equal (no signal)."""
    r = rewards.view(-1, G)
    spread = r.max(1).values - r.min(1).values
    return {"reward": float(r.mean()), "group_std": float(r.std(1).mean()), "zero_spread": float((spread <= 1e-6)
                                                                                                 .float().mean())}


def main(cfg: Config) -> dict:
    # ------------------------------------------------------------------------------------------------------------
    # Setup: the policy, the frozen reference and (for an RM reward) the frozen RM; no critic
    timer = Timer()
    device, autocast = setup_run(cfg, OUTPUTS)   # checks every flag and output first (one line, exit code 2)
    phases = Phases(device)                      # where the time goes: printed at the end, kept in the summary
    if cfg.prompts_per_iteration % distributed.world():   # torchrun: every rank holds the same number of groups
        raise UserError(f"--prompts-per-iteration {cfg.prompts_per_iteration} is not a multiple of the "
                        f"{distributed.world()} ranks")
    sft = load_checkpoint(f"{cfg.out_dir}/sft.pt", "sft")
    rm_path, rm_ckpt = f"{cfg.out_dir}/rm.pt", None
    if cfg.reward != "verifier" or os.path.exists(rm_path):
        try:                                          # "not found: run `python train_rm.py` first" when missing
            rm_ckpt = load_checkpoint(rm_path, "rm")
            check_parent(rm_ckpt, sft, rm_path, f"{cfg.out_dir}/sft.pt")
        except UserError as e:
            if cfg.reward != "verifier":
                raise
            warn(f"{e}; the report leaves the RM score out")   # a yardstick only with the verifier
            rm_ckpt = None
    tok = load_tokenizer(sft)
    world = World(sft["config"]["world_seed"])
    max_new = cfg.max_new_tokens or sft["config"]["max_new_tokens"]
    norm = rm_ckpt["reward_norm"] if rm_ckpt else {"gain": 1.0, "bias": 0.0}

    policy = build_policy(sft, device)                # trained
    ref = build_policy(sft, device).eval()            # frozen pi_SFT
    rm = build_value_model(rm_ckpt, device).eval() if rm_ckpt else None
    for m in (policy, ref) + ((rm.gpt,) if rm else ()):
        m.set_dropout(0.0)                            # dropout off: it would make log-probs and ratios noisy
    for m in (ref,) + ((rm,) if rm else ()):
        m.requires_grad_(False)
    reward_rm = rm if cfg.reward != "verifier" else None   # the RM scores rollouts only when it is the reward
    opt = make_optimizer(policy.parameters(), cfg.lr)
    rng = random.Random(cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    # the training prompts; the verifier checks sums only, so --reward verifier samples only the sum prompts, which
    # it recognises itself from the question's text (verifier.is_sum), as a real checker reads its dataset
    train_texts = [p.text for p in world.train_prompts]
    if cfg.reward == "verifier":
        train_texts = [t for t in train_texts if is_sum(t)]
    train_ids = [tok.encode(t) for t in train_texts]
    sum_eval = [p.text for p in world.split(cfg.eval_split) if is_sum(p.text)]
    phases.lap("load")
    reporter = PPOReporter(cfg, world, tok, ref, rm, norm, LABELER_TEMPERATURE, max_new, device, autocast,
                           stage="grpo")
    passes = {}                                       # iteration -> pass@k report on the held-out sums
    phases.lap("held-out evaluation")
    start = 0
    if cfg.resume:                                    # continue from the last evaluation an interrupted run reached
        start, extra = resume.restore(cfg, "grpo", {"policy": policy}, {"policy": opt}, rng, gen, reporter.metrics)
        passes = {int(k): v for k, v in extra["passes"].items()}

    world.seal()            # gold-free from here on: only the reports may read gold (nano_rlhf/world.py)
    for it in range(start, cfg.iterations + 1):
        if ((it % cfg.eval_interval == 0 or it == cfg.iterations) and not (cfg.resume and it == start)
                and distributed.is_main()):                # torchrun: rank 0 alone evaluates
            reporter.evaluate(policy, it)
            with world.reporting():
                passes[it] = pass_report(policy, tok, world, sum_eval, cfg, max_new,
                                         eval_seed(cfg.eval_split, cfg.seed + 40_000 + it), device, autocast)
            reporter.metrics.log("pass", iteration=it, **passes[it])
            if it < cfg.iterations:                   # what --resume needs to continue from here
                resume.save_state(cfg, "grpo", it, {"policy": policy}, {"policy": opt}, rng, gen, reporter.metrics,
                                  passes={str(k): v for k, v in passes.items()})
            print(f"[pass it {it:3d}] {len(sum_eval)} held-out sums x {cfg.pass_samples}: pass@1 "
                  f"{passes[it]['pass@1']:.3f} ± {passes[it]['pass@1_se']:.3f} | pass@{cfg.pass_k} "
                  f"{passes[it][f'pass@{cfg.pass_k}']:.3f} | gold on sums {passes[it]['gold']:+.3f}")
            phases.lap("held-out evaluation")
        if it == cfg.iterations:
            break
        set_lr(opt, cfg.lr * (1.0 - it / cfg.iterations))   # learning rate annealed linearly to 0

        # --------------------------------------------------------------------------------------------------------
        # 1. Rollout: G samples of each prompt   2.-3. score, rewards, group advantages   4. update
        batch = [rng.randrange(len(train_ids)) for _ in range(cfg.prompts_per_iteration)]
        batch = distributed.shard(batch)                                           # torchrun: my prompts
        gen_sample, gen_shared = distributed.generators(gen, cfg.seed, it)         # one process: both are gen
        rows = [i for i in batch for _ in range(cfg.group_size)]                   # grouped: G copies in a row
        p_idx, p_mask = left_pad([train_ids[i] for i in rows], tok.pad_id, device)
        exp = rollout(policy, p_idx, p_mask, cfg, max_new, tok.eos_id, tok.pad_id, gen_sample, autocast)
        t_rollout = phases.lap("rollout")
        texts = [train_texts[i] for i in rows]
        lengths = exp.mask.sum(1).long().tolist()
        responses = [tok.decode(exp.tokens[r, :n].tolist()) for r, n in enumerate(lengths)]
        verified = torch.tensor([verify(p, y) for p, y in zip(texts, responses)], device=device)
        rewards = score(exp, policy, ref, reward_rm, norm, verified, cfg, autocast, tok)
        t_score = phases.lap("score")
        update_start = phases.last
        stats = update(exp, policy, opt, cfg, max_new, gen_shared, autocast, it, phases)
        check_finite_weights(policy, "policy", it)        # before the next rollout samples from it
        phases.lap("update: optimiser")
        t_update = phases.last - update_start
        kl, kl_k3 = rollout_kl(exp)

        # gold of the training rollouts: printed for the student, never used by the algorithm
        with world.reporting():
            golds = [world.gold_reward(p, y, ended=bool(e)).total
                     for p, y, e in zip(texts, responses, exp.ended.tolist())]
        on_sums = [float(v) for v, p in zip((verified * exp.ended).tolist(), texts) if is_sum(p)]
        # the line is the global rollout's: every rank's share of it, gathered (torchrun; one process: its own)
        parts = distributed.gather((rewards.tolist(), exp.scores.tolist(), exp.mask.sum(1).tolist(), golds, on_sums,
                                    stats))
        if not distributed.is_main():
            continue
        rewards, scores, lengths, golds, on_sums, stats = ([x for p in parts for x in p[k]] for k in range(6))
        mean = lambda k: float(np.mean([s[k] for s in stats if k in s]))  # noqa: E731
        row = {"iteration": it, **group_stats(torch.tensor(rewards), cfg.group_size),
               "rm": float(torch.tensor(scores).mean()), "kl": kl, "kl_k3": kl_k3, "beta": cfg.beta,
               "entropy": mean("entropy"), "clipfrac": mean("clipfrac"), "approx_kl": mean("approx_kl"),
               "loss": mean("loss"), "length": float(torch.tensor(lengths).mean()),
               "pass_rate": float(np.mean(on_sums)) if on_sums else float("nan"), "gold": float(np.mean(golds)),
               "t_rollout": t_rollout, "t_score": t_score, "t_update": t_update}
        reporter.metrics.log("iteration", **row)
        print(f"it {it:3d} | reward {row['reward']:+.3f} | std {row['group_std']:.3f} | flat {row['zero_spread']:.2f} "
              f"| gold {row['gold']:+.3f} | kl {kl:6.2f} (k3 {kl_k3:5.2f}) | ent {row['entropy']:.2f} | clip "
              f"{row['clipfrac']:.3f} | loss {row['loss']:+.4f} | len {row['length']:4.1f} | pass "
              f"{row['pass_rate']:.2f} | t {t_rollout:.2f}/{t_score:.2f}/{t_update:.2f}s")
        phases.lap("logging")
    world.unseal()

    # ------------------------------------------------------------------------------------------------------------
    # Save: the final checkpoint is the one reported (no gold-based selection)
    if not distributed.is_main():                         # torchrun: rank 0 alone reports and writes
        return {}
    summary = reporter.summary(policy, iterations=cfg.iterations, wall_seconds=timer())
    first, last = passes[0], passes[cfg.iterations]
    summary.update({"advantage": cfg.advantage, "loss_agg": cfg.loss_agg, "kl_in": cfg.kl_in, "reward": cfg.reward,
                    "beta": cfg.beta, "group_size": cfg.group_size, "pass_k": cfg.pass_k,
                    "response_length_sft": reporter.sft["response_length"],
                    "response_length_grpo": reporter.last["response_length"],
                    "pass_sft": first, "pass_grpo": last, "pass_history": reporter.metrics.rows("pass")})
    parents = {"sft": sft["id"], **({"rm": rm_ckpt["id"]} if reward_rm is not None else {})}
    save_checkpoint(f"{cfg.out_dir}/grpo.pt", stage="grpo", model=policy, tokenizer=tok, config=cfg,
                    metrics=summary, parents=parents)
    phases.lap("save")
    reporter.write(summary, phases)
    resume.finish(cfg, "grpo")
    print(f"held-out sums ({first['n_prompts']} prompts x {cfg.pass_samples}): pass@1 {first['pass@1']:.3f} -> "
          f"{last['pass@1']:.3f} ± {last['pass@1_se']:.3f}, pass@{cfg.pass_k} {first[f'pass@{cfg.pass_k}']:.3f} -> "
          f"{last[f'pass@{cfg.pass_k}']:.3f}; response length {summary['response_length_sft']:.1f} -> "
          f"{summary['response_length_grpo']:.1f} tokens")
    return summary


if __name__ == "__main__":
    run_cli(main, parse_config(Config, PRESETS, sys.argv[1:]))
