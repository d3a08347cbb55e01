"""Direct preference optimisation (DPO): the policy learns from the preference pairs directly, with no reward model
and no sampling during training.

    python train_dpo.py                    # after train_sft.py and train_rm.py; laptop CPU, ~1 minute
    python train_dpo.py --beta 0.1         # the DPO paper's usual value: more KL here, and less gold (below)
    python train_dpo.py --data prefs.jsonl # your own {"prompt", "chosen", "rejected"} lines
    python train_dpo.py --resume           # continue an interrupted run from its last progress line
    torchrun --standalone --nproc_per_node 2 train_dpo.py   # data parallel: each rank a slice of every batch
    python train_dpo.py --preset test      # seconds, for tests

Rafailov et al. 2023: the KL-regularised RLHF objective has the optimum pi*(y|x) = pi_ref(y|x) exp(r(x,y)/beta)/Z(x).
Solved for r and put into the Bradley-Terry likelihood of a labelled pair y_w > y_l, Z(x) cancels, and what is left
is a classification loss on the policy alone (lesson 7):

    loss = -log sigmoid( beta * [ (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)) ] )

The data are the pairs train_rm.py labelled and saved to out/preferences.jsonl (SFT samples compared by the
simulated labeler), so DPO and the RM learn from exactly the same comparisons; pi_ref is the SFT model, which also
sampled the pairs, the setting Rafailov et al. recommend. The held-out report is PPO's: gold reward, win rate
against SFT samples, KL to SFT at the sampling temperature, and the RM's score when out/rm.pt exists (the RM is
only a yardstick here: DPO never reads it).

Defaults (beta 0.3, lr 1e-4, one epoch, 32 pairs a step) were chosen by comparing complete runs afterwards, never
inside a run, on the DEV split (lessons/experiments/frontier.py --eval-split dev; 480 samples, SE by prompt about
0.1): beta 0.3 +0.79 at KL 1.3 nats, beta 1.0 +0.66 at KL 0.5, beta 0.1 +0.06 at KL 3.9 (SFT about -0.3). On an
earlier version of the world, beta 0.1 with a second epoch or lr 2e-4 went further from SFT (KL 5-6) for less gold,
and a second seed moved gold by 0.6 (beta 0.1) and 0.35 (beta 0.3). The second epoch raised the training accuracy
(0.70 -> 0.74) while gold fell: it fits the labeler's noise. Reported numbers are on the test split (README.md).

Simplifications: sequence log-probs of the frozen reference are computed once before training (it never changes);
no SFT term on the chosen responses, no label smoothing (conservative DPO), no length normalisation; the stopping
rule is a fixed number of epochs (gold never picks a checkpoint or a hyperparameter inside the run).
"""
import nano_rlhf  # noqa: F401  (first: a Ctrl-C while torch imports is one line, see its docstring)
import os
import random
import sys
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nano_rlhf import distributed, resume
from nano_rlhf.checkpoint import (build_policy, build_value_model, check_parent, load_checkpoint, load_tokenizer,
                                  save_checkpoint)
from nano_rlhf.common import (Timer, UserError, check_finite, check_finite_weights, cosine_lr, device_problem, field,
                              make_optimizer, parse_config, run_cli, set_lr, setup_run, warn)
from nano_rlhf.data import DataError, file_sha256, left_pad, load_preference_jsonl, read_preference_meta, right_pad
from nano_rlhf.evaluate import (format_component_changes, format_side_by_side, gold_report, kl_per_token,
                                policy_report, response_logprobs, sample_policy, win_rate)
from nano_rlhf.files import MetricsLog, write_json
from nano_rlhf.model import response_logits, token_logprobs
from nano_rlhf.plots import plot_curves
from nano_rlhf.stats import clustered_mean_se
from nano_rlhf.world import LABELER_TEMPERATURE, World, eval_seed

# ----------------------------------------------------------------------------------------------------------------
# Config


