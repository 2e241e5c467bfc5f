"""How the PrestaShop 8.2.0 webservice writes and reads its wire formats, for the stand-in.

Rendering (XML with CDATA and xlink, JSON with PHP's json_encode), the error documents, the list parameters
(filter, display, sort, limit) and the XML input with SimpleXML's warnings. Every layout detail here is copied from
tests/fixtures/prestashop-8.2.0; the comments name the capture when a rule is not obvious.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping

from adapters.prestashop.standin_resources import Association, Field, Resource

XML_CONTENT_TYPE = "text/xml;charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
WS_FILE = "/var/www/prestashop/classes/webservice/WebserviceRequest.php"
# PHP 8 warnings PrestaShop adds after errors 32 and 35 (captures 68, 78, 79).
ARRAY_OFFSET_WARNINGS = [(3, f"[PHP Warning #2] Trying to access array offset on value of type bool ({WS_FILE}, "
                             f"line {line})") for line in (1333, 1334, 1335, 1336)]

Record = dict[str, Any]  # "id": int, every other field a string as MySQL returns it ("" for NULL)
Associations = dict[str, list[dict[str, str]]]


class WsError(Exception):
    """An answer other than the resource: status, errors [(code, message)] or a raw body (PHP die / fatal)."""

    def __init__(self, status: int, errors: list[tuple[int, str]] | None = None, raw: bytes | None = None,
                 content_type: str | None = None):
        super().__init__(status, errors, raw)
        self.status = status
        self.errors = errors or []
        self.raw = raw
        self.content_type = content_type


def php_empty(value: Any) -> bool:
    return value is None or value == "" or value == "0" or value == 0


def php_json(value: Any) -> bytes:
    """json_encode() without flags: compact, ASCII only, slashes escaped."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(word: str, candidates: Iterable[str]) -> str:
    """WebserviceRequest::getClosest: the last of the nearest words wins a tie (65: "warehouses", 79: "note")."""
    best, shortest = "", -1
    for candidate in candidates:
        distance = levenshtein(word, candidate)
        if distance == 0:
            return candidate
        if shortest < 0 or distance <= shortest:
            best, shortest = candidate, distance
    return best


# ====================================================================== XML output

def xml_document(inner: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">\n'
            + inner + "</prestashop>\n").encode()


def xml_errors(errors: list[tuple[int, str]]) -> bytes:
    body = "".join(f"<error>\n<code><![CDATA[{code}]]></code>\n<message><![CDATA[{message}]]></message>\n</error>\n"
                   for code, message in errors)
    return xml_document(f"<errors>\n{body}</errors>\n")


def json_errors(errors: list[tuple[int, str]]) -> bytes:
    return php_json({"errors": [{"code": code, "message": message} for code, message in errors]})


def _field_xml(base: str, f: Field, value: str) -> str:
    if f.lang:
        href = f' xlink:href="{base}/api/languages/1"' if value != "" else ""
        return f'\t<{f.name}><language id="1"{href}><![CDATA[{value}]]></language></{f.name}>\n'
    attrs = ""
    if f.link and (value != "" or f.link_empty):
        attrs += f' xlink:href="{base}/api/{f.link}/{value}"'
    if f.not_filterable:
        attrs += ' notFilterable="true"'
    return f"\t<{f.name}{attrs}><![CDATA[{value}]]></{f.name}>\n"


def _associations_xml(base: str, resource: Resource, associations: Associations) -> str:
    out = "<associations>\n"
    for assoc in resource.associations:
        items = associations.get(assoc.name, [])
        kind = f'api="{assoc.api}"' if assoc.api else 'virtualEntity="true"'
        if not items:
            out += f'<{assoc.name} nodeType="{assoc.node}" {kind}/>\n'
            continue
        out += f'<{assoc.name} nodeType="{assoc.node}" {kind}>\n'
        for item in items:
            href = f' xlink:href="{base}/api/{assoc.api}/{item.get("id", "")}"' if assoc.api else ""
            out += f"\t<{assoc.node}{href}>\n"
            for f in assoc.fields:
                value = str(item.get(f.name, ""))
                attrs = f' xlink:href="{base}/api/{f.link}/{value}"' if f.link and value != "" else ""
                out += f"\t<{f.name}{attrs}><![CDATA[{value}]]></{f.name}>\n"
            out += f"\t</{assoc.node}>\n"
        out += f"</{assoc.name}>\n"
    return out + "</associations>\n"


