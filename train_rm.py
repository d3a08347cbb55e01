"""Stage 2 of RLHF: a Bradley-Terry reward model (RM), initialised from the SFT checkpoint with a scalar head.

    python train_rm.py                     # after train_sft.py; laptop CPU, ~1 minute: writes out/rm.pt
    python train_rm.py --preset test       # seconds, for tests
    python train_rm.py --data prefs.jsonl  # your own {"prompt", "chosen", "rejected"} lines
    python train_rm.py --resume            # continue an interrupted run from its last held-out accuracy point
    python train_rm.py --labeler ai --judge out/judge/sft.pt   # AI feedback: a fine-tune of sft.pt labels (lesson 8)
    torchrun --standalone --nproc_per_node 2 train_rm.py   # data parallel: each rank samples, then trains on, a slice

Preference data the InstructGPT way: for each training prompt, sample K responses from the SFT model (plain
sampling, temperature 1) and let the tiny world's simulated labeler compare every pair of them. The labeler is
noisy like real annotators (Bradley-Terry: it prefers a over b with probability sigmoid((g_a - g_b) / tau)), so
even a perfect RM cannot agree with every label: we report the ceiling (how often the gold reward itself agrees)
next to the RM's accuracy. Pairs are saved to out/preferences.jsonl (the format DPO and other tools read).

The RM is the SFT trunk plus a scalar head; its reward for (prompt, response) is the head's value at the response's
last real token, the EOS. After training the reward is normalised on fresh SFT samples to mean 0 and std 1, so
PPO's KL coefficient beta keeps one meaning whatever the RM's scale (Ziegler et al. 2019).

Simplifications: the labeler judges each of the K(K-1)/2 pairs independently, where InstructGPT's labelers ranked
the K = 4..9 responses at once (a ranking implies all its pairs, consistently).
"""
import nano_rlhf  # noqa: F401  (first: a Ctrl-C while torch imports is one line, see its docstring)
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
from nano_rlhf.common import (Phases, Timer, UserError, check_finite, check_finite_weights, cosine_lr, device_problem,
                              field, make_optimizer, parse_config, run_cli, set_lr, setup_run, warn)
from nano_rlhf.data import (fit_groups, group_pairs, load_preference_jsonl, pairs_of, read_preference_meta, right_pad,
                            write_preferences)
from nano_rlhf.evaluate import Sample, ai_label_agreement, correlations, sample_policy, score_samples
from nano_rlhf.files import MetricsLog, write_json
from nano_rlhf.constitution import PRINCIPLES
from nano_rlhf.judge import MAX_FIT_PAIRS, AILabeler, fit_weights, fraction_labeler
from nano_rlhf.model import last_token_values
from nano_rlhf.plots import plot_curves
from nano_rlhf.stats import bootstrap_by_cluster, clustered_mean_se
from nano_rlhf.world import LABELER_TEMPERATURE, World, eval_seed

# ----------------------------------------------------------------------------------------------------------------
# Config