@dataclass
class Config:
    # run
    preset: str = field("default", "default (laptop CPU), test (seconds) or gpu")
    out_dir: str = field("out", "folder holding sft.pt and preferences.jsonl (and rm.pt for the report); "
                                "dpo.pt, dpo_summary.json, dpo_metrics.jsonl and dpo_curves.png go here",
                         path="out_dir")
    seed: int = field(0, "random seed", ge=0, lt=2**32)
    device: str = field("auto", "auto (cuda if available, else cpu), cpu, cuda, ...", check=device_problem)
    threads: int = field(2, "CPU intra-op threads (0: torch's default), at most the machine's cores; 1 can be "
                            "faster on a 2-core machine that other programs keep busy", ge=0, le=1024)
    # data
    data: str = field("", "JSONL of {\"prompt\", \"chosen\", \"rejected\"} lines; default <out_dir>/preferences.jsonl",
                      path="file")
    # DPO
    beta: float = field(0.3, "KL strength: implicit reward = beta * log(pi / pi_ref); larger stays closer to SFT",
                        gt=0, le=1000)
    # optimisation
    resume: bool = field(False, "continue an interrupted run from <out_dir>/dpo_state.pt (written at every progress "
                                "line), with the same flags")
    epochs: int = field(1, "passes over the pairs (fixed in advance; DPO overfits the pairs quickly)", ge=1,
                        le=1000)
    batch_size: int = field(32, "pairs per step (2x sequences: chosen and rejected)", ge=1, le=65536)
    lr: float = field(1e-4, "peak learning rate (AdamW), cosine-annealed to a tenth", gt=0, le=1)
    warmup_steps: int = field(10, "linear warmup steps", ge=0, le=10**8)
    weight_decay: float = field(0.0, "AdamW weight decay", ge=0, le=10)
    grad_clip: float = field(1.0, "clip the gradient norm to this", gt=0)
    log_interval: int = field(20, "steps between progress lines", ge=1, le=10**8)
    # evaluation (reporting only: gold never steers the run)
    eval_split: str = field("test", "held-out prompts of the report: test (reported numbers) or dev (for choices: "
                                    "defaults, ablations)", choices=["dev", "test"])
    eval_samples: int = field(480, "held-out samples for the report, cycling over the held-out prompts (win rate "
                                   "n); as train_ppo.py's, so that both draw the same SFT samples", ge=1, le=10**6)
    temperature: float = field(1.0, "sampling temperature of the report; the KL is measured at it too", ge=0.01,
                               le=100)
    max_new_tokens: int = field(0, "longest sampled response (0: the SFT run's setting)", ge=0, le=65536)
    no_eos_penalty: float = field(-2.0, "RM score reported for a response without EOS (PPO's penalty)", ge=-1000,
                                  le=1000)


PRESETS = {
    "default": {},
    "test": dict(threads=1, batch_size=8, log_interval=2, eval_samples=16, warmup_steps=2, lr=1e-3),
    "gpu": dict(batch_size=64, eval_samples=1000, threads=0),
}
# the files a run writes into --out-dir (checked before any work: none may be a folder)
OUTPUTS = ("dpo.pt", "dpo_summary.json", "dpo_metrics.jsonl", "dpo_metrics.partial.jsonl", "dpo_curves.png",
           "dpo_state.pt")


# [lesson:dpo_loss]
def dpo_loss(logps_chosen, logps_rejected, ref_logps_chosen, ref_logps_rejected, beta: float):
    """The DPO loss (Rafailov et al. 2023, eq. 7), averaged over pairs.  (B,) x4 -> scalar

    Every input is a SEQUENCE log-prob, log pi(y|x): the sum of the response tokens' log-probs, EOS included.
    beta * (log pi(y) - log pi_ref(y)) is the implicit reward of a response; the loss is the Bradley-Terry loss
    -log sigmoid(r_w - r_l) of those rewards (bt_loss of train_rm.py, with the policy as the reward model).
    """
    # BEGIN SOLUTION
    chosen = logps_chosen.float() - ref_logps_chosen.float()          # log pi(y_w) / pi_ref(y_w)
    rejected = logps_rejected.float() - ref_logps_rejected.float()    # log pi(y_l) / pi_ref(y_l)
    return -F.logsigmoid(beta * (chosen - rejected)).mean()
    # END SOLUTION
# [/lesson:dpo_loss]


