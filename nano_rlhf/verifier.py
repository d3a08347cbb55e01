"""A rule-based verifier for the sum prompts ("What is 3 plus 4?"), written the way RLVR checkers are written.

Reinforcement learning with verifiable rewards (RLVR: DeepSeekMath, Tulu 3, DeepSeek-R1) replaces the learned
reward model by a program that checks the answer: a maths checker reads the final number, a code checker runs the
tests. This one reads only the prompt and the response text, as a real checker reads the dataset's question:

    is_sum(prompt)           the question names exactly two numbers and says plus, add or sum
    expected_answer(prompt)  x + y, computed from those two numbers
    verify(prompt, response) 1.0 if the last number the response states, after taking out the two summands
                             ("3 plus 4 is 7" states only 7), is x + y; else 0.0

It never calls the world's gold reward, its fact table or its labeler (tests/test_grpo.py reads this file's
imports to make sure). And it checks ONE thing on purpose: rudeness, rambling and a hedge whose last number
happens to be right ("It is 6 or 7.") all pass. What gold sees and the verifier does not is lesson 9's reward
hacking of an incomplete verifier.

pass_at_k is the unbiased estimator of Chen et al. 2021 (the Codex paper, eq. 1): with n samples of which c pass,
pass@k = 1 - C(n - c, k) / C(n, k), the chance that at least one of k samples drawn without replacement passes.
"""
import re

QUESTION = re.compile(r"User: (.*)\nAssistant:", re.S)
NUMBER = re.compile(r"\d+")
SUM_WORDS = re.compile(r"\b(plus|add|sum)\b", re.I)


def summands(prompt: str) -> tuple[int, int] | None:
    """The two numbers of a sum question, or None if the prompt is not one."""
    m = QUESTION.search(prompt)
    question = m[1] if m else prompt
    numbers = NUMBER.findall(question)
    if len(numbers) != 2 or not SUM_WORDS.search(question):
        return None
    return int(numbers[0]), int(numbers[1])


def is_sum(prompt: str) -> bool:
    return summands(prompt) is not None


def expected_answer(prompt: str) -> int | None:
    xy = summands(prompt)
    return None if xy is None else xy[0] + xy[1]


def verify(prompt: str, response: str) -> float:
    """1.0 if the response's last stated number (summands taken out once each) is x + y, else 0.0."""
    xy = summands(prompt)
    if xy is None:
        return 0.0
    stated = [int(n) for n in NUMBER.findall(response)]
    for summand in xy:                       # "3 plus 4 is 7": the 3 and the 4 restate the question
        if summand in stated:
            stated.remove(summand)
    return float(bool(stated) and stated[-1] == xy[0] + xy[1])


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021), as their numerically stable product:
    1 - prod_{i = n - c + 1}^{n} (1 - k / i)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    out = 1.0
    for i in range(n - c + 1, n + 1):
        out *= 1.0 - k / i
    return 1.0 - out