@dataclass
class Config:
    # run
    preset: str = field("default", "default (laptop CPU), test (seconds) or gpu")
    out_dir: str = field("out", "folder holding sft.pt; rm.pt, rm_summary.json, rm_metrics.jsonl, rm_curves.png "
                                "and preferences.jsonl (+ its .meta.json) go here", path="out_dir")
    seed: int = field(0, "random seed", ge=0, lt=2**32)
    device: str = field("auto", "auto (cuda if available, else cpu), cpu, cuda, ...", check=device_problem)
    threads: int = field(2, "CPU intra-op threads (0: torch's default), at most the machine's cores; 1 can be "
                            "faster on a 2-core machine that other programs keep busy", ge=0, le=1024)
    # data
    data: str = field("", "optional JSONL of {\"prompt\", \"chosen\", \"rejected\"} lines instead of sampled pairs",
                      path="file")
    n_prompts: int = field(2000, "training prompts; each gets k SFT samples, and every pair of them is labelled",
                           ge=1, le=10**6)
    k: int = field(4, "responses per prompt (InstructGPT ranked K = 4..9): k(k-1)/2 comparisons each", ge=2, le=64)
    n_val_pairs: int = field(3000, "held-out pairs: two SFT samples of a --eval-split prompt, labelled once", ge=1,
                             le=10**6)
    eval_split: str = field("test", "held-out prompts of the report: test (reported numbers) or dev (for choices: "
                                    "defaults, ablations)", choices=["dev", "test"])
    temperature: float = field(1.0, "sampling temperature for the pairs (plain sampling, full softmax)", ge=0.01,
                               le=100)
    labeler: str = field("human", "who labels the sampled pairs: human (the simulated human, World.label) or ai (the "
                                  "SFT model judging by its constitution, nano_rlhf/judge.py)", choices=["human", "ai"])
    label_fraction: float = field(1.0, "share of the training prompts whose pairs the simulated human labels (the "
                                       "rest: --rest)", gt=0, le=1)
    rest: str = field("drop", "the pairs the human leaves (--label-fraction below 1): drop them, or ai (the judge "
                              "labels them)", choices=["drop", "ai"])
    judge_fit: int = field(0, "human-labelled pairs (extra prompts, in the label budget) on which to fit the "
                              "judge's weights by logistic regression; 0: equal weights", ge=0, le=MAX_FIT_PAIRS)
    judge: str = field("", "the AI labeler's checkpoint: the SFT model taught its constitution by a fine-tune "
                           "(train_sft.py --init <out-dir>/sft.pt --principle-checks 2560 ...; lesson 8); empty: "
                           "<out-dir>/sft.pt judges", path="file")
    # optimisation
    epochs: int = field(2, "passes over the pairs (the RM overfits quickly: one or two)", ge=1, le=10**4)
    resume: bool = field(False, "continue an interrupted run from <out_dir>/rm_state.pt (written at every held-out "
                                "accuracy point), with the same flags")
    batch_size: int = field(16, "prompts per step, with all their comparisons (k(k-1)/2 sampled ones; a --data file's "
                                "pairs of that prompt)", ge=1, le=65536)
    lr: float = field(1e-3, "peak learning rate", gt=0, le=1)
    warmup_steps: int = field(20, "linear warmup steps", ge=0, le=10**8)
    weight_decay: float = field(0.0, "AdamW weight decay", ge=0, le=10)
    grad_clip: float = field(1.0, "clip the gradient norm to this", gt=0)
    eval_interval: int = field(100, "steps between held-out accuracy measurements", ge=1, le=10**8)
    curve_pairs: int = field(500, "held-out pairs for the accuracy curve during training (the end uses all)", ge=1,
                             le=10**6)
    # normalisation and reporting
    norm_samples: int = field(1000, "fresh SFT samples used to normalise the reward to mean 0, std 1", ge=2,
                              le=10**6)
    n_boot: int = field(1000, "bootstrap resamples (of prompts) for the SEs of skill and Spearman", ge=2,
                        le=10**6)


    def problems(self) -> list[str]:
        """Checks across fields (check_config runs them after each field's own)."""
        out, judged = [], self.labeler == "ai" or self.rest == "ai"
        if self.data and (self.labeler != "human" or self.label_fraction < 1 or self.judge_fit):
            out.append("--labeler, --label-fraction and --judge-fit label sampled pairs; a --data file comes labelled")
        if self.labeler == "ai" and self.label_fraction < 1:
            out.append("--labeler ai labels every pair; for human labels on a share and the judge's on the rest, "
                       f"use --label-fraction {self.label_fraction:g} --rest ai")
        if self.rest == "ai" and self.label_fraction == 1:
            out.append("--rest ai labels what --label-fraction leaves, and --label-fraction 1 leaves nothing")
        if self.judge_fit and not judged:
            out.append("--judge-fit fits the AI labeler's weights: use it with --labeler ai or --rest ai")
        if self.judge and not judged:
            out.append("--judge is the AI labeler: use it with --labeler ai or --rest ai")
        return out


PRESETS = {
    "default": {},
    "test": dict(threads=1, n_prompts=32, n_val_pairs=32, epochs=1, batch_size=8, eval_interval=2,
                 norm_samples=64, warmup_steps=2),
    "gpu": dict(n_prompts=8000, n_val_pairs=2000, batch_size=32, lr=1e-4, threads=0),
}
# the files a run writes into --out-dir (checked before any work: none may be a folder)
OUTPUTS = ("rm.pt", "rm_summary.json", "rm_metrics.jsonl", "rm_metrics.partial.jsonl", "rm_curves.png",
           "preferences.jsonl", "preferences.meta.json", "rm_state.pt")


# [lesson:bt_loss]
def bt_loss(r_chosen, r_rejected):
    """Bradley-Terry loss -log sigmoid(r_chosen - r_rejected), averaged over pairs.  (B,), (B,) -> scalar

    Bradley & Terry (1952): P(a preferred to b) = sigmoid(r_a - r_b). Maximising the likelihood of the labels
    gives this loss (Ouyang et al. 2022, eq. 1; Stiennon et al. 2020). Only differences of rewards matter, so
    the RM's offset is arbitrary: we fix it afterwards by normalising.
    """
    # BEGIN SOLUTION
    return -F.logsigmoid(r_chosen.float() - r_rejected.float()).mean()
    # END SOLUTION
