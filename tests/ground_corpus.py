"""A synthetic corpus for grounding: documents, the answers read from them, and what each
answer value is (seeded, deterministic; independent of the code under test).

Each :class:`Case` is one document (an invoice in English, or a receipt in Chinese) and an
answer to :data:`SCHEMA`. Every leaf the aligner should look for is a :class:`Fact` of one
kind:

- ``verbatim``: the value is written in the document exactly as the answer has it;
- ``reformatted``: the document writes the same value another way (case, whitespace and
  line breaks, NFC vs NFD accents, full-width digits, thousands separators and currency
  signs, trailing zeros, another date format, a date in Chinese);
- ``planted``: the value is not in the document (near misses included: a number with one
  digit changed, a name or a product of another document, a date a few days off).

Verbatim and reformatted facts carry the span where the document writes them, so a test can
tell whether the aligner put the value in the right place (the quantities repeat between
lines on purpose). Planted values are checked absent here, with simple means of this
module's own (NFKC and case-folded substrings, digits without their separators).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCHEMA", "Case", "Fact", "combine", "corpus", "make_case"]

#: the schema the answers follow: ``currency`` is chosen from a list, ``paid`` a boolean,
#: ``line_count`` computed (none of them is looked for)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "line": {"type": "object", "properties": {
            "product": {"type": "string"}, "qty": {"type": "integer"},
            "unit_price": {"type": "number"}}},
    },
    "properties": {
        "company": {"type": "string"}, "invoice_no": {"type": "string"},
        "issued": {"type": "string", "format": "date"},
        "due": {"type": "string", "format": "date"},
        "customer": {"type": "object", "properties": {
            "name": {"type": "string"}, "city": {"type": "string"}}},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},
        "subtotal": {"type": "number"},
        "note": {"type": "string"},
        "currency": {"enum": ["USD", "EUR", "CNY"]},
        "paid": {"type": "boolean"},
        "line_count": {"anyOf": [{"type": "integer", "description": "Computed: the lines"},
                                 {"type": "null"}]},
    },
}

FIRST = ["José", "Zoë", "Ana", "François", "Mariam", "Olu", "Søren", "Élodie", "Kenji",
         "Priya", "Mateus", "Aoife", "Björn", "Chloé", "Dmitri", "Ines", "Tomás", "Yara",
         "Henrik", "Lucía", "Amara", "Noé", "Ingrid", "Rafael"]
LAST = ["Álvarez", "Okafor", "Nguyen", "Müller", "Dubois", "Kowalski", "Haddad", "Tanaka",
        "Fernández", "Lindqvist", "Moreau", "Ogunleye", "Petrović", "Salazar", "Brennan",
        "Castillo", "Håkansson", "Mbeki", "Rossi", "Schäfer", "Vasquez", "Wójcik"]
COMPANY_A = ["Acme", "Northwind", "Blue Heron", "Copperleaf", "Silver Birch", "Redwood",
             "Kestrel", "Harbor Light", "Juniper", "Old Mill", "Granite Peak", "Saffron"]
COMPANY_B = ["Widgets", "Traders", "Supply", "Outfitters", "Foundry", "Provisions",
             "Works", "Hardware"]
SUFFIX = ["Ltd", "GmbH", "Inc.", "S.A.", "& Co."]
CITIES = ["Lisbon", "Montréal", "Zürich", "São Paulo", "Kraków", "Reykjavík", "Málaga",
          "Göteborg", "Nice", "Quebec City", "Porto", "Cork", "Bergen", "Ghent"]
ADJ = ["steel", "oak", "copper", "linen", "walnut", "ceramic", "brass", "wool", "bamboo",
       "glass", "marble", "cedar", "velvet", "granite"]
NOUN = ["bracket", "lamp", "kettle", "shelf", "blanket", "vase", "hinge", "stool", "mug",
        "tray", "clock", "basket", "candle", "ladder"]
NOTE = ["please", "pay", "within", "the", "agreed", "period", "goods", "remain", "our",
        "property", "until", "paid", "in", "full", "thank", "you", "for", "your", "order",
        "returns", "accepted", "with", "receipt", "only"]
#: words no document uses: planted sentences are made of them
ALIEN = ["zephyr", "quorum", "mandolin", "tundra", "obelisk", "saffronite", "lantern",
         "pelican", "vortex", "jubilee", "nimbus", "paprika", "galleon", "origami"]
EMOJI = ["🎉", "📦", "✅", "🚚", "🙏", "⭐"]

ZH_SURNAME = ["张", "王", "李", "刘", "陈", "杨", "赵", "黄", "周", "吴"]
ZH_GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "涛"]
ZH_CITY = ["北京", "上海", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "苏州"]
ZH_DISTRICT = ["朝阳区", "海淀区", "浦东新区", "天河区", "南山区", "西湖区", "武侯区"]
ZH_COMPANY = ["华兴贸易有限公司", "东方百货商店", "长城五金行", "金桥电子商行",
              "明月茶庄", "新世纪超市", "四海家居馆"]
ZH_PRODUCT = ["不锈钢水壶", "纯棉毛巾", "陶瓷茶杯", "竹制砧板", "羊毛围巾", "玻璃花瓶",
              "实木凳子", "铜制台灯", "亚麻桌布", "檀香蜡烛"]
ZH_NOTE = ["感谢您的惠顾欢迎再次光临", "商品售出七日内凭小票可以退换",
           "请妥善保管本收据以备查验", "如有质量问题请及时与门店联系"]
ZH_ALIEN = ["鲸鱼在月光下缓缓游过银河", "松鼠把橡果藏进古老的钟楼", "骆驼穿越沙漠寻找绿洲水源"]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
NBSP, THIN = "\u00a0", "\u2009"


@dataclass
class Fact:
    """One answer value: its path, the value, its kind, and where the document has it."""

    path: str
    value: Any
    kind: str  # verbatim | reformatted | planted
    span: tuple[int, int] | None = None
    how: str = ""  # what was done to it (for messages)


@dataclass
class Case:
    """A document, the answer read from it, and the facts the answer states."""

    text: str
    answer: dict[str, Any]
    facts: list[Fact] = field(default_factory=list)
    lang: str = "en"


class _Doc:
    """A document written piece by piece, each piece's span known."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def add(self, text: str) -> tuple[int, int]:
        start = self.size
        self.parts.append(text)
        self.size += len(text)
        return start, self.size

    @property
    def text(self) -> str:
        return "".join(self.parts)


