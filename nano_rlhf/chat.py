"""Talk to any stage's checkpoint, or put two side by side.

    python -m nano_rlhf.chat out/ppo.pt "What colour is the banana?"
    python -m nano_rlhf.chat out/ppo.pt --compare out/sft.pt "What does the cow say?"
    python -m nano_rlhf.chat out/sft.pt                  # interactive: type questions; empty line or Ctrl-D quits

Questions are wrapped in the chat format the models were trained on ("User: ...\\nAssistant:"). When the question
is one of the tiny world's, the simulated human's score is shown too. Flags may come before or after the question.
A question too long for a model's context (its block_size, with room for at least one answer token) is refused:
exit code 2 on the command line, a one-line message and the next question in interactive mode.
"""
import os
import sys

import torch

from nano_rlhf import interrupts_raise
from nano_rlhf.checkpoint import build_policy, load_checkpoint, load_tokenizer
from nano_rlhf.common import ArgumentParser, UserError, bounded, fail
from nano_rlhf.evaluate import sample_policy
from nano_rlhf.world import World, format_prompt


def parse_args(argv=None):
    """The flags, checked before any model loads (a bad one: one line on stderr, exit code 2)."""
    ap = ArgumentParser(prog="python -m nano_rlhf.chat", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", help="an sft.pt, ppo.pt or dpo.pt")
    ap.add_argument("question", nargs="?", help="the question; omit it to chat interactively")
    ap.add_argument("--compare", default="", help="a second checkpoint to answer the same question")
    ap.add_argument("--n", type=bounded(int, 1, 1000), default=3, help="answers to sample per model")
    ap.add_argument("--temperature", type=bounded(float, 0, 100), default=1.0, help="sampling temperature (0 = greedy)")
    ap.add_argument("--top-k", type=bounded(int, 0, 10**6), default=0,
                    help="sample from the k likeliest tokens only (0 = all)")
    ap.add_argument("--max-new-tokens", type=bounded(int, 1, 10**4), default=48, help="longest answer")
    ap.add_argument("--seed", type=bounded(int, 0, 2**63 - 1), default=0, help="sampling seed")
    args = ap.parse_intermixed_args(argv)     # the question may come before the flags or after them
    if args.question is not None and not args.question.strip():
        ap.error("the question is empty: ask something, or leave it out to chat interactively")
    return args


def load(path):
    ck = load_checkpoint(path, ("sft", "ppo", "dpo", "grpo"))
    return ck, load_tokenizer(ck), build_policy(ck, "cpu").eval()


def answer(model, tok, prompt, args, seed):
    return sample_policy(model, tok, [prompt] * args.n, max_new_tokens=args.max_new_tokens,
                         temperature=args.temperature, top_k=args.top_k or None, seed=seed)


def too_long(prompt, models) -> str | None:
    """Why a model has no room to answer this prompt (generation needs at least one new token), or None."""
    for name, _, tok, model in models:
        n, block = len(tok.encode(prompt)), model.cfg.block_size
        if n >= block:
            return (f"the question is {n} tokens with its chat format, but {name} reads at most {block - 1}: "
                    "ask a shorter question")
    return None


def typed_questions():
    """Questions typed at the prompt, until an empty line or the end of the input (Ctrl-D, a closed pipe)."""
    if sys.stdin is None:                   # started with stdin closed
        return
    if hasattr(sys.stdin, "reconfigure"):   # a real stream: bytes that are not UTF-8 become U+FFFD, not an error
        sys.stdin.reconfigure(errors="replace")
    while True:
        try:
            q = input("you> ").strip()
        except EOFError:
            print()                         # end the prompt's line
            return
        if not q:
            return
        yield q


def chat(args):
    torch.set_num_threads(1)
    try:
        models = [(args.checkpoint, *load(args.checkpoint))]
        if args.compare:
            models.append((args.compare, *load(args.compare)))
    except UserError as e:
        fail(str(e))
    world = World()   # the facts and phrasings are the same for every world seed (the seed picks the split)
    for q in typed_questions() if args.question is None else [args.question]:
        prompt = format_prompt(q)
        if problem := too_long(prompt, models):
            if args.question is not None:
                fail(problem)
            print(f"error: {problem}", file=sys.stderr)
            continue
        for name, ck, tok, model in models:
            print(f"{ck['stage']} ({name}):")
            for s in answer(model, tok, prompt, args, args.seed):
                gold = world.gold_reward(prompt, s.response, s.ended).total if world.fact_of(prompt) else None
                print(f"  {'' if gold is None else f'[gold {gold:+.2f}] '}{s.response.strip()}"
                      f"{'' if s.ended else ' …'}")


def main(argv=None):
    interrupts_raise()                      # Ctrl-C: KeyboardInterrupt, handled below
    args = parse_args(argv)
    try:
        chat(args)
        sys.stdout.flush()                  # here, where a reader that left is caught, not at exit
    except KeyboardInterrupt:               # Ctrl-C: nothing to save, so no more than a fresh line
        print()
        sys.exit(130)
    except MemoryError:                     # an endless line on stdin (< /dev/zero), a huge --n
        fail("out of memory: ask shorter questions, or fewer answers (--n)")
    except BrokenPipeError:                 # the reader left (`| head -3`): stop quietly, as the Python docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())     # the flush at exit would fail again
        sys.exit(1)


if __name__ == "__main__":
    main()