# [/lesson:bt_loss]


# [lesson:comparison_rewards]
def comparison_rewards(rm, tok, groups, device, autocast):
    """RM scores at the EOS of every response of every group, in ONE batched pass, and the scores of each
    comparison's chosen and rejected response -> r_chosen (n,), r_rejected (n,).

    A group is (prompt, [response ids], [(chosen_index, rejected_index), ...]); each response is its token ids,
    EOS included, exactly as sampled (PPO scores the sampled ids too). Scoring each response once for all
    K(K-1)/2 of its comparisons is InstructGPT's trick: cheaper, and it overfits less than shuffled pairs.
    """
    seqs, chosen, rejected = [], [], []
    for prompt, responses, comparisons in groups:
        base = len(seqs)
        p = tok.encode(prompt)
        seqs += [p + ids for ids in responses]
        chosen += [base + c for c, _ in comparisons]
        rejected += [base + r for _, r in comparisons]
    idx, mask = right_pad(seqs, tok.pad_id, device)
    with autocast():
        values = rm(idx)                 # right padding needs no attention mask: causality hides the pads
    r = last_token_values(values, mask)  # (N,) the value at each response's EOS
    return r[chosen], r[rejected]
# [/lesson:comparison_rewards]


# [lesson:sample_comparisons]
def human_labeler(world):
    """The simulated human as a labeler: labeler(prompt, texts, rng) -> [(chosen, rejected), ...], every pair of
    the texts compared once, independently (Bradley-Terry noise: World.label)."""
    def label(prompt, texts, rng):
        comparisons = []
        for a in range(len(texts)):
            for b in range(a + 1, len(texts)):
                pick = world.label(prompt, texts[a], texts[b], rng)   # the ONLY way gold reaches training
                comparisons.append((a, b) if pick == 0 else (b, a))
        return comparisons
    return label


def sample_comparisons(policy, tok, world, prompts, n_prompts, k, temperature, max_new_tokens, device, autocast,
                       seed, labeler=None):
    """K SFT samples per prompt; the labeler (default: the simulated human) compares every pair of distinct ones
    -> groups, stats. Each group keeps the sampled token ids (EOS included): re-encoding the decoded text can give
    other ids. A labeler may leave a prompt unlabelled (None: --label-fraction); its group keeps comparisons None.
    Under torchrun each rank samples and labels a slice of the prompts, with a seed of its own, and every rank
    gets all the groups, in rank order."""
    labeler = labeler or human_labeler(world)
    prompts = distributed.shard([prompts[i % len(prompts)] for i in range(n_prompts)])
    seed = seed if distributed.world() == 1 else distributed.derive_seed(seed, distributed.rank())
    rng = random.Random(seed)
    samples = sample_policy(policy, tok, [p for p in prompts for _ in range(k)], max_new_tokens=max_new_tokens,
                            temperature=temperature, device=device, seed=seed, autocast=autocast)
    groups, stats = [], {"unended_dropped": 0, "duplicates_dropped": 0}
    for i, prompt in enumerate(prompts):
        texts, ids = [], []
        for s in samples[i * k:(i + 1) * k]:
            if not s.ended:
                stats["unended_dropped"] += 1      # the RM scores at the EOS; a response without one has no score
            elif s.response in texts:
                stats["duplicates_dropped"] += 1   # comparing identical responses gives a pure-noise label
            else:
                texts.append(s.response)
                ids.append(s.tokens)
        if len(texts) > 1:
            groups.append((prompt, ids, labeler(prompt, texts, rng)))
    if distributed.world() > 1:
        groups = distributed.gather_lists(groups)
        stats = {k: sum(s[k] for s in distributed.gather(stats)) for k in stats}
    return groups, stats
# [/lesson:sample_comparisons]


