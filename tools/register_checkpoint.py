"""Register the shipped EDIP checkpoints in the package (a release step).

How a release registers a checkpoint (from the repository root):

1. Train it with ``python benchmarks/pretrain_checkpoints.py parallel|htc --threads 1``
   (resumable; its work files, the best checkpoint among them, go to
   ``benchmarks/results/pretrain/<run>/``). The runs, with their registry names, file names and
   descriptions, are ``RUNS`` of ``benchmarks/pretrain_checkpoints.py``.
2. Run ``python tools/register_checkpoint.py`` (``--work DIR`` for runs written elsewhere). It
   copies the best checkpoint of each run into ``tomopy_dip/learning/checkpoints/`` (a run with
   no new file keeps the packaged one; a run with neither is skipped) and rewrites
   ``tomopy_dip/learning/checkpoints/_registry.py`` (SHA-256, size, geometry summary, what the
   checkpoint serves, network, training figures), keeping that file's docstring. The download
   address recorded for each file is the release's
   (:data:`tomopy_dip.learning.checkpoints.RELEASE_URL`); the packaged copy is the offline source.
3. It prints the figures (command, steps, seconds, validation PSNR against the FBP's) for the
   documentation (``docs/src/checkpoints.md``, ``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import json
import pprint
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.pretrain_checkpoints import RUNS, WORK  # noqa: E402
from tomopy_dip.learning import checkpoints as ck  # noqa: E402

PACKAGE = Path(ck.__file__).parent


def register(work: str | Path = WORK, package: str | Path = PACKAGE) -> Path:
    """Copy each run's checkpoint from ``work`` into ``package`` and rewrite its ``_registry.py``;
    returns the registry file."""
    entries = []
    for kind, run in RUNS.items():
        src = Path(work) / kind / run["file"]
        dst = Path(package) / run["file"]
        if src.is_file():
            shutil.copyfile(src, dst)
        if not dst.is_file():
            print(f"{kind}: no checkpoint ({src} missing); skipped")
            continue
        entry = ck.entry_dict(dst, run["name"], run["description"])
        entries.append(entry)
        tr = ck.read_metadata(dst)["training"]
        print(f"| {run['name']} | {entry['geometry']['beam']} | {tr['steps']} steps x {tr['batch_size']} | "
              f"{tr['seconds'] / 3600:.2f} h | val PSNR {tr['val_psnr']:.2f} dB (FBP {tr['val_psnr_fbp']:.2f}) "
              f"| {entry['size'] / 1e6:.1f} MB |\n  command: {ck.read_metadata(dst)['command']}")
    text = (PACKAGE / "_registry.py").read_text()
    head = text[: text.index("ENTRIES =")]
    body = "ENTRIES = " + pprint.pformat(json.loads(json.dumps(entries)), width=100, sort_dicts=True) + "\n"
    target = Path(package) / "_registry.py"
    target.write_text(head + body)
    print(f"wrote {target} with {len(entries)} entries")
    return target


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default=str(WORK), help="where the runs wrote (default benchmarks/results/pretrain)")
    p.add_argument("--package", default=str(PACKAGE), help="where the files and _registry.py go "
                                                           "(default the package's checkpoint folder)")
    args = p.parse_args(argv)
    register(args.work, args.package)


if __name__ == "__main__":
    main()
