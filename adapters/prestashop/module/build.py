"""Builds the PrestaShop module zip that a shop owner uploads: `abonne/` at the top, the same bytes every time.

    python adapters/prestashop/module/build.py [--output dist/abonne-prestashop.zip]
"""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

MODULE = Path(__file__).resolve().parent / "abonne"
DEFAULT_OUTPUT = Path(__file__).resolve().parents[3] / "dist" / "abonne-prestashop.zip"
SKIPPED = {"__pycache__", ".DS_Store", ".gitkeep"}
# A fixed time and mode for every entry, so a rebuild of the same sources is byte for byte the same zip.
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def module_files(source: Path = MODULE) -> list[Path]:
    return sorted(path for path in source.rglob("*")
                  if path.is_file() and not SKIPPED.intersection(path.relative_to(source).parts))


def build(output: Path = DEFAULT_OUTPUT, source: Path = MODULE) -> Path:
    """Writes the zip and returns its path. Folders get their own entries, as PrestaShop's uploader expects."""
    output.parent.mkdir(parents=True, exist_ok=True)
    files = module_files(source)
    folders = sorted({parent for path in files for parent in path.relative_to(source).parents if parent != Path(".")})
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder in [Path("."), *folders]:
            name = "abonne/" if folder == Path(".") else f"abonne/{folder.as_posix()}/"
            entry = zipfile.ZipInfo(name, FIXED_TIME)
            entry.external_attr = (0o40755 << 16) | 0x10
            archive.writestr(entry, b"")
        for path in files:
            entry = zipfile.ZipInfo(f"abonne/{path.relative_to(source).as_posix()}", FIXED_TIME)
            entry.external_attr = 0o100644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    print(build(parser.parse_args().output))


if __name__ == "__main__":
    main()