def build_labeler(cfg, world, policy, tok, sft, device, autocast):
    """The labeler of the training pairs (--labeler, --label-fraction, --rest, --judge-fit) -> labeler, the AI
    judge (or None), and the groups the human labelled to fit the judge's weights (they train the RM too)."""
    human = human_labeler(world)
    if cfg.labeler == "human" and cfg.rest == "drop":
        return (human if cfg.label_fraction == 1 else fraction_labeler(human, None, cfg.label_fraction, cfg.seed),
                None, [])
    judge_ckpt, judge_model = judge_checkpoint(cfg, sft), policy
    if judge_ckpt is not sft:      # a judge of its own; the RM and every later stage keep the untouched SFT model
        judge_model = build_policy(judge_ckpt, device).eval()
    judge, fitted = AILabeler(judge_model, tok, device, autocast, checkpoint_id=judge_ckpt["id"]), []
    if cfg.judge_fit:          # one human-labelled pair on each of judge_fit more prompts, its own sampling seed
        fitted, _ = sample_comparisons(policy, tok, world, [p.text for p in world.train_prompts], cfg.judge_fit, 2,
                                       cfg.temperature, sft["config"]["max_new_tokens"], device, autocast,
                                       cfg.seed + 3)
        pairs = pairs_of(fitted, tok)
        prompts = [p for p, _, _ in pairs]
        if len(pairs) < 2 * len(PRINCIPLES):
            raise UserError(f"--judge-fit {cfg.judge_fit} gave {len(pairs)} usable human-labelled pairs, too few to "
                            f"fit {len(PRINCIPLES)} weights: use a larger --judge-fit (at most {MAX_FIT_PAIRS})")
        judge.weights = fit_weights(judge.logits(prompts, [c for _, c, _ in pairs]),
                                    judge.logits(prompts, [r for _, _, r in pairs]), torch.ones(len(pairs)))
    if cfg.labeler == "ai":
        return judge, judge, fitted
    return fraction_labeler(human, judge, cfg.label_fraction, cfg.seed), judge, fitted


def judge_checkpoint(cfg, sft: dict) -> dict:
    """The AI labeler's SFT checkpoint: --judge (a fine-tune of this very sft.pt, taught the principle checks) or
    sft.pt itself if it was trained with them; otherwise a one-line error naming the fine-tune to run."""
    out = cfg.out_dir.rstrip("/")
    make = (f"python train_sft.py --init {out}/sft.pt --principle-checks 2560 --max-steps 400 --warmup-steps 20 "
            f"--lr 1e-3 --out-dir {out}/judge")
    if not cfg.judge:
        if not sft["config"].get("principle_checks"):
            raise UserError(f"the AI labeler is an SFT model judging by its constitution, and {out}/sft.pt was "
                            f"trained without its lessons: run {make}, then add --judge {out}/judge/sft.pt "
                            "(lesson 8)")
        return sft
    judge = load_checkpoint(cfg.judge, "sft")
    check_parent(judge, sft, f"--judge {cfg.judge}", f"{out}/sft.pt (the model whose samples it judges)", key="init",
                 redo=make)
    if not judge["config"].get("principle_checks"):
        raise UserError(f"--judge {cfg.judge} was trained without the principle checks: run {make}")
    return judge


def labeler_name(cfg, judge) -> str:
    """Who labelled the pairs, in words (preferences.meta.json; the RM's config has the flags)."""
    human = f"simulated human (World.label, Bradley-Terry tau {LABELER_TEMPERATURE})"
    ai = (f"AI judge ({'the fine-tune ' + cfg.judge if cfg.judge else 'the SFT model'} by nano_rlhf/constitution.py, "
          f"{'weights fitted on %d human pairs' % cfg.judge_fit if cfg.judge_fit else 'equal weights'})")
    if cfg.labeler == "ai":
        return ai
    if cfg.label_fraction < 1:
        return f"{human} on a share {cfg.label_fraction:g} of the prompts, " + (f"{ai} on the rest" if judge else
                                                                                  "the rest unlabelled")
    return human


@torch.no_grad()
def comparison_scores(rm, tok, groups, device, autocast, batch_size=64):
    """RM scores of every comparison's chosen and rejected response -> two numpy arrays."""
    was_training = rm.training
    rm.eval()
    chunks = [comparison_rewards(rm, tok, groups[i:i + batch_size], device, autocast)
              for i in range(0, len(groups), batch_size)]
    rm.train(was_training)
    return tuple(torch.cat([c[j] for c in chunks]).cpu().numpy() for j in (0, 1))


def agreement(rc, rr):
    """Per comparison: 1 if the chosen response scores higher, 0 if lower, 0.5 for a tie."""
    return (rc > rr) + 0.5 * (rc == rr)


def accuracy(rc, rr):
    """Fraction of comparisons where the chosen response scores higher (ties count half)."""
    return float(np.mean(agreement(rc, rr)))


