"""minillm-skill-lora: the `lora` skill, a domain taught with LoRA adapters and measured before and after."""