def object_xml(base: str, resource: Resource, record: Record, associations: Associations | None,
               fields: list[str] | None = None, extra: Mapping[str, str] | None = None) -> str:
    """One object: every field (or only `fields`), then its associations (None: left out)."""
    out = f"<{resource.node}>\n"
    if fields is None or "id" in fields:
        out += f"\t<id><![CDATA[{record.get('id', '')}]]></id>\n"
    for f in resource.fields:
        if fields is not None and f.name not in fields:
            continue
        out += _field_xml(base, f, str(record.get(f.name, "")))
    for name, value in (extra or {}).items():
        out += f"\t<{name}><![CDATA[{value}]]></{name}>\n"
    if associations is not None and resource.associations:
        out += _associations_xml(base, resource, associations)
    return out + f"</{resource.node}>\n"


def list_xml(base: str, resource: Resource, rows: list[tuple[Record, Associations]], display: str | list[str] | None,
             extra: Callable[[Record], Mapping[str, str]] | None = None) -> str:
    out = f"<{resource.plural}>\n"
    for record, associations in rows:
        if display is None:
            out += f'<{resource.node} id="{record["id"]}" xlink:href="{base}/api/{resource.name}/{record["id"]}"/>\n'
        elif display == "full":
            out += object_xml(base, resource, record, associations, extra=extra(record) if extra else None)
        else:
            out += object_xml(base, resource, record, None, fields=list(display))
    return out + f"</{resource.plural}>\n"


def schema_xml(base: str, resource: Resource, kind: str) -> str:
    """?schema=blank (every field empty, with id, no attributes) or ?schema=synopsis (no id, field rules)."""
    synopsis = kind == "synopsis"
    out = f"<{resource.node}>\n"
    if not synopsis:
        out += "\t<id><![CDATA[]]></id>\n"
    for f in resource.fields:
        if f.virtual:
            continue
        attrs = ""
        if synopsis:
            attrs = (" " + f.synopsis if f.synopsis else "") + (' notFilterable="true"' if f.not_filterable else "")
        if f.lang:
            out += f'\t<{f.name}{attrs}><language id="1"><![CDATA[]]></language></{f.name}>\n'
        else:
            out += f"\t<{f.name}{attrs}><![CDATA[]]></{f.name}>\n"
    if resource.associations:
        out += "<associations>\n"
        for assoc in resource.associations:
            kind_attr = f'api="{assoc.api}"' if assoc.api else 'virtualEntity="true"'
            out += f'<{assoc.name} nodeType="{assoc.node}" {kind_attr}>\n' if synopsis else f"<{assoc.name}>\n"
            out += f"\t<{assoc.node}>\n"
            for f in (assoc.synopsis_fields or assoc.fields) if synopsis else assoc.fields:
                attrs = ""
                if synopsis:
                    attrs = (f' xlink:href="{base}/api/{f.link}/"' if f.link else "") + \
                            (" " + f.synopsis if f.synopsis else "")
                out += f"\t<{f.name}{attrs}><![CDATA[]]></{f.name}>\n"
            out += f"\t</{assoc.node}>\n</{assoc.name}>\n"
        out += "</associations>\n"
    return out + f"</{resource.node}>\n"


# ====================================================================== JSON output

def _json_associations(resource: Resource, associations: Associations) -> dict[str, Any]:
    # Empty associations are left out of JSON (capture 14: no "images", "combinations"... on product 20).
    return {a.name: [{f.name: str(item.get(f.name, "")) for f in a.fields} for item in associations[a.name]]
            for a in resource.associations if associations.get(a.name)}


