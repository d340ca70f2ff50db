#!/usr/bin/env python3
"""Checks that Package.swift declares exactly the modules each target imports: every `import X` of a target's
sources names a declared dependency (a target of the package, or a product of a package it depends on), and every
declared dependency is imported somewhere in the target. SwiftPM lets a target import a module it only reaches
through another target, and keeps a dependency nobody imports: both are how layers blur unseen. `make lint` runs
this (`swift package dump-package` reads the manifest without building)."""
import json
import os
import re
import subprocess
import sys

# Modules of the toolchain and the system, not of a package.
SYSTEM = {"Foundation", "FoundationEssentials", "Glibc", "Musl", "Darwin", "Dispatch", "Synchronization", "_Concurrency",
          "Testing", "XCTest", "PackagePlugin", "Observation", "RegexBuilder", "_StringProcessing"}
STRING = re.compile(r'#*"""[\s\S]*?"""#*')
IMPORT = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:public |package |internal |fileprivate |private )?import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    manifest = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True, capture_output=True, text=True).stdout)
    problems = []
    for target in manifest["targets"]:
        name, kind = target["name"], target["type"]
        if kind in ("system", "binary", "plugin"):
            continue
        default = "Tests" if kind == "test" else "Sources"
        path = os.path.join(root, target.get("path") or os.path.join(default, name))
        declared = set()
        for dependency in target.get("dependencies", []):
            for form in ("byName", "target", "product"):
                if form in dependency:
                    # An executable target's module name has '_' where the target's name has '-'.
                    declared.add(dependency[form][0].replace("-", "_"))
        imported = set()
        for folder, _, files in os.walk(path):
            for file in files:
                if file.endswith(".swift"):
                    with open(os.path.join(folder, file), encoding="utf-8") as source:
                        # Multi-line string literals (scripts the tests run) are not Swift.
                        imported |= set(IMPORT.findall(STRING.sub("", source.read())))
        imported -= SYSTEM
        imported.discard(name.replace("-", "_"))
        for module in sorted(imported - declared):
            problems.append(f"{name} imports {module} but does not declare it in Package.swift")
        for module in sorted(declared - imported):
            problems.append(f"{name} declares {module} in Package.swift but imports it nowhere")
    # Layers (../shared/design.md): the orchestrator runs where there is no systemd, so nothing below it reaches it.
    depends = {t["name"]: {d[f][0] for d in t.get("dependencies", []) for f in ("byName", "target") if f in d} for t in manifest["targets"]}
    for top in ("GearOrchestrator", "gear-orchestrator"):
        seen, stack = set(), [top]
        while stack:
            for module in depends.get(stack.pop(), set()) - seen:
                seen.add(module)
                stack.append(module)
        for module in sorted(seen & {"CSystemd", "SystemdBus", "SystemdJournal", "GearCore"}):
            problems.append(f"{top} reaches {module}: the orchestrator links no systemd")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check-dependencies: the imports of {len(manifest['targets'])} targets match Package.swift")


if __name__ == "__main__":
    main()
