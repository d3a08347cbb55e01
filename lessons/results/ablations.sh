#!/usr/bin/env bash
# Lesson 5's ablation table, on the DEV split (ablation conclusions are choices): 20 PPO iterations each, on the
# SFT model and RM of reproduce.sh, one run at a time (two threads each). Copies each ppo_summary.json to
# lessons/results/ablations/.
#     bash lessons/results/ablations.sh          # after reproduce.sh; ~6 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
source lessons/results/ppo_run.sh
abl() { ppo_run ablation_$1 lessons/results/ablations/$1.json --eval-split dev --iterations 20 --eval-interval 20 "${@:2}"; }
abl default20
abl no_whiten --no-whiten
abl critic_sft --critic-init sft
abl critic_scratch --critic-init scratch
abl k3 --kl-estimator k3
abl target1 --target-kl 1
abl t07 --temperature 0.7
abl t07_noscale --temperature 0.7 --no-scale-logits