def object_json(resource: Resource, record: Record, associations: Associations | None, *,
                drop_empty: bool, fields: list[str] | None = None, id_as_string: bool = False,
                extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One object as json_encode gives it. `drop_empty`: a single GET (24, 40) and write answers (58) leave out
    every field PHP's empty() is true for ("", "0"); lists with display keep them (26, 28)."""
    out: dict[str, Any] = {}
    if fields is None or "id" in fields:
        out["id"] = str(record["id"]) if id_as_string else record["id"]
    for f in resource.fields:
        if fields is not None and f.name not in fields:
            continue
        value = record.get(f.name, "")
        if id_as_string and f.name in resource.post_ints and value not in ("", None):
            value = int(value)  # captures 58 (cart id_shop) and 54 (order_history id_order_state)
        if drop_empty and php_empty(value):
            continue
        out[f.name] = value
    out.update(extra or {})
    if associations is not None:
        nested = _json_associations(resource, associations)
        if nested:
            out["associations"] = nested
    return out


def list_json(resource: Resource, rows: list[tuple[Record, Associations]], display: str | list[str] | None,
              extra: Callable[[Record], Mapping[str, str]] | None = None) -> Any:
    if not rows:
        return []  # an empty list is a bare [] (19, 76), not {"orders": []}
    items = []
    for record, associations in rows:
        if display is None:
            items.append({"id": record["id"]})
        elif display == "full":
            items.append(object_json(resource, record, associations, drop_empty=False,
                                     extra=extra(record) if extra else None))
        else:
            items.append(object_json(resource, record, None, drop_empty=False, fields=list(display)))
    return {resource.plural: items}


# ====================================================================== list parameters

@dataclass
class ListQuery:
    display: str | list[str] | None
    filters: list[tuple[str, Callable[[Any], bool]]]
    sort: list[tuple[str, bool]]  # (field, descending)
    offset: int
    limit: int | None


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def _compare(stored: Any, wanted: str) -> int:
    """MySQL's comparison: numbers as numbers, text case-insensitively (utf8mb4_general_ci)."""
    a, b = _number(stored), _number(wanted)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    x, y = str(stored).lower(), wanted.lower()
    return (x > y) - (x < y)


def _like(stored: Any, prefix: bool, suffix: bool, wanted: str) -> bool:
    text, needle = str(stored).lower(), wanted.lower()
    if prefix and suffix:
        return needle in text
    if prefix:
        return text.endswith(needle)
    if suffix:
        return text.startswith(needle)
    return text == needle


def parse_filter(raw: str) -> Callable[[Any], bool]:
    """filter[f]=[a|b] (OR), [a,b] (interval), >[x], <[x], ![x|y], %[x]% / [x]% / %[x] (LIKE), or a bare value, as
    SQLUtils::getSQLRetrieveFilter reads them: an interval only when both ends are digits, dots, colons, dashes
    and spaces (dates, numbers), so "[Card on file, myPOS 123]" is one value, not an interval."""
    match = re.fullmatch(r"(%?)\[(.*)\](%?)", raw, re.S)
    if match and (match.group(1) or match.group(3)):
        return lambda v, m=match: _like(v, bool(m.group(1)), bool(m.group(3)), m.group(2))
    if match:
        inner = match.group(2)
        if inner.find("|") > 0:
            options = inner.split("|")
            return lambda v: any(_compare(v, option) == 0 for option in options)
        interval = re.fullmatch(r"([\d.:\-\s]+),([\d.:\-\s]+)", inner)
        if interval:
            low, high = interval.groups()
            if _compare(low, high) > 0:  # PHP sort(): the bounds may come in either order
                low, high = high, low
            return lambda v: _compare(v, low) >= 0 and _compare(v, high) <= 0
        return lambda v: _compare(v, inner) == 0
    operator = re.fullmatch(r"([<>!])\[(.*)\]", raw, re.S)
    if operator:
        sign, wanted = operator.groups()
        if sign == ">":
            return lambda v: _compare(v, wanted) > 0
        if sign == "<":
            return lambda v: _compare(v, wanted) < 0
        return lambda v: all(_compare(v, value) != 0 for value in wanted.split("|"))
    return lambda v: _compare(v, raw) == 0


def parse_list_query(resource: Resource, params: Mapping[str, str]) -> ListQuery:
    names = resource.field_names
    display: str | list[str] | None = None
    raw_display = params.get("display")
    if raw_display is not None:
        if raw_display == "full":
            display = "full"
        else:
            wanted = [d.strip() for d in raw_display.strip("[]").split(",") if d.strip()]
            for name in wanted:
                if name not in names:
                    raise WsError(500, [(35, f'Unable to display this field "{name}". However, these are available: '
                                              + ", ".join(names)), *ARRAY_OFFSET_WARNINGS])
            display = wanted
    # Date fields can only be filtered with date=1 (68: without it they are not in the list).
    filterable = names if params.get("date") == "1" else [n for n in names if n not in ("date_add", "date_upd")]
    filters = []
    for key, raw in params.items():
        match = re.fullmatch(r"filter\[(\w+)\]", key)
        if not match:
            continue
        name = match.group(1)
        if name not in filterable:
            listed = ", ".join(f'"{n}"' for n in filterable)
            raise WsError(500, [(32, f'This filter does not exist. Did you mean: "{closest(name, filterable)}"? '
                                     f"The full list is: {listed}"), *ARRAY_OFFSET_WARNINGS])
        filters.append((name, parse_filter(raw)))
    sort = []
    raw_sort = params.get("sort")
    if raw_sort:
        for part in raw_sort.strip("[]").split(","):
            field, _, direction = part.strip().rpartition("_")
            if field not in names or direction.upper() not in ("ASC", "DESC"):
                # Not captured: PrestaShop answers 400 with its own code here; the stand-in only refuses loudly.
                raise WsError(400, [(37, f'Unable to sort by "{part.strip()}". The stand-in sorts by '
                                         f'[field_ASC] or [field_DESC] on: {", ".join(names)}')])
            sort.append((field, direction.upper() == "DESC"))
    offset, limit = 0, None
    raw_limit = params.get("limit")
    if raw_limit:
        parts = [p.strip() for p in raw_limit.split(",")]
        try:
            offset, limit = (int(parts[0]), int(parts[1])) if len(parts) == 2 else (0, int(parts[0]))
        except ValueError:
            raise WsError(400, [(33, "The limit value is not correct")]) from None
    return ListQuery(display, filters, sort, offset, limit)


def select(rows: list[Record], query: ListQuery) -> list[Record]:
    # Rows come in table order (the primary key, except order_states: capture 82 lists 1 and 10 last).
    chosen = [r for r in rows if all(test(r.get(name, "")) for name, test in query.filters)]
    for field, descending in reversed(query.sort):
        numeric = all(_number(r.get(field, "")) is not None for r in chosen)
        chosen.sort(key=(lambda r: _number(r.get(field, ""))) if numeric else (lambda r: str(r.get(field, "")).lower()),
                    reverse=descending)
    end = None if query.limit is None else query.offset + query.limit
    return chosen[query.offset:end]


# ====================================================================== XML input

def _libxml_context(text: str, position: int) -> tuple[str, str]:
    """libxml2's error context: up to 80 characters of the line around `position`, and the caret line."""
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line_end = len(text) if line_end < 0 else line_end
    start = max(line_start, position - 79)
    shown = text[start:min(line_end, start + 80)]
    return shown, " " * (position - start) + "^"


def _libxml_problems(text: str) -> list[tuple[int, str]]:
    """(position, message) for the well-formedness errors SimpleXML reports on the common mistakes: text that is not
    XML at all (56, 57), mismatched and unclosed tags (59). Others get one generic message."""
    stripped = text.lstrip()
    if not stripped:
        return [(0, "Document is empty")]
    if not stripped.startswith("<"):
        return [(len(text) - len(stripped), "Start tag expected, '<' not found")]
    problems: list[tuple[int, str]] = []
    stack: list[tuple[str, int]] = []
    for match in re.finditer(r"<(/?)([A-Za-z_][\w.-]*)[^>]*?(/?)>|<\?.*?\?>|<!\[CDATA\[.*?\]\]>|<!--.*?-->", text,
                             re.S):
        if match.group(2) is None:
            continue
        closing, name, empty = match.group(1), match.group(2), match.group(3)
        line = text.count("\n", 0, match.start()) + 1
        if empty:
            continue
        if not closing:
            stack.append((name, line))
        elif stack and stack[-1][0] == name:
            stack.pop()
        elif stack:
            opened, opened_line = stack.pop()
            problems.append((match.end(), f"Opening and ending tag mismatch: {opened} line {opened_line} and {name}"))
    if stack:
        name, line = stack[-1]
        problems.append((len(text), f"Premature end of data in tag {name} line {line}"))
    return problems


def parse_input_xml(body: bytes) -> ET.Element:
    """The <prestashop><resource>… document of a write. Raises WsError(500) with SimpleXML's warnings (code 3) and
    error 127, as captures 56 and 59 show, when the body is not well-formed XML (JSON bodies included)."""
    text = body.decode("utf-8", "replace")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        problems = _libxml_problems(text) or [(len(text), f"{error}")]
        errors = []
        for position, message in problems:
            line = text.count("\n", 0, position) + 1
            shown, caret = _libxml_context(text, position)
            for part in (f"Entity: line {line}: parser error : {message}", shown, caret):
                errors.append((3, f"[PHP Warning #2] SimpleXMLElement::__construct(): {part} ({WS_FILE}, line 1544)"))
        errors.append((127, f"XML error : String could not be parsed as XML\nXML length : {len(text)}\n"
                            f"Original XML : {text}"))
        raise WsError(500, errors) from None
    return root


def input_object(root: ET.Element, node: str) -> tuple[dict[str, str], dict[str, list[dict[str, str]]]]:
    """The fields and associations of <prestashop><node>…</node></prestashop>. Unknown elements are kept here and
    ignored by the caller, as PrestaShop ignores them (55)."""
    element = root.find(node)
    if element is None:
        # Not captured: the stand-in's wording for a document about another resource.
        raise WsError(400, [(39, f'The XML document must hold one <{node}> inside <prestashop>')])
    fields: dict[str, str] = {}
    associations: dict[str, list[dict[str, str]]] = {}
    for child in element:
        if child.tag == "associations":
            for assoc in child:
                associations[assoc.tag] = [{f.tag: (f.text or "").strip() for f in item} for item in assoc]
            continue
        language = child.find("language")
        fields[child.tag] = (language.text if language is not None else child.text) or ""
        fields[child.tag] = fields[child.tag].strip()
    return fields, associations


def fold_associations(resource: Resource, given: Mapping[str, list[dict[str, str]]]) -> Associations:
    known: dict[str, Association] = {a.name: a for a in resource.associations}
    return {name: items for name, items in given.items() if name in known}
