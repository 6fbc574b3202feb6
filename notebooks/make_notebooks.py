"""Build the notebooks under notebooks/, their recordings, and their stored outputs.

    python notebooks/make_notebooks.py             # every notebook
    python notebooks/make_notebooks.py receipts    # only the ones named

1. writes each notebook's cells (this file is their source of truth);
2. records: runs each notebook with an empty recording against the loopback fake server
   (tests/fakeserver.py), which answers in the exact Chat Completions wire format with the
   scripted answers below, so the cassette fills with real-format exchanges;
3. runs each notebook again offline — no key, no server — answering from the recording,
   and saves the outputs that nbval compares.

To record against a live endpoint instead, delete a notebook's ``*.cassette.jsonl``, set
OPENAI_API_KEY (and OPENAI_BASE_URL), and run the notebook: its cells use ``--cache cache``,
so every missing exchange is called once and appended.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from cache_billing import BillingCache  # noqa: E402
from fakebatch import FakeBatchAPI  # noqa: E402
from fakeserver import FakeLLMServer, chat, chat_stream  # noqa: E402
from pdfmake import make_pdf  # noqa: E402
from providers import (  # noqa: E402
    anthropic,
    anthropic_stream,
    gemini,
    gemini_stream,
    responses,
    responses_stream,
)

MODEL = "gpt-4o-2024-08-06"
SLOW = 0.0  # seconds between streamed pieces (the browser test slows the walkthrough down)
SYSTEM = "You are a helpful math tutor. Guide the user through the solution step by step."

MATH_ANSWER = {
    "steps": [
        {"explanation": "先比较整数部分：9.11 和 9.8 的整数部分都是 9，所以要继续比较小数部分。",
         "output": "9 = 9"},
        {"explanation": "把小数位数对齐：9.8 可以写成 9.80，这样两个数都有两位小数。",
         "output": "9.11 与 9.80"},
        {"explanation": "比较十分位：9.11 的十分位是 1，9.80 的十分位是 8，而 1 < 8。",
         "output": "0.1 < 0.8"},
        {"explanation": "十分位已经分出大小，后面的百分位不必再比较，因此 9.80 大于 9.11。",
         "output": "9.8 > 9.11"},
    ],
    "final_answer": "9.8 比 9.11 大。",
}

PRIMES_ANSWER = {
    "steps": [
        {"explanation": "List the numbers from 10 to 20 and cross out the even ones, "
                        "which are divisible by 2.", "output": "11, 13, 15, 17, 19"},
        {"explanation": "15 = 3 × 5, so it is not prime.", "output": "11, 13, 17, 19"},
        {"explanation": "Check each remaining number against the primes up to its square "
                        "root (2 and 3): none of 11, 13, 17, 19 is divisible by them.",
         "output": "11, 13, 17, 19 are prime"},
        {"explanation": "Add them up.", "output": "11 + 13 + 17 + 19 = 60"},
    ],
    "final_answer": "60",
}

REVIEWS = [
    "The battery lasts two full days and the screen is gorgeous. Worth every cent.",
    "Stopped charging after a week. Support never answered my emails.",
    "It's fine. Does what it says, nothing more.",
]
REVIEW_ANSWERS = [
    {"sentiment": "positive", "topics": ["battery", "screen", "price"], "stars": 5},
    {"sentiment": "negative", "topics": ["charging", "support"], "stars": 1},
    {"sentiment": "neutral", "topics": ["general"], "stars": 3},
]
INVOICE_TEXT = (
    "Invoice INV-2024-0042 from Acme Tools GmbH, dated 2024-03-05. 3 x cordless drill at "
    "89.90 EUR, 10 x drill bit set at 12.50 EUR. Total 394.70 EUR."
)
INVOICE_ANSWER = {
    "number": "INV-2024-0042",
    "vendor": "Acme Tools GmbH",
    "date": "2024-03-05",
    "currency": "EUR",
    "lines": [
        {"description": "cordless drill", "quantity": 3, "unit_price": 89.9},
        {"description": "drill bit set", "quantity": 10, "unit_price": 12.5},
    ],
    "total": 394.7,
}


RECEIPTS = {  # the receipts the notebook draws, by the height of their image
    "Corner Bakery": {"date": "2024-05-02",
                      "items": [("sourdough loaf", 1, 4.5), ("croissant", 3, 1.8),
                                ("flat white", 2, 3.2)]},
    "Hardware & Co": {"date": "2024-05-03",
                      "items": [("wood screws 4x40", 2, 3.95), ("hinge", 4, 2.5),
                                ("sandpaper P120", 5, 0.8), ("wood glue", 1, 6.4),
                                ("paint brush", 2, 4.25)]},
}
RECEIPT_SOURCE = """
from PIL import Image, ImageDraw, ImageFont

RECEIPTS = {receipts!r}


def draw_receipt(shop, date, items):
    \"\"\"A till receipt, drawn with Pillow's built-in bitmap font.\"\"\"
    font = ImageFont.load_default_imagefont()
    img = Image.new("RGB", (320, 120 + 18 * len(items)), "white")
    pen = ImageDraw.Draw(img)
    pen.text((12, 12), shop.upper(), fill="black", font=font)
    pen.text((12, 28), date, fill="black", font=font)
    pen.line((12, 48, 308, 48), fill="black")
    y = 58
    for description, quantity, price in items:
        pen.text((12, y), f"{{quantity}} x {{description}}", fill="black", font=font)
        pen.text((240, y), f"{{quantity * price:8.2f}}", fill="black", font=font)
        y += 18
    pen.line((12, y + 4, 308, y + 4), fill="black")
    total = sum(quantity * price for _, quantity, price in items)
    pen.text((12, y + 14), "TOTAL EUR", fill="black", font=font)
    pen.text((240, y + 14), f"{{total:8.2f}}", fill="black", font=font)
    return img


