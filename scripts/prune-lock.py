#!/usr/bin/env python3
"""Drop msgpackr-extract prebuilds that the lockfile names but the registry here does not serve.

npm writes darwin/win32/linux-arm entries into msgpackr-extract's optionalDependencies, but the
registry reachable from these machines serves only the linux x64 and arm64 prebuilds, so the
lockfile has no package entries for the others and `npm ci` refuses it as out of sync. Run this
after `npm install` changes package-lock.json.
"""
import json

PATH = "package-lock.json"
lock = json.load(open(PATH))
packages = lock["packages"]
present = {key.split("node_modules/")[-1] for key in packages}
for entry in packages.values():
    optional = entry.get("optionalDependencies", {})
    for name in [n for n in optional if n.startswith("@msgpackr-extract/") and n not in present]:
        del optional[name]
with open(PATH, "w") as f:
    json.dump(lock, f, indent=2)
    f.write("\n")