# -- independent checks of absence --------------------------------------------------------

def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", _fold(text)))


def _number_text(text: str) -> str:
    """The document's digits with their separators removed (1,234.50 -> 1234.50)."""
    folded = unicodedata.normalize("NFKC", text)
    return re.sub(r"(?<=\d)[,'\u2009\u202f\u00a0](?=\d{3})", "", folded)


def _number_absent(value: float | int, text: str) -> bool:
    """Whether no number in the text equals ``value`` (leading and trailing zeros aside)."""
    digits = _number_text(text)
    plain = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    whole, _, frac = plain.partition(".")
    pattern = (rf"(?<![\d.])0*{whole}" + (rf"\.{frac}0*" if frac else r"(?:\.0+)?")
               + r"(?![\d]|\.\d)")
    return re.search(pattern, digits) is None


def _squeezed(text: str) -> str:
    return " ".join(_fold(text).split())


def _string_absent(value: str, text: str) -> bool:
    """Whether the text does not hold the value, nor (for three words or more) half of its
    words."""
    if _squeezed(value) in _squeezed(text):
        return False
    words = re.findall(r"\w+", _fold(value))
    if len(words) >= 3:
        present = _words(text)
        return sum(word in present for word in words) * 2 < len(words)
    return True


# -- writing values ---------------------------------------------------------------------------

def _money(rng: random.Random, low: int, high: int) -> float:
    cents = rng.choice([0, 0, 50, 25, 99, 10, 75])
    return round(rng.randint(low, high) + cents / 100, 2)


