"""The statistics helpers against hand computations and simulations: the clustered SE is the SE over prompt means
for equal clusters and matches the true spread of the mean when prompts differ; paired differences cancel the
shared prompt effect; the bootstrap resamples whole prompts; the seed claim follows its 2-SE rule."""
import math

import numpy as np
import pytest

from nano_rlhf import stats
from nano_rlhf.evaluate import Sample, gold_report
from nano_rlhf.world import World


def test_clustered_se_equals_the_se_over_prompt_means_for_equal_clusters():
    x = [1.0, 3.0, 2.0, 6.0, 0.0, 1.0]             # prompts a, b, c with two values each
    clusters = ["a", "a", "b", "b", "c", "c"]
    means = np.array([2.0, 4.0, 0.5])               # by hand
    mean, se = stats.clustered_mean_se(x, clusters)
    assert mean == pytest.approx(13 / 6)
    assert se == pytest.approx(means.std(ddof=1) / math.sqrt(3))
    # one value per cluster: the iid SE
    assert stats.clustered_mean_se(x, range(6))[1] == pytest.approx(stats.mean_se(x)[1])
    assert math.isnan(stats.clustered_mean_se(x, ["a"] * 6)[1])


def test_clustered_se_matches_the_spread_of_the_mean_over_simulated_evaluations():
    """40 prompts x 12 samples, between-prompt variance 0.25, within 2.3 (measured on SFT samples): the clustered SE
    tracks the true standard deviation of the mean over many evaluations, the iid SE understates it."""
    rng = np.random.default_rng(0)
    G, m = 40, 12
    clusters = np.repeat(np.arange(G), m)
    means, clustered, iid = [], [], []
    for _ in range(400):
        x = np.repeat(rng.normal(0, 0.5, G), m) + rng.normal(0, math.sqrt(2.3), G * m)
        means.append(x.mean())
        clustered.append(stats.clustered_mean_se(x, clusters)[1])
        iid.append(stats.mean_se(x)[1])
    truth = np.std(means)                            # about sqrt(0.25 / 40 + 2.3 / 480) = 0.105
    assert np.mean(clustered) == pytest.approx(truth, rel=0.12)
    assert np.mean(iid) < 0.8 * truth


def test_paired_difference_cancels_the_shared_prompt_effect():
    prompts = ["p", "p", "q", "q", "r"]
    a = [10.0, 12.0, 0.0, 2.0, 5.0]                  # prompt means 11, 1, 5
    b = [9.0, 3.0, 4.0]                              # one sample each on p, q, r
    d, se, n = stats.paired_diff_se(a, prompts, b, ["p", "q", "r"])
    diffs = np.array([2.0, -2.0, 1.0])               # 11 - 9, 1 - 3, 5 - 4
    assert (d, n) == (pytest.approx(diffs.mean()), 3)
    assert se == pytest.approx(diffs.std(ddof=1) / math.sqrt(3))
    # a large prompt effect shared by both policies does not inflate the paired SE
    rng = np.random.default_rng(1)
    effect = rng.normal(0, 5, 50)
    pa, pb = effect + 0.3 + rng.normal(0, 0.1, 50), effect + rng.normal(0, 0.1, 50)
    d, se, _ = stats.paired_diff_se(pa, range(50), pb, range(50))
    assert se < 0.05 and abs(d - 0.3) < 0.1


def test_bootstrap_by_cluster_resamples_whole_prompts():
    rng = np.random.default_rng(2)
    G, m = 60, 5
    clusters = np.repeat(np.arange(G), m)
    x = np.repeat(rng.normal(0, 1, G), m) + rng.normal(0, 0.3, G * m)
    full, se = stats.bootstrap_by_cluster(lambda i: x[i].mean(), clusters, n_boot=2000, seed=0)
    assert full == pytest.approx(x.mean())
    # the bootstrap of a mean has variance (G - 1) / G of the clustered estimator's
    assert se == pytest.approx(stats.clustered_mean_se(x, clusters)[1] * math.sqrt((G - 1) / G), rel=0.08)
    # by pair (every row its own cluster) it would be far smaller: prompts carry most of the variance here
    assert stats.bootstrap_by_cluster(lambda i: x[i].mean(), np.arange(G * m), 500, 0)[1] < 0.6 * se


