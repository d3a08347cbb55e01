"""Lessons quote the code by region name: every snippet names a real region, and shows that region's current code."""
from pathlib import Path

import pytest

from nano_rlhf import coursework as cw
from nano_rlhf.coursework import ROOT, SNIPPET, all_regions, parse_regions, update_snippets


def snippets():
    return [(md.name, m) for md in sorted((ROOT / "lessons").glob("*.md")) for m in SNIPPET.finditer(md.read_text())]


def test_every_snippet_names_an_existing_file_and_region():
    assert snippets(), "no <!-- snippet: FILE#NAME --> in lessons/*.md"
    regions = all_regions(ROOT)
    for lesson, m in snippets():
        assert (ROOT / m["file"]).is_file(), f"{lesson}: no file {m['file']}"
        assert m["name"] in {r.name for r in regions.get(m["file"], [])}, \
            f"{lesson}: {m['file']} has no region [lesson:{m['name']}] (renamed? update the lesson)"


@pytest.mark.skipif((ROOT / cw.MANIFEST).exists(), reason="a student's code differs from the lessons' snippets")
def test_every_snippet_is_up_to_date():
    stale = update_snippets(ROOT, write=False)
    assert not stale, "run `python -m nano_rlhf.coursework snippets`:\n" + "\n".join(stale)


def test_every_region_is_well_formed():
    for file, regions in all_regions(ROOT).items():     # parse_regions raises on any malformed region
        for r in regions:
            assert r.start < r.end and all(r.start < b < e < r.end for b, e in r.solutions), (file, r.name)


@pytest.mark.parametrize("text, error", [
    ("# [lesson:a]\nx = 1\n", "never closed"),
    ("# [lesson:a]\n# [/lesson:b]\n", "closes no open"),
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "outside any lesson region"),
    ("# [lesson:a]\n# END SOLUTION\n# [/lesson:a]\n", "without BEGIN"),
    ("# [lesson:a]\n# BEGIN SOLUTION\n# [/lesson:a]\n# END SOLUTION\n", "ends inside a solution block"),
    ("# [lesson:a]\n# [/lesson:a]\n# [lesson:a]\n# [/lesson:a]\n", "defined twice"),
])
def test_malformed_regions_are_errors_with_their_line(text, error):
    with pytest.raises(ValueError, match=error):
        parse_regions(text, "f.py")


def test_snippets_refresh_from_the_source_and_report_missing_regions(tmp_path):
    (tmp_path / "lessons").mkdir()
    (tmp_path / "f.py").write_text("# [lesson:outer]\ndef f():\n    # [lesson:inner]\n    # BEGIN SOLUTION\n"
                                   "    return 1\n    # END SOLUTION\n    # [/lesson:inner]\n# [/lesson:outer]\n")
    md = tmp_path / "lessons" / "01.md"
    fence = "```"
    md.write_text(f"<!-- snippet: f.py#inner -->\n{fence}python\nold\n{fence}\n<!-- /snippet -->\n"
                  f"<!-- snippet: f.py#outer -->\n{fence}python\n{fence}\n<!-- /snippet -->\n"
                  f"<!-- snippet: f.py#gone -->\n{fence}python\n{fence}\n<!-- /snippet -->\n")
    assert update_snippets(tmp_path, write=True) == ["lessons/01.md: f.py#inner: stale",
                                                    "lessons/01.md: f.py#outer: stale",
                                                    "lessons/01.md: f.py#gone: f.py has no region [lesson:gone]"]
    text = md.read_text()
    assert f"{fence}python\nreturn 1\n{fence}" in text and f"{fence}python\ndef f():\n    return 1\n{fence}" in text
    assert update_snippets(tmp_path, write=False) == ["lessons/01.md: f.py#gone: f.py has no region [lesson:gone]"]
    assert Path(md).read_text() == text