def _plain(value: float) -> str:
    """A number as JSON writes it (int-valued floats without .0)."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _grouped(value: float, sep: str = ",", decimals: int = 2) -> str:
    whole, _, frac = f"{value:.{decimals}f}".partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sep.join(groups) + ("." + frac if frac else "")


def _one_digit_changed(rng: random.Random, value: float | int, text: str) -> float | int | None:
    for _ in range(40):
        digits = list(f"{value:.2f}" if isinstance(value, float) else str(value))
        places = [i for i, c in enumerate(digits) if c.isdigit() and i > 0] or [0]
        i = rng.choice(places)
        digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]
                                and not (i == 0 and d == "0")])
        changed = float("".join(digits)) if isinstance(value, float) else int("".join(digits))
        if changed != value and _number_absent(changed, text):
            return changed
    return None


def _date(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(2019, 2026), rng.randint(1, 12), rng.randint(1, 28)


def _iso(y: int, m: int, d: int) -> str:
    return f"{y:04d}-{m:02d}-{d:02d}"


def _date_forms(y: int, m: int, d: int) -> list[str]:
    """Ways to write a date that say which day it is."""
    name = MONTHS[m - 1]
    forms = [f"{d} {name} {y}", f"{name} {d}, {y}", f"{d} {name[:3]} {y}", f"{y}/{m:02d}/{d:02d}",
             f"{name[:3]}. {d}, {y}", f"{d}-{name[:3]}-{y}", f"{y}年{m}月{d}日"]
    if d > 12:
        forms += [f"{d:02d}/{m:02d}/{y}", f"{m:02d}/{d:02d}/{y}", f"{d}.{m}.{y}"]
    return forms


def _zh_dates(y: int, m: int, d: int) -> list[str]:
    return [f"{y}年{m}月{d}日", f"{y}/{m:02d}/{d:02d}", f"{y}年{m:02d}月{d:02d}日",
            f"{y}年{m}月{d}日".translate(FULLWIDTH), f"{y}年{m}月{d}号"]


# -- the documents ------------------------------------------------------------------------

class _Writer:
    """Writes one document and its answer, choosing each fact's kind."""

    def __init__(self, rng: random.Random, mix: tuple[float, float]) -> None:
        self.rng = rng
        self.doc = _Doc()
        self.facts: list[Fact] = []
        self.planted: list[tuple[str, Any, Any]] = []  # (path, how to make, fallback)
        self.mix = mix
        self.days: list[str] = []  # the dates the document writes

    def kind(self, reformattable: bool = True) -> str:
        roll = self.rng.random()
        kind = ("verbatim" if roll < self.mix[0] else
                "reformatted" if roll < self.mix[0] + self.mix[1] else "planted")
        return "verbatim" if kind == "reformatted" and not reformattable else kind

    def fact(self, path: str, value: Any, kind: str, span: tuple[int, int] | None,
             how: str = "") -> Any:
        self.facts.append(Fact(path, value, kind, span, how))
        return value

    def string(self, path: str, written: str, reformat: Any, plant: Any) -> Any:
        """Write a string; the answer has it verbatim, reformatted (``reformat(written) ->
        (text in document, value, how)``; None: no way) or planted (``plant(others) ->
        (value, how)``, checked later)."""
        kind = self.kind(reformat is not None)
        if kind == "reformatted":
            shown, value, how = reformat(written)
            span = self.doc.add(shown)
            return self.fact(path, value, kind, span, how)
        span = self.doc.add(written)
        if kind == "planted":
            self.planted.append((path, plant, written))
            self.facts.append(Fact(path, None, "planted", span))
            return None
        return self.fact(path, written, kind, span)

    def number(self, path: str, value: float | int, forms: list[tuple[str, str, str]]) -> Any:
        """Write a number: ``forms`` are (text before, the number as written, text after)
        ways of writing it other than JSON's."""
        kind = self.kind()
        if kind == "reformatted":
            before, shown, after = self.rng.choice(forms)
            self.doc.add(before)
            span = self.doc.add(shown)
            self.doc.add(after)
            return self.fact(path, value, kind, span, shown)
        span = self.doc.add(_plain(value) if isinstance(value, float) else str(value))
        if kind == "planted":
            self.planted.append((path, "number", value))
            self.facts.append(Fact(path, None, "planted", span))
            return None
        return self.fact(path, value, kind, span)

    def date(self, path: str, ymd: tuple[int, int, int], forms: list[str]) -> Any:
        """Write a date; ``forms``: ways of writing it other than ISO."""
        kind = self.kind()
        iso = _iso(*ymd)
        self.days.append(iso)
        if kind == "reformatted":
            shown = self.rng.choice(forms)
            if self.rng.random() < 0.3:  # the answer writes it another way, the document in ISO
                value, shown = shown, iso
            else:
                value = iso
            span = self.doc.add(shown)
            return self.fact(path, value, kind, span, shown)
        if kind == "verbatim":
            shown = iso if self.rng.random() < 0.6 else self.rng.choice(forms)
            return self.fact(path, shown, kind, self.doc.add(shown))
        span = self.doc.add(iso)
        self.planted.append((path, "date", ymd))
        self.facts.append(Fact(path, None, "planted", span))
        return None

    def settle(self, answer: dict[str, Any], others: list[str]) -> None:
        """Fill in the planted values, now the whole document is known: each is checked
        absent from it (a fact that cannot be planted becomes verbatim)."""
        text = self.doc.text
        for path, plant, original in self.planted:
            fact = next(f for f in self.facts if f.path == path)
            value: Any = None
            if plant == "number":
                value = _one_digit_changed(self.rng, original, text)
                fact.how = "one digit changed"
            elif plant == "date":
                y, m, d = original
                for shift in self.rng.sample(range(1, 28), 27):
                    day = (d + shift - 1) % 28 + 1
                    candidate = _iso(y, m, day)
                    if candidate not in self.days and candidate not in text:
                        value = candidate
                        break
                fact.how = "another day"
            else:
                for _ in range(30):
                    candidate, how = plant(others)
                    if _string_absent(candidate, text):
                        value = candidate
                        fact.how = how
                        break
            if value is None:  # nothing absent to plant: the original, verbatim
                value = _iso(*original) if plant == "date" else original
                fact.kind = "verbatim"
            else:
                fact.span = None
            fact.value = value
            _set(answer, path, value)


