"""Standard errors that match how the numbers were drawn. Every script and experiment reports through these.

An evaluation draws several samples per prompt (480 = 40 prompts x 12), so its samples are not independent:
two answers to one prompt share that prompt's difficulty. Treating them as 480 draws understates the uncertainty
about NEW prompts (measured on SFT samples: iid SE 0.070, SE over the 40 prompt means 0.100). So:

  clustered_mean_se   the mean of all samples, with the SE clustered by prompt (the cluster-robust "sandwich"
                      estimator; for equal cluster sizes it is exactly the SE over the prompt means)
  paired_diff_se      A - B on the same prompts (PPO - SFT): the SE of the per-prompt differences, so the shared
                      prompt difficulty cancels
  bootstrap_by_cluster  any statistic (accuracy, skill, Spearman) resampled by prompt, not by pair
  min_detectable      the smallest true effect a comparison with this SE detects (two-sided 5%, 80% power)
  over_seeds, seed_claim   numbers across training seeds: each seed, mean +- SE over seeds, and whether "A beats
                      B" holds (the paired per-seed difference above 2 SE) or not (and how large it would need to be)
"""
import math

import numpy as np

Z_TEST = 1.96    # two-sided 5%
Z_POWER = 0.84   # 80% power


def mean_se(xs) -> tuple[float, float]:
    """Mean and its iid standard error (sample std / sqrt(n)); NaN SE for fewer than two values."""
    a = np.asarray(xs, dtype=np.float64)
    if a.size == 0:
        return float("nan"), float("nan")
    se = a.std(ddof=1) / math.sqrt(a.size) if a.size > 1 else float("nan")
    return float(a.mean()), float(se)


def cluster_ids(labels) -> np.ndarray:
    """Integer cluster ids 0..G-1 for any hashable labels (prompt texts), in order of first appearance."""
    index = {}
    return np.array([index.setdefault(x, len(index)) for x in labels], dtype=np.int64)


def clustered_mean_se(xs, clusters) -> tuple[float, float]:
    """Mean of all values and its standard error clustered by `clusters` (one label per value).  (n,), (n,)

    Cluster-robust (Liang & Zeger 1986) with the G / (G - 1) small-sample factor:
        se^2 = G / (G - 1) * sum_g (sum_{i in g} (x_i - mean))^2 / n^2.
    With m values in each of G clusters this equals var(cluster means, ddof=1) / G: the SE over prompt means.
    """
    x = np.asarray(xs, dtype=np.float64)
    g = cluster_ids(clusters)
    n, G = x.size, int(g.max()) + 1 if x.size else 0
    if n == 0:
        return float("nan"), float("nan")
    mean = float(x.mean())
    if G < 2:
        return mean, float("nan")
    resid = np.bincount(g, weights=x - mean, minlength=G)     # per-cluster sums of residuals
    return mean, float(math.sqrt(G / (G - 1) * (resid ** 2).sum()) / n)


def cluster_means(xs, clusters) -> dict:
    """{cluster label: mean of its values}."""
    x = np.asarray(xs, dtype=np.float64)
    labels = list(clusters)
    g = cluster_ids(labels)
    sums, counts = np.bincount(g, weights=x), np.bincount(g)
    first = {}
    for lab, i in zip(labels, g):
        first.setdefault(int(i), lab)
    return {first[i]: float(sums[i] / counts[i]) for i in range(len(counts))}


def paired_prompt_means(a: dict, b: dict) -> dict:
    """Two runs' {prompt: mean gold} (a summary's gold_by_prompt): the mean over their common prompts of a - b and
    its SE over those prompts, as paired_diff_se does from the samples.  -> {diff, se, n_prompts}"""
    d = [a[k] - b[k] for k in a if k in b]
    m, se = mean_se(d)
    return {"diff": m, "se": se, "n_prompts": len(d)}


def paired_diff_se(a, clusters_a, b, clusters_b) -> tuple[float, float, int]:
    """Mean of A - B over the prompts both were evaluated on, and its paired SE.  -> diff, se, n_prompts

    Per prompt, the mean of A's samples minus the mean of B's; the SE is that of the mean of those differences
    (prompt difficulty, shared by A and B, cancels). A's and B's samples of one prompt need not be paired.
    """
    ma, mb = cluster_means(a, clusters_a), cluster_means(b, clusters_b)
    d = [ma[k] - mb[k] for k in ma if k in mb]
    m, se = mean_se(d)
    return m, se, len(d)


def bootstrap_by_cluster(stat, clusters, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """A statistic and its bootstrap SE, resampling whole clusters (prompts) with replacement.

    stat(idx) computes the statistic on the rows idx (an int array; rows may repeat) of the caller's data.
    -> (stat on all rows, std of the bootstrap replicates)
    """
    g = cluster_ids(clusters)
    G = int(g.max()) + 1
    rows = [np.flatnonzero(g == i) for i in range(G)]
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        pick = rng.integers(0, G, G)
        reps.append(stat(np.concatenate([rows[i] for i in pick])))
    reps = np.asarray(reps, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    full = float(stat(np.arange(len(g))))
    return full, float(reps.std(ddof=1)) if len(reps) > 1 else float("nan")


def min_detectable(se: float) -> float:
    """The smallest true effect that a two-sided 5% test with this standard error detects 80% of the time:
    (1.96 + 0.84) * SE = 2.8 SE."""
    return (Z_TEST + Z_POWER) * se


def over_seeds(values) -> dict:
    """Each seed's number, their mean and the SE over seeds (n = the number of seeds)."""
    m, se = mean_se(values)
    return {"per_seed": [float(v) for v in values], "mean": m, "se": se, "n_seeds": len(values)}


def seed_claim(a, b, name_a: str = "A", name_b: str = "B", fmt: str = "+.3f") -> dict:
    """Does A beat B over seeds? a[i] and b[i] come from the same seed (same SFT, RM and seed: a paired design).

    The claim needs the mean paired difference above 2 SE over seeds; otherwise the answer is "no detectable
    difference", with the smallest difference this many seeds could detect. -> {diff, se, n_seeds, beats, text}
    """
    if len(a) != len(b):
        raise ValueError("seed_claim needs one number per seed for both arms")   # internal
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    m, se = mean_se(d)
    beats = bool(se == se and abs(m) > 2 * se)
    if beats:
        winner, loser = (name_a, name_b) if m > 0 else (name_b, name_a)
        text = f"{winner} beats {loser}: {name_a} - {name_b} = {m:{fmt}} ± {se:.3f} over {len(d)} seeds"
    else:
        text = (f"no detectable difference between {name_a} and {name_b} ({m:{fmt}} ± {se:.3f} over {len(d)} "
                f"seeds; smallest detectable ≈ {min_detectable(se):.3f})")
    return {"diff": m, "se": se, "n_seeds": len(d), "beats": beats, "text": text}
