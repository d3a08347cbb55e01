#!/usr/bin/env bash
# Lesson 8's choice, on the dev split: should the judge's principle checks join the default SFT data? Three SFT
# seeds with 0, 1,280 and 2,560 principle checks beside the default 2,560 fact checks, and with 1,280 of each (as
# many examples as the default); the demonstrations and the 1,400 steps unchanged. Each SFT model's human-label RM
# at the same seed; both reported on dev. One thread per process, so two of these can run side by side on a 2-core
# machine with the same numbers (the wall times then do not compare with the 2-thread defaults). Copies each
# summary to lessons/results/principle_checks_dev/; tests/test_numbers.py computes the means and paired
# differences lesson 8 quotes.
#     bash lessons/results/principle_checks_dev.sh     # ~70 minutes on 2 cores, one run at a time
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/principle_checks_dev
C=lessons/results/principle_checks_dev
mkdir -p $C
for checks in "2560 0" "2560 1280" "2560 2560" "1280 1280"; do
    read -r f n <<< "$checks"
    for s in 0 1 2; do
        d=$R/fc${f}_pc${n}_seed$s && mkdir -p $d
        python train_sft.py --out-dir $d --seed $s --fact-checks $f --principle-checks $n --eval-split dev \
            --threads 1 > $d/sft.log
        python train_rm.py --out-dir $d --seed $s --eval-split dev --threads 1 > $d/rm.log
        cp $d/sft_summary.json $C/fc${f}_pc${n}_seed${s}_sft.json
        cp $d/rm_summary.json $C/fc${f}_pc${n}_seed${s}_rm.json
    done
done