def _set(answer: dict[str, Any], path: str, value: Any) -> None:
    node: Any = answer
    parts = re.findall(r"[A-Za-z_]+|\[\d+\]", path)
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value


def _case_changed(rng: random.Random) -> Any:
    def change(text: str) -> tuple[str, str, str]:
        way = rng.choice(["upper", "lower", "title"])
        value = getattr(text, way)()
        if value == text:
            value = text.swapcase()
            way = "swapcase"
        return text, value, way
    return change


def _spaced(rng: random.Random) -> Any:
    def change(text: str) -> tuple[str, str, str]:
        if " " not in text:
            return _case_changed(rng)(text)
        gap = rng.choice(["\n", "  ", NBSP, " \n  ", "\t"])
        return text.replace(" ", gap, 1), text, "whitespace " + repr(gap)
    return change


def _nfd(rng: random.Random) -> Any:
    def change(text: str) -> tuple[str, str, str]:
        nfd = unicodedata.normalize("NFD", text)
        if nfd == text:
            return _case_changed(rng)(text)
        if rng.random() < 0.5:
            return nfd, text, "NFD in the document"
        return text, nfd, "NFD in the answer"
    return change


def _english(rng: random.Random, mix: tuple[float, float]) -> Case:
    w = _Writer(rng, mix)
    doc = w.doc
    answer: dict[str, Any] = {}
    company = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)} {rng.choice(SUFFIX)}"
    answer["company"] = w.string(
        "company", company, rng.choice([_case_changed(rng), _spaced(rng)]),
        lambda others: (rng.choice(others) if others else "Zephyr Quorum Mandolin",
                        "a company of another document"))
    doc.add(" — Invoice ")
    number = rng.randint(10000, 99999)
    inv = f"INV-{number}"

    def invoice_form(text: str) -> tuple[str, str, str]:
        if rng.random() < 0.5:
            return text.translate(FULLWIDTH), text, "full-width digits"
        return text, text.lower(), "lower case"

    answer["invoice_no"] = w.string(
        "invoice_no", inv, invoice_form,
        lambda others: (f"INV-{_one_digit_changed(rng, number, doc.text) or number}",
                        "one digit changed"))
    doc.add(rng.choice([" ", " ✅ "]) + "\nIssued: ")
    issued = _date(rng)
    answer["issued"] = w.date("issued", issued, _date_forms(*issued))
    doc.add("\nCustomer: ")
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    answer["customer"] = {}
    answer["customer"]["name"] = w.string(
        "customer.name", name, rng.choice([_nfd(rng), _case_changed(rng), _spaced(rng)]),
        lambda others: (f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                        "a name of another document"))
    doc.add(f"\nAddress: {rng.randint(1, 400)} {rng.choice(NOUN).title()} Street, ")
    city = rng.choice(CITIES)
    answer["customer"]["city"] = w.string(
        "customer.city", city, rng.choice([_case_changed(rng), _nfd(rng)]),
        lambda others: (rng.choice(CITIES), "another city"))
    doc.add(f" {rng.choice(EMOJI)}\n\nItems:\n")
    products = rng.sample([f"{a} {n}" for a in ADJ for n in NOUN], rng.randint(2, 5))
    lines = []
    shared_qty = rng.randint(1, 4)
    for i, product in enumerate(products):
        line: dict[str, Any] = {}
        doc.add(" - ")
        line["product"] = w.string(
            f"lines[{i}].product", product, rng.choice([_case_changed(rng), _spaced(rng)]),
            lambda others: (f"{rng.choice(ALIEN)} {rng.choice(NOUN)}",
                            "a product of no document"))
        doc.add(rng.choice([" × ", " x ", "  qty "]))
        qty = shared_qty if rng.random() < 0.6 else rng.randint(1, 9)
        line["qty"] = w.number(f"lines[{i}].qty", qty,
                               [("", str(qty).translate(FULLWIDTH), ""), ("", f"{qty}.0", ""),
                                ("", f"+{qty}", "")])
        doc.add(" @ ")
        price = _money(rng, 1, 2500)
        line["unit_price"] = w.number(
            f"lines[{i}].unit_price", price,
            [("$", _grouped(price), ""), ("", _grouped(price), " EUR"),
             ("USD ", f"{price:.2f}", ""), ("€", _grouped(price, NBSP), ""),
             ("", f"{price:.2f}".translate(FULLWIDTH), "")])
        doc.add(rng.choice([" each", "", " per unit"]) + "\n")
        lines.append(line)
    answer["lines"] = lines
    doc.add("\nSubtotal: ")
    subtotal = round(sum(rng.randint(1000, 90000) for _ in products) + 0.5, 2)
    answer["subtotal"] = w.number(
        "subtotal", subtotal,
        [("USD ", _grouped(subtotal), ""), ("$", _grouped(subtotal), ""),
         ("", _grouped(subtotal, THIN), " €"), ("", _grouped(subtotal, "'"), " CHF"),
         ("", f"{subtotal:.3f}", "")])
    doc.add("\nDue: ")
    due = _date(rng)
    while due == issued:
        due = _date(rng)
    answer["due"] = w.date("due", due, _date_forms(*due))
    doc.add("\nNote: ")
    note = " ".join(rng.sample(NOTE, rng.randint(5, 9))).capitalize()
    answer["note"] = w.string(
        "note", note, rng.choice([_case_changed(rng), _spaced(rng)]),
        lambda others: (" ".join(rng.sample(ALIEN, 5)).capitalize(), "a sentence of no document"))
    doc.add(f". {rng.choice(EMOJI)}\n")
    answer["currency"] = rng.choice(["USD", "EUR"])
    answer["paid"] = rng.random() < 0.5
    answer["line_count"] = len(lines)
    others = [f"{a} {b} {s}" for a in COMPANY_A for b in COMPANY_B for s in SUFFIX]
    w.settle(answer, [o for o in rng.sample(others, 20) if o != company])
    return Case(doc.text, answer, w.facts, "en")


