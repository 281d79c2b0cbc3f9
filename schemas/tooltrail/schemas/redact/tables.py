"""Tables whose rows or columns name a secret: markdown, box-drawing and ASCII tables
(``| a | b |``, ``│ a │ b │``, ``|| a | b ||``), TSV, and columns aligned with spaces
(``kubectl``, ``vault``, ``az … -o table``).

* Key/value rows: a table headed ``Key  Value`` (or ``Name``/``Field``/``Property``…), or a
  table with no header whose rows have two cells: the value goes when the key names a secret
  (``| SecretAccessKey | … |``, ``password    hunter2`` under ``vault kv get``'s ``Data``).
* Columns: a header row naming its columns: each cell of a column named like a secret goes
  (``PASSWORD``, ``SecretString``); counts under plural names (``SECRETS  1``), sizes and
  references are kept; a ``Value`` column goes when the row's name cell names a secret or
  the value looks random (``az storage account keys list``).
A table is a run of consecutive lines of one style; every line is read once.
"""

from __future__ import annotations

from itertools import islice, pairwise

from tooltrail.schemas.redact.keys import REDACTED, WEAK, key_class, split_words
from tooltrail.schemas.redact.pairs import apply_spans
from tooltrail.schemas.redact.patterns import anchored, scanner
from tooltrail.schemas.redact.values import STOP_WORDS, keep_value, looks_secret

