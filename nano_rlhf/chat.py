"""Talk to any stage's checkpoint, or put two side by side.

    python -m nano_rlhf.chat out/ppo.pt "What colour is the banana?"
    python -m nano_rlhf.chat out/ppo.pt --compare out/sft.pt "What does the cow say?"
    python -m nano_rlhf.chat out/sft.pt                  # interactive: type questions, empty line to quit

Questions are wrapped in the chat format the models were trained on ("User: ...\\nAssistant:"). When the question
is one of the tiny world's, the simulated human's score is shown too.
"""
import argparse
import sys

import torch

from nano_rlhf.checkpoint import build_policy, load_checkpoint, load_tokenizer
from nano_rlhf.common import UserError
from nano_rlhf.evaluate import sample_policy
from nano_rlhf.world import World, format_prompt


def load(path):
    ck = load_checkpoint(path, ("sft", "ppo", "dpo"))
    return ck, load_tokenizer(ck), build_policy(ck, "cpu").eval()


def answer(model, tok, prompt, args, seed):
    return sample_policy(model, tok, [prompt] * args.n, max_new_tokens=args.max_new_tokens,
                         temperature=args.temperature, top_k=args.top_k or None, seed=seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", help="an sft.pt, ppo.pt or dpo.pt")
    ap.add_argument("question", nargs="?", help="the question; omit it to chat interactively")
    ap.add_argument("--compare", default="", help="a second checkpoint to answer the same question")
    ap.add_argument("--n", type=int, default=3, help="answers to sample per model")
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0 = greedy)")
    ap.add_argument("--top-k", type=int, default=0, help="sample from the k likeliest tokens only (chat only)")
    ap.add_argument("--max-new-tokens", type=int, default=48, help="longest answer")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        models = [(args.checkpoint, *load(args.checkpoint))]
        if args.compare:
            models.append((args.compare, *load(args.compare)))
    except UserError as e:
        sys.exit(f"error: {e}")
    world = World()   # the facts and phrasings are the same for every world seed (the seed picks the split)
    questions = [args.question] if args.question else iter(lambda: input("you> ").strip(), "")
    for q in questions:
        prompt = format_prompt(q)
        for name, ck, tok, model in models:
            print(f"{ck['stage']} ({name}):")
            for s in answer(model, tok, prompt, args, args.seed):
                gold = world.gold_reward(prompt, s.response, s.ended).total if world.fact_of(prompt) else None
                print(f"  {'' if gold is None else f'[gold {gold:+.2f}] '}{s.response.strip()}"
                      f"{'' if s.ended else ' …'}")


if __name__ == "__main__":
    main()