def _chinese(rng: random.Random, mix: tuple[float, float]) -> Case:
    w = _Writer(rng, mix)
    doc = w.doc
    answer: dict[str, Any] = {}
    company = rng.choice(ZH_COMPANY)
    answer["company"] = w.string(
        "company", company, lambda t: (t[:2] + "\n" + t[2:], t, "a line break inside"),
        lambda others: (rng.choice([c for c in ZH_COMPANY if c != company]),
                        "a company of another document"))
    doc.add("\n发票号码：")
    number = rng.randint(10000000, 99999999)
    answer["invoice_no"] = w.string(
        "invoice_no", str(number),
        lambda t: (t.translate(FULLWIDTH), t, "full-width digits"),
        lambda others: (str(_one_digit_changed(rng, number, doc.text) or number),
                        "one digit changed"))
    doc.add("\n开票日期：")
    issued = _date(rng)
    answer["issued"] = w.date("issued", issued, _zh_dates(*issued))
    doc.add("\n客户：")
    name = rng.choice(ZH_SURNAME) + "".join(rng.sample(ZH_GIVEN, rng.randint(1, 2)))
    answer["customer"] = {}
    answer["customer"]["name"] = w.string(
        "customer.name", name, None,
        lambda others: (rng.choice([s for s in ZH_SURNAME if s not in name])
                        + rng.choice([g for g in ZH_GIVEN if g not in name]),
                        "a name of another document"))
    doc.add("\n地址：")
    city = rng.choice(ZH_CITY)
    answer["customer"]["city"] = w.string(
        "customer.city", city, None,
        lambda others: (rng.choice([c for c in ZH_CITY if c != city]), "another city"))
    doc.add(f"市{rng.choice(ZH_DISTRICT)}{rng.randint(1, 300)}号 {rng.choice(EMOJI)}\n商品：\n")
    lines = []
    shared_qty = rng.randint(1, 4)
    for i, product in enumerate(rng.sample(ZH_PRODUCT, rng.randint(2, 4))):
        line: dict[str, Any] = {}
        doc.add("  ")
        line["product"] = w.string(
            f"lines[{i}].product", product, None,
            lambda others: (rng.choice([p for p in ZH_PRODUCT if p not in doc.text]),
                            "a product of another document"))
        doc.add(" 数量")
        qty = shared_qty if rng.random() < 0.6 else rng.randint(1, 9)
        line["qty"] = w.number(f"lines[{i}].qty", qty,
                               [("", str(qty).translate(FULLWIDTH), "")])
        doc.add("件 单价")
        price = _money(rng, 1, 800)
        line["unit_price"] = w.number(
            f"lines[{i}].unit_price", price,
            [("￥", f"{price:.2f}", ""), ("", f"{price:.2f}", "元"),
             ("", f"{price:.2f}".translate(FULLWIDTH), "元")])
        doc.add("\n")
        lines.append(line)
    answer["lines"] = lines
    doc.add("合计：")
    subtotal = round(sum(rng.randint(100, 9000) for _ in lines) + 0.5, 2)
    answer["subtotal"] = w.number(
        "subtotal", subtotal, [("", _grouped(subtotal), "元"), ("￥", _grouped(subtotal), "")])
    doc.add("\n付款期限：")
    due = _date(rng)
    while due == issued:
        due = _date(rng)
    answer["due"] = w.date("due", due, _zh_dates(*due))
    doc.add("\n备注：")
    answer["note"] = w.string(
        "note", rng.choice(ZH_NOTE), lambda t: (t[:6] + "\n" + t[6:], t, "a line break"),
        lambda others: (rng.choice(ZH_ALIEN), "a sentence of no document"))
    doc.add(f"。{rng.choice(EMOJI)}\n")
    answer["currency"] = "CNY"
    answer["paid"] = rng.random() < 0.5
    answer["line_count"] = len(lines)
    w.settle(answer, [])
    return Case(doc.text, answer, w.facts, "zh")


