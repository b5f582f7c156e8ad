from __future__ import annotations

import gzip
import re
import zipfile

import pytest

from forecasting.errors import InputError
from forecasting.ingest.reader import UNDECODABLE, iter_raw_chunks, skipped_members


def _write(path, text):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        with open(path, "w", newline="") as f:
            f.write(text)
    return path


def test_rows_are_chunked_and_numbered(tmp_path):
    p = _write(tmp_path / "a.csv", "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(10)))
    chunks = list(iter_raw_chunks(p, chunk_size=4))
    assert [len(c.frame) for c in chunks] == [4, 4, 2]
    assert chunks[1].row_numbers.tolist() == [5, 6, 7, 8]
    assert chunks[2].frame["b"].tolist() == ["16", "18"]


def test_wrong_field_count_and_nul_bytes_are_kept_as_bad_rows(tmp_path):
    p = _write(tmp_path / "a.csv", "a,b\n1,2\n3\n4,5,6\n7\x00,8\n")
    (chunk,) = iter_raw_chunks(p)
    assert chunk.frame["a"].tolist() == ["1", "7"]
    assert chunk.bad["reason"].tolist() == ["wrong_field_count", "wrong_field_count"]
    assert chunk.bad["row_number"].tolist() == [2, 3]
    assert chunk.rows_read == 4


def test_quoted_newlines_bom_and_blank_lines(tmp_path):
    p = _write(tmp_path / "a.csv", '\ufeffa,b\n"x\ny",1\n\n2,3\n')
    (chunk,) = iter_raw_chunks(p)
    assert list(chunk.frame.columns) == ["a", "b"]
    assert chunk.frame["a"].tolist() == ["x\ny", "2"]


def test_undecodable_text_is_quarantined_with_a_reason_not_altered(tmp_path):
    p = _write(tmp_path / "a.csv", b"a,b\nCaf\xe9,1\nplain,2\n")
    (chunk,) = iter_raw_chunks(p)
    assert chunk.frame["a"].tolist() == ["plain"]
    bad = chunk.bad.iloc[0]
    assert bad["reason"] == UNDECODABLE and bad["row_number"] == 1 and "--encoding" in bad["detail"]
    assert "\ufffd" in bad["raw"]
    (latin,) = iter_raw_chunks(p, encoding="latin-1")
    assert latin.frame["a"].tolist() == ["Caf\u00e9", "plain"] and latin.bad.empty


def test_unknown_encoding_is_a_clean_error(tmp_path):
    p = _write(tmp_path / "a.csv", "a\n1\n")
    with pytest.raises(InputError, match=re.escape("encoding must be a known text encoding such as utf-8, "
                                                   "latin-1 or cp1252; got 'klingon'")):
        list(iter_raw_chunks(p, encoding="klingon"))


def test_truncated_gzip_is_one_clear_error(tmp_path):
    with gzip.open(tmp_path / "a.csv.gz", "wt") as f:
        f.write("a,b\n" + "1,2\n" * 50_000)
    data = (tmp_path / "a.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=re.escape("'cut.csv.gz' is truncated or corrupt")):
        list(iter_raw_chunks(tmp_path / "cut.csv.gz"))


def test_skipped_zip_members_are_listed(tmp_path):
    with zipfile.ZipFile(tmp_path / "inner.zip", "w") as z:
        z.writestr("x.csv", "a\n1\n")
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("data.csv", "a\n1\n")
        z.write(tmp_path / "inner.zip", "inner.zip")
        z.writestr("notes.pdf", "%PDF")
    assert skipped_members(tmp_path / "a.zip") == ["inner.zip (nested zip, not opened)", "notes.pdf (not a CSV file)"]


def test_gzip_and_zip_members(tmp_path):
    with gzip.open(tmp_path / "a.csv.gz", "wt") as f:
        f.write("a\n1\n2\n")
    assert sum(len(c.frame) for c in iter_raw_chunks(tmp_path / "a.csv.gz")) == 2
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("one.csv", "a\n1\n")
        z.writestr("two.csv", "a\n2\n3\n")
        z.writestr("readme.md", "not data")
    chunks = list(iter_raw_chunks(tmp_path / "a.zip"))
    assert [(c.member, len(c.frame)) for c in chunks] == [("one.csv", 1), ("two.csv", 2)]


def test_semicolon_delimiter_is_sniffed(tmp_path):
    p = _write(tmp_path / "a.csv", "a;b\n1;2\n")
    (chunk,) = iter_raw_chunks(p)
    assert chunk.frame.to_dict("records") == [{"a": "1", "b": "2"}]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty.csv is empty: expected a header row"),
        ("data.parquet", "x", "input file 'data.parquet' has an unsupported type"),
        ("bad.zip", "not a zip", "'bad.zip' is not a readable zip archive"),
    ],
)
def test_unusable_files_raise_clear_errors(tmp_path, name, content, message):
    p = _write(tmp_path / name, content)
    with pytest.raises(InputError, match=re.escape(message)):
        list(iter_raw_chunks(p))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        list(iter_raw_chunks(tmp_path / "nope.csv"))
