"""What train_ppo.py (and train_grpo.py, with stage="grpo") reports, kept out of the algorithm's file: progress
lines, held-out evaluations against the simulated human, the summary JSON, the PNGs and the side-by-side table.
Gold is reported here, never fed back. Under torchrun rank 0 alone evaluates (on the samples a one-process run
draws: the held-out numbers do not depend on the number of ranks) and writes; a progress line gathers every
rank's share of the rollout first."""
import numpy as np
import torch

from nano_rlhf import distributed

from nano_rlhf.evaluate import (format_component_changes, format_side_by_side, gold_by_kind, gold_scores,
                                policy_report)
from nano_rlhf.files import MetricsLog, write_json
from nano_rlhf.plots import plot_curves
from nano_rlhf.stats import cluster_means
from nano_rlhf.world import eval_seed


def masked_explained_variance(values, returns, mask) -> float:
    """1 - Var(returns - values) / Var(returns) over real tokens: 1 = the critic predicts the returns perfectly."""
    m = mask.bool()
    v, r = values[m].float(), returns[m].float()
    var = r.var()
    return float(1 - (r - v).var() / var) if var > 0 else float("nan")


def distinct_n(token_lists, n: int = 2) -> float:
    """Distinct n-grams over all n-grams in a batch of responses (falls when outputs collapse to one string)."""
    grams = [tuple(t[i:i + n]) for t in token_lists for i in range(len(t) - n + 1)]
    return len(set(grams)) / max(1, len(grams))


