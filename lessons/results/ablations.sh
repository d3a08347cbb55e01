#!/usr/bin/env bash
# Lesson 5's ablation table, on the DEV split (ablation conclusions are choices): 20 PPO iterations each, on the
# SFT model and RM of reproduce.sh, one run at a time (two threads each). Copies each ppo_summary.json to lessons/results/ablations/.
#     bash lessons/results/ablations.sh          # after reproduce.sh; ~6 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results
mkdir -p lessons/results/ablations
ppo_run() {
    local name=$1; shift
    local d=$R/ablation_$name
    mkdir -p $d && cp $R/sft.pt $R/rm.pt $d/
    python train_ppo.py --out-dir $d --eval-split dev --iterations 20 --eval-interval 20 "$@" > $d/log.txt
    cp $d/ppo_summary.json lessons/results/ablations/$name.json
}
ppo_run default20
ppo_run no_whiten --no-whiten
ppo_run critic_sft --critic-init sft
ppo_run critic_scratch --critic-init scratch
ppo_run k3 --kl-estimator k3
ppo_run target1 --target-kl 1
ppo_run t07 --temperature 0.7
ppo_run t07_noscale --temperature 0.7 --no-scale-logits
