"""Reading the dashboard's pages in AppTest: the entry point and its result tables.

``grid`` parses a page's result table (``<div class="fmw-grid CSS"><table>``, drawn
by ``fmw.ui.view.table_html``): header texts, cell texts, each row's ``data-row``
(the record's identity) and links. Shared by the page tests and the property test.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "ui" / "streamlit_app.py"
TIMEOUT = 30


class _Grid(HTMLParser):
    """A page's result table (``<div class="fmw-grid CSS"><table>``): header texts, cell
    texts, each row's ``data-row`` and each row's links."""

    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self.ids: list[str] = []
        self.links: list[list[str]] = []
        self.header_links: list[str] = []
        self._depth = 0
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "div" and self.css_class in (found.get("class") or "").split():
            self._depth = 1
        elif not self._depth:
            return
        elif tag == "div":
            self._depth += 1
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self.rows.append([])
            self.links.append([])
            self.ids.append(found.get("data-row") or "")
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a" and found.get("href"):
            (self.header_links if self._in_head else self.links[-1]).append(found["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if not self._depth:
            return
        if tag == "div":
            self._depth -= 1
        elif tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            if self._in_head:
                self.headers.append(text.rstrip(" ▲▼"))  # the sort's arrow
            else:
                self.rows[-1].append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._depth and self._cell is not None:
            self._cell.append(data)


def grid(at: AppTest, css_class: str = "fmw-explore") -> _Grid:
    parser = _Grid(css_class)
    for h in at.get("html"):
        parser.feed(h.proto.body)
    return parser


def grid_rows(at: AppTest, css_class: str = "fmw-explore") -> list[dict[str, str]]:
    """The rows of a page's result table, as dicts by header text."""
    parsed = grid(at, css_class)
    return [dict(zip(parsed.headers, row, strict=True)) for row in parsed.rows]


def grid_column(at: AppTest, header: str, css_class: str = "fmw-explore") -> list[str]:
    return [row[header] for row in grid_rows(at, css_class)]
