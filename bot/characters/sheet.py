"""Character sheets: lenient parsing and canonical rendering of the seed's sheet layout."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.errors import UserError

SHEET_MAX_CHARS = 8000
STANDARD_FIELDS: tuple[str, ...] = (
    "Character Name",
    "Age",
    "Race",
    "Mageblood Type",
    "Favored Magic Class",
    "Previous Magic Training",
    "Occupation/Profession",
    "Appearance",
    "Biography",
    "Good Attributes",
    "Bad Attributes",
    "Equipment",
    "Other Information",
)
_INLINE_FIELDS = frozenset(STANDARD_FIELDS[:7])
_ALIASES = {
    "name": "Character Name",
    "occupation": "Occupation/Profession",
    "profession": "Occupation/Profession",
}

# "**Label**: rest" or "**Label:** rest", optionally bulleted like the seed's template.
_BOLD_LINE = re.compile(
    r"^\s*(?:[-*•]\s+)?\*\*(?P<label>[^*\n]{1,60}?)(?::\*\*|\*\*\s*:)[ \t]*(?P<rest>.*)$"
)
_PLAIN_LINE = re.compile(r"^\s*(?P<label>[A-Za-z][A-Za-z /-]{0,40}?)\s*:[ \t]*(?P<rest>.*)$")
_INLINE_MARK = re.compile(r"(?:(?<!\S)-\s+)?\*\*(?P<label>[^*\n]{1,60}?)(?::\*\*|\*\*\s*:)")
_ITEM = re.compile(r"^\s*[-*•](?:\s+(?P<item>.*))?$")
_ITEM_SPLIT = re.compile(r"\s+-\s+")
_PLACEHOLDER = "(if applicable)"  # the seed template's filler, meaning "empty"
_FENCE = re.compile(r"^\s*```[\w+-]*\s*$")


class SheetError(UserError, ValueError):
    """A sheet that cannot be accepted; the message is shown to the user."""


def _key(label: str) -> str:
    """Comparison key for a label: case- and punctuation-insensitive."""
    folded = label.casefold()
    return re.sub(r"[\W_]", "", folded) or folded.strip()


_CANON = {_key(name): name for name in STANDARD_FIELDS} | _ALIASES


def _canonical(label: str) -> str:
    """Canonical label for standard fields, the trimmed label otherwise."""
    clean = label.replace("*", "").replace("\n", " ").strip().rstrip(":").strip()
    return _CANON.get(_key(clean), clean)


@dataclass
class SheetField:
    """One labelled section of a sheet: free text and/or list items."""

    label: str
    text: str = ""
    items: list[str] = field(default_factory=list)


@dataclass
class Sheet:
    """An ordered list of sheet fields."""

    fields: list[SheetField]

    @property
    def name(self) -> str | None:
        """The Character Name field's value, if any."""
        found = self.get("Character Name")
        if found is None:
            return None
        first = found.text.strip().split("\n")[0].strip() or next(iter(found.items), "").strip()
        return first or None

    def get(self, label: str) -> SheetField | None:
        """The first field with this label (case-insensitive)."""
        key = _key(_canonical(label))
        return next((f for f in self.fields if _key(_canonical(f.label)) == key), None)

    def set(self, label: str, text: str = "", items: Sequence[str] = ()) -> None:
        """Replace (or append) a field; an empty value removes it."""
        new = SheetField(_canonical(label), text.strip(), [i.strip() for i in items if i.strip()])
        old = self.get(label)
        if old is None:
            if new.text or new.items:
                self.fields.append(new)
        elif new.text or new.items:
            self.fields[self.fields.index(old)] = new
        else:
            self.fields.remove(old)


def _tidy(lines: Iterable[str]) -> str:
    """Strip lines, drop outer blank lines and collapse blank runs."""
    out: list[str] = []
    for line in lines:
        line = line.strip()
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