bakery, hardware = (draw_receipt(shop, r["date"], r["items"]) for shop, r in RECEIPTS.items())
bakery.size, hardware.size
"""


def _receipt_answer(height: int) -> dict:
    for shop, receipt in RECEIPTS.items():
        if 120 + 18 * len(receipt["items"]) == height:
            items = [{"description": d, "quantity": q, "price": p}
                     for d, q, p in receipt["items"]]
            total = round(sum(q * p for _, q, p in receipt["items"]), 2)
            return {"shop": shop, "date": receipt["date"], "items": items, "total": total}
    raise ValueError(f"no receipt is {height} px high")


def _image_height(req) -> int | None:  # type: ignore[no-untyped-def]
    """The height of the first image a request carries (the fake server reads it)."""
    import io

    from PIL import Image

    from fake_media import received_parts

    images = [p for p in received_parts(req) if p.kind == "image" and p.data]
    return Image.open(io.BytesIO(images[0].data)).height if images else None

#: the review schema of the extraction and comparison notebooks (each notebook shows its own)
REVIEW_SCHEMA = '''review_schema = {
    "type": "object",
    "properties": {
        "sentiment": {"enum": ["positive", "neutral", "negative"]},
        "topics": {"type": "array", "items": {"type": "string"}},
        "stars": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["sentiment", "topics", "stars"],
    "additionalProperties": False,
}
'''

#: the invoice types of the extraction and batch API notebooks (each notebook shows its own)
INVOICE_MODELS = '''class Line(BaseModel):
    description: str
    quantity: int = Field(ge=1)
    unit_price: float


class Invoice(BaseModel):
    number: str
    vendor: str
    date: date
    currency: Literal["EUR", "USD", "GBP"]
    lines: list[Line]
    total: float
'''

BATCH_INVOICES = [
    "Invoice INV-2024-0101 from Acme Tools GmbH, 2024-03-05: 3 x cordless drill at 89.90 EUR. "
    "Total 269.70 EUR.",
    "Rechnung RE-77 von Müller & Söhne KG vom 12.04.2024: 2 x Schraubstock zu je 45,00 EUR. "
    "Summe 90,00 EUR.",
    "INVOICE #A-5531 | Bright Paper Co. | 2024-05-20 | 10 reams copy paper @ 4.20 USD | "
    "TOTAL 42.00 USD",
    "Invoice INV-2024-0107 from Acme Tools GmbH, 2024-06-01: 1 x workbench at 310.00 EUR. "
    "Total 310.00 EUR.",
    "Facture F-2024-019, Atelier Lumière SARL, 2024-06-15: 4 x lampe LED à 12,50 EUR. "
    "Total 50,00 EUR.",
]
BATCH_ANSWERS = [
    {"number": "INV-2024-0101", "vendor": "Acme Tools GmbH", "date": "2024-03-05",
     "currency": "EUR", "lines": [{"description": "cordless drill", "quantity": 3,
                                   "unit_price": 89.9}], "total": 269.7},
    {"number": "RE-77", "vendor": "Müller & Söhne KG", "date": "2024-04-12", "currency": "EUR",
     "lines": [{"description": "Schraubstock", "quantity": 2, "unit_price": 45.0}],
     "total": 90.0},
    {"number": "A-5531", "vendor": "Bright Paper Co.", "date": "2024-05-20", "currency": "USD",
     "lines": [{"description": "copy paper (ream)", "quantity": 10, "unit_price": 4.2}],
     "total": 42.0},
    {"number": "INV-2024-0107", "vendor": "Acme Tools GmbH", "date": "2024-06-01",
     "currency": "EUR", "lines": [{"description": "workbench", "quantity": 1,
                                   "unit_price": 310.0}], "total": 310.0},
    {"number": "F-2024-019", "vendor": "Atelier Lumière SARL", "date": "2024-06-15",
     "currency": "EUR", "lines": [{"description": "lampe LED", "quantity": 4,
                                   "unit_price": 12.5}], "total": 50.0},
]


#: the grounding example of extraction.ipynb: the first answer names a vendor the invoice does
#: not, which --require-grounding catches and asks about again
GROUNDED_INVOICE = ("Invoice INV-2024-0077 from Nordlicht Optik GmbH, dated 2024-07-19. "
                    "2 x reading glasses at 24.00 EUR. Total 48.00 EUR.")
GROUNDED_PLANTED = {
    "number": "INV-2024-0077", "vendor": "Nordlicht Optics Ltd", "date": "2024-07-19",
    "currency": "EUR", "lines": [{"description": "reading glasses", "quantity": 2,
                                  "unit_price": 24.0}], "total": 48.0}
GROUNDED_ANSWER = {**GROUNDED_PLANTED, "vendor": "Nordlicht Optik GmbH"}
#: what structmagic says when it asks again about values not in the document
ASKED_AGAIN = "not in the document as it is written"

#: the lease of extraction.ipynb's PDF (three pages, a text layer), and what is read from it
LEASE_PAGES = [
    "Commercial Lease Agreement\n\nThis lease is made between Harbour View Properties Ltd "
    "(the Landlord) and Blue Finch Bakery (the Tenant).",
    "Premises: Unit 4, 17 Quay Street, Bristol.\nTerm: five years from 1 September 2024.",
    "Rent: GBP 2,450.00 per month, payable in advance.\nDeposit: GBP 7,350.00.",
]
LEASE_ANSWER = {"landlord": "Harbour View Properties Ltd", "tenant": "Blue Finch Bakery",
                "premises": "Unit 4, 17 Quay Street, Bristol", "start": "2024-09-01",
                "monthly_rent": 2450, "deposit": 7350}

#: the quickstart's inline-schema example
CAFE_RECEIPT = ("Corner Café — 2 × flat white at 3.20, 1 × croissant at 2.50. Total 8.90, "
                "paid by card.")
CAFE_ANSWER = {"vendor": "Corner Café", "total": 8.9,
               "lines": [{"item": "flat white", "qty": 2, "price": 3.2},
                         {"item": "croissant", "qty": 1, "price": 2.5}],
               "paid": "card"}
#: its schema text
CAFE_SCHEMA = "vendor, total float, lines list[{item, qty int, price float}], paid enum[cash, card]?"


#: the doubt notebook: shipping notes, the answers each model gives, and the fields the small
#: model is unsure of (its tokens over those values carry low log-probabilities)
NOTES = [
    "Parcel 1187 for Marta Ruiz, 3 boxes, 12.5 kg, to Calle Mayor 4, Madrid.",
    "Parcel 1188 for Jonas Berg, 1 box, 2.1 kg, to Storgatan 9, Uppsala.",
    "Parcel 1189: Ana Popescu, 2 boxes, weight 7 or 1 kg (smudged), Strada Lunga 12, Brasov.",
    "Parcel 1190 for Lukas Novak, 4 boxes, 20.0 kg, to Dlouha 3, Brno.",
    "Parcel 1191, handwritten: E. Kowalsky? 1 box, 0.8 kg, ul. Dluga 5, Gdansk.",
    "Parcel 1192 for Sofia Greco, 2 boxes, 5.4 kg, to Via Roma 21, Torino.",
]
NOTE_ANSWERS = [
    {"parcel": 1187, "name": "Marta Ruiz", "boxes": 3, "kg": 12.5, "city": "Madrid"},
    {"parcel": 1188, "name": "Jonas Berg", "boxes": 1, "kg": 2.1, "city": "Uppsala"},
    {"parcel": 1189, "name": "Ana Popescu", "boxes": 2, "kg": 7.0, "city": "Brasov"},
    {"parcel": 1190, "name": "Lukas Novak", "boxes": 4, "kg": 20.0, "city": "Brno"},
    {"parcel": 1191, "name": "E. Kowalski", "boxes": 1, "kg": 0.8, "city": "Gdansk"},
    {"parcel": 1192, "name": "Sofia Greco", "boxes": 2, "kg": 5.4, "city": "Torino"},
]
#: what the stronger model answers where it differs
NOTE_BETTER = {NOTES[2]: {**NOTE_ANSWERS[2], "kg": 1.0},
               NOTES[4]: {**NOTE_ANSWERS[4], "name": "E. Kowalsky"}}
#: the small model's shaky fields, and the log-probability of each token over them
NOTE_UNSURE = {NOTES[2]: {"kg": -0.9}, NOTES[4]: {"name": -0.45, "kg": -0.05}}
NOTES_SMALL, NOTES_BIG = "gpt-4o-mini", "gpt-4o"


def _logprobs(answer: str, unsure: dict[str, float]) -> list[dict]:
    """The answer's tokens (four bytes each) and their log-probabilities: sure (-0.002) but
    over the unsure fields' values."""
    from structmagic.call.confidence import value_spans

    raw = answer.encode("utf-8")
    low: list[tuple[int, int, float]] = []
    for parts, start, end in value_spans(answer):
        if parts and parts[0] in unsure:
            low.append((len(answer[:start].encode()), len(answer[:end].encode()),
                        unsure[str(parts[0])]))
    out = []
    for at in range(0, len(raw), 4):
        piece = raw[at:at + 4]
        lp = min([v for s, e, v in low if at < e and at + len(piece) > s], default=-0.002)
        out.append({"token": piece.decode("utf-8", "backslashreplace"), "logprob": lp,
                    "bytes": list(piece), "top_logprobs": []})
    return out


