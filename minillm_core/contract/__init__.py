"""What a skill is and what it may do: the contract between the runner, the skills and the plugins.

skill (Skill, StageContext, StageResult, Check, SkillError), options (Option: declared once, set from YAML and
`--set`), outputs (which folders a stage may replace, and the marker that says so)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "Skill": "minillm_core.contract.skill",
    "StageContext": "minillm_core.contract.skill",
    "StageResult": "minillm_core.contract.skill",
    "Check": "minillm_core.contract.skill",
    "SkillError": "minillm_core.contract.skill",
    "Option": "minillm_core.contract.options",
    "OptionError": "minillm_core.contract.options",
    "at_least": "minillm_core.contract.options",
    "greater_than": "minillm_core.contract.options",
    "one_of": "minillm_core.contract.options",
    "positive_epochs": "minillm_core.contract.options",
    "stage_output": "minillm_core.contract.outputs",
    "workdir_relative": "minillm_core.contract.outputs",
    "write_marker": "minillm_core.contract.outputs",
    "trained_models": "minillm_core.contract.outputs",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
