"""Stage 1 of RLHF: supervised fine-tuning (SFT) of a small GPT on prompt/response demonstrations.

    python train_sft.py                    # laptop CPU, ~2 minutes: writes out/sft.pt
    python train_sft.py --preset gpu       # a bigger model for one GPU
    python train_sft.py --preset test      # seconds, for tests
    python train_sft.py --data my.jsonl    # your own {"prompt": ..., "response": ...} lines
    python train_sft.py --resume           # continue an interrupted run from its last validation
    torchrun --standalone --nproc_per_node 2 train_sft.py   # data parallel: each rank a slice of every batch

The model learns to continue "User: <question>\\nAssistant:" with the demonstrated answer followed by EOS. The
loss is the cross-entropy of the response tokens and the EOS only: the prompt is context, not target.
Demonstrations come from the tiny world (nano_rlhf/world.py), a corpus of MIXED quality, like scraped data:
mostly right, sometimes wrong, rude or rambling. An SFT model imitates its data, flaws included, so its gold
reward lands near the corpus average; stages 2 and 3 (train_rm.py, train_ppo.py) are how it gets better. The
world also supplies yes/no fact checks ("Is this right? The banana is red." -> " No."), a stand-in for what
pretraining text teaches a real model: to judge an answer, not only produce one. The reward model starts from
this trunk and needs that judgement (lesson 4).

Simplifications: we train from scratch (there is no pretrained base model to fine-tune; --init continues from a
checkpoint), and the tokenizer is a byte-level BPE trained on the corpus at the start of the run.
"""
import nano_rlhf  # noqa: F401  (first: a Ctrl-C while torch imports is one line, see its docstring)
import dataclasses
import random
import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nano_rlhf import distributed, resume
from nano_rlhf.checkpoint import build_policy, load_checkpoint, load_tokenizer, save_checkpoint
from nano_rlhf.common import (Phases, Timer, UserError, check_finite, check_finite_weights, cosine_lr, device_problem,
                              field, make_optimizer, parse_config, run_cli, set_lr, setup_run)
from nano_rlhf.constitution import principle_checks
from nano_rlhf.data import collate_sft, encode_sft_examples, load_sft_jsonl, sft_batches
from nano_rlhf.evaluate import gold_report, sample_policy
from nano_rlhf.files import MetricsLog, write_json
from nano_rlhf.model import GPT, GPTConfig
from nano_rlhf.plots import plot_curves
from nano_rlhf.stats import clustered_mean_se
from nano_rlhf.tokenizer import load_gpt2, train_bpe
from nano_rlhf.world import World, eval_seed

# ----------------------------------------------------------------------------------------------------------------
# Config


