"""Whether two index folders hold the same index: the check behind "the same index" in docs/benchmarks.md.

    python bench/same_index.py /tmp/wb/1m/.wenda/index /tmp/wb/1m-new/.wenda/index

The manifests must agree (format, fingerprint, user words, every segment's seal and deletions, every
corpus file's record with its runs) once segment names, which hold the time they were made, are
mapped and file modification times left out; then every file of every segment, in order, must be
equal byte for byte. Prints one line and exits 0 if so; stops at the first difference otherwise.

    python bench/same_index.py OLD NEW --added bags.bin bag_offsets.npy

compares an index made before a change that adds files to every segment (bags.py's) with one made
after it: NEW's segments may hold the added files besides OLD's, every other file must be equal byte
for byte, and the segments' seals (checksums over all their files) are left out.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import sys
from pathlib import Path


def differences(a: Path, b: Path, added: frozenset[str] = frozenset()) -> tuple[str | None, int]:
    """The first difference between index folders a and b (None if there is none), and how many
    segment files were compared. added: files b's segments may hold that a's do not (then the seals
    are not compared)."""
    ma, mb = (json.loads((d / "manifest.json").read_text(encoding="utf-8")) for d in (a, b))
    for key in ("format", "fingerprint", "user_words"):
        if ma[key] != mb[key]:
            return f"manifest {key}: {ma[key]!r} against {mb[key]!r}", 0
    if len(ma["segments"]) != len(mb["segments"]):
        return f"{len(ma['segments'])} segments against {len(mb['segments'])}", 0
    names, files = {}, 0
    # With added files the seal (seal.json and the manifest's "seal": checksums of all of them)
    # differs too.
    ignored = {"name": None, **({"seal": None} if added else {})}
    left_out = added | {"seal.json"} if added else frozenset()
    for sa, sb in zip(ma["segments"], mb["segments"], strict=True):
        names[sa["name"]] = sb["name"]
        if {**sa, **ignored} != {**sb, **ignored}:
            return f"segment {sa['name']} / {sb['name']}: manifest entries differ", files
        la = sorted(p.name for p in (a / sa["name"]).iterdir() if p.name not in left_out)
        lb = sorted(p.name for p in (b / sb["name"]).iterdir() if p.name not in left_out)
        if la != lb:
            return f"segment {sa['name']} / {sb['name']}: other files", files
        for name in la:
            if not filecmp.cmp(a / sa["name"] / name, b / sb["name"] / name, shallow=False):
                return f"segment {sa['name']} / {sb['name']}: {name} differs", files
            files += 1
    if ma["files"].keys() != mb["files"].keys():
        return "other corpus files", files
    for name, fa in ma["files"].items():
        mapped = {**fa, "mtime_ns": None}
        if "runs" in fa:  # format 10: a file's passages as runs in segments
            mapped["runs"] = [[names[run[0]], *run[1:]] for run in fa["runs"]]
        if "segment" in fa:  # earlier formats: one segment a file
            mapped["segment"] = names.get(fa["segment"], fa["segment"])
        if mapped != {**mb["files"][name], "mtime_ns": None}:
            return f"corpus file {name}: records differ", files
    return None, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--added", nargs="*", default=[], help="files b's segments may hold besides a's")
    args = parser.parse_args()
    difference, files = differences(args.a, args.b, frozenset(args.added))
    if difference:
        sys.exit(f"not the same index: {difference}")
    segments = len(json.loads((args.a / "manifest.json").read_text(encoding="utf-8"))["segments"])
    print(f"the same index: {segments} segments, {files} files byte for byte, the same manifest records")


if __name__ == "__main__":
    main()
