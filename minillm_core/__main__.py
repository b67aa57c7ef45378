"""`python -m minillm_core ...` is `minillm-skill ...` (torchrun launches it this way: `-m minillm_core`)."""

from minillm_core.cli import main

main()
