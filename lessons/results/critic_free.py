"""Lesson 9's tables, from the committed summaries of lessons/results/critic_free.sh (test split): the critic-free
estimators beside PPO, the default over three seeds paired with PPO's, the loss aggregations, the verifier runs.

    python lessons/results/critic_free.py          # prints the tables, writes lessons/results/critic_free.json

Every difference between two runs of one seed is paired by prompt: both runs' final evaluations sample the same
480 = 40 x 12 held-out prompts (the same eval seed), so the difference of their per-prompt mean gold
(`gold_by_prompt` in each summary) has prompt difficulty removed; its SE is the SE of the mean over the 40
prompts. Claims over seeds use stats.seed_claim (the paired per-seed differences, above 2 SE or "no detectable
difference"). Gold only reports here: nothing reads it to choose.
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
import nano_rlhf  # noqa: E402,F401  (first: a Ctrl-C while torch imports is one line)
from nano_rlhf.common import UserError, run_cli  # noqa: E402
from nano_rlhf.files import read_json, write_json  # noqa: E402
from nano_rlhf.stats import over_seeds, paired_prompt_means, seed_claim  # noqa: E402

RUNS = HERE / "critic_free"
PPO = {0: HERE / "ppo.json", 1: HERE / "ppo_seed1.json", 2: HERE / "ppo_seed2.json"}
# seed 0; the KL in the reward at beta 0.1 but for grpo_published, GRPO as DeepSeekMath wrote it (k3 in the loss)
METHODS = {"drgrpo": "default", "grpo": "grpo", "rloo": "rloo", "reinforce": "reinforce",
           "grpo_published": "grpo_published"}
AGGREGATIONS = ("seq-mean", "token-mean", "constant")
COMPONENTS = ("honest", "harmless", "helpful", "concise", "ended")


def load(path: Path) -> dict:
    s = read_json(path)
    if not isinstance(s, dict) or "gold_by_prompt" not in s:
        raise UserError(f"{path}: missing or without gold_by_prompt; run `bash lessons/results/critic_free.sh` "
                        "(after reproduce.sh)")
    return s


def gold(s: dict) -> float:
    return s.get("gold_reward_grpo", s.get("gold_reward_ppo"))


def paired(a: dict, b: dict) -> dict:
    """Summary a's gold minus summary b's, paired by prompt, with its SE over the prompts."""
    return paired_prompt_means(a["gold_by_prompt"], b["gold_by_prompt"])


def row(s: dict, ppo: dict) -> dict:
    comps = s.get("gold_components_grpo", s.get("gold_components_ppo"))
    return {"gold": gold(s), "gold_se": s.get("gold_reward_grpo_se", s.get("gold_reward_ppo_se")), "kl": s["kl"],
            "win_rate": s["win_rate_vs_sft"], "win_rate_se": s["win_rate_vs_sft_se"],
            "wall_seconds": s["wall_seconds"], "vs_ppo": paired(s, ppo), "components": comps,
            "length": s.get("response_length_grpo", float("nan")), "beta": s.get("beta", float("nan"))}


def main() -> dict:
    ppo = {k: load(p) for k, p in PPO.items()}
    out = {"split": "test", "ppo": {k: row(s, s) for k, s in ppo.items()}}
    print("test split, 480 samples of the 40 test prompts per run; ± SE by prompt; vs PPO: paired by prompt, same seed")
    print(f"{'run':<22}{'beta':>6}{'gold':>16}{'KL':>7}{'win vs SFT':>17}{'vs PPO (paired)':>20}{'wall s':>8}")

    def show(name, r):
        print(f"{name:<22}{r['beta']:>6.3g}{r['gold']:>+9.3f} ± {r['gold_se']:.3f}{r['kl']:>7.2f}"
              f"{r['win_rate']:>9.3f} ± {r['win_rate_se']:.3f}{r['vs_ppo']['diff']:>+12.3f} ± {r['vs_ppo']['se']:.3f}"
              f"{r['wall_seconds']:>8.0f}")

    show("PPO (seed 0)", {**out["ppo"][0], "beta": ppo[0].get("beta", 0.1)})
    out["methods"] = {m: row(load(RUNS / f"{f}.json"), ppo[0]) for m, f in METHODS.items()}
    for m, r in out["methods"].items():
        show(m, r)

    seeds = {k: load(RUNS / (f"default_seed{k}.json" if k else "default.json")) for k in PPO}
    out["seeds"] = {k: row(s, ppo[k]) for k, s in seeds.items()}
    print("\nthe default (drgrpo) over seeds, each paired with PPO of the same seed:")
    for k, r in out["seeds"].items():
        show(f"default seed {k}", r)
    g, p = [gold(seeds[k]) for k in PPO], [gold(ppo[k]) for k in PPO]
    out["over_seeds"] = {"grpo": over_seeds(g), "ppo": over_seeds(p),
                         "kl_grpo": over_seeds([seeds[k]["kl"] for k in PPO]),
                         "kl_ppo": over_seeds([ppo[k]["kl"] for k in PPO]),
                         "wall_grpo": over_seeds([seeds[k]["wall_seconds"] for k in PPO]),
                         "wall_ppo": over_seeds([ppo[k]["wall_seconds"] for k in PPO]),
                         "claim": seed_claim(g, p, "critic-free", "PPO"),
                         "goal_met": over_seeds(g)["mean"] >= over_seeds(p)["mean"] - 0.10}
    o = out["over_seeds"]
    print(f"over 3 seeds: critic-free {o['grpo']['mean']:+.3f} ± {o['grpo']['se']:.3f} (KL {o['kl_grpo']['mean']:.2f}, "
          f"{o['wall_grpo']['mean']:.0f} s), PPO {o['ppo']['mean']:+.3f} ± {o['ppo']['se']:.3f} (KL "
          f"{o['kl_ppo']['mean']:.2f}, {o['wall_ppo']['mean']:.0f} s); {o['claim']['text']}; goal (GRPO >= PPO - "
          f"0.10): {'met' if o['goal_met'] else 'NOT met'}")

    print("\nloss aggregation (the default otherwise, seed 0): response length (tokens; SFT "
          f"{seeds[0]['response_length_sft']:.1f}) and gold components")
    out["aggregations"] = {a: row(load(RUNS / ("default.json" if a == "seq-mean" else f"agg_{a}.json")), ppo[0])
                           for a in AGGREGATIONS}
    print(f"{'--loss-agg':<12}{'length':>8}{'gold':>9}{'KL':>7}" + "".join(f"{c:>10}" for c in COMPONENTS))
    for a, r in out["aggregations"].items():
        print(f"{a:<12}{r['length']:>8.1f}{r['gold']:>+9.3f}{r['kl']:>7.2f}" +
              "".join(f"{r['components'][c]:>+10.2f}" for c in COMPONENTS))

    print("\nRLOO = G/(G-1) x Dr. GRPO, with the KL in the reward (same beta): how far apart two such runs end")
    ident = {"rloo": load(RUNS / "rloo.json"), "drgrpo": seeds[0]}
    out["identity"] = {m: row(s, ppo[0]) for m, s in ident.items()}
    out["identity"]["rloo_minus_drgrpo"] = paired(ident["rloo"], ident["drgrpo"])
    for m in ("rloo", "drgrpo"):
        show(f"{m}, KL in reward", out["identity"][m])
    d = out["identity"]["rloo_minus_drgrpo"]
    print(f"rloo - drgrpo, paired by prompt: {d['diff']:+.3f} ± {d['se']:.3f}")

    print("\nverifiable rewards: pass@1 and pass@8 on the 10 held-out sums (16 samples each, SE over prompts), and "
          "what gold sees")
    out["verifier"] = {}
    for name in ("rm", "verifier", "rm+verifier", "verifier_beta0"):    # the last: 120 iterations, no leash
        s = seeds[0] if name == "rm" else load(RUNS / f"{name}.json")
        before, after = s["pass_sft"], s["pass_grpo"]
        r = {**row(s, ppo[0]), "pass1_sft": before["pass@1"], "pass1": after["pass@1"], "pass1_se": after["pass@1_se"],
             "pass8_sft": before["pass@8"], "pass8": after["pass@8"], "pass8_se": after["pass@8_se"],
             "sums_gold_sft": before["gold"], "sums_gold": after["gold"], "sums_components_sft": before["gold_components"],
             "sums_components": after["gold_components"]}
        out["verifier"][name.replace("+", "_")] = r      # rm, verifier, rm_verifier
        print(f"{'--reward ' + name:<22} pass@1 {r['pass1_sft']:.3f} -> {r['pass1']:.3f} ± "
              f"{r['pass1_se']:.3f} | pass@8 {r['pass8_sft']:.3f} -> {r['pass8']:.3f} | gold on sums "
              f"{r['sums_gold_sft']:+.2f} -> {r['sums_gold']:+.2f} | " +
              " ".join(f"{c} {r['sums_components_sft'][c]:+.2f}->{r['sums_components'][c]:+.2f}"
                       for c in ("honest", "harmless", "concise")) + f" | all prompts gold {r['gold']:+.3f}")

    on = load(RUNS / "on_policy.json")
    out["on_policy"] = row(on, ppo[0])
    print()
    show("1 epoch x 1 minibatch", out["on_policy"])
    write_json(str(HERE / "critic_free.json"), out)
    print(f"\nwrote {os.path.relpath(HERE / 'critic_free.json')}")
    return out


if __name__ == "__main__":
    run_cli(lambda _: main(), None)