def skill_vs_ceiling(rm_agree, gold_agree, prompts, n_boot=1000, seed=0):
    """Skill (acc - 0.5) / (ceiling - 0.5) and its standard error, by bootstrapping the prompts: both accuracies
    come from the same noisy labels, so they are resampled together, and the pairs of one prompt go together
    (they share its difficulty; stats.bootstrap_by_cluster). Where the ceiling is not above chance (a handful of
    pairs) skill is undefined: NaN, and such resamples are left out of the SE.  (n,), (n,), n labels -> skill, se"""
    rm_agree, gold_agree = np.asarray(rm_agree, dtype=np.float64), np.asarray(gold_agree, dtype=np.float64)

    def skill(i):
        room = gold_agree[i].mean() - 0.5            # the ceiling's distance from chance
        return (rm_agree[i].mean() - 0.5) / room if room > 0 else float("nan")
    return bootstrap_by_cluster(skill, prompts, n_boot, seed)


# [lesson:ceiling]
def held_out_metrics(world, pairs, rc, rr, n_boot: int = 1000) -> dict:
    """The RM on held-out (prompt, chosen, rejected) pairs, scored rc, rr (n,): its accuracy against the noisy
    labels, the ceiling (gold's own accuracy on the same labels), skill, and accuracy against the noiseless gold
    order; SEs by prompt. Gold is used for reporting only."""
    gc = np.array([world.gold_reward(p, c).total for p, c, _ in pairs])
    gr = np.array([world.gold_reward(p, r).total for p, _, r in pairs])
    prompts = [p for p, _, _ in pairs]
    agree = agreement(rc, rr)
    val_acc, val_acc_se = clustered_mean_se(agree, prompts)
    skill, skill_se = skill_vs_ceiling(agree, agreement(gc, gr), prompts, n_boot)
    strict = gc != gr   # gold ties have no noiseless order
    return {"val_accuracy": val_acc, "val_accuracy_se": val_acc_se,
            "labeler_accuracy": accuracy(gc, gr),   # how often gold itself agrees with the noisy labels: the ceiling
            "skill_vs_ceiling": skill, "skill_se": skill_se,
            "gold_order_accuracy": float(np.mean((rc[strict] > rr[strict]) == (gc[strict] > gr[strict]))),
            "n_eval_prompts": len(set(prompts))}
# [/lesson:ceiling]


