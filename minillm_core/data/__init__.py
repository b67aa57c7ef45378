"""Training data: readers for the supported file formats, the dataset registry, pretraining packing.

Import from the submodules (formats, registry, packing); packing pulls in `datasets`, which the
readers and the registry do not need.
"""