def test_min_detectable_and_seed_claims():
    assert stats.min_detectable(0.1) == pytest.approx(0.28)
    won = stats.seed_claim([1.0, 1.2, 0.9], [0.2, 0.3, 0.2], "PPO", "DPO")
    assert won["beats"] and won["text"].startswith("PPO beats DPO") and won["n_seeds"] == 3
    d = np.array([0.8, 0.9, 0.7])
    assert won["diff"] == pytest.approx(d.mean()) and won["se"] == pytest.approx(d.std(ddof=1) / math.sqrt(3))
    lost = stats.seed_claim([0.2, 0.3, 0.2], [1.0, 1.2, 0.9], "PPO", "DPO")
    assert lost["beats"] and lost["text"].startswith("DPO beats PPO")
    tie = stats.seed_claim([0.5, 0.1, 0.9], [0.4, 0.6, 0.3], "A", "B")   # differences 0.1, -0.5, 0.6
    se = np.std([0.1, -0.5, 0.6], ddof=1) / math.sqrt(3)
    assert not tie["beats"] and "no detectable difference" in tie["text"]
    assert f"smallest detectable ≈ {2.8 * se:.3f}" in tie["text"]
    o = stats.over_seeds([1.0, 2.0, 3.0])
    assert (o["mean"], o["n_seeds"]) == (2.0, 3) and o["se"] == pytest.approx(1 / math.sqrt(3))


def test_gold_report_clusters_its_standard_error_by_prompt():
    world = World(0)
    good, bad = " The banana is yellow.", " Are you dumb?"
    p1, p2 = world.test_prompts[0].text, world.test_prompts[1].text
    # prompt 1 always answered well, prompt 2 always badly: 2 clusters, so the clustered SE is the SE of 2 means
    samples = [Sample(p1, good, [], True)] * 5 + [Sample(p2, bad, [], True)] * 5
    rep = gold_report(world, samples)
    g1, g2 = world.gold_reward(p1, good).total, world.gold_reward(p2, bad).total
    assert rep["n_prompts"] == 2 and rep["gold_reward"] == pytest.approx((g1 + g2) / 2)
    assert rep["gold_reward_se"] == pytest.approx(abs(g1 - g2) / 2)
    assert rep["gold_reward_se_iid"] < rep["gold_reward_se"] / 2


def test_spearman_ranks_ties_by_their_average_rank_like_a_slow_count():
    from nano_rlhf.evaluate import _ranks, correlations
    rng = np.random.default_rng(0)
    x = rng.integers(0, 7, 200).astype(float)            # many ties
    y = x + rng.normal(0, 2, 200)
    slow = lambda v: np.array([(v < a).sum() + ((v == a).sum() - 1) / 2 for a in v])  # noqa: E731
    assert np.array_equal(_ranks(x), slow(x)) and np.array_equal(_ranks(y), slow(y))
    assert _ranks([3.0, 1.0, 3.0, 2.0]).tolist() == [2.5, 0.0, 2.5, 1.0]       # by hand
    rho = correlations(x, y)["spearman"]
    assert abs(rho - np.corrcoef(slow(x), slow(y))[0, 1]) < 1e-12
    assert correlations([1, 2, 3, 4], [10, 20, 30, 1000])["spearman"] == 1.0   # monotone: exactly 1


def test_paired_prompt_means_by_hand():
    """Only the prompts both runs have; the SE is the sample std of the differences over sqrt(n)."""
    from nano_rlhf.stats import paired_prompt_means
    a, b = {"p": 1.0, "q": 0.0, "r": 2.0, "only a": 9.0}, {"p": 0.5, "q": 0.5, "r": 1.0, "only b": -9.0}
    out = paired_prompt_means(a, b)                  # differences 0.5, -0.5, 1.0: mean 1/3, std 0.7638
    assert out["n_prompts"] == 3 and abs(out["diff"] - 1 / 3) < 1e-12
    assert abs(out["se"] - (((0.5 - 1 / 3) ** 2 + (0.5 + 1 / 3) ** 2 + (1 - 1 / 3) ** 2) / 2) ** 0.5 / 3 ** 0.5) < 1e-12
