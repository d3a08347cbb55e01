"""What limits a small reward model: four measurements on the trained out/rm.pt (lesson 4).

    python lessons/experiments/rm_limits.py           # after train_sft.py and train_rm.py; ~2 min
    python lessons/experiments/rm_limits.py --quick   # seconds, for tests (tiny samples)

1. Pair source. train_rm.py's held-out pairs (two SFT samples of a held-out prompt) against pairs of two fresh
   draws from the world's corpus generator on the same prompts: the same RM, the same labeler.
2. What the SFT pairs contain. Each held-out SFT pair is put in one group: both responses "clean" (every sentence
   is one the world's grammar knows, answering this question), or one of them has a sentence the grammar does
   not know ("garbage": the SFT model's own slips, which the corpus never contains), or answers another question.
3. Fact probe. For each held-out prompt, the RM scores the same full answer sentence with every candidate answer
   ("The banana is yellow.", "The banana is red.", ...). How often does the right one score highest?
4. Learnability. A fresh RM (SFT trunk + new head) is trained on focused comparisons: the same answer sentence
   with two different candidate answers, labelled by the same simulated labeler; then the fact probe again. Once
   with one right and one wrong answer in every pair (a probe: building such pairs needs the world's facts), once
   with both answers picked blind (what a pipeline could do).

Gold is used here to group and to report, as everywhere in evaluation; in 4 the labels come from World.label,
like in train_rm.py, and only the right-vs-wrong probe also uses the facts (to build its pairs).
Nothing in out/ is modified.
"""
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontier import bounded, chain_ids  # noqa: E402  (frontier.py puts the repository root on the path)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import train_rm  # noqa: E402
from nano_rlhf.checkpoint import build_policy, build_value_model, load_sft_and_rm, load_tokenizer  # noqa: E402
from nano_rlhf.common import (ArgumentParser, Timer, cosine_lr, make_optimizer, run_cli, set_lr,  # noqa: E402
                              setup_runtime)
from nano_rlhf.data import encode_group, fit_groups, pairs_of  # noqa: E402
from nano_rlhf.world import ANSWERS, STYLES, World, eval_seed  # noqa: E402


def parse_args(argv):
    """The flags, checked before any work (one line, exit code 2); main checks --out-dir's checkpoints."""
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default="out", help="folder holding sft.pt and rm.pt (read only)")
    ap.add_argument("--quick", action="store_true", help="tiny samples and a few training steps, for tests")
    ap.add_argument("--threads", type=bounded(int, 0, 1024), default=None,
                    help="CPU intra-op threads (0: torch's default; default 2, 1 with --quick)")
    ap.add_argument("--seed", type=bounded(int, 0, 2**32 - 1), default=0,   # numpy's seeds stop at 2**32 - 1
                    help="the seed train_rm.py ran with (its held-out pairs)")
    ap.add_argument("--eval-split", choices=["dev", "test"], default="test",
                    help="held-out prompts: test (reported numbers) or dev (for choices)")
    args = ap.parse_args(argv)
    args.threads = (1 if args.quick else 2) if args.threads is None else args.threads   # the scripts' default: 2
    return args


def pair_metrics(world, tok, groups, rc, rr) -> dict:
    """train_rm.py's held-out report (accuracy, ceiling, skill, gold order) for these pairs, and their number."""
    pairs = pairs_of(groups, tok)
    return {"n": len(pairs), **train_rm.held_out_metrics(world, pairs, rc, rr)}


def corpus_pairs(world, tok, prompts, n: int, seed: int):
    """Pairs of two distinct fresh corpus draws per held-out prompt, labelled by the simulated human."""
    rng, label_rng, groups = random.Random(seed), random.Random(seed + 1), []
    for i in range(n):
        prompt = prompts[i % len(prompts)]
        a, b = world.sample_response(prompt, rng), world.sample_response(prompt, rng)
        if a != b:
            pick = world.label(prompt.text, a, b, label_rng)
            groups.append(encode_group(tok, prompt.text, [a, b], [(0, 1) if pick == 0 else (1, 0)]))
    return groups