Cell = tuple[int, int]  # start and end offsets of a cell's text (stripped) in the whole text
_PIPES = "|│┃║¦"
_BORDER_CHARS = "+-=─━═┄┈╌┌┐└┘├┤┬┴┼╔╗╚╝╠╣╦╩╬╒╕╘╛╞╡╤╧╪╓╖╙╜╟╢╥╨╫:|│┃║ \t"
_GAP = scanner(r" {2,}+")
_ALIGNED_GAP = scanner(r"[^\s] {2,}+[^\s]")
_PIPE = scanner(r"[|│┃║¦]")
#: A UUID or a hex id (a git SHA, a digest): random-looking, and yet not a secret.
_ID = anchored(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{7,64}")
#: A row with more cells is not a table's (and would cost more than it could hide).
_MAX_CELLS = 64
_KEY_HEADERS = frozenset({"key", "name", "field", "property", "parameter", "setting"})
_KEY_HEADERS |= frozenset({"variable", "attribute", "option", "keyname", "secret", "item"})
_VALUE_HEADERS = frozenset({"value", "values", "secretvalue"})
_EMPTY = frozenset({"", "-", "<none>", "<unset>", "n/a", "none", "(none)", "null"})
PIPE, BORDER, TAB, ALIGNED, OTHER = range(5)


def redact_tables(text: str) -> str:
    """Redact the secret cells of every table of ``text`` (see module docstring)."""
    lines, pos = [], 0
    for line in text.split("\n"):
        lines.append((pos, line, _style(line)))
        pos += len(line) + 1
    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(lines):
        family = next((st for _, _, st in lines[i : i + 4] if st != BORDER), OTHER)
        j = i
        while j < len(lines) and family != OTHER and lines[j][2] in (family, BORDER):
            j += 1
        if j > i:
            spans += _table(text, lines[i:j], family)
        i = max(j, i + 1)
    return apply_spans(text, sorted(spans))


def _style(line: str) -> int:
    core = line.strip()
    if not core:
        return OTHER
    first = core[0]
    if first in _BORDER_CHARS and not core.strip(_BORDER_CHARS):
        dashes = core.count("-") + core.count("=") + core.count("─") + core.count("━")
        return BORDER if dashes + core.count("═") >= 3 else OTHER
    if first in _PIPES and sum(core.count(c) for c in _PIPES) >= 2:
        return PIPE
    if "\t" in core:
        return TAB
    return ALIGNED if "  " in core else OTHER


def has_table(text: str, terms: list[int]) -> bool:
    """Cheap gate: a line holding a key term (``terms``: their offsets) also holds a pipe, a
    tab, a box-drawing bar or two blanks between two words (the header of a column that
    names a secret, or a row whose key does)."""
    done = -1
    for i in terms[:256]:
        if i < done:
            continue
        start = text.rfind("\n", max(0, i - 512), i) + 1
        end = text.find("\n", i, i + 512)
        done = end if end != -1 else i + 512
        line = text[start:done].strip()
        if "|" in line or "\t" in line or "│" in line or "┃" in line or "║" in line:
            return True
        if "  " in line and _ALIGNED_GAP.search(line) is not None:
            return True
    return False


def _table(text: str, block: list[tuple[int, str, int]], family: int) -> list[tuple[int, int, str]]:
    rows: list[list[Cell]] = []
    header: list[str] | None = None
    starts: list[int] = []
    for n, (pos, line, style) in enumerate(block):
        if style == BORDER:
            continue
        cells = _cells(pos, line, family)
        follows = block[n + 1][2] if n + 1 < len(block) else OTHER
        more = n + 1 < len(block)
        if header is None and not rows and more and _is_header(text, cells, family, follows):
            header = [_norm(text[a:b]) for a, b in cells]
            starts = [a - pos for a, _ in cells]
            continue
        if header is not None and family == ALIGNED:
            cells = _aligned_cells(pos, line, starts)
        rows.append(cells)
    if header is None:
        return [s for row in rows if (s := _pair_row(text, row)) is not None]
    return _column_cells(text, header, rows)


def _cells(pos: int, line: str, family: int) -> list[Cell]:
    """The cells of a line, as offsets in the whole text, stripped of padding (none if the
    line has more than ``_MAX_CELLS``)."""
    if family == PIPE:
        bounds = [m.start() for m in islice(_PIPE.finditer(line), _MAX_CELLS + 2)]
        pieces = [(a + 1, b) for a, b in pairwise(bounds)]
    elif family == TAB:
        pieces, last = [], 0
        for cell in line.split("\t", _MAX_CELLS + 1):
            pieces.append((last, last + len(cell)))
            last += len(cell) + 1
    else:
        pieces, last = [], 0
        for gap in islice(_GAP.finditer(line), _MAX_CELLS + 1):
            pieces.append((last, gap.start()))
            last = gap.end()
        pieces.append((last, len(line)))
    if len(pieces) > _MAX_CELLS:
        return []
    if family == ALIGNED and pieces and not line[pieces[0][0] : pieces[0][1]].strip():
        pieces = pieces[1:]  # the indentation of the line
    out = []
    for a, b in pieces:  # empty cells are kept (empty spans): columns keep their places
        cell = line[a:b]
        lead = len(cell) - len(cell.lstrip())
        out.append((pos + a + lead, pos + a + lead + len(cell.strip())))
    return out


def _aligned_cells(pos: int, line: str, starts: list[int]) -> list[Cell]:
    """The cells of a row under a header, by the header's column offsets."""
    out: list[Cell] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(line)
        cell = line[start:end] if k + 1 < len(starts) else line[start:]
        core = cell.strip()
        lead = len(cell) - len(cell.lstrip())
        out.append((pos + start + lead, pos + start + lead + len(core)))
    return out


def _norm(cell: str) -> str:
    return "".join(split_words(cell))


def _is_header(text: str, cells: list[Cell], family: int, follows: int) -> bool:
    """A first row naming columns: followed by a border line (markdown, box, ``vault``), or,
    in aligned text, names in upper case (``kubectl``)."""
    if sum(b > a for a, b in cells) < 2:
        return False
    if follows == BORDER:
        return True
    names = [text[a:b] for a, b in cells if b > a]
    if family == PIPE or not all(_word_like(n) and not looks_secret(n) for n in names):
        return False
    return all(n.isupper() for n in names) or any(key_class(n) >= WEAK for n in names)


def _word_like(name: str) -> bool:
    return len(name) <= 40 and all(c.isalnum() or c in " _-./" for c in name)


def _pair_row(text: str, row: list[Cell]) -> tuple[int, int, str] | None:
    """A two-cell row with no header: the value goes when the key names a secret."""
    row = [cell for cell in row if cell[1] > cell[0]]
    if len(row) != 2:
        return None
    key, value = text[row[0][0] : row[0][1]].rstrip(":="), text[row[1][0] : row[1][1]]
    if value[:1] in ("=", ":"):
        return None  # ``token    = x``: a pair, read by the pair rules
    cls = key_class(key)
    if cls < WEAK or _kept(value, key) or value.lower() in STOP_WORDS:
        return None
    if cls == WEAK and not looks_secret(value):
        return None
    return row[1][0], row[1][1], REDACTED


def _column_cells(
    text: str, header: list[str], rows: list[list[Cell]]
) -> list[tuple[int, int, str]]:
    if header[0] in _KEY_HEADERS and any(h in _VALUE_HEADERS for h in header[1:]):
        kv = [h in _VALUE_HEADERS for h in header]
        out = []
        for row in rows:
            name_secret = bool(row) and _names_secret(text, row[0])
            for k, cell in enumerate(row[: len(kv)]):
                if kv[k] and _secret_cell(header[k], text[cell[0] : cell[1]], name_secret):
                    out.append((cell[0], cell[1], REDACTED))
        return out
    name_col = next((k for k, h in enumerate(header) if h in _KEY_HEADERS), -1)
    out = []
    for row in rows:
        name_secret = 0 <= name_col < len(row) and _names_secret(text, row[name_col])
        for k, cell in enumerate(row[: len(header)]):
            if _secret_cell(header[k], text[cell[0] : cell[1]], name_secret):
                out.append((cell[0], cell[1], REDACTED))
    return out


def _names_secret(text: str, cell: Cell) -> bool:
    return key_class(text[cell[0] : cell[1]]) >= WEAK


def _secret_cell(column: str, value: str, name_secret: bool) -> bool:
    if _kept(value, column):
        return False
    if column in _VALUE_HEADERS:
        return name_secret or (looks_secret(value) and _ID.fullmatch(value) is None)
    cls = key_class(column)
    return cls > WEAK or (cls == WEAK and looks_secret(value))


def _kept(value: str, column: str) -> bool:
    """Cells that stay under any column: empty markers, references, counts under plurals."""
    if value.lower() in _EMPTY or keep_value(value):
        return True
    return value.isdigit() and len(value) <= 6 and column.endswith("s")
