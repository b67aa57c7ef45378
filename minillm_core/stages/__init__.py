"""One short file per training stage: the data it reads, the trainer it builds, the model it starts from.

Each module defines KIND (the records it reads), DEFAULT_INIT (the model it starts from, or None for a
new one), SAMPLE_STYLE ("completion" or "chat") and build_trainer(run). minillm_core.training does
the rest, the same way for every stage.
"""
