"""`make demo`: from the example patterns to demo-output/report.html on the embedded SmolLM2.

Usage: python examples/demo.py [--quick] [-o demo-output]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from glimmer.cli import main

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "demo", *sys.argv[1:]]
    main()