def make_case(seed: int, mix: tuple[float, float] = (0.4, 0.35)) -> Case:
    """One document and its answer; ``mix``: the share of verbatim and of reformatted
    facts (the rest are planted). Two in three documents are in English."""
    rng = random.Random(seed)
    return _english(rng, mix) if seed % 3 else _chinese(rng, mix)


def corpus(count: int, seed: int = 0, mix: tuple[float, float] = (0.4, 0.35)) -> list[Case]:
    """``count`` cases, the same for the same arguments."""
    return [make_case(seed * 1_000_003 + i, mix) for i in range(count)]


def combine(cases: list[Case]) -> tuple[str, dict[str, Any], list[Fact]]:
    """Many documents as one source (a blank line between them) and one answer
    (``{"docs": [answer, ...]}``), with the facts' paths and spans moved to match."""
    texts, answers, facts, at = [], [], [], 0
    for i, case in enumerate(cases):
        texts.append(case.text)
        answers.append(case.answer)
        for fact in case.facts:
            span = None if fact.span is None else (fact.span[0] + at, fact.span[1] + at)
            facts.append(Fact(f"docs[{i}].{fact.path}", fact.value, fact.kind, span, fact.how))
        at += len(case.text) + 2
    return "\n\n".join(texts), {"docs": answers}, facts
