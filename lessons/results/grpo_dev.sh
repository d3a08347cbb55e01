#!/usr/bin/env bash
# Lesson 9's choices for train_grpo.py, on the DEV split (choices are made on dev): the advantage estimator, where
# the KL goes, the loss aggregation, G, and beta (the KL must land within 15% of PPO's dev KL, 1.61 and 1.55 nats
# on seeds 0 and 1: lessons/results/iterations_dev/it60_seed*.json), on reproduce.sh's SFT model and RM. Every run
# names its advantage, KL placement and beta (the defaults changed to the choice this grid made). Copies each
# summary to lessons/results/grpo_dev/.
#     bash lessons/results/grpo_dev.sh     # after reproduce.sh; ~20 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
source lessons/results/ppo_run.sh
dev() { grpo_run grpo_dev_$1 lessons/results/grpo_dev/$1.json --eval-split dev "${@:2}"; }
GRPO="--advantage grpo --kl-in loss --beta 0.05"     # GRPO as DeepSeekMath wrote it: the grid's starting point
dev default $GRPO
dev default_seed1 $GRPO --seed 1
# the other estimators at the same beta, KL in the loss
dev drgrpo $GRPO --advantage drgrpo
dev rloo $GRPO --advantage rloo
dev reinforce $GRPO --advantage reinforce
# the KL in the reward (PPO's place, with PPO's beta), and a larger learning rate
dev klreward_b0.1 $GRPO --kl-in reward --beta 0.1
dev klreward_b0.1_seed1 $GRPO --kl-in reward --beta 0.1 --seed 1
dev lr6e-5_b0.1 $GRPO --lr 6e-5 --beta 0.1
# smaller groups over more prompts (the same 64 responses), the other loss aggregations
dev g4 $GRPO --group-size 4 --prompts-per-iteration 16
dev token-mean $GRPO --loss-agg token-mean
dev constant $GRPO --loss-agg constant
# Dr. GRPO's advantage: beta lowered to bring its KL up to PPO's; with the KL in the reward
dev drgrpo_b0.04 $GRPO --advantage drgrpo --beta 0.04
dev drgrpo_b0.04_seed1 $GRPO --advantage drgrpo --beta 0.04 --seed 1
dev drgrpo_seed1 $GRPO --advantage drgrpo --seed 1
dev drgrpo_klreward_b0.1 --advantage drgrpo --kl-in reward --beta 0.1
dev drgrpo_klreward_b0.1_seed1 --advantage drgrpo --kl-in reward --beta 0.1 --seed 1
dev drgrpo_klreward_b0.08 --advantage drgrpo --kl-in reward --beta 0.08
dev drgrpo_klreward_b0.08_seed1 --advantage drgrpo --kl-in reward --beta 0.08 --seed 1
# the choice (the new defaults: drgrpo, KL in the reward, beta 0.1) with the other estimators
dev rloo_klreward_b0.1 --advantage rloo --kl-in reward --beta 0.1
dev reinforce_klreward_b0.1 --advantage reinforce --kl-in reward --beta 0.1
# bringing the KL up to PPO's: a looser leash, or a larger learning rate
dev drgrpo_klreward_b0.03 --advantage drgrpo --kl-in reward --beta 0.03
dev drgrpo_klreward_b0.03_seed1 --advantage drgrpo --kl-in reward --beta 0.03 --seed 1
dev drgrpo_klreward_lr4e-5 --advantage drgrpo --kl-in reward --beta 0.1 --lr 4e-5
dev drgrpo_klreward_lr4e-5_seed1 --advantage drgrpo --kl-in reward --beta 0.1 --lr 4e-5 --seed 1
