"""minillm-skill-grpo: the `grpo` skill, group relative policy optimisation with a rule-based reward."""
