"""One short file per training stage: build_trainer(run), the trainer that stage trains with.

What else differs per stage (the records it reads, the model it starts from, how its samples are asked)
is its TrainingMethod, in the stage's skill (skills/<stage>/skill.py). minillm_core.train.training does the
rest, the same way for every stage.
"""