def _note_reply(body: dict, text: str):  # type: ignore[no-untyped-def]
    """A shipping note's answer: the model asked, with log-probabilities when asked."""
    model = str(body.get("model") or NOTES_SMALL)
    note = next(n for n in NOTES if n in text)
    answer_value = (NOTE_BETTER.get(note, NOTE_ANSWERS[NOTES.index(note)])
                    if model == NOTES_BIG else NOTE_ANSWERS[NOTES.index(note)])
    answer = json.dumps(answer_value)
    unsure = NOTE_UNSURE.get(note, {}) if model == NOTES_SMALL else {}
    return chat(answer, model=model, usage=(60 + len(text) // 4, len(answer) // 3),
                logprobs=_logprobs(answer, unsure) if body.get("logprobs") else None)


#: the pay-once notebook: a long labelling guide every row shares, and tickets, some repeated
PAY_GUIDE = "\n".join(
    f"{i}. " + rule for i, rule in enumerate([
        "A ticket about an invoice, a refund, a charge, a card or a price is billing.",
        "A ticket that reports something that does not work as it should is a bug.",
        "A ticket that asks for something new, or for a change, is a feature.",
        "Anything else is other: praise, questions about the company, spam.",
        "A ticket is urgent when the customer cannot work, loses money, or says so.",
        "Read the whole ticket before you choose; the subject line can mislead.",
        "When a ticket fits two categories, choose the one the customer asks about.",
        "Never guess urgency from capital letters or exclamation marks alone.",
    ] * 9, start=1))
TICKETS = [
    "I was charged twice for my March invoice, please refund one.",
    "The export button does nothing since the last update.",
    "Could you add a dark mode to the dashboard?",
    "The export button does nothing since the last update.",
    "I was charged twice for my March invoice, please refund one.",
    "Our whole team is locked out after the password reset, we cannot work!",
    "Could you add a dark mode to the dashboard?",
    "Love the new reports, thank you.",
]
TICKET_ANSWERS = {
    TICKETS[0]: {"category": "billing", "urgent": False},
    TICKETS[1]: {"category": "bug", "urgent": False},
    TICKETS[2]: {"category": "feature", "urgent": False},
    TICKETS[5]: {"category": "bug", "urgent": True},
    TICKETS[7]: {"category": "other", "urgent": False},
}
#: bills the pay-once notebook's recording as OpenAI does (set for each recording run)
PAY_BILLING: BillingCache | None = None


def _ticket_answer(req) -> str:  # type: ignore[no-untyped-def]
    text = json.dumps(req.json.get("messages"), ensure_ascii=False)
    return json.dumps(next(a for t, a in TICKET_ANSWERS.items() if t in text))


WALK_REASONING = ("The user compares 9.11 and 9.8. Align the decimals: 9.80 vs 9.11. "
                  "Tenths: 8 > 1, so 9.8 is larger.")
PRIMES_REASONING = ("Primes between 10 and 20: drop the even numbers and 15; 11, 13, 17 and "
                    "19 remain, and they add up to 60.")
REFUSAL = "I'm sorry, but I can't help with that request."


#: how each model of the comparison notebook answers differently (the others answer as
#: scripted): the small model rates the neutral review too kindly
MODEL_QUIRKS = {
    "gpt-4o-mini": {REVIEWS[2]: {"sentiment": "positive", "topics": ["general"], "stars": 4}},
}


def _answer_for(body: dict) -> dict:
    text = json.dumps(body.get("messages", []), ensure_ascii=False)
    if "9.11" in text:
        return MATH_ANSWER
    if "prime" in text:
        return PRIMES_ANSWER
    if "INV-2024-0042" in text:
        return INVOICE_ANSWER
    if "INV-2024-0077" in text:
        return GROUNDED_ANSWER if ASKED_AGAIN in text else GROUNDED_PLANTED
    if "the lease terms" in text:
        return LEASE_ANSWER
    if "Corner Café" in text:
        return CAFE_ANSWER
    for invoice, answer in zip(BATCH_INVOICES, BATCH_ANSWERS, strict=True):
        if invoice in text:
            return answer
    for review, answer in zip(REVIEWS, REVIEW_ANSWERS, strict=True):
        if review in text:
            return answer
    raise ValueError(f"no scripted answer for {text[:200]}")


def responder(req):  # type: ignore[no-untyped-def]
    """Answer in the wire format of the endpoint asked (chat, responses, messages, gemini)."""
    body = req.json or {}
    asked = body.get("messages") or body.get("input") or body.get("contents")
    height = _image_height(req)
    if height is not None:  # a receipt: answered from the picture the server was sent
        answer = json.dumps(_receipt_answer(height), ensure_ascii=False)
        return chat(answer, model=MODEL, usage=(85 + 40, len(answer) // 3))
    prompt_tokens = 40 + len(json.dumps(asked, ensure_ascii=False)) // 4
    if PAY_BILLING is not None and PAY_GUIDE[:60] in json.dumps(asked, ensure_ascii=False):
        return PAY_BILLING(req)
    if any(note in json.dumps(asked, ensure_ascii=False) for note in NOTES):
        return _note_reply(body, json.dumps(asked, ensure_ascii=False))
    if "refuse" in json.dumps(asked):
        return chat_stream("", refusal=REFUSAL, pieces=4, model=MODEL, usage=(prompt_tokens, 9))
    scripted = _answer_for({"messages": asked})
    quirks = MODEL_QUIRKS.get(str(body.get("model")), {})
    text = json.dumps(asked, ensure_ascii=False)
    scripted = next((a for review, a in quirks.items() if review in text), scripted)
    answer = json.dumps(scripted, ensure_ascii=False)
    usage = (prompt_tokens, len(answer) // 3)
    stream = body.get("stream") or "streamGenerateContent" in req.path
    if "Explain step by step" in json.dumps(asked, ensure_ascii=False):
        reasoning = WALK_REASONING if scripted is MATH_ANSWER else PRIMES_REASONING
        return chat_stream(answer, piece_size=6, model=MODEL, usage=usage,
                           reasoning=reasoning, delay=SLOW)
    if req.path.endswith("/responses"):
        return (responses_stream(answer, pieces=40, usage=usage) if stream
                else responses(answer, usage=usage))
    if req.path.endswith("/messages"):
        return (anthropic_stream(answer, pieces=40, usage=usage) if stream
                else anthropic(answer, usage=usage))
    if ":" in req.path.rsplit("/", 1)[-1]:
        return (gemini_stream(answer, pieces=40, usage=usage) if stream
                else gemini(answer, usage=usage))
    model = str(body.get("model") or MODEL)  # the model asked answers
    if stream:
        return chat_stream(answer, piece_size=6, model=model, usage=usage)
    return chat(answer, model=model, usage=usage)


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text.strip())


def quickstart() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("""
# structmagic quickstart

`%%structured` sends the cell body to an OpenAI-compatible chat endpoint with a JSON Schema as
`response_format`, validates the answer on our side, binds it to a variable, and shows each
reasoning step as it streams in.

This notebook runs offline: `--cache cache` answers from `quickstart.cassette.jsonl` (the
recorded exchanges beside it) and would call the endpoint only for a request that is not
recorded yet. To go live, set `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for a relay).
"""),
        code("""
%load_ext structmagic
%structured_config --cache cache --cassette quickstart.cassette.jsonl --model gpt-4o-2024-08-06
"""),
        md("The schema is the seed's whole `response_format` dict; its name `math_reasoning` is kept."),
        code("""
math_reasoning = {
    "type": "json_schema",
    "json_schema": {
        "name": "math_reasoning",
        "schema": {
            "type": "object",
            "properties": {
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "explanation": {"type": "string"},
                            "output": {"type": "string"},
                        },
                        "required": ["explanation", "output"],
                        "additionalProperties": False,
                    },
                },
                "final_answer": {"type": "string"},
            },
            "required": ["steps", "final_answer"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
"""),
        code("""
%%structured math_reasoning -o answer --system "You are a helpful math tutor. Guide the user through the solution step by step."
9.11和9.8谁大
"""),
        md("`answer` holds the validated value, a plain dict:"),
        code('answer["final_answer"], len(answer["steps"])'),
        md("""
## The same from Python

`structmagic.structured()` is what the magic calls. Options left out come from the
configuration set above.
"""),
        code("""
import structmagic as sm

res = sm.structured("9.11和9.8谁大", math_reasoning, system="You are a helpful math tutor. "
                    "Guide the user through the solution step by step.", stream=True)
res.data == answer, res.model, res.usage["total_tokens"] > 0
"""),
        md("""
## Teaching mode

`--reveal` shows one step at a time with *Previous* / *Next* / *Show all* buttons once the
answer is complete. Without `-o`, the cell's value is the `Result`, shown as the widget;
where no widget can be drawn (this page exported to HTML, GitHub), as a handout whose steps
open one at a time, the answer last.
"""),
        code("""
%%structured math_reasoning --reveal --system "You are a helpful math tutor. Guide the user through the solution step by step."
9.11和9.8谁大
"""),
        code("""
%%structured math_reasoning -o primes --system "You are a helpful math tutor. Guide the user through the solution step by step."
What is the sum of the prime numbers between 10 and 20?
"""),
        code('primes["final_answer"]'),
        md("""
## Inline schemas

For a quick question, write the schema in the line itself, in quotes: fields separated by
commas, each `name [type][: description]` (simonw/llm's concise syntax), with `list[...]`,
`{...}` for an object, `enum[...]`, and `?` for a value that may be null. Every field is
required. `%structured_schema` shows the JSON Schema the text makes, and the same schema as
Pydantic models to copy once the text outgrows one line.
"""),
        code(f'%structured_schema "{CAFE_SCHEMA}"'),
        code(f"""
%%structured "{CAFE_SCHEMA}" -o receipt
{CAFE_RECEIPT}
"""),
        code('receipt["total"], [line["item"] for line in receipt["lines"]], receipt["paid"]'),
    ]
    return nb


def extraction() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("""
# Structured extraction over a column

A Pydantic model as the schema (the value comes back as a model instance), and `--each`
over a DataFrame column: one request per row, in parallel, results aligned with the index.
Offline from `extraction.cassette.jsonl`.
"""),
        code("""
%load_ext structmagic
%structured_config --cache cache --cassette extraction.cassette.jsonl --model gpt-4o-2024-08-06
"""),
        code(f"""
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


{INVOICE_MODELS}
text = ("Invoice INV-2024-0042 from Acme Tools GmbH, dated 2024-03-05. 3 x cordless drill at "
        "89.90 EUR, 10 x drill bit set at 12.50 EUR. Total 394.70 EUR.")
"""),
        code("""
%%structured Invoice -o invoice --no-stream --quiet
Extract the invoice: {text}
"""),
        code("invoice.vendor, invoice.date, [line.quantity for line in invoice.lines]"),
        md("## A whole column"),
        code(f"""
import pandas as pd

reviews = pd.DataFrame({{"text": {REVIEWS!r}}}, index=["r-101", "r-102", "r-103"])
{REVIEW_SCHEMA}"""),
        code("""
%%structured review_schema --each reviews -o scored --concurrency 4
Classify this product review: {text}
"""),
        code('scored[["sentiment", "stars"]]'),
        md("""
## Where each value came from

`--ground` looks for every value of the answer in its source, here the cell's text (after
`{text}` is filled): `exact` where it is written as it is, `normalized` where only the form
differs (`89.90` for `89.9`), and `ungrounded` where it is not there at all. The widget shows
the source beside the answer with each value highlighted; `.grounding` has each value's
offsets. Grounding is computed here: nothing more is sent.
"""),
        code("""
%%structured Invoice --ground --no-stream
Extract the invoice: {text}
"""),
        md("""
A model that writes a value the document does not have is caught: with
`--require-grounding` the values not found are asked about again (within `--reasks`), and
if they are still not there the cell fails with `UngroundedError`. Here the first answer
translated the vendor's name; asked again, the model gives it as written.
"""),
        code(f"""
second = ({GROUNDED_INVOICE!r})
"""),
        code("""
%%structured Invoice --require-grounding --no-stream
Extract the invoice: {second}
"""),
        code("""
checked = _  # the cell's value: the Result
checked.data.vendor, checked.attempts, checked.grounding["vendor"].status
"""),
        md("""
### In a PDF, with its pages

A PDF with a text layer is its own source: each value gets the page it is on
(`pip install 'structmagic[pdf]'` reads the text layer). A scanned PDF or an image has no
text to check: its values are `unverifiable` unless you pass the OCR text as `--source VAR`.
"""),
        code("""
lease = "lease.pdf"
lease_schema = "landlord, tenant, premises, start: the start date (ISO), monthly_rent float, deposit float"
"""),
        code("""
%%structured lease_schema --file lease --ground --no-stream
Extract the lease terms.
"""),
        code("""
import structmagic as sm

g = sm.grounding_frame([_])
g[["path", "status", "page", "text"]]
"""),
        md("""
## The same from Python, awaited

`sm.abatch` is `sm.batch` to `await`: the rows run on worker threads while the notebook's
event loop stays free (top-level `await` in a cell; no `asyncio.run`, no `nest_asyncio`).
Cancelling its task stops the rows at once and keeps the answers that had arrived.
`sm.astructured` is one call; with `widget=True` it shows the live steps in the cell.
"""),
        code("""
import structmagic as sm

prompts = [f"Classify this product review: {text}" for text in reviews.text]
rows = await sm.abatch(prompts, review_schema, concurrency=4)
[row.data["sentiment"] for row in rows]
"""),
        code("""
first = await sm.astructured(prompts[0], review_schema, widget=True)
first.data["stars"]
"""),
        md("""
## What a column costs

`--estimate` says what the cell would cost over the whole column before anything is sent
(here with a price of our own, in USD per million tokens; `pip install 'structmagic[cost]'`
brings the price table). `scored` has a `cost` column too: 0 for every row here, as each
answer came from the recording (what it would have cost shows in the widget as "saved").
"""),
        code("%structured_config --price gpt-4o-2024-08-06=2.50,10.00"),
        code("""
%%structured review_schema --each reviews --estimate --max-tokens 200
Classify this product review: {text}
"""),
    ]
    return nb


def providers() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    magic = ('%%structured math_reasoning -o {out} --provider {provider} --model {model} '
             '--system "You are a helpful math tutor. Guide the user through the solution '
             'step by step."\n9.11和9.8谁大')
    cells = [
        md("""
# One cell, four wire formats

The same `math_reasoning` cell through OpenAI Chat Completions, the OpenAI Responses API,
Claude Messages and Gemini (`--provider`). The same widget, the same validated value.
Offline from `providers.cassette.jsonl`; live, set the base URL and key of each provider
(`OPENAI_*`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`), or one relay URL and key for all.
"""),
        code("""
%load_ext structmagic
%structured_config --cache cache --cassette providers.cassette.jsonl
"""),
        code(quickstart().cells[3].source),
    ]
    for provider, model in (("openai", MODEL), ("responses", MODEL),
                            ("anthropic", "claude-sonnet-4-5"), ("gemini", "gemini-2.5-flash")):
        cells.append(md(f"## `--provider {provider}`"))
        cells.append(code(magic.format(out=f"via_{provider}", provider=provider, model=model)))
    cells.append(code("via_openai == via_responses == via_anthropic == via_gemini"))
    nb.cells = cells
    return nb


def walkthrough() -> nbformat.NotebookNode:
    """The teaching walkthrough, and the README's example of a handout (its export is
    build/walkthrough.html); tests/test_browser.py runs it in JupyterLab and opens its
    export with JavaScript off."""
    nb = nbformat.v4.new_notebook()
    system = "You are a helpful math tutor. Guide the user through the solution step by step."
    error_cell = code("""
%%structured math_reasoning -o refused
Please refuse this request.
""")
    error_cell.metadata["tags"] = ["raises-exception"]
    nb.cells = [
        md("""
# A step-by-step walkthrough

A worked example first: the tutor's steps appear one by one while the answer streams, and
the model's own reasoning is in the collapsed section under them. Then a problem for the
class, one step at a time. By default this notebook answers from
`walkthrough.cassette.jsonl`; set `STRUCTMAGIC_CACHE=off` and a key to ask a live model.
"""),
        code("""
import os

os.environ.setdefault("STRUCTMAGIC_CACHE", "cache")
os.environ.setdefault("STRUCTMAGIC_CASSETTE", "walkthrough.cassette.jsonl")
os.environ.setdefault("STRUCTMAGIC_MODEL", "gpt-4o-2024-08-06")
%load_ext structmagic
"""),
        code(quickstart().cells[3].source),
        md("## A worked example"),
        code(f"""
%%structured math_reasoning -o example --system "{system}"
Explain step by step: what is the sum of the prime numbers between 10 and 20?
"""),
        md("""
## Your turn: one step at a time

`--reveal` shows one step at a time with *Previous* / *Next* / *Show all*; `--ask-first`
asks for the student's answer first and says whether it is right; `--hide-answer` keeps the
final answer back until every step is on show and *Show answer* is pressed.

Exported (`jupyter nbconvert --to html`), opened in VS Code, on GitHub or in a Jupyter Book,
the same cell is a handout that needs no kernel and no JavaScript: each step is a closed
section that opens the next one, the answer last; printed, every step is open.
"""),
        code(f"""
%%structured math_reasoning --reveal --hide-answer --ask-first --system "{system}"
Explain step by step: which is larger, 9.11 or 9.8?
"""),
        md("## When the model refuses, the widget says so (and nothing is bound)"),
        error_cell,
    ]
    return nb


def receipts() -> nbformat.NotebookNode:
    """Receipts drawn with Pillow, read by a model into Pydantic records."""
    nb = nbformat.v4.new_notebook()
    single = code("""
%%structured Receipt -o first --image bakery --no-stream
Read this receipt.
""")
    single.metadata["tags"] = ["nbval-ignore-output"]  # thumbnails: pixels of this Pillow
    nb.cells = [
        md("""
# Receipts: images in, validated records out

Two till receipts are drawn right here with Pillow (no data files), then read by a model with
`--image`: the picture goes into the user message (as a data URL in the Chat Completions
format), the answer is validated against a Pydantic model, and the widget shows the
thumbnails of what was sent above the answer. Offline from `receipts.cassette.jsonl`, which
stores each picture's hash, not the picture. Needs Pillow: `pip install 'structmagic[pillow]'`.
"""),
        code("""
%load_ext structmagic
%structured_config --cache cache --cassette receipts.cassette.jsonl --model gpt-4o-2024-08-06
"""),
        code(RECEIPT_SOURCE.format(receipts={shop: r for shop, r in RECEIPTS.items()}).strip()),
        code("""
from pydantic import BaseModel, Field


class Item(BaseModel):
    description: str
    quantity: int = Field(ge=1)
    price: float = Field(description="unit price")


class Receipt(BaseModel):
    shop: str
    date: str = Field(description="YYYY-MM-DD")
    items: list[Item]
    total: float
"""),
        md("## One receipt"),
        single,
        code("first.shop, first.total, [item.description for item in first.items]"),
        md("""
## A stack of scans

With `--each`, `--image COLUMN` takes each row's picture; the result is a DataFrame aligned
with the input's index.
"""),
        code("""
import pandas as pd

scans = pd.DataFrame({"scan": [bakery, hardware]}, index=["scan-1", "scan-2"])
"""),
        md("""
Before a long column runs, `--estimate` says what it will cost and sends nothing. Each row's
text is counted locally and its picture by the provider's own rule for an image of its size
(here the Chat Completions format's 512-px tiles), never as its base64 text. The price is set
by hand, so the figures stay the same when the price table is upgraded.
"""),
        code("%structured_config --price gpt-4o-2024-08-06=2.5,10"),
        code("""
%%structured Receipt --each scans --image scan --estimate --max-tokens 400
Read this receipt.
"""),
        code("""
%%structured Receipt -o read --each scans --image scan --quiet
Read this receipt.
"""),
        code('read[["shop", "date", "total"]]'),
        code("""
sum(item["quantity"] * item["price"] for item in read.loc["scan-2", "items"])
"""),
    ]
    return nb


def engines() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("""
# A column on an engine you already run: Dask

`structmagic.Extractor` is a picklable function from a pandas partition to a DataFrame of
validated fields (plus `error`, `attempts` and token columns), with the same index and order.
Map it over a Dask DataFrame; the magic does the same with `--engine dask`. Here Dask runs in
this kernel (the synchronous scheduler) and answers come from `engines.cassette.jsonl`; on a
cluster, the workers read the key from their environment (it never travels in a pickle).
"""),
        code("""
import dask
import dask.dataframe as dd
import pandas as pd

import structmagic as sm

%load_ext structmagic
%structured_config --cache cache --cassette engines.cassette.jsonl --model gpt-4o-2024-08-06
_ = dask.config.set(scheduler="synchronous")
"""),
        code(f"""
reviews = pd.DataFrame({{"text": {REVIEWS!r}}}, index=["r-101", "r-102", "r-103"])
{REVIEW_SCHEMA}ddf = dd.from_pandas(reviews, npartitions=2)
"""),
        code("""
extractor = sm.Extractor(review_schema, "Classify this product review: {text}")
lazy = ddf.map_partitions(extractor, meta=extractor.meta(ddf))
lazy.compute()[["sentiment", "stars", "error", "attempts"]]
"""),
        md("The same from a cell: `--engine dask` (lazy) or `--engine dask --compute`."),
        code("""
%%structured review_schema --each ddf --engine dask --compute -o scored
Classify this product review: {text}
"""),
        code('scored[["sentiment", "stars"]]'),
        md("""
## Recipes for a cluster

**Dask**, two worker processes; the job-wide rate is split over the workers:

```python
from distributed import Client, LocalCluster
client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
extractor = sm.Extractor(review_schema, "Classify this product review: {text}",
                         max_requests_per_minute=600, workers=2, concurrency=8)
scored = ddf.map_partitions(extractor, meta=extractor.meta(ddf)).compute()
```

**Ray Data** does not keep the order: keep a row number and sort by it.

```python
import ray
ds = ray.data.from_pandas(reviews.reset_index(names="row"))
out = ds.map_batches(sm.Extractor, fn_constructor_args=(review_schema, "Classify: {text}"),
                     fn_constructor_kwargs={"keep": ["row"]}, batch_format="pandas",
                     num_cpus=0.5, concurrency=2).to_pandas().sort_values("row")
```

**Spark**: `mapInPandas` with the extractor's schema (objects and arrays as JSON text);
set `PYSPARK_PYTHON` to the interpreter that has structmagic.

```python
out = sdf.mapInPandas(extractor.spark_batches, schema=extractor.spark_schema())
```
"""),
    ]
    return nb


