"""Turning the bytes of a DHgate page into text the way a browser does.

Browsers save pages as UTF-16 with a byte-order mark, or in whatever charset the page's
``<meta charset>`` / ``http-equiv`` declaration names; reading such a file as UTF-8 yields
mojibake or NUL-riddled text in which the parsers find nothing, and a page that merely *looks*
unparsable is worse than an honest error. So every place that turns page bytes into text goes
through ``decode_page``, which follows the browser's order (WHATWG "encoding sniffing"):

1. a byte-order mark (UTF-8, UTF-16 LE, UTF-16 BE) wins over everything;
2. then the charset of the HTTP answer, when there was one (the fetcher passes it);
3. then a ``<meta charset>`` or ``<meta http-equiv="Content-Type">`` declaration in the head;
4. then UTF-8, with undecodable bytes replaced (DHgate serves UTF-8).

Charset labels are read as browsers read them: "iso-8859-1" and "ascii" mean windows-1252,
"gb2312" means GBK (decoded with the GB18030 superset), and a ``<meta>`` that claims UTF-16
means UTF-8, since a page whose declaration can be read as ASCII is not UTF-16.

``read_saved_page`` reads a file with the same cap the fetcher puts on a page, so a stray 50 MB
file is refused after reading 8 MB instead of being parsed into gigabytes of memory.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

MAX_PAGE_BYTES = 8 * 1024 * 1024  # what the fetcher reads of a page at most (DHGATE_MAX_PAGE_BYTES)

_BOMS = (
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE"),
)
# Browsers look at the whole <head> for a declaration, not just its first 1024 bytes; 64 KB
# covers any real head and keeps the scan cheap on multi-megabyte pages.
_PRESCAN_BYTES = 64 * 1024
_BODY_START = re.compile(rb"<body[\s>]", re.IGNORECASE)
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_META = re.compile(rb"<meta[\s/]([^>]*)>?", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""([^\s=/>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_CHARSET_IN_CONTENT = re.compile(rb"""charset\s*=\s*["']?\s*([^\s"';]+)""", re.IGNORECASE)

# WHATWG labels that Python's codec names do not cover, or cover differently:
# label -> (Python codec, the name browsers give the encoding).
_WINDOWS_1252 = ("cp1252", "windows-1252")
_GBK = ("gb18030", "GBK")
_UTF8 = ("utf-8", "UTF-8")
_LABELS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8"), _UTF8),
    **dict.fromkeys(
        ("windows-1252", "cp1252", "x-cp1252", "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
         "l1", "ascii", "us-ascii", "ansi_x3.4-1968", "cp819", "ibm819", "iso-ir-100"),
        _WINDOWS_1252,
    ),
    **dict.fromkeys(("gbk", "gb2312", "chinese", "csgb2312", "x-gbk", "gb_2312-80", "iso-ir-58"), _GBK),
    "gb18030": ("gb18030", "gb18030"),
    **dict.fromkeys(("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"), ("big5hkscs", "Big5")),
    **dict.fromkeys(
        ("shift_jis", "shift-jis", "sjis", "ms932", "ms_kanji", "windows-31j", "x-sjis", "csshiftjis"),
        ("cp932", "Shift_JIS"),
    ),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "korean", "windows-949", "cseuckr"), ("cp949", "EUC-KR")),
    **dict.fromkeys(("iso-8859-9", "latin5", "l5", "iso8859-9"), ("cp1254", "windows-1254")),
    **dict.fromkeys(("tis-620", "iso-8859-11", "windows-874"), ("cp874", "windows-874")),
    # A declaration readable as ASCII cannot belong to a UTF-16 page: browsers use UTF-8.
    **dict.fromkeys(("utf-16", "utf-16le", "utf-16be", "unicodefffe", "unicode"), _UTF8),
    "x-user-defined": _WINDOWS_1252,
}


# Browsers refuse UTF-7 (it can smuggle markup past filters); so do we.
_NEVER = frozenset({"utf-7"})


_SOURCE_PHRASES = {
    "byte-order mark": "from its byte-order mark",
    "HTTP header": "from the HTTP answer's charset",
    "<meta> declaration": "from its <meta> declaration",
    "default": "the default: no byte-order mark or charset declaration",
}


class PageTooLarge(ValueError):
    """A saved page above the size the fetcher would accept; nothing was parsed."""


