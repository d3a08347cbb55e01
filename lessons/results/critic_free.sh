#!/usr/bin/env bash
# Lesson 9's test-split runs of train_grpo.py on reproduce.sh's SFT model and RM (choices were made on dev:
# grpo_dev.sh), then its tables (critic_free.py -> critic_free.txt and critic_free.json). PPO's three seeds come
# from reproduce.sh (lessons/results/ppo.json, ppo_seed1.json, ppo_seed2.json); one process at a time, so the wall
# times compare.
#     bash lessons/results/critic_free.sh     # after reproduce.sh; ~15 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
source lessons/results/ppo_run.sh
run() { grpo_run critic_free_$1 lessons/results/critic_free/$1.json "${@:2}"; }
# the default (Dr. GRPO's advantage, the KL in the reward at PPO's beta 0.1) over three seeds
run default
run default_seed1 --seed 1
run default_seed2 --seed 2
# the other estimators with the same objective; GRPO as DeepSeekMath wrote it (k3 in the loss, its dev beta)
run grpo --advantage grpo
run rloo --advantage rloo
run reinforce --advantage reinforce
run grpo_published --advantage grpo --kl-in loss --beta 0.05
# the loss aggregations (the default is seq-mean)
run agg_token-mean --loss-agg token-mean
run agg_constant --loss-agg constant
# verifiable rewards; and purely on-policy (one epoch of one minibatch)
run verifier --reward verifier
run rm+verifier --reward rm+verifier
run verifier_beta0 --reward verifier --beta 0 --iterations 120 --eval-interval 20   # lesson 9, experiment 4
run on_policy --epochs 1 --minibatches 1
python lessons/results/critic_free.py > lessons/results/critic_free.txt