def compare() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("""
# Which model gets it right?

`--compare` sends the same cell to several models at once and shows them side by side:
each model's answer (or error), tokens and time, with the fields where they disagree
marked. Over a column, `--expect` scores each model against labelled rows. Offline from
`compare.cassette.jsonl`.
"""),
        code("""
%load_ext structmagic
%structured_config --cache cache --cassette compare.cassette.jsonl
"""),
        code(f"""
review_schema = {{
    "type": "object",
    "properties": {{
        "sentiment": {{"enum": ["positive", "neutral", "negative"]}},
        "topics": {{"type": "array", "items": {{"type": "string"}}}},
        "stars": {{"type": "integer", "minimum": 1, "maximum": 5, "title": "Stars"}},
    }},
    "required": ["sentiment", "topics", "stars"],
    "additionalProperties": False,
}}
review = {REVIEWS[2]!r}
"""),
        code("""
%%structured review_schema -o rated --compare gpt-4o-mini,gpt-4o,anthropic:claude-sonnet-4-5 --no-stream
Classify this product review: {review}
"""),
        code("rated"),
        md("""
## A labelled column

`NAME` gets one column per field and model (`field@model`); the per-model summary and the
scores are shown, and kept in `NAME.attrs["summary"]` and `NAME.attrs["scores"]`.
"""),
        code(f"""
import pandas as pd

reviews = pd.DataFrame({{"text": {REVIEWS!r},
                        "label": {REVIEW_ANSWERS!r}}}, index=["r-101", "r-102", "r-103"])
"""),
        code("""
%%structured review_schema --each reviews -o scored --compare gpt-4o-mini,gpt-4o --expect label
Classify this product review: {text}
"""),
        code('scored[["stars@gpt-4o-mini", "stars@gpt-4o"]]'),
        code('scored.attrs["scores"][["n", "accuracy", "precision", "recall"]]'),
    ]
    return nb


