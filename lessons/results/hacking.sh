#!/usr/bin/env bash
# Lesson 6's leash-free runs and its figure, on the test split, from reproduce.sh's SFT model and RM (its default
# PPO run is the third curve). Copies both summaries to lessons/results/ and redraws lessons/figures/reward_vs_kl.png.
#     bash lessons/results/hacking.sh            # after reproduce.sh; ~4 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results
ppo_run() {
    local name=$1; shift
    local d=$R/ppo_$name
    mkdir -p $d && cp $R/sft.pt $R/rm.pt $d/
    python train_ppo.py --out-dir $d "$@" > $d/log.txt
    cp $d/ppo_summary.json lessons/results/ppo_$name.json
}
ppo_run beta0 --beta 0 --iterations 80 --eval-interval 10                  # no leash, the default step size
ppo_run beta0_lr3e-4 --beta 0 --lr 3e-4 --iterations 80 --eval-interval 10  # no leash, 10x larger steps
python lessons/experiments/reward_vs_kl.py $R $R/ppo_beta0 $R/ppo_beta0_lr3e-4 --out lessons/figures/reward_vs_kl.png