@dataclass(frozen=True)
class DecodedPage:
    """A page's text, the encoding it was read in and what decided that encoding."""

    text: str
    encoding: str  # the name browsers use, e.g. "UTF-16LE", "windows-1252"
    source: str  # "byte-order mark", "HTTP header", "<meta> declaration" or "default"

    def describe(self) -> str:
        """E.g. "UTF-16LE (from its byte-order mark)", for the CLI and its error messages."""
        return f"{self.encoding} ({_SOURCE_PHRASES.get(self.source, self.source)})"


def decode_page(raw: bytes, http_charset: str | None = None) -> DecodedPage:
    """Decode page bytes as a browser would: BOM, then ``http_charset``, then ``<meta>``, then UTF-8."""
    for bom, codec, name in _BOMS:
        if raw.startswith(bom):
            return DecodedPage(raw[len(bom):].decode(codec, errors="replace"), name, "byte-order mark")
    if http_charset:
        known = _codec(http_charset, from_meta=False)
        if known is not None:
            return DecodedPage(raw.decode(known[0], errors="replace"), known[1], "HTTP header")
    declared = _meta_charset(raw)
    if declared is not None:
        return DecodedPage(raw.decode(declared[0], errors="replace"), declared[1], "<meta> declaration")
    return DecodedPage(raw.decode("utf-8", errors="replace"), "UTF-8", "default")


def read_saved_page(path: Path, max_bytes: int = MAX_PAGE_BYTES) -> DecodedPage:
    """A saved page read from ``path`` (at most ``max_bytes``) and decoded by ``decode_page``.

    Raises ``PageTooLarge`` when the file holds more than ``max_bytes`` (only ``max_bytes + 1``
    bytes are ever read, whatever the file's size) and ``OSError`` when it cannot be read.
    """
    with path.open("rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PageTooLarge(
            f"{path} is larger than {_megabytes(max_bytes)}, the most the fetcher reads of a page; "
            "it was not parsed."
        )
    return decode_page(raw)


def _megabytes(size: int) -> str:
    """8388608 -> "8 MB"; sizes that are not whole megabytes in bytes."""
    return f"{size // (1024 * 1024)} MB" if size % (1024 * 1024) == 0 else f"{size} bytes"


def _meta_charset(raw: bytes) -> tuple[str, str] | None:
    """(codec, name) from the first usable ``<meta>`` charset declaration in the head, or None."""
    head = raw[:_PRESCAN_BYTES]
    body = _BODY_START.search(head)
    if body is not None:
        head = head[: body.start()]
    if b"<!--" in head:
        head = _COMMENT.sub(b"", head)
    for meta in _META.finditer(head):
        label = _declared_label(meta.group(1))
        known = _codec(label, from_meta=True) if label else None
        if known is not None:
            return known
    return None


def _declared_label(attributes: bytes) -> str | None:
    """The charset a ``<meta>`` tag's attributes declare: ``charset=`` or a Content-Type ``content``."""
    values: dict[bytes, bytes] = {}
    for match in _ATTRIBUTE.finditer(attributes):
        name = match.group(1).lower()
        value = (match.group(2) or b"").strip(b"\"'")
        values.setdefault(name, value)
    if values.get(b"charset"):
        return values[b"charset"].decode("ascii", errors="replace")
    if values.get(b"http-equiv", b"").lower() == b"content-type":
        found = _CHARSET_IN_CONTENT.search(values.get(b"content", b""))
        if found:
            return found.group(1).decode("ascii", errors="replace")
    return None


def _codec(label: str, *, from_meta: bool) -> tuple[str, str] | None:
    """(Python codec, display name) for a charset label, or None when Python has no such codec.

    Outside ``<meta>`` (an HTTP header) a UTF-16 label is taken at its word.
    """
    key = label.strip().strip("\"'").lower()
    if not from_meta and key.startswith("utf-16"):
        codec = {"utf-16le": "utf-16-le", "utf-16be": "utf-16-be"}.get(key, "utf-16")
        return codec, key.upper()
    if key in _LABELS:
        return _LABELS[key]
    try:
        codec = codecs.lookup(key).name
        b"a".decode(codec, errors="replace")  # "base64", "rot13" and co. are not text encodings
    except LookupError:
        return None
    return (codec, key) if codec not in _NEVER else None