def batch_api() -> nbformat.NotebookNode:
    """Submit, leave, re-attach, collect: a whole column through the provider's batch API."""
    nb = nbformat.v4.new_notebook()
    magic = ('%%structured Invoice --each invoices -o extracted --batch-api --no-wait '
             '--batch-retry none\nExtract the invoice: {text}')
    nb.cells = [
        md("""
# A whole column through the provider's batch API

`--batch-api` sends one request per row to the provider's asynchronous batch API (half the
price, past the rate limits, done within 24 hours), exactly as the synchronous call would ask:
same schema, messages and options. The job is written down in a manifest beside the
recording, so leaving the wait, restarting the kernel or coming back the next day and running
the same cell again re-attaches to the job — nothing is submitted twice.

This notebook runs offline: the whole life of a recorded job (upload, create, the polls,
the result files) and the synchronous re-runs are answered from `batch_api.cassette.jsonl`.
"""),
        code("""
from pathlib import Path

Path("batch_api.batches.json").unlink(missing_ok=True)  # this demo starts afresh each run
%load_ext structmagic
%structured_config --cache cache --cassette batch_api.cassette.jsonl --model gpt-4o-mini
# your price, USD per million tokens in and out (the batch API: half of it)
%structured_config --price gpt-4o-mini=0.15,0.6
"""),
        code(f"""
from datetime import date
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field


{INVOICE_MODELS}

invoices = pd.DataFrame({{"text": {BATCH_INVOICES!r}}},
                        index=["mail-01", "mail-02", "mail-03", "mail-04", "mail-05"])
"""),
        md("""
## Submit, and leave

`--no-wait` returns at once: the cell's value is the job. The progress bar shows its status,
the rows done and failed, the time and — once prices are known — the expected cost.
"""),
        code(magic),
        md("""
`%structured_batches` lists the jobs of the manifest (still running ones are asked once), with
their status and cost; `%structured_batches --cancel ID` cancels one (its finished rows are
kept).
"""),
        code("%structured_batches"),
        md("""
## Re-attach and collect

Run the same cell again — here, or after a kernel restart, or tomorrow. The manifest maps these
rows to the job, so it re-attaches; the job has ended, so the results are collected: each line
matched to its row by `custom_id` (the output comes back shuffled), each answer validated
against `Invoice`. `--batch-retry none` leaves the rows that failed in the batch with their
error, in the `error` column; the `cost` column is each row's cost at the batch price.
"""),
        code(magic),
        code('extracted[["vendor", "total", "cost", "error"]]'),
        md("""
## The same from Python, re-running the failures

`submit_batch` finds the same job (same rows, same model and schema). `results()` re-runs the
rows that came back errored, expired, cancelled, missing or invalid through the normal path,
with its retries and re-asks (`retry="sync"`, the default).
"""),
        code("""
import structmagic as sm

job = sm.submit_batch([f"Extract the invoice: {t}" for t in invoices.text], Invoice)
results = job.results()
print(job.summary_line())
[r.data.vendor for r in results]
"""),
    ]
    return nb


