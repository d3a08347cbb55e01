"""nano-rlhf: SFT -> reward model -> PPO, from scratch."""
