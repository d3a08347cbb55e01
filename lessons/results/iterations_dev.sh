#!/usr/bin/env bash
# Lesson 5's choice of --iterations 60, on the DEV split (a choice): 40 vs 60 iterations on seeds 0 and 1, and a
# larger learning rate at 40, on reproduce.sh's SFT model and RM. Copies each summary to lessons/results/iterations_dev/.
#     bash lessons/results/iterations_dev.sh     # after reproduce.sh; ~9 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
source lessons/results/ppo_run.sh
dev() { ppo_run iterations_dev_$1 lessons/results/iterations_dev/$1.json --eval-split dev "${@:2}"; }
dev it40_seed0 --iterations 40
dev it60_seed0 --iterations 60
dev it40_seed1 --iterations 40 --seed 1
dev it60_seed1 --iterations 60 --seed 1
dev it40_lr6e-5 --iterations 40 --lr 6e-5
dev it40_lr1e-4 --iterations 40 --lr 1e-4