def response_kind(world, prompt: str, response: str) -> str:
    """'garbage' if a sentence is not in the world's grammar, 'off-subject' if an answer is to another question,
    else 'clean'. Sentences are read like gold reads them: split at . ! ?, normalised, stutters collapsed."""
    fact = world.fact_of(prompt)
    for sentence in re.split(r"[.!?]", response):
        words = re.findall(r"[a-z0-9]+", sentence.lower())
        words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]
        if not words:
            continue
        label, info = world.classify(" ".join(words))
        if label == "garbage":
            return "garbage"
        if label == "answer" and (info["kind"] != fact.kind or (info["full"] and not world._same_subject(fact, info))):
            return "off-subject"
    return "clean"


def by_pair_kind(world, tok, groups, rc, rr) -> dict:
    """Gold-order accuracy of the RM per pair group (gold ties left out): {group: (n, accuracy)}."""
    hits = {}
    for (p, c, r), x, y in zip(pairs_of(groups, tok), rc, rr):
        gc, gr = world.gold_reward(p, c).total, world.gold_reward(p, r).total
        if gc != gr:
            kinds = {response_kind(world, p, c), response_kind(world, p, r)}
            group = "both clean" if kinds == {"clean"} else ("garbage" if "garbage" in kinds else "off-subject")
            hits.setdefault(group, []).append((x > y) == (gc > gr))
    return {k: (len(v), float(np.mean(v))) for k, v in sorted(hits.items())}


def candidates(fact) -> list[str]:
    return ANSWERS[fact.kind] if fact.kind != "sum" else [str(n) for n in range(2, 9)]   # sums here are 2..8


@torch.no_grad()
def fact_probe(rm, tok, world, prompts, device, autocast) -> dict:
    """Per kind: the fraction of held-out prompts whose right answer gets the RM's top score, among the same
    full-sentence answer with every candidate; and chance, 1 / number of candidates."""
    rm.eval()
    top, chance = {}, {}
    for prompt in prompts:
        fact = prompt.fact
        cands = candidates(fact)
        responses = [" " + world.answer_sentence(fact, a, 0) for a in cands]
        comparisons = [(i, 0) for i in range(len(cands))]     # "chosen" i: the scores come back in candidate order
        group = encode_group(tok, prompt.text, responses, comparisons)
        scores, _ = train_rm.comparison_rewards(rm, tok, [group], device, autocast)
        top.setdefault(fact.kind, []).append(cands[int(scores.argmax())] == fact.answer)
        chance[fact.kind] = 1 / len(cands)
    return {k: {"top1": float(np.mean(v)), "n": len(v), "chance": chance[k]} for k, v in top.items()}


