"""minillm-skill core: the runner, the plugin contract and the training code behind the skills."""

__version__ = "0.1.0"
