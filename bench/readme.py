#!/usr/bin/python3
"""bench/readme.py README RESULTS_DIR -- put the newest bench results (RESULTS_DIR/<stamp>.md)
into README between the lines `<!-- bench:begin -->` and `<!-- bench:end -->` (added at the end
of the README, under a "Measured" heading, when they are not there yet), with its plots linked."""
import glob
import os
import re
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: readme.py README RESULTS_DIR")
    readme, results = sys.argv[1], sys.argv[2]
    newest = sorted(glob.glob(os.path.join(results, "*.md")))
    if not newest:
        sys.exit(f"readme.py: no results in {results} (run `make bench` first)")
    md = open(newest[-1]).read()
    rel = os.path.relpath(results, os.path.dirname(os.path.abspath(readme)) or ".")
    md = re.sub(r"^Plots: (.*)$", lambda m: "Plots: " + ", ".join(
        f"[{p.strip()}]({rel}/{p.strip()})" for p in m.group(1).split(",") if p.strip()),
        md, flags=re.M)
    md = md.replace("## Results", "### Results", 1)
    md = re.sub(r"^### (veth|lo|memory)", r"#### \1", md, flags=re.M)
    block = ("<!-- bench:begin -->\n_Written by `make bench-readme` from "
             f"`{rel}/{os.path.basename(newest[-1])}`; `make bench` measures anew._\n\n"
             + md.strip() + "\n<!-- bench:end -->")
    text = open(readme).read()
    if "<!-- bench:begin -->" in text:
        text = re.sub(r"<!-- bench:begin -->.*?<!-- bench:end -->", lambda _: block, text,
                      flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Measured: applications on MTP against kernel TCP\n\n" + block + "\n"
    open(readme, "w").write(text)
    print(f"readme.py: {readme} now shows {os.path.basename(newest[-1])}")


if __name__ == "__main__":
    main()