def encode_pairs(tok, pairs, block_size: int):
    """(prompt, chosen, rejected) strings -> (prompt ids, chosen ids + EOS, rejected ids + EOS); too long dropped."""
    out, dropped = [], 0
    for p, c, r in pairs:
        ids = (tok.encode(p), tok.encode(c) + [tok.eos_id], tok.encode(r) + [tok.eos_id])
        if len(ids[0]) + max(len(ids[1]), len(ids[2])) > block_size + 1:    # +1: the last token is never an input
            dropped += 1
        else:
            out.append(ids)
    return out, dropped


def summed_logprobs(model, prompts, responses, pad_id: int, device, autocast):
    """log pi(response | prompt) of each pair of token lists: the sum over the response tokens, EOS included.

    Prompts are left-padded and responses right-padded, so every response starts at the same column P (what
    response_logits expects).  N prompts, N responses -> (N,) fp32
    Every row fits the block on its own (encode_pairs), but the padded width is the longest prompt plus the
    longest response of the batch; when that is wider than the block, each half of the batch goes alone.
    """
    if max(map(len, prompts)) + max(map(len, responses)) - 1 > model.cfg.block_size and len(prompts) > 1:
        h = len(prompts) // 2
        return torch.cat([summed_logprobs(model, prompts[:h], responses[:h], pad_id, device, autocast),
                          summed_logprobs(model, prompts[h:], responses[h:], pad_id, device, autocast)])
    p_idx, p_mask = left_pad(prompts, pad_id, device)                   # (N, P)
    r_idx, r_mask = right_pad(responses, pad_id, device)                # (N, R)
    seq, attn = torch.cat([p_idx, r_idx], 1), torch.cat([p_mask, r_mask], 1)
    with autocast():
        logits = response_logits(model, seq, attn, p_idx.size(1))       # (N, R, V)
    return (token_logprobs(logits, r_idx, pad_id=pad_id) * r_mask).sum(1)   # (N,) pads contribute 0


def sequence_logprobs(model, batch, pad_id: int, device, autocast):
    """Summed log-probs of the chosen and of the rejected responses of a batch of encoded pairs, in one pass.
    -> logps_chosen (B,), logps_rejected (B,)"""
    logps = summed_logprobs(model, [p for p, _, _ in batch] * 2, [c for _, c, _ in batch] + [r for _, _, r in batch],
                            pad_id, device, autocast)
    return logps[:len(batch)], logps[len(batch):]


def epoch_batches(data, batch_size: int, rng: random.Random, bucket: int = 16):
    """One epoch of shuffled batches of pair indices; each window of `bucket` batches is sorted by length before it
    is cut, so a batch holds pairs of similar length (less padding; the trick of data.sft_batches). The last batch
    of a window may be smaller: every pair, the longest too, is seen once per epoch."""
    order = list(range(len(data)))
    rng.shuffle(order)
    window, batches = batch_size * bucket, []
    for w in range(0, len(order), window):
        chunk = sorted(order[w:w + window], key=lambda i: max(len(data[i][1]), len(data[i][2])))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < distributed.world():   # torchrun: leave no rank without a pair
        batches[-2] += batches.pop()
    rng.shuffle(batches)
    return batches


@torch.no_grad()
def reference_logprobs(ref, data, pad_id: int, device, autocast, batch_size: int = 256):
    """log pi_ref of every chosen and rejected response, once before training: the reference is frozen.

    Each SFT sample of train_rm.py appears in K - 1 pairs, so every distinct (prompt, response) is scored once,
    in batches of similar lengths (less padding). -> ref_chosen (n_pairs,), ref_rejected (n_pairs,)
    Under bf16 these batches are not the training pass's, and the numbers differ: on the default chain (CPU bf16
    autocast) by at most 3.3e-2 nats per sequence from sequence_logprobs on the training batches of 32 (0.4% of
    |log pi|; 99% of sequences under 6e-4 per token; the loss at step 0 is log 2 within 2e-4), 1.2e-1 with a bf16
    LM head (model.GPT.forward). The rest is the bf16 attention kernel rounding differently at another padded
    width; only the reference computed on the training batches themselves would remove it (tests/test_bf16.py).
    """
    seqs = sorted({(tuple(p), tuple(r)) for p, c, rj in data for r in (c, rj)}, key=lambda x: (len(x[1]), x))
    logp = {}
    for i in range(0, len(seqs), batch_size):
        chunk = seqs[i:i + batch_size]
        out = summed_logprobs(ref, [p for p, _ in chunk], [r for _, r in chunk], pad_id, device, autocast)
        logp.update(zip(chunk, out.tolist()))
    chosen = torch.tensor([logp[tuple(p), tuple(c)] for p, c, _ in data], device=device)
    rejected = torch.tensor([logp[tuple(p), tuple(r)] for p, _, r in data], device=device)
    return chosen, rejected


