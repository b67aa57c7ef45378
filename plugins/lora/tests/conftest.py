"""Import the plugin from this checkout when it is not installed (the main suite runs these tests too)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