def doubt() -> nbformat.NotebookNode:
    """A column with a few doubtful rows: confidence, doubt, and re-running only those."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("""
# Which rows to look at: confidence, doubt, and re-running only those

After a column has run, the next question is which of its rows to check. `--confidence`
asks the server for the log-probabilities of the answer's tokens (Chat Completions, the
Responses API, llama.cpp's and vLLM's servers send them) and turns them into each field's
confidence: the probability the model gave the tokens that wrote that value. Each row gets
a `doubt` between 0 and 1 — here 1 minus its lowest field confidence — to sort by, and
`--only doubtful` sends just those rows again, to a stronger model. Offline from
`doubt.cassette.jsonl`.
"""),
        code(f"""
%load_ext structmagic
%structured_config --cache cache --cassette doubt.cassette.jsonl --model {NOTES_SMALL}
"""),
        code(f"""
import pandas as pd

parcel = "parcel int, name, boxes int, kg float, city"
notes = pd.Series({NOTES!r},
                  index=["n-01", "n-02", "n-03", "n-04", "n-05", "n-06"])
"""),
        md("""
## A column, with each field's confidence

The progress bar's last line counts the rows whose doubt is above `--doubt-above` (0.5 unless
given); the bound frame has a `doubt` column.
"""),
        code("""