def held_out_report(policy, ref, rm, norm, tok, world, prompts, cfg, max_new, seed, sft_samples, device, autocast):
    """PPO's report (evaluate.policy_report) when there is an RM; without one, the same minus the RM fields."""
    kw = dict(temperature=cfg.temperature, max_new_tokens=max_new, seed=seed, device=device, autocast=autocast)
    if rm is not None:
        return policy_report(policy, ref, rm, norm, tok, world, prompts, no_eos_penalty=cfg.no_eos_penalty,
                             tau=LABELER_TEMPERATURE, sft_samples=sft_samples, **kw)
    samples = sample_policy(policy, tok, prompts, **kw)
    rep = gold_report(world, samples)
    lp = response_logprobs(policy, tok, samples, cfg.temperature, device, autocast)
    ref_lp = response_logprobs(ref, tok, samples, cfg.temperature, device, autocast)
    k1, k3 = zip(*[(float(a.sum()), float(b.sum())) for a, b in (kl_per_token(x, y) for x, y in zip(lp, ref_lp))])
    prompts = [s.prompt for s in samples]
    rep.update({"kl": float(np.mean(k1)), "kl_se": clustered_mean_se(k1, prompts)[1], "kl_k3": float(np.mean(k3)),
                "response_length": float(np.mean([len(s.tokens) for s in samples]))})
    if sft_samples is not None:
        rep.update(win_rate(world, samples, sft_samples, LABELER_TEMPERATURE))
    rep["samples"] = samples
    return rep


