"""The AI labeler: the SFT model judges two responses by its answers to the constitution's questions (RLAIF).

For each response y and principle c the judge reads the check prompt (nano_rlhf/constitution.py) and gives
next-token probabilities; only the two answers it was taught count, normalised against each other as Lee et al.
2023 do with their option tokens:

    z_c(y) = log P(" Yes" | check_c(y)) - log P(" No" | check_c(y))     (a logit: P_c(yes) = sigmoid(z_c))

and a comparison is a Bradley-Terry model on a weighted sum of them (Bai et al. 2022 sum the judge's log-probs
over principles; a weighted logit is the same with a scale of its own):

    P_AI(a preferred to b) = sigmoid(w . (z(a) - z(b)))

with equal weights w_c = 1/C (no human label spent), or w fitted by logistic regression on at most 500 pairs the
simulated human labelled (`fit_weights`; those labels count in the label budget). The label is the more likely
response (a hard choice: the judge has no labeler's noise to sample), so the RM, PPO, DPO and the critic-free
trainer run unchanged on AI labels. The judge never sees the gold reward: it knows what the SFT data taught it.
"""
import random
import time

import torch
import torch.nn.functional as F

from nano_rlhf.constitution import NO, PRINCIPLES, YES, check_prompt
from nano_rlhf.data import left_pad

MAX_FIT_PAIRS = 500   # the most human labels a fit of the judge's weights may spend


def answer_ids(tok) -> tuple[list[int], int, int]:
    """Where " Yes." and " No." first differ: the tokens they share before it (none with the default BPE, which
    learns " Yes" and " No" as tokens; " " with a tiny vocabulary), then the first token of each."""
    yes, no = tok.encode(YES), tok.encode(NO)
    n = next(i for i, (a, b) in enumerate(zip(yes, no)) if a != b)
    return yes[:n], yes[n], no[n]


@torch.no_grad()
def judge_logits(model, tok, prompts: list[str], responses: list[str], device, autocast, batch_size: int = 256):
    """z (N, C): the judge's yes-vs-no logit for each (prompt, response) and principle of the constitution, in
    fp32 (log-softmax in fp32 even under autocast). A check longer than the model's block keeps the tokens of its
    end (the question is lost; such replies are far longer than any the judge was taught)."""
    if not prompts:
        return torch.zeros(0, len(PRINCIPLES))
    shared, yes, no = answer_ids(tok)
    limit = model.cfg.block_size
    seqs = [(tok.encode(check_prompt(c, p, r)) + shared)[-limit:] for p, r in zip(prompts, responses)
            for c in PRINCIPLES]
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(seqs), batch_size):
        idx, mask = left_pad(seqs[i:i + batch_size], tok.pad_id, device)
        with autocast():
            logits = model(idx, mask)[:, -1]                 # left padding: the last position is the last token
        logp = F.log_softmax(logits.float(), dim=-1)
        out.append(logp[:, yes] - logp[:, no])
    model.train(was_training)
    return torch.cat(out).view(len(prompts), len(PRINCIPLES)).cpu()


# [lesson:ai_preference]
def ai_preference(z_a, z_b, weights):
    """P(a preferred to b) under the judge.  z_a, z_b (N, C) yes-vs-no logits per principle, weights (C,) -> (N,)

    A Bradley-Terry comparison of the weighted logits: the difference of scores, through a sigmoid."""
    # BEGIN SOLUTION
    return torch.sigmoid((z_a - z_b) @ weights)
    # END SOLUTION
# [/lesson:ai_preference]


def equal_weights() -> torch.Tensor:
    """w_c = 1/C: every principle counts the same, no human label spent."""
    return torch.full((len(PRINCIPLES),), 1.0 / len(PRINCIPLES))


def fit_weights(z_a, z_b, a_preferred, l2: float = 1e-2, steps: int = 200) -> torch.Tensor:
    """Logistic regression of the human's choices on the judge's logit differences, no intercept (swapping a and b
    must flip the probability).  z_a, z_b (N, C), a_preferred (N,) bool -> weights (C,)

    Maximum likelihood with a small L2 penalty (a few hundred labels, C weights), by Newton's method: the
    log-likelihood is concave, so each step solves the local quadratic exactly."""
    x, y = (z_a - z_b).double(), a_preferred.double()
    w = torch.zeros(x.shape[1], dtype=torch.float64)
    for _ in range(steps):
        p = torch.sigmoid(x @ w)
        grad = x.T @ (p - y) / len(y) + l2 * w
        hess = (x.T * (p * (1 - p))) @ x / len(y) + l2 * torch.eye(len(w), dtype=torch.float64)
        step = torch.linalg.solve(hess, grad)
        w = w - step
        if step.abs().max() < 1e-10:
            break
    return w.float()


class AILabeler:
    """The judge as a labeler, with train_rm.py's labeler interface: (prompt, texts, rng) -> [(chosen, rejected)]
    over every pair of the texts. It draws nothing from rng (the label is the more likely response; an exact tie
    goes to the first), so the human's labels of the other prompts are the same with or without it."""

    def __init__(self, judge, tok, device, autocast, weights=None, checkpoint_id=None):
        self.judge, self.tok, self.device, self.autocast = judge, tok, device, autocast
        self.checkpoint_id = checkpoint_id           # the judge's sft.pt, recorded among the RM's parents
        self.weights = equal_weights() if weights is None else weights
        self.pairs, self.seconds = 0, 0.0            # what it cost: seconds per 1,000 pairs in the RM's summary

    def logits(self, prompts, texts):
        return judge_logits(self.judge, self.tok, prompts, texts, self.device, self.autocast)

    def __call__(self, prompt, texts, rng=None):
        start = time.perf_counter()
        z = self.logits([prompt] * len(texts), texts)
        a, b = torch.triu_indices(len(texts), len(texts), offset=1)     # every pair a < b, in the human's order
        p_a = ai_preference(z[a], z[b], self.weights)
        self.pairs += len(a)
        self.seconds += time.perf_counter() - start
        return [(i, j) if p >= 0.5 else (j, i) for i, j, p in zip(a.tolist(), b.tolist(), p_a.tolist())]


def fraction_labeler(human, rest, fraction: float, seed: int):
    """--label-fraction: each prompt's pairs go to the human with probability `fraction` (a coin of its own, so
    every arm at one fraction labels the same prompts the same way), else to `rest` (the AI labeler), or are left
    unlabelled (rest None: the group keeps comparisons None)."""
    coin = random.Random(f"label-fraction-{seed}")

    def labels(prompt, texts, rng):
        if coin.random() < fraction:
            return human(prompt, texts, rng)
        return rest(prompt, texts, rng) if rest else None
    return labels