def train_on_focused_pairs(sft, tok, world, steps: int, device, autocast, seed: int, blind: bool):
    """A fresh RM trained on focused comparisons: one answer sentence with two different candidate answers,
    labelled by World.label. Not blind, one of the two is the right answer: that uses the world's facts to build
    the pairs, so it is a probe of what the trunk can learn, not a way to train a pipeline's RM. Blind, both are
    picked at random and only the labeler knows which is right, if either is."""
    rm = build_value_model(sft, device)
    rm.gpt.set_dropout(0.0)
    opt = make_optimizer(rm.parameters(), 1e-3)
    rng, label_rng = random.Random(seed), random.Random(seed + 1)
    for step in range(steps):
        groups = []
        for _ in range(16):
            prompt = rng.choice(world.train_prompts)
            fact, style = prompt.fact, rng.randrange(len(STYLES[prompt.fact.kind]))
            answers = (rng.sample(candidates(fact), 2) if blind else
                       [fact.answer, rng.choice([a for a in candidates(fact) if a != fact.answer])])
            pair = [" " + world.answer_sentence(fact, a, style) for a in answers]
            pick = world.label(prompt.text, pair[0], pair[1], label_rng)
            groups.append(encode_group(tok, prompt.text, pair, [(0, 1) if pick == 0 else (1, 0)]))
        set_lr(opt, cosine_lr(step, steps, 1e-3, min(20, steps // 5)))
        loss = train_rm.bt_loss(*train_rm.comparison_rewards(rm, tok, groups, device, autocast))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rm.parameters(), 1.0)
        opt.step()
    return rm.eval()


def main(args) -> dict:
    timer = Timer()
    device, autocast = setup_runtime(args.seed, "auto", args.threads)
    chain_ids(args.out_dir)                          # one-line errors naming what to run first
    sft, rm_ckpt = load_sft_and_rm(args.out_dir)
    tok, world = load_tokenizer(sft), World(sft["config"]["world_seed"])
    policy, rm = build_policy(sft, device).eval(), build_value_model(rm_ckpt, device).eval()
    n_pairs = 64 if args.quick else rm_ckpt["config"]["n_val_pairs"]
    out = {}

    # 1. pair source: train_rm.py's own held-out pairs (same seed, same count) and corpus pairs
    split = world.split(args.eval_split)
    sft_groups, _ = train_rm.sample_comparisons(policy, tok, world, [p.text for p in split], n_pairs, 2, 1.0,
                                                sft["config"]["max_new_tokens"], device, autocast,
                                                eval_seed(args.eval_split, args.seed + 1))
    sft_scores = train_rm.comparison_scores(rm, tok, sft_groups, device, autocast)
    cor_groups = corpus_pairs(world, tok, split, n_pairs, eval_seed(args.eval_split, args.seed + 5))
    cor_groups, _ = fit_groups(tok, cor_groups, policy.cfg.block_size)   # a long corpus draw may not fit
    out["split"] = args.eval_split
    out["pairs"] = {"SFT samples": pair_metrics(world, tok, sft_groups, *sft_scores),
                    "corpus draws": pair_metrics(world, tok, cor_groups,
                                                 *train_rm.comparison_scores(rm, tok, cor_groups, device, autocast))}
    print(f"1. the same RM on held-out pairs from two sources ({timer():.0f}s)")
    for name, m in out["pairs"].items():
        print(f"   {name:13s} n={m['n']:4d}  accuracy {m['val_accuracy']:.3f} ± {m['val_accuracy_se']:.3f}  ceiling "
              f"{m['labeler_accuracy']:.3f}  skill {m['skill_vs_ceiling']:.2f} ± {m['skill_se']:.2f}  "
              f"gold order {m['gold_order_accuracy']:.3f}")

    # 2. what the SFT pairs contain
    out["sft_pairs_by_kind"] = by_pair_kind(world, tok, sft_groups, *sft_scores)
    print("2. gold-order accuracy on the SFT pairs, by what they contain (gold ties left out)")
    for k, (n, acc) in out["sft_pairs_by_kind"].items():
        print(f"   {k:12s} n={n:4d}  {acc:.3f} ± {np.sqrt(acc * (1 - acc) / n):.3f}")

    # 3. and 4. the fact probe, on the trained RM and on one trained on focused comparisons
    out["fact_probe"] = {"train_rm.py's RM": fact_probe(rm, tok, world, split, device, autocast)}
    steps = 10 if args.quick else 600
    for blind, name in ((False, "right vs wrong"), (True, "blind pairs")):
        focused = train_on_focused_pairs(sft, tok, world, steps, device, autocast, args.seed, blind)
        out["fact_probe"][f"{name} ({steps} steps)"] = fact_probe(focused, tok, world, split, device, autocast)
    print(f"3-4. right answer scored highest among all candidates, held-out prompts ({timer():.0f}s)")
    for name, probe in out["fact_probe"].items():
        print(f"   {name:28s} " + "  ".join(f"{k} {v['top1']:.2f} (n={v['n']}, chance {v['chance']:.2f})"
                                            for k, v in probe.items()))
    return out


if __name__ == "__main__":
    run_cli(main, parse_args(sys.argv[1:]))
