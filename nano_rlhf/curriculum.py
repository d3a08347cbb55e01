"""A curriculum for PPO (the overview's "curriculum RL"): easy prompts first, by a difficulty that needs no gold.

    python train_ppo.py --curriculum easy-first    # lessons/experiments/curriculum.py measures it over seeds

easiest_first orders the training prompts once, before the run, by the mean RM score of a few SFT samples of each;
curriculum_pool says which of them each iteration draws from.
"""
import torch

from nano_rlhf.evaluate import sample_policy, score_samples


# [lesson:curriculum]
def curriculum_pool(easiest_first: list[int], it: int, iterations: int, start: float = 0.25) -> list[int]:
    """The prompts iteration `it` draws from: the easiest `start` share of them at first, growing linearly to all
    by half-way through the run ("baby steps"; Bengio et al. 2009). easiest_first: prompt indices, easiest first."""
    share = min(1.0, start + (1.0 - start) * it / max(1, iterations // 2))
    return easiest_first[:max(1, round(share * len(easiest_first)))]


def easiest_first(ref, rm, norm: dict, tok, texts: list[str], max_new: int, seed: int, device, autocast, k: int = 4):
    """Prompt indices ordered by a difficulty that needs no gold: the mean RM score of k SFT samples of each prompt,
    highest (easiest) first."""
    samples = sample_policy(ref, tok, [t for t in texts for _ in range(k)], max_new_tokens=max_new, seed=seed,
                            device=device, autocast=autocast)
    scores = torch.tensor(score_samples(rm, tok, samples, device=device, autocast=autocast, **norm)).view(-1, k)
    return torch.argsort(scores.mean(1), descending=True, stable=True).tolist()
# [/lesson:curriculum]
