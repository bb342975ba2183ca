"""Hand-made XLSX files for the reader's limits: a workbook whose sheet XML a test writes.

``write_workbook(path, rows, tail=…)`` zips the few parts openpyxl needs around
a sheet whose ``<sheetData>`` is the bytes ``rows`` yields (streamed into the
zip, so a test can make a sheet of hundreds of MB without holding it), plus
``tail`` after it (``<mergeCells>``…). ``row``/``cell`` build the XML the way
Excel writes it; ``inline``, ``formula`` and ``empty`` are the cell kinds the
tests need. openpyxl itself never writes the hostile shapes the tests want
(a cell at XFD with no value, a formula without its value).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>""".replace("\n ", " ")
ROOT_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{PACKAGE}">
<Relationship Id="rId1" Target="xl/workbook.xml"
 Type="{RELS}/officeDocument"/>
</Relationships>""".replace("\n ", " ")
WORKBOOK = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="{MAIN}" xmlns:r="{RELS}">
<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets>
</workbook>"""
WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{PACKAGE}">
<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="{RELS}/worksheet"/>
</Relationships>"""


def inline(ref: str, text: str) -> str:
    """A cell holding ``text`` as an inline string (how many tools write text)."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def formula(ref: str, text: str, cached: str | None = None) -> str:
    """A formula cell, with its cached value or (None) without one, as non-computing tools save."""
    value = "" if cached is None else f"<v>{escape(cached)}</v>"
    return f'<c r="{ref}" t="str"><f>{escape(text)}</f>{value}</c>'


def empty(ref: str) -> str:
    """A cell the file lists without a value (a style only), as Excel writes formatted cells."""
    return f'<c r="{ref}" s="0"/>'


def row(number: int, *cells: str) -> bytes:
    return f'<row r="{number}">{"".join(cells)}</row>'.encode()


def write_workbook(
    path: Path,
    rows: Iterable[bytes],
    *,
    tail: str = "",
    dimension: str | None = None,
    level: int = 6,
) -> Path:
    """Zip a one-sheet workbook whose sheetData holds ``rows``; ``tail`` follows sheetData."""
    head = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}">'
    if dimension:
        head += f'<dimension ref="{dimension}"/>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write((head + "<sheetData>").encode())
            buffer = bytearray()
            for chunk in rows:
                buffer += chunk
                if len(buffer) >= 1 << 20:
                    sheet.write(buffer)
                    buffer.clear()
            sheet.write(bytes(buffer))
            sheet.write(f"</sheetData>{tail}</worksheet>".encode())
    return path


def merge_cells(*refs: str) -> str:
    """The <mergeCells> element for ``refs`` ("C2:C4", …), to pass as ``tail``."""
    inner = "".join(f'<mergeCell ref="{ref}"/>' for ref in refs)
    return f'<mergeCells count="{len(refs)}">{inner}</mergeCells>'
