"""What the package ships loads nothing from the internet: no file under app/ names a content
delivery network (the browser test checks the pages themselves with the network blocked)."""

import re
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
CDN = re.compile(r"cdn\.|jsdelivr|unpkg|googleapis\.com/css")


def test_no_shipped_file_names_a_cdn():
    naming = [
        str(path.relative_to(APP))
        for path in APP.rglob("*")
        if path.is_file()
        and path.suffix != ".pyc"
        and CDN.search(path.read_text(encoding="utf-8", errors="ignore"))
    ]
    assert naming == []
