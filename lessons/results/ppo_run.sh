# Sourced by the scripts beside it. ppo_run NAME JSON [FLAGS...]: train_ppo.py on reproduce.sh's SFT model and RM in
# runs/results/NAME (copies of sft.pt and rm.pt), with FLAGS, then its ppo_summary.json copied to JSON.
ppo_run() {
    local name=$1 json=$2; shift 2
    local d=runs/results/$name
    mkdir -p "$d" "$(dirname "$json")" && cp runs/results/sft.pt runs/results/rm.pt "$d/"
    python train_ppo.py --out-dir "$d" "$@" > "$d/log.txt"
    cp "$d/ppo_summary.json" "$json"
}