def main(cfg: Config) -> dict:
    # ------------------------------------------------------------------------------------------------------------
    # Setup: the SFT checkpoint brings the model config and the tokenizer
    timer = Timer()
    device, autocast = setup_run(cfg, OUTPUTS)   # checks every flag and output first (one line, exit code 2)
    phases = Phases(device)                      # where the time goes: printed at the end, kept in the summary
    sft = load_checkpoint(f"{cfg.out_dir}/sft.pt", "sft")
    tok = load_tokenizer(sft)
    sft_cfg = sft["config"]
    world = World(sft_cfg["world_seed"])
    max_new = sft_cfg["max_new_tokens"]
    policy = build_policy(sft, device).eval()
    phases.lap("load")

    # ------------------------------------------------------------------------------------------------------------
    # Data: pairs of SFT samples labelled by the simulated human (or the user's file)
    data_meta, judge = None, None      # the --data file's sidecar, if it has one; the AI labeler, if one labels
    if cfg.data:
        user = load_preference_jsonl(cfg.data)
        if not user:
            raise UserError(f"{cfg.data}: no preference pairs found")
        data_meta, why = read_preference_meta(cfg.data)
        if data_meta is None:
            warn(f"{cfg.data}: {why}, so who sampled these pairs is unknown; the RM is normalised on samples of "
                 f"{cfg.out_dir}/sft.pt all the same")
        elif data_meta["sampler"] != sft["id"]:
            warn(f"{cfg.data} was sampled by another model ({data_meta['sampler']}) than {cfg.out_dir}/sft.pt "
                 f"({sft['id']}): the RM learns off this policy's distribution")
        train_groups = group_pairs(tok, user)
        data_stats = {"source": cfg.data}
    else:
        labeler, judge, train_groups = build_labeler(cfg, world, policy, tok, sft, device, autocast)
        world.seal(cfg.labeler == "ai")     # the AI path labels without gold: World.label would raise
        sampled, data_stats = sample_comparisons(policy, tok, world, [p.text for p in world.train_prompts],
                                                 cfg.n_prompts, cfg.k, cfg.temperature, max_new, device, autocast,
                                                 cfg.seed, labeler)
        train_groups += [g for g in sampled if g[2] is not None]    # --rest drop leaves None: dropped
        ai_pairs = sum(distributed.gather(judge.pairs)) if judge else 0      # torchrun: every rank's
        data_stats["labels"] = {"human": sum(len(g[2]) for g in train_groups) - ai_pairs, "ai": ai_pairs,
                                "unlabelled_prompts": sum(g[2] is None for g in sampled)}
        if judge:
            data_stats["labels"]["ai_seconds_per_1000"] = 1000 * judge.seconds / max(1, judge.pairs)
    phases.lap("data: sample and label train pairs")
    world.unseal()                          # the held-out pairs: labelled by the human, for the report
    # held-out: ONE pair per sampled prompt; pairs of one prompt share it, so SEs are by prompt (nano_rlhf/stats.py)
    split = [p.text for p in world.split(cfg.eval_split)]
    val_groups, _ = sample_comparisons(policy, tok, world, split, cfg.n_val_pairs, 2, cfg.temperature, max_new,
                                       device, autocast, eval_seed(cfg.eval_split, cfg.seed + 1))
    phases.lap("data: sample and label held-out pairs")
    train_groups, too_long = fit_groups(tok, train_groups, policy.cfg.block_size)
    if too_long:
        data_stats["too_long_dropped"] = too_long
    if not train_groups or not val_groups:
        raise UserError(f"no usable {'training' if not train_groups else 'held-out'} comparisons: "
                        + (f"every pair of {cfg.data} is longer than the model's block of {policy.cfg.block_size} "
                           "tokens" if cfg.data and not train_groups else
                           f"the SFT model's samples (temperature {cfg.temperature}, at most {max_new} new tokens) "
                           "never end with EOS or are all identical: a lower --temperature, more --n-prompts or "
                           "--n-val-pairs, or an SFT model trained longer"))
    train_pairs, val_pairs = pairs_of(train_groups, tok), pairs_of(val_groups, tok)
    print(f"data: {len(train_pairs)} train comparisons over {len(train_groups)} prompts, {len(val_pairs)} held-out "
          f"{data_stats} ({timer():.0f}s)")

    # ------------------------------------------------------------------------------------------------------------
    # Model: the SFT trunk + a fresh scalar head; dropout off
    rm = build_value_model(sft, device)
    rm.gpt.set_dropout(0.0)
    opt = make_optimizer(rm.parameters(), cfg.lr, cfg.weight_decay)
    phases.lap("model")

    # ------------------------------------------------------------------------------------------------------------
    # Training loop
    if cfg.batch_size < distributed.world():         # torchrun: every rank needs a prompt of each batch
        raise UserError(f"--batch-size {cfg.batch_size} gives no prompt to some of the {distributed.world()} ranks: "
                        f"use at least {distributed.world()}")
    steps_per_epoch = max(1, len(train_groups) // cfg.batch_size)
    total = max(1, steps_per_epoch * cfg.epochs)
    rng = random.Random(cfg.seed)
    metrics = MetricsLog(cfg.out_dir, "rm")           # one row per step, on disk as it happens
    recent = {k: deque(maxlen=cfg.eval_interval) for k in ("loss", "acc")}   # for the progress line
    step, start = 0, 0
    if cfg.resume:     # continue after the last held-out point an interrupted run reached (the data re-sampled
        start, extra = resume.restore(cfg, "rm", {"rm": rm}, {"rm": opt}, None, None, metrics)   # from its seeds)
        for k in recent:
            recent[k].extend(extra["recent"][k])
    rm.train()
    world.seal()                            # gold-free until the report (nano_rlhf/world.py)
    for epoch in range(cfg.epochs):
        order = list(range(len(train_groups)))
        rng.shuffle(order)                            # replayed on resume, so every epoch keeps its order
        for i in range(steps_per_epoch):
            if step < start:                          # done before the interruption
                step += 1
                continue
            batch = [train_groups[j] for j in order[i * cfg.batch_size:(i + 1) * cfg.batch_size]]
            batch = distributed.shard(batch)          # torchrun: this rank's prompts of the global batch
            set_lr(opt, cosine_lr(step, total, cfg.lr, cfg.warmup_steps))
            phases.lap("train: batches")
            rc, rr = comparison_rewards(rm, tok, batch, device, autocast)
            pairs = torch.ones_like(rc)
            loss = bt_loss(rc, rr) * distributed.share(pairs)   # torchrun: my pairs' loss sum / ALL ranks' pairs
            check_finite(loss, "reward-model loss", step)
            phases.lap("train: forward")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            distributed.all_reduce_grads(rm)          # torchrun: the ranks' gradients summed = the global mean's
            phases.lap("train: backward")
            torch.nn.utils.clip_grad_norm_(rm.parameters(), cfg.grad_clip)
            opt.step()
            phases.lap("train: optimiser")
            row = {"loss": distributed.all_sum(loss.detach()).item(),                  # over the global batch
                   "acc": float(distributed.all_sum((rc > rr).float().sum()) / distributed.all_sum(pairs.sum()))}
            metrics.log("train", step=step, epoch=epoch, **row)
            for k in recent:
                recent[k].append(row[k])
            phases.lap("train: logging")
            if step % cfg.eval_interval == 0:   # the last point comes from the final report's scores
                va = accuracy(*comparison_scores(rm, tok, val_groups[:cfg.curve_pairs], device, autocast))
                metrics.log("val", step=step, val_acc=va)
                print(f"epoch {epoch} step {step:5d} | loss {np.mean(recent['loss']):.4f} | "
                      f"train acc {np.mean(recent['acc']):.3f} | held-out acc {va:.3f} | {timer():.0f}s")
                if step < total - 1:                  # what --resume needs to continue from here
                    resume.save_state(cfg, "rm", step + 1, {"rm": rm}, {"rm": opt}, None, None, metrics,
                                      recent={k: list(v) for k, v in recent.items()})
                phases.lap("held-out accuracy curve")
            step += 1
    train_seconds = timer()
    check_finite_weights(rm, "reward-model", step - 1)
    rm.eval()
    if not distributed.is_main():                     # torchrun: rank 0 alone normalises, reports and writes
        return {}

    # ------------------------------------------------------------------------------------------------------------
    # Normalise: fresh SFT samples on training prompts -> gain, bias so that gain * r + bias has mean 0, std 1
    # [lesson:normalise]
    norm_prompts = [world.train_prompts[i % len(world.train_prompts)].text for i in range(cfg.norm_samples)]
    norm_samples = [s for s in sample_policy(policy, tok, norm_prompts, max_new_tokens=max_new, device=device,
                                             seed=cfg.seed + 2, autocast=autocast) if s.ended]
    phases.lap("normalise: sampling")
    raw = np.array(score_samples(rm, tok, norm_samples, device=device, autocast=autocast))
    phases.lap("normalise: scoring")
    if len(raw) < 2 or not np.isfinite(raw).all() or not raw.std() > 1e-6:     # nothing to divide by: refuse
        raise UserError(f"cannot normalise the reward: {len(raw)} of {cfg.norm_samples} fresh SFT samples ended "
                        f"with EOS, scores spread {raw.std() if len(raw) else 0:.2g}; nothing was saved. "
                        "Try more --norm-samples, or train the SFT model longer")
    gain, bias = float(1.0 / (raw.std() + 1e-8)), float(-raw.mean() / (raw.std() + 1e-8))
    # [/lesson:normalise]

    # ------------------------------------------------------------------------------------------------------------
    # Report (gold used for reporting only): accuracy vs the labeler's ceiling, correlation with gold
    world.unseal()
    rc, rr = comparison_scores(rm, tok, val_groups, device, autocast)
    n_curve = len(val_groups[:cfg.curve_pairs])        # one comparison per held-out group: the curve's pairs
    metrics.log("val", step=step - 1, val_acc=accuracy(rc[:n_curve], rr[:n_curve]))
    phases.lap("report: scoring held-out pairs")
    held_out = held_out_metrics(world, val_pairs, rc, rr, cfg.n_boot)
    phases.lap("report: gold and bootstrap")
    # RM against gold on the held-out pairs' responses: fresh SFT samples of held-out prompts, already scored
    corr_samples = [Sample(p, text, [], True) for p, c, r in val_pairs for text in (c, r)]
    rm_scores = gain * np.stack([rc, rr], 1).reshape(-1) + bias                  # in corr_samples' order
    golds = np.array([world.gold_reward(s.prompt, s.response).total for s in corr_samples])
    kinds = np.array([world.fact_of(s.prompt).kind for s in corr_samples])
    corr = correlations(rm_scores, golds)
    corr["spearman_se"] = bootstrap_by_cluster(lambda i: correlations(rm_scores[i], golds[i])["spearman"],
                                               [s.prompt for s in corr_samples], cfg.n_boot, cfg.seed)[1]
    corr["by_kind"] = {str(k): correlations(rm_scores[kinds == k], golds[kinds == k]) for k in sorted(set(kinds))}
    summary = {
        "split": cfg.eval_split, **held_out, "gold_correlation": corr,
        "n_pairs": len(train_pairs), "n_val_pairs": len(val_pairs), "n_prompts": len(train_groups), **data_stats,
        "reward_norm": {"gain": gain, "bias": bias, "n": len(norm_samples)},
        "train_seconds": train_seconds,
    }
    h = held_out
    print(f"\n{cfg.eval_split} split, n = {len(val_pairs)} pairs over {h['n_eval_prompts']} prompts (± are SEs by "
          f"prompt): accuracy {h['val_accuracy']:.3f} ± {h['val_accuracy_se']:.3f} vs the labeler's ceiling "
          f"{h['labeler_accuracy']:.3f} (skill {h['skill_vs_ceiling']:.2f} ± {h['skill_se']:.2f} of the way from "
          f"chance to the ceiling)")
    print(f"against the noiseless gold order: {h['gold_order_accuracy']:.3f} (gold ties left out)")
    print(f"RM vs gold on the {corr['n']} responses of the held-out pairs: Pearson {corr['pearson']:.3f}, "
          f"Spearman {corr['spearman']:.3f} ± {corr['spearman_se']:.3f}; by kind: " +
          ", ".join(f"{k} {v['spearman']:.2f}" for k, v in corr["by_kind"].items()))
    report_mistakes(world, corr_samples, rm_scores, golds)
    phases.lap("report: correlation")
    if judge:                 # the judge's labels of the same held-out pairs, against the human's and gold's order
        summary["ai_labels"] = ai_label_agreement(world, judge, val_pairs)
        a = summary["ai_labels"]
        print(f"AI labels on the held-out pairs: agree with the simulated human {a['vs_human']:.3f} ± "
              f"{a['vs_human_se']:.3f}, with the gold order {a['vs_gold']:.3f} ± {a['vs_gold_se']:.3f} (the human "
              f"itself: {h['labeler_accuracy']:.3f}); {data_stats['labels']['ai_seconds_per_1000']:.2f} s per "
              "1,000 pairs")
        phases.lap("report: AI labels")

    # ------------------------------------------------------------------------------------------------------------
    # Save
    summary["wall_seconds"] = timer()
    parents = {"sft": sft["id"], **({"judge": judge.checkpoint_id} if judge else {})}   # the judge: who labelled
    ckpt = save_checkpoint(f"{cfg.out_dir}/rm.pt", stage="rm", model=rm, tokenizer=tok, config=cfg,
                           metrics=summary, parents=parents, reward_norm={"gain": gain, "bias": bias})
    # the pairs, for DPO and other tools; the sidecar says which model sampled them (DPO's reference must be it)
    source = data_meta or {}
    write_preferences(f"{cfg.out_dir}/preferences.jsonl", train_pairs, {
        "sampler": source.get("sampler") if cfg.data else sft["id"],
        "labeler": source.get("labeler", f"unknown (from {cfg.data})") if cfg.data else labeler_name(cfg, judge),
        "world_seed": sft_cfg["world_seed"], "rm": ckpt["id"], "n_prompts": len(train_groups)})
    summary["checkpoint_id"] = ckpt["id"]
    phases.lap("save")
    metrics.close()
    train_rows, val_rows = metrics.rows("train"), metrics.rows("val")
    plot_curves(f"{cfg.out_dir}/rm_curves.png", [
        ("Bradley-Terry loss", {"train": ([r["step"] for r in train_rows], [r["loss"] for r in train_rows])}),
        ("pair accuracy", {"train (batch)": ([r["step"] for r in train_rows], [r["acc"] for r in train_rows]),
                           "held-out": ([r["step"] for r in val_rows], [r["val_acc"] for r in val_rows]),
                           "labeler ceiling": ([0, step - 1], [held_out["labeler_accuracy"]] * 2)})])
    phases.lap("plot")
    summary["time_phases"] = phases.report()
    write_json(f"{cfg.out_dir}/rm_summary.json", summary)
    resume.finish(cfg, "rm")
    print(f"\n{phases.table()}\n\nwrote {cfg.out_dir}/rm.pt, rm_summary.json, rm_metrics.jsonl, rm_curves.png, "
          f"preferences.jsonl (+ preferences.meta.json) in {timer():.0f}s")
    return summary


# [lesson:report_mistakes]
def report_mistakes(world, samples, rm_scores, golds, k=3):
    """What the RM gets wrong: the samples it over-rates most relative to gold (both standardised)."""
    z = (rm_scores - rm_scores.mean()) / (rm_scores.std() + 1e-8) - (golds - golds.mean()) / (golds.std() + 1e-8)
    print("most over-rated by the RM (RM z-score minus gold z-score):")
    for i in np.argsort(-z)[:k]:
        comps = world.gold_reward(samples[i].prompt, samples[i].response).components
        bad = ", ".join(f"{c} {v:+.2f}" for c, v in comps.items() if v < 0) or "no negative component"
        print(f"  rm {rm_scores[i]:+.2f} gold {golds[i]:+.2f} | {samples[i].response!r} | {bad}")
# [/lesson:report_mistakes]


if __name__ == "__main__":
    run_cli(main, parse_config(Config, PRESETS, sys.argv[1:]))