class PPOReporter:
    def __init__(self, cfg, world, tok, ref, rm, reward_norm, tau, max_new, device, autocast, stage: str = "ppo"):
        self.cfg, self.world, self.tok, self.ref, self.rm, self.stage = cfg, world, tok, ref, rm, stage
        self.norm, self.tau, self.max_new, self.device, self.autocast = reward_norm, tau, max_new, device, autocast
        split = world.split(cfg.eval_split)
        self.prompts = [split[i % len(split)].text for i in range(cfg.eval_samples)]
        self.metrics = MetricsLog(cfg.out_dir, stage)   # "iteration" and "eval" rows, on disk as they happen
        if not distributed.is_main():
            return
        self.sft = self._report(ref, seed=eval_seed(cfg.eval_split, cfg.seed + 10_000))
        print(f"SFT on {len(self.prompts)} samples of the {cfg.eval_split} split: gold {self.sft['gold_reward']:+.3f} "
              f"± {self.sft['gold_reward_se']:.3f}, RM {self.sft['rm_reward']:+.3f}, best possible "
              f"{world.gold_reward_best(self.prompts):+.3f}")

    def _report(self, policy, seed, sft_samples=None):
        return policy_report(policy, self.ref, self.rm, self.norm, self.tok, self.world, self.prompts,
                             temperature=self.cfg.temperature, max_new_tokens=self.max_new,
                             no_eos_penalty=self.cfg.no_eos_penalty, tau=self.tau, seed=seed,
                             sft_samples=sft_samples, device=self.device, autocast=self.autocast)

    def evaluate(self, policy, it: int):
        if not distributed.is_main():
            return
        with self.world.reporting():     # gold, for the report only, inside the sealed loop
            rep = self._report(policy, seed=eval_seed(self.cfg.eval_split, self.cfg.seed + 20_000 + it),
                               sft_samples=self.sft["samples"])
        self.last = rep
        row = {"iteration": it, "gold": rep["gold_reward"], "gold_se": rep["gold_reward_se"],
               "rm": rep["rm_reward"], "rm_se": rep["rm_reward_se"], "kl": rep["kl"], "kl_se": rep["kl_se"],
               "kl_k3": rep["kl_k3"], "win_rate": rep["win_rate"], "win_rate_se": rep["win_rate_se"],
               "soft_win_rate": rep["soft_win_rate"], "gold_gain": rep["gold_diff"], "gold_gain_se": rep["gold_diff_se"],
               "rm_gold_spearman": rep["rm_gold_correlation"]["spearman"],
               "gold_components": rep["gold_components"], "eos_rate": rep["eos_rate"], "n": rep["n"]}
        self.metrics.log("eval", **row)
        print(f"[eval it {it:3d}] {self.cfg.eval_split} n={rep['n']}: gold {rep['gold_reward']:+.3f} ± {rep['gold_reward_se']:.3f}"
              f" | RM {rep['rm_reward']:+.3f} | KL {rep['kl']:.2f} ± {rep['kl_se']:.2f} nats | win vs SFT "
              f"{rep['win_rate']:.3f} ± {rep['win_rate_se']:.3f} | RM-gold spearman "
              f"{row['rm_gold_spearman']:.2f} | " + " ".join(f"{k} {v:+.2f}" for k, v in
                                                             rep["gold_components"].items()))

    def log_iteration(self, it, prompt_texts, exp, stats, *, beta, kl, kl_k3, times):
        mask = exp.mask
        responses = [exp.tokens[i, :int(mask[i].sum())].tolist() for i in range(mask.size(0))]
        # gold of the training rollouts: printed for the student, never used by the algorithm
        with self.world.reporting():
            golds = [self.world.gold_reward(p, self.tok.decode(r), ended=bool(e)).total
                     for p, r, e in zip(prompt_texts, responses, exp.ended.tolist())]
        values, returns, ev_mask, scores, lengths = exp.values, exp.returns, mask, exp.scores, mask.sum(1)
        if distributed.world() > 1:          # torchrun: the line is the global rollout's, every rank's share
            m = mask.bool()
            parts = distributed.gather((responses, golds, exp.values[m].tolist(), exp.returns[m].tolist(),
                                        scores.tolist(), lengths.tolist(), stats))
            if not distributed.is_main():
                return
            responses, golds, values, returns, scores, lengths, stats = ([x for p in parts for x in p[k]]
                                                                         for k in range(7))
            values, returns, scores, lengths = map(torch.tensor, (values, returns, scores, lengths))
            ev_mask = torch.ones_like(values)
        mean = lambda k: float(np.mean([s[k] for s in stats if k in s]))  # noqa: E731
        row = {"iteration": it, "rm": float(scores.mean()), "kl": kl, "kl_k3": kl_k3, "beta": beta,
               "entropy": mean("entropy"), "clipfrac": mean("clipfrac"), "approx_kl": mean("approx_kl"),
               "vf_loss": mean("vf_loss"), "explained_var": masked_explained_variance(values, returns, ev_mask),
               "length": float(lengths.mean()), "distinct_2": distinct_n(responses),
               "gold": float(np.mean(golds)),
               "t_rollout": times[0], "t_score": times[1], "t_update": times[2]}
        self.metrics.log("iteration", **row)
        print(f"it {it:3d} | rm {row['rm']:+.3f} | gold {row['gold']:+.3f} | kl {kl:6.2f} (k3 {kl_k3:5.2f}) | "
              f"beta {beta:.3f} | ent {row['entropy']:.2f} | clip {row['clipfrac']:.3f} | "
              f"akl {row['approx_kl']:.4f} | vf {row['vf_loss']:.3f} | ev {row['explained_var']:+.2f} | "
              f"len {row['length']:4.1f} | d2 {row['distinct_2']:.2f} | "
              f"t {times[0]:.2f}/{times[1]:.2f}/{times[2]:.2f}s")

    def summary(self, policy, iterations: int, wall_seconds: float) -> dict:
        last, sft, st = self.last, self.sft, self.stage
        best = self.world.gold_reward_best(self.prompts)
        gap = best - sft["gold_reward"]
        return {
            "split": self.cfg.eval_split, "n_prompts": last["n_prompts"],
            "gold_reward_sft": sft["gold_reward"], "gold_reward_sft_se": sft["gold_reward_se"],
            f"gold_reward_{st}": last["gold_reward"], f"gold_reward_{st}_se": last["gold_reward_se"],
            "gold_reward_best": best, "gold_gain_fraction": (last["gold_reward"] - sft["gold_reward"]) / gap,
            "gold_gain": last["gold_diff"], "gold_gain_se": last["gold_diff_se"],   # policy - SFT, paired by prompt
            "gold_components_sft": sft["gold_components"], f"gold_components_{st}": last["gold_components"],
            "gold_by_kind_sft": gold_by_kind(self.world, sft["samples"]),
            f"gold_by_kind_{st}": gold_by_kind(self.world, last["samples"]),
            "win_rate_vs_sft": last["win_rate"], "win_rate_vs_sft_se": last["win_rate_se"],
            "soft_win_rate_vs_sft": last["soft_win_rate"], "soft_win_rate_vs_sft_se": last["soft_win_rate_se"],
            f"rm_reward_{st}": last["rm_reward"], f"rm_reward_{st}_se": last["rm_reward_se"],
            "rm_reward_sft": sft["rm_reward"], "kl": last["kl"], "kl_se": last["kl_se"], "kl_k3": last["kl_k3"],
            f"eos_rate_{st}": last["eos_rate"], "n_eval": last["n"], "iterations": iterations,
            "wall_seconds": wall_seconds, "history": self.metrics.rows("eval"),
            # per held-out prompt, the mean gold of the final samples: pairs two runs of one seed by prompt
            # (their evaluations sample the same prompts), as lessons/results/critic_free.py compares GRPO with PPO
            "gold_by_prompt": cluster_means([g.total for g in gold_scores(self.world, last["samples"])],
                                            [s.prompt for s in last["samples"]]),
            "iteration_log": self.metrics.rows("iteration"),
        }

    def write(self, summary: dict, phases):
        out, st, name = self.cfg.out_dir, self.stage, self.stage.upper()
        self.metrics.close()
        iters, history = self.metrics.rows("iteration"), self.metrics.rows("eval")
        it = [r["iteration"] for r in iters]
        ev = [r["iteration"] for r in history]
        plot_curves(f"{out}/{st}_curves.png", [
            ("reward", {"reward (rollouts)": (it, [r["rm"] for r in iters]),
                        "gold (rollouts)": (it, [r["gold"] for r in iters]),
                        "gold (held-out)": (ev, [r["gold"] for r in history])}),
            ("KL(pi || pi_SFT), nats / response", {"k1": (it, [r["kl"] for r in iters]),
                                                   "k3": (it, [r["kl_k3"] for r in iters])})],
            xlabel="iteration")
        kl = [r["kl"] for r in history]
        plot_curves(f"{out}/{st}_reward_vs_kl.png", [
            ("held-out reward against KL", {"gold": (kl, [r["gold"] for r in history]),
                                            "RM (proxy)": (kl, [r["rm"] for r in history])})],
            xlabel="KL(pi || pi_SFT), nats")
        phases.lap("plot")
        summary["time_phases"] = phases.report()
        write_json(f"{out}/{st}_summary.json", summary)
        rows = [(s.prompt, s, p) for s, p in zip(self.sft["samples"], self.last["samples"])][:6]
        print(f"\nheld-out prompts, SFT vs {name} (gold in brackets):\n" + format_side_by_side(self.world, rows, ("SFT", name)))
        comps = format_component_changes(summary["gold_components_sft"], summary[f"gold_components_{st}"])
        print(f"\n{summary['split']} split, {summary['n_eval']} samples of {summary['n_prompts']} prompts (± are SEs "
              f"clustered by prompt; the gain's is paired): gold {summary['gold_reward_sft']:+.3f} -> "
              f"{summary[f'gold_reward_{st}']:+.3f} ± {summary[f'gold_reward_{st}_se']:.3f}, gain "
              f"{summary['gold_gain']:+.3f} ± {summary['gold_gain_se']:.3f} (best {summary['gold_reward_best']:+.3f}; "
              f"{summary['gold_gain_fraction']:.0%} of the gap closed) | KL {summary['kl']:.2f} nats | "
              f"win rate vs SFT {summary['win_rate_vs_sft']:.3f} ± {summary['win_rate_vs_sft_se']:.3f} "
              f"(n={summary['n_eval']})\ncomponents: {comps}")
        print(f"\n{phases.table()}\n\nwrote {out}/{st}.pt, {st}_summary.json, {st}_metrics.jsonl, "
              f"{st}_curves.png, {st}_reward_vs_kl.png in {phases.report()['total']:.0f}s")
