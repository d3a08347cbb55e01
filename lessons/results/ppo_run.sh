# Sourced by the scripts beside it. stage_run STAGE NAME JSON [FLAGS...]: train_STAGE.py on reproduce.sh's SFT
# model and RM in runs/results/NAME (copies of sft.pt and rm.pt), with FLAGS, then its STAGE_summary.json copied to
# JSON. ppo_run NAME JSON [FLAGS...] and grpo_run NAME JSON [FLAGS...] are stage_run ppo and stage_run grpo.
stage_run() {
    local stage=$1 name=$2 json=$3; shift 3
    local d=runs/results/$name
    mkdir -p "$d" "$(dirname "$json")" && cp runs/results/sft.pt runs/results/rm.pt "$d/"
    python "train_$stage.py" --out-dir "$d" "$@" > "$d/log.txt"
    cp "$d/${stage}_summary.json" "$json"
}
ppo_run() { stage_run ppo "$@"; }
grpo_run() { stage_run grpo "$@"; }