@dataclass
class Config:
    # run
    preset: str = field("default", "default (laptop CPU), test (seconds) or gpu (bigger model, one GPU)")
    out_dir: str = field("out", "folder for sft.pt, sft_summary.json, sft_metrics.jsonl and sft_loss.png",
                         path="out_dir")
    seed: int = field(0, "random seed (same seed + same --threads + same torch = same numbers on CPU)", ge=0, lt=2**32)
    device: str = field("auto", "auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...", check=device_problem)
    threads: int = field(2, "CPU intra-op threads (0: torch's default), at most the machine's cores; 1 can be "
                            "faster on a 2-core machine that other programs keep busy", ge=0, le=1024)
    # data
    world_seed: int = field(0, "seed of the tiny world (facts, prompts, corpus)", ge=0, lt=2**32)
    data: str = field("", "optional JSONL of {\"prompt\", \"response\"} lines to train on instead of the world "
                          "(demonstrations and fact checks)", path="file")
    fact_checks: int = field(2560, "world's yes/no fact checks added to the demonstrations (0: none; lesson 4)",
                             ge=0, le=10**6)
    principle_checks: int = field(0, "yes/no principle checks of whole replies (\"Is this kind? Question: ... "
                                     "Reply: ...\" -> \" No.\"), the judge's lessons for train_rm.py --labeler ai "
                                     "(nano_rlhf/constitution.py; 0: none)", ge=0, le=10**6)
    tokenizer: str = field("bpe", "bpe (trained here on the corpus, offline) or gpt2 (tiktoken's, downloads)",
                           choices=["bpe", "gpt2"])
    vocab_size: int = field(512, "BPE vocabulary size, special tokens included", ge=258, le=2**20)
    init: str = field("", "start from this checkpoint's weights, tokenizer and block size instead of from scratch",
                      path="file")
    # model
    n_layer: int = field(4, "transformer blocks", ge=1, le=256)
    n_head: int = field(4, "attention heads", ge=1, le=256)
    n_embd: int = field(128, "embedding width (a multiple of --n-head)", ge=1, le=16384)
    block_size: int = field(96, "longest prompt + response in tokens; longer examples are left out", ge=2, le=65536)
    dropout: float = field(0.0, "dropout during SFT (RM and PPO always turn it off)", ge=0, lt=1)
    # optimisation
    batch_size: int = field(64, "sequences per step", ge=1, le=65536)
    max_steps: int = field(1400, "optimiser steps", ge=1, le=10**8)
    resume: bool = field(False, "continue an interrupted run from <out_dir>/sft_state.pt (written at every "
                                "validation loss), with the same flags")
    lr: float = field(2e-3, "peak learning rate (AdamW)", gt=0, le=1)
    warmup_steps: int = field(50, "linear warmup steps before cosine decay", ge=0, le=10**8)
    weight_decay: float = field(0.1, "AdamW weight decay on matrices", ge=0, le=10)
    grad_clip: float = field(1.0, "clip the gradient norm to this", gt=0)
    # evaluation (the validation loss is on the dev split; the gold report on --eval-split)
    eval_split: str = field("test", "held-out prompts of the gold report: test (reported numbers) or dev (for "
                                    "choices: defaults, ablations)", choices=["dev", "test"])
    eval_interval: int = field(200, "steps between validation-loss measurements", ge=1, le=10**8)
    eval_samples: int = field(1000, "responses sampled on held-out prompts for the final gold report", ge=1,
                              le=10**6)
    temperature: float = field(1.0, "sampling temperature for the gold report (plain sampling, no top-k)", ge=0.01,
                               le=100)
    max_new_tokens: int = field(48, "longest response sampled (less than --block-size)", ge=1, le=65536)

    def problems(self) -> list[str]:
        """Checks across fields (check_config runs them after each field's own)."""
        out = []
        if self.n_embd % self.n_head:
            out.append(f"--n-embd {self.n_embd} is not a multiple of --n-head {self.n_head}")
        params = 12 * self.n_layer * self.n_embd ** 2 + (self.vocab_size + self.block_size) * self.n_embd
        if params > 2e9:
            out.append(f"a model of {params / 1e9:.0f}B parameters ({self.n_layer} layers x {self.n_embd}) is far "
                       "beyond what nano-rlhf trains; try --preset gpu (25M) or smaller sizes")
        if self.max_new_tokens >= self.block_size:
            out.append(f"--max-new-tokens {self.max_new_tokens} leaves no room for a prompt in --block-size "
                       f"{self.block_size}")
        return out


PRESETS = {
    "default": {},
    "test": dict(threads=1, n_layer=1, n_head=2, n_embd=32, max_steps=60, batch_size=32, eval_interval=30,
                 eval_samples=64,
                 fact_checks=64,
                 lr=1e-2, warmup_steps=5, vocab_size=300, max_new_tokens=24),
    "gpu": dict(n_layer=8, n_head=8, n_embd=512, batch_size=128, max_steps=2000, lr=6e-4, warmup_steps=100,
                vocab_size=1024, eval_samples=2000, threads=0),
}
# the files a run writes into --out-dir (checked before any work: none may be a folder)
OUTPUTS = ("sft.pt", "sft_summary.json", "sft_metrics.jsonl", "sft_metrics.partial.jsonl", "sft_loss.png",
           "sft_state.pt")


# [lesson:sft_loss]
def sft_loss(logits, targets, loss_mask):
    """Mean cross-entropy over the tokens where loss_mask is 1 (response tokens and EOS), in fp32.

    logits (B, T, V), targets (B, T), loss_mask (B, T) -> scalar. Prompt and pad positions contribute nothing.
    """
    # BEGIN SOLUTION
    logp = F.log_softmax(logits.float(), dim=-1)                        # (B, T, V)
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)           # (B, T) -log p(target)
    mask = loss_mask.float()
    return (nll * mask).sum() / mask.sum().clamp(min=1.0)               # average over response tokens only
    # END SOLUTION