%%structured "parcel int, name, boxes int, kg float, city" --each notes -o parcels --confidence
Read the shipping note: {item}
"""),
        code('parcels.sort_values("doubt", ascending=False).round(3)'),
        md("""
One call shows where the doubt comes from: `Result.confidence` maps each field to its
probability, and the widget (or, in an export, the result's HTML) draws it as a bar beside
the field, the low ones in orange.
"""),
        code("""
import structmagic as sm

unsure = sm.structured(f"Read the shipping note: {notes['n-05']}", parcel, confidence=True)
unsure
"""),
        code("{path: round(p, 3) for path, p in unsure.confidence.items()}"),
        md("""
## Only the doubtful rows again, with a stronger model

`--only doubtful` re-runs the rows of `parcels` whose doubt is above the threshold, with this
cell's options, and writes their new values into the same frame at the same index; the other
rows are not sent.
"""),
        code(f"""
%%structured "parcel int, name, boxes int, kg float, city" --each notes -o parcels --confidence --only doubtful --model {NOTES_BIG}
Read the shipping note: {{item}}
"""),
        code('parcels[["name", "kg", "doubt"]].round(3)'),
    ]
    return nb


def review() -> nbformat.NotebookNode:
    """A small column reviewed (two corrections, one acceptance), then scored against it."""
    column = ('%%structured "parcel int, name, boxes int, kg float, city" --each notes '
              '-o parcels --confidence{options}\nRead the shipping note: {{item}}')
    cells = [
        md("""
# Review in the notebook: corrections become labels

A finished column is only as good as its worst rows, and measuring it needs labels. Here the
doubtful rows of a small column are looked at and corrected in the notebook, each answer kept
at once in a corrections file, and then the same column cell scores the model against them
with `--expect corrections`. Offline from `review.cassette.jsonl`; the corrections are in
`review.corrections.jsonl` beside it (the corrections file's default place).
"""),
        code(f"""
%load_ext structmagic
%structured_config --cache cache --cassette review.cassette.jsonl --model {NOTES_SMALL}
"""),
        code(f"""
import pandas as pd

notes = pd.Series({NOTES!r},
                  index=["n-01", "n-02", "n-03", "n-04", "n-05", "n-06"])
"""),
        md("""
## The column

`--confidence` gives each row a doubt, so the review can show the most doubtful rows first.
"""),
        code(column.format(options="")),
        md("""
## The review

In JupyterLab, `%structured_review parcels --source notes` opens a widget over the column:
one row at a time, the most doubtful first, its note beside it and each field as an input
(a box for text and numbers, a dropdown for an enum, a checkbox for a boolean). *Accept*
says the model's value is right, *Save correction* saves what the inputs say (checked
against the schema first), and each answer is written to the corrections file at once. A run
of a notebook cannot click, so here the same answers are given from Python: the smudged
weight of n-03 is 1 kg on the slip, n-05's name is written as the note writes it, and n-01 is
right. (Saving the same answer again writes nothing, so running this notebook again leaves
the file as it ships.)
"""),
        code("""
import structmagic as sm

rv = sm.review(parcels, source=notes)
rv.correct("n-03", {"kg": 1.0})
rv.correct("n-05", {"name": "E. Kowalsky"})
rv.accept("n-01")
rv.count_line()
"""),
        md("""
The widget opens on the next row to look at. In the bound frame the reviewed values win, and
a `reviewed` column says which rows were reviewed (`--only` never re-runs them).
"""),
        code("%structured_review parcels --source notes"),
        code('parcels[["name", "kg", "reviewed"]]'),
        md("""
## Scored against the review

The same column cell with `--expect corrections`: the rows are answered from the recording,
matched to their reviews by their input key, and the two corrected rows count as the
model's errors. The line above the scores says which rows were scored.
"""),
        code(column.format(options=" --expect corrections")),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def pay_once() -> nbformat.NotebookNode:
    """Repeated rows sent once, and a long shared guide served from the prompt cache."""
    nb = nbformat.v4.new_notebook()
    cell = ('%%structured "category enum[billing, bug, feature, other], urgent bool" '
            '--each tickets -o tagged{options}\n{{guide}}\n\nThe ticket: {{item}}')
    nb.cells = [
        md("""
# Paying once: repeated rows, and the prompt cache

A column is mostly the same request again: here a long labelling guide that every row shares,
then one ticket — and some tickets are pasted twice. structmagic sends identical rows once
(each row still gets its own result; a copy costs nothing), lays every request out with the
shared part first, and lets the provider's prompt cache serve it: OpenAI caches any prefix
of 1,024 tokens or more on its own (and, on OpenAI's own API, each request of the column
carries the same `prompt_cache_key`). Offline from `pay_once.cassette.jsonl`, recorded against a server that
bills the cache as OpenAI does.
"""),
        code("""
%load_ext structmagic
%structured_config --cache cache --cassette pay_once.cassette.jsonl --model gpt-4o-mini
# your price, USD per million tokens: input, output, cached input
%structured_config --price gpt-4o-mini=0.15,0.6,0.075
"""),
        code(f"""
import pandas as pd

guide = {PAY_GUIDE!r}
tickets = pd.Series({TICKETS!r}, index=[f"t-{{i:02d}}" for i in range(1, 9)])
"""),
        md("""
## Before: what the column will cost, with and without the cache
"""),
        code(cell.format(options=" --estimate")),
        md("""
## The run

The progress bar's line says how many rows were unique, how much of the input the cache
served, and (on a live run) what that saved; here the answers come from the recording, so
they cost nothing now.
"""),
        code(cell.format(options="")),
        code("tagged"),
        md("""
The same rows from Python: each result says whether it was sent (`duplicate_of` is None) or
copied, and its usage what the cache served.
"""),
        code("""
import structmagic as sm

results = sm.batch([f"{guide}\\n\\nThe ticket: {t}" for t in tickets],
                   "category enum[billing, bug, feature, other], urgent bool")
sent = [r for r in results if r.duplicate_of is None]
cached = sum(r.usage.get("cached_tokens", 0) for r in sent)
print(f"{len(sent)} of {len(results)} rows sent; "
      f"the cache served {cached / sum(r.usage['prompt_tokens'] for r in sent):.0%} of their input")
"""),
    ]
    return nb


NOTEBOOKS = {"quickstart": quickstart, "extraction": extraction, "providers": providers,
             "walkthrough": walkthrough, "receipts": receipts, "engines": engines,
             "compare": compare, "batch_api": batch_api, "doubt": doubt,
             "pay_once": pay_once, "review": review}

#: the row faults of the recorded batch job of batch_api.ipynb: an answer that is not an
#: Invoice, and a line with status_code 400 (and "error": null)
BATCH_FAULTS = {1: "invalid", 3: "http400"}


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def run(nb: nbformat.NotebookNode, env: dict[str, str]) -> None:
    nb.metadata["kernelspec"] = KERNELSPEC
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(HERE)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    """Build every notebook, or only those named on the command line."""
    chosen = sys.argv[1:] or list(NOTEBOOKS)
    unknown = set(chosen) - set(NOTEBOOKS)
    if unknown:
        raise SystemExit(f"unknown notebook(s): {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(NOTEBOOKS)}")
    notebooks = {name: NOTEBOOKS[name] for name in chosen}
    if "extraction" in notebooks:  # the PDF it grounds a lease in (a text layer, 3 pages)
        (HERE / "lease.pdf").write_bytes(make_pdf([page.split("\n") for page in LEASE_PAGES]))
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("OPENAI_", "STRUCTMAGIC_", "ANTHROPIC_", "GEMINI_"))}
    global PAY_BILLING
    with FakeLLMServer() as server:
        for name, build in notebooks.items():
            server.responder = responder
            PAY_BILLING = BillingCache("openai", answer=_ticket_answer)
            if name == "batch_api":  # the batch routes; each poll moves the job one state on
                fake = FakeBatchAPI(server, step_per_poll=True,
                                    answer=lambda body: json.dumps(_answer_for(body),
                                                                   ensure_ascii=False))
                fake.faults = dict(BATCH_FAULTS)
            cassette = HERE / f"{name}.cassette.jsonl"
            cassette.unlink(missing_ok=True)
            (HERE / f"{name}.corrections.jsonl").unlink(missing_ok=True)  # made anew too
            nb = build()
            run(nb, {**base_env, "OPENAI_BASE_URL": server.url + "/v1",
                     "ANTHROPIC_BASE_URL": server.url + "/v1",
                     "GEMINI_BASE_URL": server.url + "/v1beta",
                     "OPENAI_API_KEY": "sk-recording-not-a-real-key"})
            print(f"{name}: recorded {len(cassette.read_text().splitlines())} exchanges")
    for name, build in notebooks.items():
        nb = build()
        run(nb, base_env)  # offline: no key, no server
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print(f"{name}: outputs stored")
    for leftover in ("batch_api.batches.json", ".batch_api.batches.json.lock"):
        (HERE / leftover).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
