#!/usr/bin/env python3
"""Fails (exit 1) if the top-level modules of src/ import each other in a cycle.

A top-level module is src/X.rs or src/X/ (lib.rs, the facade, may use everything). A module
A depends on B when any of A's files names `crate::B` (in a path or a `use crate::{B, ..}`
group), comments left out, and also when it names an item that lib.rs re-exports from B
(`crate::Telemetry` is a use of `telemetry`): the facade's re-exports are no way around the
layering. Prints the dependency order when there is no cycle, and the modules of each cycle
with the edges between them when there is one."""
import pathlib
import re
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
files = {}
for p in src.iterdir():
    if p.name == "lib.rs":
        continue
    if p.is_dir():
        files[p.name] = sorted(p.rglob("*.rs"))
    elif p.suffix == ".rs":
        files.setdefault(p.stem, []).append(p)

# Items lib.rs re-exports at the crate root, by the top-level module they come from.
lib = re.sub(r"//[^\n]*", "", (src / "lib.rs").read_text(encoding="utf-8"))
owner = {}
for module, items in re.findall(r"pub use (\w+)(?:::\w+)*::\{([^}]*)\};", lib):
    for item in re.findall(r"\w+", items):
        owner[item] = module
for module, item in re.findall(r"pub use (\w+)(?:::\w+)*::(\w+);", lib):
    owner[item] = module

deps = {m: set() for m in files}
for m, paths in files.items():
    for p in paths:
        text = re.sub(r"/\*.*?\*/", "", p.read_text(encoding="utf-8"), flags=re.S)
        text = re.sub(r"//[^\n]*", "", text)
        names = re.findall(r"crate::(\w+)", text)
        for group in re.findall(r"crate::\{([^}]*)\}", text):
            names += re.findall(r"(?:^|,)\s*(\w+)", group)
        names = [owner.get(n, n) if n not in files else n for n in names]
        deps[m] |= {n for n in names if n in files and n != m}

# Kahn's algorithm: whatever cannot be ordered sits on (or behind) a cycle.
order, left = [], dict((m, set(d)) for m, d in deps.items())
while True:
    ready = sorted(m for m, d in left.items() if not d)
    if not ready:
        break
    order += ready
    for m in ready:
        del left[m]
    for d in left.values():
        d -= set(ready)
if left:
    print("import cycle among the top-level modules of src/:", ", ".join(sorted(left)))
    for m in sorted(left):
        print(f"  {m} -> {', '.join(sorted(d for d in deps[m] if d in left))}")
    sys.exit(1)
print("top-level modules, each after what it uses:", " ".join(order))