def _from_lines(label: str, lines: Iterable[str]) -> SheetField:
    """Build a field from its body lines: bullets are items, the rest is text."""
    text: list[str] = []
    items: list[str] = []
    after_item = False
    for raw in lines:
        if _FENCE.match(raw) or raw.strip().casefold() == _PLACEHOLDER:
            continue
        bullet = _ITEM.match(raw)
        if bullet:
            item = (bullet["item"] or "").strip()
            if item:
                items.append(item)
            after_item = bool(item)
        elif after_item and raw[:1].isspace() and raw.strip():
            items[-1] += " " + raw.strip()  # an indented line continues a wrapped item
        else:
            after_item = False
            text.append(raw)
    return SheetField(label, _tidy(text), items)


def _field_line(line: str) -> tuple[str, str] | None:
    """(label, rest) if the line starts a field."""
    match = _BOLD_LINE.match(line)
    if match and match["label"].strip():
        label = _canonical(match["label"])
    else:
        match = _PLAIN_LINE.match(line)
        # Unbolded labels only count when standard, so prose like "Note: ..." stays prose.
        if not match or _key(match["label"]) not in _CANON:
            return None
        label = _CANON[_key(match["label"])]
    return label, match["rest"].strip()


def _unflatten(text: str) -> list[str]:
    """Split a one-line pasted sheet into the lines it was typed as."""
    marks = list(_INLINE_MARK.finditer(text))
    if not marks:
        return [text]
    lines = [text[: marks[0].start()]]
    for mark, nxt in zip(marks, [*marks[1:], None], strict=True):
        value = text[mark.end() : nxt.start() if nxt else len(text)].strip()
        head = f"**{mark['label'].strip()}**:"
        if re.match(r"-\s", value):
            lines.append(head)
            lines.extend(f"- {item}" for item in _ITEM_SPLIT.split(value[1:].strip()))
        else:
            lines.append(f"{head} {value}")
    return lines


def _merge(sheet: Sheet, new: SheetField) -> None:
    """Append a field, or extend a same-label field already in the sheet."""
    old = sheet.get(new.label)
    if old is None:
        sheet.fields.append(new)
    else:
        old.text = _tidy([old.text, new.text]) if old.text and new.text else old.text or new.text
        old.items.extend(new.items)


def parse_sheet(text: str) -> Sheet:
    """Parse a sheet leniently; plain prose becomes the Biography."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > SHEET_MAX_CHARS:
        raise SheetError(
            f"That sheet is too long ({len(text):,} characters; the limit is {SHEET_MAX_CHARS:,})."
        )
    if not text.strip():
        raise SheetError("That sheet is empty.")
    stripped = text.strip()
    lines = stripped.split("\n") if "\n" in stripped else _unflatten(stripped)
    preamble: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    for line in lines:
        head = _field_line(line)
        if head:
            blocks.append((head[0], [head[1]]))
        elif blocks:
            blocks[-1][1].append(line)
        else:
            preamble.append(line)
    sheet = Sheet([])
    for label, body in blocks:
        _merge(sheet, _from_lines(label, body))
    # Text before the first field is kept as the start of the Biography rather than dropped.
    intro = _from_lines("Biography", preamble)
    if intro.text or intro.items:
        bio = sheet.get("Biography")
        if bio is None:
            sheet.fields.insert(0, intro)
        else:
            bio.text = _tidy([intro.text, "", bio.text])
            bio.items[:0] = intro.items
    sheet.fields = [f for f in sheet.fields if f.text or f.items]
    if not sheet.fields:
        raise SheetError("That sheet has no filled-in fields.")
    return sheet


def render_sheet(sheet: Sheet) -> str:
    """Render canonically: standard fields in seed order, then custom fields."""
    rank = {name: i for i, name in enumerate(STANDARD_FIELDS)}
    labelled = [(_canonical(f.label), f) for f in sheet.fields]
    out: list[str] = []
    for label, raw in sorted(labelled, key=lambda pair: rank.get(pair[0], len(rank))):
        body = raw.text.split("\n") + [f"- {' '.join(i.split())}" for i in raw.items]
        norm = _from_lines(label, body)
        if not norm.text and not norm.items:
            continue
        standard_block = label in rank and label not in _INLINE_FIELDS
        if not standard_block and not norm.items and "\n" not in norm.text:
            out.append(f"**{label}**: {norm.text}")
            continue
        out.append(f"**{label}**:")
        if norm.text:
            out.extend(norm.text.split("\n"))
        out.extend(f"- {item}" for item in norm.items)
    return "\n".join(out)