# [/lesson:sft_loss]


def check_init_flags(cfg: Config, parent: dict):
    """With --init the model and tokenizer are the parent's: a model flag set to something else is an error, not
    silently ignored."""
    preset = dataclasses.replace(Config(), **PRESETS[cfg.preset])
    mc = parent["model_config"]
    clash = [f"--{k.replace('_', '-')} {getattr(cfg, k)} (the parent has {mc[k]})"
             for k in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")
             if getattr(cfg, k) != getattr(preset, k) and getattr(cfg, k) != mc[k]]
    if clash:
        raise UserError(f"--init {cfg.init} brings its own model and tokenizer: drop {', '.join(clash)}")


@torch.no_grad()
def validation_loss(model, examples, pad_id, device, autocast, batch_size=128):
    """The mean loss over every response token of `examples` (under torchrun each rank a shard, summed)."""
    model.eval()
    total, count = 0.0, 0.0
    examples = distributed.shard(examples)
    for i in range(0, len(examples), batch_size):
        x, y, m = collate_sft(examples[i:i + batch_size], pad_id, device)
        with autocast():
            logits = model(x)
        n = float(m.sum())
        total += float(sft_loss(logits, y, m)) * n
        count += n
    model.train()
    return distributed.all_sum(total) / max(distributed.all_sum(count), 1.0)


