"""Every PHP file of the shop-side modules parses with the grammar of each PHP version its shops run on: PrestaShop
1.7.8 runs on PHP 7.1 to 7.4 and 8.x on 7.2 to 8.1, OpenCart 3.0.x on 7.x and 8.x, OpenCart 4 on 8.0 and later; the
issue asks for PHP 8.1 to 8.3 at least. This machine has one PHP (Debian's 8.2, which `php -l` uses in the module
tests), so the other versions are checked with php-parser, whose grammar follows each version (`make php` installs
it from the npm registry)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARSER = Path(__file__).resolve().parent / "php_syntax"
TREES = {
    "adapters/prestashop/module/abonne": ("7.1", "7.4", "8.1", "8.2", "8.3"),
    "adapters/opencart/extension/opencart-3": ("7.1", "7.4", "8.1", "8.2", "8.3"),
    "adapters/opencart/extension/library": ("7.1", "7.4", "8.1", "8.2", "8.3"),  # in both OpenCart zips
    "adapters/opencart/extension/opencart-4": ("8.0", "8.1", "8.2", "8.3"),
}
CASES = [(tree, version) for tree, versions in TREES.items() for version in versions]


def parse(version: str, files: list[Path]) -> dict:
    if shutil.which("node") is None or not (PARSER / "node_modules" / "php-parser").is_dir():
        pytest.skip("php-parser is not installed: `make php` installs it (node and npm from Debian)")
    done = subprocess.run(["node", str(PARSER / "parse.js"), version, *map(str, files)], capture_output=True,
                          text=True, timeout=120)
    return json.loads(done.stdout)


@pytest.mark.parametrize("tree, version", CASES, ids=[f"{tree.split('/')[-1]}-php{v}" for tree, v in CASES])
def test_every_php_file_parses_as_each_php_version_its_shops_run(tree, version):
    files = sorted((ROOT / tree).rglob("*.php"))
    assert files, f"no PHP files under {tree}"
    result = parse(version, files)
    assert result["failed"] == [] and result["parsed"] == len(files), result


def test_the_parser_tells_versions_apart():
    """Without this the check above could pass for any file: 8.0's nullsafe operator is no PHP 7.4."""
    sample = PARSER / "nullsafe.php.txt"
    assert parse("8.0", [sample])["failed"] == []
    assert parse("7.4", [sample])["failed"] != []
