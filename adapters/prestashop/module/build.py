"""Builds the PrestaShop module zip that a shop owner uploads: `abonne/` at the top, the same bytes every time.

    python adapters/prestashop/module/build.py [--output dist/abonne-prestashop.zip]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from adapters.module_zip import write_zip  # noqa: E402

MODULE = Path(__file__).resolve().parent / "abonne"
DEFAULT_OUTPUT = Path(__file__).resolve().parents[3] / "dist" / "abonne-prestashop.zip"
SKIPPED = {"__pycache__", ".DS_Store", ".gitkeep"}


def module_files(source: Path = MODULE) -> list[Path]:
    return sorted(path for path in source.rglob("*")
                  if path.is_file() and not SKIPPED.intersection(path.relative_to(source).parts))


def build(output: Path = DEFAULT_OUTPUT, source: Path = MODULE) -> Path:
    """Writes the zip and returns its path. Folders get their own entries, as PrestaShop's uploader expects."""
    files = module_files(source)
    folders = sorted({parent for path in files for parent in path.relative_to(source).parents if parent != Path(".")})
    return write_zip(output, [(f"abonne/{path.relative_to(source).as_posix()}", path.read_bytes()) for path in files],
                     ["abonne/", *(f"abonne/{folder.as_posix()}/" for folder in folders)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    print(build(parser.parse_args().output))


if __name__ == "__main__":
    main()
