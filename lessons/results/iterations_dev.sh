#!/usr/bin/env bash
# Lesson 5's choice of --iterations 60, on the DEV split (a choice): 40 vs 60 iterations on seeds 0 and 1, and a
# larger learning rate at 40, on reproduce.sh's SFT model and RM. Copies each summary to lessons/results/iterations_dev/.
#     bash lessons/results/iterations_dev.sh     # after reproduce.sh; ~9 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results
mkdir -p lessons/results/iterations_dev
ppo_run() {
    local name=$1; shift
    local d=$R/iterations_dev_$name
    mkdir -p $d && cp $R/sft.pt $R/rm.pt $d/
    python train_ppo.py --out-dir $d --eval-split dev "$@" > $d/log.txt
    cp $d/ppo_summary.json lessons/results/iterations_dev/$name.json
}
ppo_run it40_seed0 --iterations 40
ppo_run it60_seed0 --iterations 60
ppo_run it40_seed1 --iterations 40 --seed 1
ppo_run it60_seed1 --iterations 60 --seed 1
ppo_run it40_lr6e-5 --iterations 40 --lr 6e-5
ppo_run it40_lr1e-4 --iterations 40 --lr 1e-4
