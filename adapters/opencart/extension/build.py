"""Builds the OpenCart extension zips a shop owner uploads, the same bytes every time:

    python adapters/opencart/extension/build.py [--output-dir dist]

writes dist/opencart-3/abonne.ocmod.zip (OpenCart 3.0: `upload/` at the top) and dist/opencart-4/abonne.ocmod.zip
(OpenCart 4.0 and 4.1: `install.json`, `admin/`, `catalog/`, `system/` at the top). OpenCart 4's installer takes the
extension's code, its folder under extension/ and its PHP namespace from the uploaded file's name, so the file must be
called exactly abonne.ocmod.zip; 3.0 only needs the .ocmod.zip ending.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from adapters.module_zip import write_zip  # noqa: E402

HERE = Path(__file__).resolve().parent
TREES = {"opencart-3": HERE / "opencart-3", "opencart-4": HERE / "opencart-4"}
# The version-independent PHP (signing, event bodies, queue, reads) lives once, in library/, and goes into each zip
# where that version's autoloader looks for system/library/abonne/.
LIBRARY = HERE / "library"
LIBRARY_PLACE = {"opencart-3": "upload/system/library/abonne", "opencart-4": "system/library/abonne"}
ZIP_NAME = "abonne.ocmod.zip"
DEFAULT_OUTPUT_DIR = HERE.parents[2] / "dist"
SKIPPED = {"__pycache__", ".DS_Store", ".gitkeep"}


def tree_files(source: Path) -> list[Path]:
    return sorted((path for path in source.rglob("*")
                   if path.is_file() and not SKIPPED.intersection(path.relative_to(source).parts)),
                  key=lambda path: path.relative_to(source).as_posix())


def zip_entries(name: str) -> list[tuple[str, Path]]:
    """(name in the zip, source file) of one version's zip, in name order: its tree, then the shared library."""
    source = TREES[name]
    entries = [(path.relative_to(source).as_posix(), path) for path in tree_files(source)]
    entries += [(f"{LIBRARY_PLACE[name]}/{path.relative_to(LIBRARY).as_posix()}", path) for path in tree_files(LIBRARY)]
    return sorted(entries)


def build_one(name: str, output: Path) -> Path:
    """Writes one zip in name order, without folder entries (both installers create the folders a file needs)."""
    return write_zip(output, [(entry_name, path.read_bytes()) for entry_name, path in zip_entries(name)])


def build(output_dir: Path = DEFAULT_OUTPUT_DIR) -> dict[str, Path]:
    """Both zips: {"opencart-3": .../opencart-3/abonne.ocmod.zip, "opencart-4": .../opencart-4/abonne.ocmod.zip}."""
    return {name: build_one(name, output_dir / name / ZIP_NAME) for name in TREES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    for path in build(parser.parse_args().output_dir).values():
        print(path)


if __name__ == "__main__":
    main()