def main(cfg: Config) -> dict:
    # ------------------------------------------------------------------------------------------------------------
    # Setup: the SFT checkpoint is both the starting point and the frozen reference
    timer = Timer()
    device, autocast = setup_run(cfg, OUTPUTS)   # checks every flag and output first (one line, exit code 2)
    sft = load_checkpoint(f"{cfg.out_dir}/sft.pt", "sft")
    data_path = cfg.data or f"{cfg.out_dir}/preferences.jsonl"
    if not os.path.isfile(data_path):
        raise UserError(f"{data_path} " + ("is not a regular file" if os.path.lexists(data_path) else "not found") +
                        ": run `python train_rm.py` first (it labels and saves the preference pairs), or pass --data")
    # pi_ref must be the policy that sampled the pairs (Rafailov et al. 2023): train_rm.py's sidecar says which
    meta, why = read_preference_meta(data_path)
    if meta is not None and meta["sampler"] not in (None, sft["id"]):
        raise UserError(f"{data_path} was sampled by another SFT model (id {meta['sampler']}) than "
                        f"{cfg.out_dir}/sft.pt (id {sft['id']}); DPO's reference must be the model that sampled the "
                        "pairs: re-run `python train_rm.py` to sample and label pairs from this SFT model")
    if meta is None or meta["sampler"] is None:
        warn(f"{data_path}: {why or 'its sampler is unknown'}, so DPO cannot check that {cfg.out_dir}/sft.pt, its "
             "reference, sampled these pairs")
    rm_ckpt = load_checkpoint(f"{cfg.out_dir}/rm.pt", "rm") if os.path.exists(f"{cfg.out_dir}/rm.pt") else None
    if rm_ckpt is not None:
        try:
            check_parent(rm_ckpt, sft, f"{cfg.out_dir}/rm.pt", f"{cfg.out_dir}/sft.pt")
        except UserError as e:      # the RM is only a yardstick here: leave it out rather than stop
            warn(f"{e}; the report leaves the RM score out")
            rm_ckpt = None
    tok = load_tokenizer(sft)
    world = World(sft["config"]["world_seed"])
    max_new = cfg.max_new_tokens or sft["config"]["max_new_tokens"]

    policy = build_policy(sft, device)                # trained
    ref = build_policy(sft, device).eval()            # frozen pi_ref = pi_SFT
    rm = build_value_model(rm_ckpt, device).eval() if rm_ckpt else None    # reporting only
    norm = rm_ckpt["reward_norm"] if rm_ckpt else None
    for m in (policy, ref):
        m.set_dropout(0.0)                            # dropout off: log-prob differences must not be noise
    ref.requires_grad_(False)

    # ------------------------------------------------------------------------------------------------------------
    # Data: the labelled pairs, tokenised; the reference's sequence log-probs computed once
    remake = "" if cfg.data else "; re-create it with `python train_rm.py`"
    try:
        pairs = load_preference_jsonl(data_path)
    except DataError as e:
        raise DataError(f"{e}{remake}") from None
    data, dropped = encode_pairs(tok, pairs, policy.cfg.block_size)
    if not data:
        raise UserError(f"{data_path}: no usable preference pairs ({len(pairs)} read, {dropped} too long){remake}")
    if min(cfg.batch_size, len(data)) < distributed.world():   # torchrun: every rank needs a pair of each batch
        raise UserError(f"{min(cfg.batch_size, len(data))} pairs per batch cannot feed {distributed.world()} ranks: "
                        f"use a --batch-size of at least {distributed.world()}, or fewer processes")
    # every rank computes all of them (once, and cheap): the same numbers as one process, under bf16 too
    ref_chosen, ref_rejected = reference_logprobs(ref, data, tok.pad_id, device, autocast)
    print(f"data: {len(data)} pairs from {data_path} ({dropped} too long for block_size dropped); reference "
          f"log-probs: chosen {ref_chosen.mean():.2f}, rejected {ref_rejected.mean():.2f} per response "
          f"({timer():.0f}s)")

    split = world.split(cfg.eval_split)
    eval_prompts = [split[i % len(split)].text for i in range(cfg.eval_samples)]
    report = lambda model, seed, sft_samples=None: held_out_report(  # noqa: E731
        model, ref, rm, norm, tok, world, eval_prompts, cfg, max_new, seed, sft_samples, device, autocast)
    if distributed.is_main():                         # torchrun: rank 0 alone reports
        sft_rep = report(ref, seed=eval_seed(cfg.eval_split, cfg.seed + 10_000))   # train_ppo.py's SFT samples
        print(f"SFT on {len(eval_prompts)} samples of the {cfg.eval_split} split: gold {sft_rep['gold_reward']:+.3f} "
              f"± {sft_rep['gold_reward_se']:.3f}" + (f", RM {sft_rep['rm_reward']:+.3f}" if rm else "") +
              f" ({timer():.0f}s)")

    # ------------------------------------------------------------------------------------------------------------
    # Training loop
    opt = make_optimizer(policy.parameters(), cfg.lr, cfg.weight_decay)
    rng = random.Random(cfg.seed)
    epochs = [epoch_batches(data, cfg.batch_size, rng) for _ in range(cfg.epochs)]
    total = sum(len(e) for e in epochs)
    keys = ("loss", "accuracy", "margin", "logp_chosen", "logp_rejected", "reward_chosen", "reward_rejected")
    metrics = MetricsLog(cfg.out_dir, "dpo")          # one row per step, on disk as it happens
    recent = {k: deque(maxlen=cfg.log_interval) for k in keys}   # for the progress line and final_train
    policy.train()
    step, start = 0, 0
    if cfg.resume:                                    # continue after the last progress line an interrupted run printed
        start, extra = resume.restore(cfg, "dpo", {"policy": policy}, {"policy": opt}, None, None, metrics)
        for k in keys:
            recent[k].extend(extra["recent"][k])
    world.seal()                # gold-free until the report: DPO learns from the pairs alone (nano_rlhf/world.py)
    for epoch, batches in enumerate(epochs):
        for j in batches:
            if step < start:                          # done before the interruption (the batches are drawn up front)
                step += 1
                continue
            set_lr(opt, cosine_lr(step, total, cfg.lr, cfg.warmup_steps))
            j = distributed.shard(j)                  # torchrun: this rank's pairs of the global batch
            logps_c, logps_r = sequence_logprobs(policy, [data[k] for k in j], tok.pad_id, device, autocast)
            loss = dpo_loss(logps_c, logps_r, ref_chosen[j], ref_rejected[j], cfg.beta)
            loss = loss * distributed.share(torch.ones_like(logps_c))   # torchrun: my pairs' sum / ALL ranks' pairs
            check_finite(loss, "DPO loss", step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            distributed.all_reduce_grads(policy)      # torchrun: the ranks' gradients summed = the global mean's
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            opt.step()
            with torch.no_grad():   # implicit rewards beta * log(pi / pi_ref): the policy read as a reward model
                r_c, r_r = cfg.beta * (logps_c - ref_chosen[j]), cfg.beta * (logps_r - ref_rejected[j])
                mean = lambda x: float(distributed.mean(x))   # noqa: E731  (over all ranks' pairs)
                row = {"loss": distributed.all_sum(loss).item(),
                       "accuracy": mean(((r_c > r_r) + 0.5 * (r_c == r_r)).float()),
                       "margin": mean(r_c - r_r), "logp_chosen": mean(logps_c),
                       "logp_rejected": mean(logps_r), "reward_chosen": mean(r_c),
                       "reward_rejected": mean(r_r)}
            metrics.log("train", step=step, epoch=epoch, **row)
            for k in keys:
                recent[k].append(row[k])
            if step % cfg.log_interval == 0 or step == total - 1:
                # Watch logp_chosen: it often FALLS too. The loss only sees the margin, so both log-probs may drop
                # as long as the rejected one drops faster; chosen and rejected answers to one prompt share most
                # of their tokens (same question, same sentence frames), so pushing a rejected answer down drags
                # the chosen one with it, and the freed probability goes to responses in neither set. The raw
                # log-probs also swing with the batch's response lengths; "reward chosen" = beta * (log pi(y_w) -
                # log pi_ref(y_w)) is the same signal measured against the reference: below 0 means fallen. Worry
                # only if the margin stops growing or the held-out report degrades (lessons/TROUBLESHOOTING.md).
                m = {k: np.mean(v) for k, v in recent.items()}
                print(f"epoch {epoch} step {step:4d} | loss {m['loss']:.4f} | acc {m['accuracy']:.3f} | margin "
                      f"{m['margin']:+.3f} | logp chosen {m['logp_chosen']:7.2f} rejected {m['logp_rejected']:7.2f} | "
                      f"reward chosen {m['reward_chosen']:+.3f} rejected {m['reward_rejected']:+.3f} | "
                      f"{timer():.0f}s")
                if step < total - 1:                  # what --resume needs to continue from here
                    resume.save_state(cfg, "dpo", step + 1, {"policy": policy}, {"policy": opt}, None, None, metrics,
                                      recent={k: list(v) for k, v in recent.items()})
            step += 1
    world.unseal()
    check_finite_weights(policy, "DPO policy", step - 1)
    policy.eval()
    train_seconds = timer()
    if not distributed.is_main():                     # torchrun: rank 0 alone reports and writes
        return {}

    # ------------------------------------------------------------------------------------------------------------
    # Report on held-out prompts (gold used for reporting only), the same numbers as train_ppo.py's summary
    rep = report(policy, seed=eval_seed(cfg.eval_split, cfg.seed + 20_000), sft_samples=sft_rep["samples"])
    best = world.gold_reward_best(eval_prompts)
    summary = {
        "split": cfg.eval_split, "n_prompts": rep["n_prompts"],
        "gold_reward_sft": sft_rep["gold_reward"], "gold_reward_sft_se": sft_rep["gold_reward_se"],
        "gold_reward_dpo": rep["gold_reward"], "gold_reward_dpo_se": rep["gold_reward_se"],
        "gold_reward_best": best,
        "gold_gain_fraction": (rep["gold_reward"] - sft_rep["gold_reward"]) / (best - sft_rep["gold_reward"]),
        "gold_gain": rep["gold_diff"], "gold_gain_se": rep["gold_diff_se"],   # DPO - SFT, paired by prompt
        "gold_components_sft": sft_rep["gold_components"], "gold_components_dpo": rep["gold_components"],
        "win_rate_vs_sft": rep["win_rate"], "win_rate_vs_sft_se": rep["win_rate_se"],
        "soft_win_rate_vs_sft": rep["soft_win_rate"], "soft_win_rate_vs_sft_se": rep["soft_win_rate_se"],
        "kl": rep["kl"], "kl_se": rep["kl_se"], "kl_k3": rep["kl_k3"],
        "eos_rate_dpo": rep["eos_rate"], "response_length_dpo": rep["response_length"],
        "response_length_sft": sft_rep["response_length"], "n_eval": rep["n"],
        "n_pairs": len(data), "pairs_dropped": dropped, "data": data_path, "beta": cfg.beta, "epochs": cfg.epochs,
        "steps": total, "final_train": {k: float(np.mean(v)) for k, v in recent.items()},
        "train_seconds": train_seconds,
    }
    if rm is not None:
        summary.update({"rm_reward_dpo": rep["rm_reward"], "rm_reward_dpo_se": rep["rm_reward_se"],
                        "rm_reward_sft": sft_rep["rm_reward"]})
    rows = [(s.prompt, s, d) for s, d in zip(sft_rep["samples"], rep["samples"])][:6]
    print("\nheld-out prompts, SFT vs DPO (gold in brackets):\n" +
          format_side_by_side(world, rows, names=("SFT", "DPO")))
    comps = format_component_changes(summary["gold_components_sft"], summary["gold_components_dpo"])
    print(f"\n{cfg.eval_split} split, {rep['n']} samples of {rep['n_prompts']} prompts (± are SEs clustered by "
          f"prompt; the gain's is paired): gold {summary['gold_reward_sft']:+.3f} -> {summary['gold_reward_dpo']:+.3f} "
          f"± {summary['gold_reward_dpo_se']:.3f}, gain {summary['gold_gain']:+.3f} ± {summary['gold_gain_se']:.3f} (best {best:+.3f}; {summary['gold_gain_fraction']:.0%} of the gap "
          f"closed) | KL {summary['kl']:.2f} nats | win rate vs SFT {summary['win_rate_vs_sft']:.3f} ± "
          f"{summary['win_rate_vs_sft_se']:.3f} (n={summary['n_eval']})" +
          (f" | RM {summary['rm_reward_sft']:+.3f} -> {summary['rm_reward_dpo']:+.3f}" if rm else "") +
          f"\ncomponents: {comps}")

    # ------------------------------------------------------------------------------------------------------------
    # Save: the final weights are the ones reported (no gold-based selection)
    summary["wall_seconds"] = timer()
    ckpt = save_checkpoint(f"{cfg.out_dir}/dpo.pt", stage="dpo", model=policy, tokenizer=tok, config=cfg,
                           metrics=summary, parents={"sft": sft["id"], "preferences": file_sha256(data_path)[:12]})
    summary["checkpoint_id"] = ckpt["id"]
    rows = metrics.rows("train")
    hist = {k: [r[k] for r in rows] for k in ("step",) + keys}
    summary["history"] = hist
    write_json(f"{cfg.out_dir}/dpo_summary.json", summary)
    metrics.close()
    resume.finish(cfg, "dpo")
    w = max(1, min(cfg.log_interval, total))      # running means over log_interval steps: batches are noisy
    smooth = lambda k: np.convolve(hist[k], np.ones(w) / w, mode="valid").tolist()  # noqa: E731
    steps = hist["step"][w - 1:]
    plot_curves(f"{cfg.out_dir}/dpo_curves.png", [
        ("DPO loss", {"train": (steps, smooth("loss"))}),
        ("implicit reward accuracy", {"train": (steps, smooth("accuracy"))}),
        ("beta * (log pi - log pi_ref)", {"chosen": (steps, smooth("reward_chosen")),
                                          "rejected": (steps, smooth("reward_rejected"))})])
    print(f"wrote {cfg.out_dir}/dpo.pt, dpo_summary.json, dpo_metrics.jsonl, dpo_curves.png in "
          f"{summary['wall_seconds']:.0f}s")
    return summary


if __name__ == "__main__":
    run_cli(main, parse_config(Config, PRESETS, sys.argv[1:]))