def main(cfg: Config) -> dict:
    # ------------------------------------------------------------------------------------------------------------
    # Setup
    timer = Timer()
    device, autocast = setup_run(cfg, OUTPUTS)   # checks every flag and output first (one line, exit code 2)
    phases = Phases(device)                      # where the time goes: printed at the end, kept in the summary
    world = World(cfg.world_seed)

    # ------------------------------------------------------------------------------------------------------------
    # Data: (prompt, response) pairs -> token ids with a loss mask on the response
    if cfg.data:
        pairs = load_sft_jsonl(cfg.data)
        if len(pairs) < 2:
            raise UserError(f"{cfg.data}: need at least 2 examples, found {len(pairs)}")
        n_val = max(1, len(pairs) // 20)
        train_pairs, val_pairs = pairs[:-n_val], pairs[-n_val:]
    else:
        # demonstrations, plus fact checks ("Is this right? The banana is red." -> " No."): the checks make the
        # trunk compare an answer with its subject, which the reward model reuses to judge facts (lesson 4)
        # and principle checks, which teach the same model to judge whole replies (the AI labeler, nano_rlhf/judge.py)
        checks = world.fact_checks(cfg.fact_checks) + principle_checks(world, cfg.principle_checks)
        train_pairs = world.corpus() + checks
        val_pairs = world.eval_corpus("dev")
    if cfg.init:
        parent = load_checkpoint(cfg.init, ("sft", "ppo", "dpo", "grpo"))
        check_init_flags(cfg, parent)
        tok = load_tokenizer(parent)
    elif cfg.tokenizer == "gpt2":
        tok = load_gpt2()
    else:
        tok = train_bpe([p + r for p, r in train_pairs], cfg.vocab_size)
    phases.lap("data: world and tokenizer")
    block_size = parent["model_config"]["block_size"] if cfg.init else cfg.block_size
    longest = max(len(tok.encode(p.text)) for p in world.train_prompts + world.dev_prompts + world.test_prompts)
    if longest + cfg.max_new_tokens > block_size:     # the gold report and every later stage ask the world's questions
        raise UserError(f"--block-size {block_size} cannot hold the world's prompts ({longest} tokens) with room "
                        f"for an answer of --max-new-tokens {cfg.max_new_tokens}: use at least "
                        f"{longest + cfg.max_new_tokens}")
    train, dropped = encode_sft_examples(tok, train_pairs, block_size)
    val, val_dropped = encode_sft_examples(tok, val_pairs, block_size)
    if not train or not val:
        raise UserError(f"{cfg.data or 'the world data'}: every {'training' if not train else 'validation'} "
                        f"example is longer than --block-size {block_size} tokens")
    n_tok = sum(len(ids) for ids, _ in train)
    print(f"data: {len(train)} train / {len(val)} val examples, {n_tok} train tokens, vocab {tok.vocab_size}" +
          (f" ({dropped} train / {val_dropped} val examples longer than {block_size} tokens left out)"
           if dropped or val_dropped else ""))
    phases.lap("data: encode")

    # ------------------------------------------------------------------------------------------------------------
    # Model
    if cfg.init:
        model = build_policy(parent, device)
        model.set_dropout(cfg.dropout)
    else:
        model = GPT(GPTConfig(block_size=cfg.block_size, vocab_size=tok.vocab_size, n_layer=cfg.n_layer,
                              n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout)).to(device)
    print(f"model: {model.num_params() / 1e6:.2f}M parameters, device {device}, threads {torch.get_num_threads()}")
    opt = make_optimizer(model.parameters(), cfg.lr, cfg.weight_decay)
    phases.lap("model")

    # ------------------------------------------------------------------------------------------------------------
    # Training loop. Under torchrun every rank draws the same global batches (one seed) and trains on its slice.
    if cfg.batch_size < distributed.world():
        raise UserError(f"--batch-size {cfg.batch_size} gives no sequence to some of the {distributed.world()} "
                        f"ranks: use at least {distributed.world()}")
    batches = sft_batches(train, cfg.batch_size, tok.pad_id, random.Random(cfg.seed), device)
    metrics = MetricsLog(cfg.out_dir, "sft")          # one row per step, on disk as it happens
    t_loop, tokens_seen, start, pending = Timer(), 0, 0, []
    if cfg.resume:                                    # continue after the last validation an interrupted run reached
        start, extra = resume.restore(cfg, "sft", {"model": model}, {"model": opt}, None, None, metrics)
        tokens_seen = extra["tokens_seen"]
        for _ in range(start):                        # the same batches: the stream replayed from its seed
            next(batches)
    model.train()
    world.seal()            # gold-free until the report: gold_reward, label and fact_of raise (nano_rlhf/world.py)
    for step in range(start, cfg.max_steps):
        lr = cosine_lr(step, cfg.max_steps, cfg.lr, cfg.warmup_steps)
        set_lr(opt, lr)
        x, y, m = next(batches)
        tokens_seen += x.numel()
        x, y, m = distributed.shard(x), distributed.shard(y), distributed.shard(m)   # this rank's rows
        distributed.reseed_dropout(cfg.seed, step)    # torchrun: each rank its own dropout masks (no-op otherwise)
        phases.lap("train: batches")
        with autocast():
            logits = model(x)
        loss = sft_loss(logits, y, m) * distributed.share(m)   # torchrun: my tokens' loss sum / ALL ranks' tokens
        phases.lap("train: forward")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        distributed.all_reduce_grads(model)           # torchrun: the ranks' gradients summed = the global mean's
        phases.lap("train: backward")
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        phases.lap("train: optimiser")
        pending.append((step, distributed.all_sum(loss.detach()), lr))   # the global batch's mean loss
        phases.lap("train: logging")
        if step % cfg.eval_interval == 0 or step == cfg.max_steps - 1:
            # the losses read back at each validation, not at every step: on a GPU a .item() per step would make
            # the CPU wait for it each time (a non-finite loss has broken the weights too; nothing is saved yet)
            losses = torch.stack([l for _, l, _ in pending])
            check_finite(losses, "SFT loss", step)
            for (s, _, r), value in zip(pending, losses.tolist()):
                metrics.log("train", step=s, loss=value, lr=r)
            pending.clear()
            vl = validation_loss(model, val, tok.pad_id, device, autocast)
            metrics.log("val", step=step, val_loss=vl)
            phases.lap("validation loss")
            el = t_loop()
            eta = el / (step + 1) * (cfg.max_steps - step - 1)
            print(f"step {step:5d} | loss {losses[-1].item():.4f} | val {vl:.4f} | lr {lr:.2e} | "
                  f"{tokens_seen / el:8.0f} tok/s | eta {eta:5.0f}s")
            if step < cfg.max_steps - 1:              # what --resume needs to continue from here
                resume.save_state(cfg, "sft", step + 1, {"model": model}, {"model": opt}, None, None, metrics,
                                  tokens_seen=tokens_seen)

    # ------------------------------------------------------------------------------------------------------------
    # Evaluation: sample held-out prompts and ask the simulated human (reporting only)
    check_finite_weights(model, "SFT", cfg.max_steps - 1)
    world.unseal()
    if not distributed.is_main():                     # torchrun: rank 0 alone evaluates and writes
        return {}
    model.eval()
    held_out = world.split(cfg.eval_split)
    eval_prompts = [p.text for p in held_out]
    prompts = [eval_prompts[i % len(eval_prompts)] for i in range(cfg.eval_samples)]
    samples = sample_policy(model, tok, prompts, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                            device=device, seed=eval_seed(cfg.eval_split, cfg.seed), autocast=autocast)
    phases.lap("report: sampling")
    report = gold_report(world, samples)
    # the corpus distribution's mean gold on the held-out prompts, from 50 fresh draws per prompt (the finite
    # eval_corpus() has only 16 per prompt: its mean is too noisy a yardstick); SE clustered by prompt, like SFT's
    rng = random.Random(eval_seed(cfg.eval_split, cfg.seed))
    corpus = [(p.text, world.gold_reward(p.text, world.sample_response(p, rng)).total)
              for p in held_out for _ in range(50)]
    corpus_mean, corpus_se = clustered_mean_se([g for _, g in corpus], [p for p, _ in corpus])
    train_rows, val_rows = metrics.rows("train"), metrics.rows("val")
    summary = {
        "val_loss": val_rows[-1]["val_loss"],
        "split": cfg.eval_split,
        **{k: report[k] for k in ("gold_reward", "gold_reward_se", "gold_reward_se_iid", "gold_components",
                                  "eos_rate")},
        "n_samples": report["n"], "n_prompts": report["n_prompts"],
        "corpus_gold_reward": corpus_mean, "corpus_gold_reward_se": corpus_se,
        "gold_reward_best": world.gold_reward_best(eval_prompts),
        "params": model.num_params(),
        "train_tokens_per_s": tokens_seen / t_loop(),
        "vocab_size": tok.vocab_size,
        "n_train": len(train), "n_val": len(val), "too_long_dropped": dropped + val_dropped,
    }
    gap = summary["gold_reward_best"] - summary["corpus_gold_reward"]
    print(f"\ngold reward (simulated human, {cfg.eval_split} split, {report['n']} samples of "
          f"{report['n_prompts']} prompts; ± is the SE clustered by prompt): {report['gold_reward']:+.3f} "
          f"± {report['gold_reward_se']:.3f}   corpus {summary['corpus_gold_reward']:+.3f}   "
          f"best {summary['gold_reward_best']:+.3f}   "
          f"(SFT - corpus = {report['gold_reward'] - summary['corpus_gold_reward']:+.3f}"
          f", {(report['gold_reward'] - summary['corpus_gold_reward']) / gap:+.1%} of the gap)")
    print("components: " + "  ".join(f"{k} {v:+.3f}" for k, v in report["gold_components"].items()))
    print(f"eos rate {report['eos_rate']:.3f}\n\nsamples:")
    for s in samples[:6]:
        g = world.gold_reward(s.prompt, s.response, ended=s.ended).total
        print(f"  [{g:+.2f}] {s.prompt!r} ->{s.response!r}{'' if s.ended else ' (no EOS)'}")
    phases.lap("report: gold")

    # ------------------------------------------------------------------------------------------------------------
    # Save
    summary["wall_seconds"] = timer()
    ckpt = save_checkpoint(f"{cfg.out_dir}/sft.pt", stage="sft", model=model, tokenizer=tok, config=cfg,
                           metrics=summary, parents={"init": parent["id"]} if cfg.init else {})
    summary["checkpoint_id"] = ckpt["id"]
    phases.lap("save")
    metrics.close()
    plot_curves(f"{cfg.out_dir}/sft_loss.png", [("SFT loss (response tokens)", {
        "train": ([r["step"] for r in train_rows], [r["loss"] for r in train_rows]),
        "val (held-out prompts)": ([r["step"] for r in val_rows], [r["val_loss"] for r in val_rows])})])
    phases.lap("plot")
    summary["time_phases"] = phases.report()
    write_json(f"{cfg.out_dir}/sft_summary.json", summary)
    resume.finish(cfg, "sft")
    print(f"\n{phases.table()}\n\nwrote {cfg.out_dir}/sft.pt, sft_summary.json, sft_metrics.jsonl, sft_loss.png "
          f"in {timer():.0f}s")
    return summary


if __name__ == "__main__":
    run_cli(main, parse_config(Config, PRESETS, sys.argv[1:]))
