import zipfile

from adapters.module_zip import write_zip


def test_a_file_keeps_its_time_while_its_content_stays_and_gets_another_when_it_changes(tmp_path):
    first = write_zip(tmp_path / "a.zip", [("m/a.php", b"<?php echo 1;"), ("m/b.php", b"<?php echo 2;")])
    again = write_zip(tmp_path / "b.zip", [("m/a.php", b"<?php echo 1;"), ("m/b.php", b"<?php echo 2;")])
    changed = write_zip(tmp_path / "c.zip", [("m/a.php", b"<?php echo 1;"), ("m/b.php", b"<?php echo 3;")])
    assert first.read_bytes() == again.read_bytes()

    def times(path):
        with zipfile.ZipFile(path) as archive:
            return {info.filename: info.date_time for info in archive.infolist()}
    assert times(first)["m/a.php"] == times(changed)["m/a.php"]
    assert times(first)["m/b.php"] != times(changed)["m/b.php"]  # OPcache sees a new file after an upgrade
