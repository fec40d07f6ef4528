#!/usr/bin/env python3
"""Extracts the C++ example under '## Writing a stage' in README.md into a source file,
so the documented example is compiled and tested exactly as users read it."""
import re
import sys

readme, out = sys.argv[1], sys.argv[2]
text = open(readme).read()
section = text.split("## Writing a stage", 1)[1]
m = re.search(r"```cpp\n(.*?)```", section, re.S)
if not m:
    sys.exit("README.md: no ```cpp block under '## Writing a stage'")
open(out, "w").write("// Generated from README.md ('Writing a stage') by readme_snippet.py.\n" + m.group(1))
