#!/usr/bin/env bash
# Lesson 6's leash-free runs and its figure, on the test split, from reproduce.sh's SFT model and RM (its default
# PPO run is the third curve). Copies both summaries to lessons/results/ and redraws lessons/figures/reward_vs_kl.png.
#     bash lessons/results/hacking.sh            # after reproduce.sh; ~4 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results
source lessons/results/ppo_run.sh
# no leash at the default step size, then with 10x larger steps
ppo_run ppo_beta0 lessons/results/ppo_beta0.json --beta 0 --iterations 80 --eval-interval 10
ppo_run ppo_beta0_lr3e-4 lessons/results/ppo_beta0_lr3e-4.json --beta 0 --lr 3e-4 --iterations 80 --eval-interval 10
python lessons/experiments/reward_vs_kl.py $R $R/ppo_beta0 $R/ppo_beta0_lr3e-4 --out lessons/figures/reward_vs_kl.png
