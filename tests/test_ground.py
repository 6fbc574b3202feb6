"""Grounding (``structmagic.grounding``): paths, each rule of the aligner, several occurrences,
never raising, the synthetic corpus's rates, and work that grows linearly (counted, not
timed; the times are in ``benchmarks/bench_ground.py``)."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import unicodedata

import pytest
from ground_corpus import SCHEMA, Case, corpus, make_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import structmagic.grounding as ground_package
from structmagic.grounding import STATUSES, Grounding, Source, align, ground, leaves, path_of

# --- helpers ---------------------------------------------------------------------------------


def check(result: dict[str, Grounding], value, source) -> None:
    """What holds for every answer and source: one record per leaf, in order, with its value;
    offsets into the source's text that give the matched text; scores by status."""
    text = source.text if isinstance(source, Source) else source
    assert list(result) == [path for path, _ in leaves(value)]
    for (path, leaf), record in zip(leaves(value), result.values(), strict=True):
        assert record.status in STATUSES, path
        assert record.value is leaf or record.value == leaf, path
        if record.found:
            assert text is not None
            assert 0 <= record.start <= record.end <= len(text), path
            assert text[record.start:record.end] == record.text, path
            assert record.start < record.end, path
            if record.status == "fuzzy":
                assert align.FUZZY_THRESHOLD <= record.score <= 1.0, path
            else:
                assert record.score == 1.0, path
        else:
            assert (record.start, record.end, record.text, record.score, record.page) == (
                None, None, None, None, None), path


def one(value, source, schema=None, **kwargs) -> Grounding:
    """The record of a lone value (the root's own, ``$``)."""
    result = ground(value, source, schema, **kwargs)
    check(result, value, source)
    return result["$"]


def status(value, source, schema=None) -> str:
    return one(value, source, schema).status


def at(record: Grounding) -> tuple[int | None, int | None]:
    return record.start, record.end


# --- paths -----------------------------------------------------------------------------------


def test_paths_join_keys_and_indexes_in_document_order():
    value = {"invoice_no": "A1", "lines": [{"qty": 2, "unit price": 3.5}, {"qty": 1}],
             "parties": [{"name": "x"}, {"name": "y"}], "名前": "z", "a.b": 1, "": 0,
             "empty": {}, "none": [], "_x9": None}
    assert leaves(value) == [
        ("invoice_no", "A1"), ("lines[0].qty", 2), ('lines[0]["unit price"]', 3.5),
        ("lines[1].qty", 1), ("parties[0].name", "x"), ("parties[1].name", "y"),
        ('["名前"]', "z"), ('["a.b"]', 1), ('[""]', 0), ("_x9", None)]


def test_the_root_is_dollar_and_a_root_arrays_items_are_bracketed():
    assert leaves(5) == [("$", 5)]
    assert leaves("x") == [("$", "x")]
    assert leaves(None) == [("$", None)]
    assert leaves([1, {"name": "x"}, [True]]) == [("[0]", 1), ("[1].name", "x"),
                                                   ("[2][0]", True)]
    assert leaves({}) == [] and leaves([]) == [] and leaves({"a": {}, "b": [[]]}) == []


def test_path_of():
    assert path_of([]) == "$"
    assert path_of(["lines", 0, "unit price"]) == 'lines[0]["unit price"]'
    assert path_of([0, "name"]) == "[0].name"
    assert path_of(["a", "b", 3, 4]) == "a.b[3][4]"
    assert path_of(['say "hi"']) == '["say \\"hi\\""]'
    assert path_of(["9lives", "ok_1"]) == '["9lives"].ok_1'


def _nested(depth: int, leaf):
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_a_value_ten_thousand_deep_is_walked_without_recursion():
    value = _nested(10_000, "needle")
    [(path, leaf)] = leaves(value)
    assert leaf == "needle" and path.count("[0]") == path.count(".k") == 5_000
    assert path.startswith("[0].k[0].k")
    result = ground(value, "a needle in a haystack", {"type": "object"})
    check(result, value, "a needle in a haystack")
    assert result[path].status == "exact"


# --- not applicable and unverifiable ---------------------------------------------------------


def test_booleans_nulls_and_empty_strings_are_not_applicable():
    source = "True None null false  0"
    for value in (True, False, None, "", "   \n"):
        assert status(value, source) == "not_applicable"
    assert status(0, source) == "exact"


def test_values_under_a_skipped_top_level_key_are_not_applicable():
    value = {"steps": ["Paris is the capital", {"note": "Paris"}], "city": "Paris",
             "inner": {"steps": "Paris"}}
    result = ground(value, "I live in Paris.", skip=["steps"])
    check(result, value, "I live in Paris.")
    assert [r.status for r in result.values()] == ["not_applicable", "not_applicable",
                                                   "exact", "exact"]
    assert ground(value, "I live in Paris.", skip="steps")["steps[0]"].status == \
        "not_applicable"
    assert ground(value, "I live in Paris.")["steps[1].note"].status == "exact"
    for odd in (None, 5, [["steps"]], {"steps": 1}):
        result = ground(value, "I live in Paris.", skip=odd)  # type: ignore[arg-type]
        assert result["city"].status == "exact"


@pytest.mark.parametrize("mark", [
    {"x-computed": True},
    {"description": "Computed: the sum of the lines"},
    {"description": "  computed from qty and price"},
    {"description": "COMPUTED"},
])
def test_values_the_schema_marks_computed_are_not_applicable(mark):
    schema = {"type": "object", "properties": {"total": {"type": "number", **mark},
                                                "qty": {"type": "integer"}}}
    result = ground({"total": 12, "qty": 12}, "qty 12", schema)
    assert result["total"].status == "not_applicable"
    assert result["qty"].status == "exact"


def test_a_description_that_only_mentions_computing_marks_nothing():
    schema = {"properties": {"total": {"description": "The total, as computed by the shop"}}}
    assert ground({"total": 12}, "total 12", schema)["total"].status == "exact"
    schema = {"properties": {"total": {"x-computed": False}}}
    assert ground({"total": 12}, "total 12", schema)["total"].status == "exact"


def test_computed_is_found_through_refs_nullable_wrappers_and_items():
    schema = {
        "type": "object",
        "$defs": {"money": {"type": "number", "description": "Computed: qty times price"},
                  "line": {"type": "object", "properties": {
                      "total": {"anyOf": [{"$ref": "#/$defs/money"}, {"type": "null"}]},
                      "qty": {"type": "integer"}}}},
        "definitions": {"sums": {"type": "array", "items": {"type": "number",
                                                            "x-computed": True}}},
        "properties": {
            "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},
            "sums": {"$ref": "#/definitions/sums"},
            "derived": {"x-computed": True, "type": "object",
                        "properties": {"a": {"type": "number"}}},
            "pair": {"type": "array", "prefixItems": [{"type": "number"},
                                                      {"type": "number", "x-computed": True}]},
        },
    }
    value = {"lines": [{"total": 6, "qty": 6}], "sums": [6, 6], "derived": {"a": 6},
             "pair": [6, 6]}
    result = ground(value, "6", schema)
    assert {p: r.status for p, r in result.items()} == {
        "lines[0].total": "not_applicable", "lines[0].qty": "exact",
        "sums[0]": "not_applicable", "sums[1]": "not_applicable",
        "derived.a": "not_applicable", "pair[0]": "exact", "pair[1]": "not_applicable"}


def test_refs_are_json_pointers_with_escapes():
    schema = {"$defs": {"unit price": {"x-computed": True}, "a/b": {"x-computed": True},
                        "list": [{"enum": [7]}]},
              "properties": {"p": {"$ref": "#/$defs/unit%20price"},
                             "q": {"$ref": "#/$defs/a~1b"},
                             "r": {"$ref": "#/$defs/list/0"}}}
    result = ground({"p": 7, "q": 7, "r": 7, "s": 7}, "7", schema)
    assert [r.status for r in result.values()] == ["not_applicable"] * 3 + ["exact"]


def test_a_branch_of_anyof_counts_only_for_values_of_its_type():
    schema = {"properties": {"x": {"anyOf": [{"type": "string", "x-computed": True},
                                             {"type": "integer"}]}}}
    assert ground({"x": 5}, "x 5", schema)["x"].status == "exact"
    assert ground({"x": "5"}, "x 5", schema)["x"].status == "not_applicable"


def test_values_chosen_from_an_enum_or_a_const_are_not_applicable():
    schema = {"properties": {"currency": {"enum": ["USD", "EUR"]},
                             "kind": {"const": "invoice"},
                             "mood": {"anyOf": [{"enum": ["happy", "sad"]}, {"type": "null"}]},
                             "label": {"anyOf": [{"enum": ["other"]}, {"type": "string"}]}}}
    value = {"currency": "USD", "kind": "invoice", "mood": "happy", "label": "Acme"}
    result = ground(value, "USD invoice happy Acme", schema)
    # "Acme" is a string another branch admits, not one the enum lists: it is looked for
    assert [r.status for r in result.values()] == ["not_applicable"] * 3 + ["exact"]
    assert ground({"label": "other"}, "other", schema)["label"].status == "not_applicable"


def test_recursive_and_broken_schemas_mark_nothing_and_never_raise(caplog):
    schemas = [{"$ref": "#"}, {"properties": {"a": {"$ref": "#/properties/a"}}},
               {"properties": 5}, {"$ref": 7}, {"$ref": "#/nope/x"}, {"items": "x"},
               {"anyOf": "x"}, {"patternProperties": {"(": {"x-computed": True}}},
               {"$ref": "http://example.com/s.json"}, True, False, None, {"enum": 3}]
    value = {"a": [{"a": "word"}], "b": 2}
    with caplog.at_level(logging.WARNING, logger="structmagic.grounding"):
        for schema in schemas:
            result = ground(value, "a word 2", schema)
            check(result, value, "a word 2")
            assert [r.status for r in result.values()] == ["exact", "exact"], schema
    assert caplog.records == []


def test_pattern_and_additional_properties_reach_a_key():
    schema = {"patternProperties": {"^sum_": {"x-computed": True}},
              "additionalProperties": {"enum": ["a", "b"]}}
    result = ground({"sum_x": 3, "name": "a", "other": 3}, "a 3", schema)
    assert [r.status for r in result.values()] == ["not_applicable", "not_applicable",
                                                   "exact"]  # 3 is not in the enum


def test_without_source_text_every_other_value_is_unverifiable():
    value = {"a": "x", "b": 1, "c": None, "d": [True]}
    for source in (None, "", "  \n\t", Source("")):
        result = ground(value, source)
        check(result, value, source)
        assert [r.status for r in result.values()] == ["unverifiable", "unverifiable",
                                                       "not_applicable", "not_applicable"]


# --- exact -----------------------------------------------------------------------------------


def test_exact_strings_and_numbers_as_json_writes_them():
    source = "Invoice INV-7 for ACME Ltd: 3 items, 1234.5 total, 1e+21 atoms, 7 days"
    assert at(one("ACME Ltd", source)) == (source.index("ACME"), source.index(":"))
    for value, text in (("INV-7", "INV-7"), (3, "3"), (1234.5, "1234.5"), (1e21, "1e+21"),
                        (7.0, "7")):
        record = one(value, source)
        assert (record.status, record.text, record.score) == ("exact", text, 1.0), value
        assert record.value == value


def test_exact_in_chinese_with_emoji_and_offsets_in_python_characters():
    source = "😀😀 我住在北京市。🎉派对🎉 Zoë"
    for value in ("北京", "🎉", "派对", "Zoë", "我住在北京市"):
        record = one(value, source)
        assert record.status == "exact" and source[record.start:record.end] == value


def test_verbatim_beats_normalised_when_nothing_else_decides():
    record = one("Acme", "ACME then Acme")
    assert (record.status, record.start) == ("exact", 10)


# --- normalized ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "source", "expected"), [
    ("acme widgets LTD", "Sold by ACME Widgets Ltd.", "ACME Widgets Ltd"),
    ("New York", "in New\nYork", "New\nYork"),
    ("New York", "in New \u00a0 York", "New \u00a0 York"),
    ("New  York", "in New York", "New York"),
    ("José", "Jose\u0301 Álvarez", "Jose\u0301"),
    (unicodedata.normalize("NFD", "Álvarez"), "José Álvarez", "Álvarez"),
    ("finance", "ﬁnance dept", "ﬁnance"),
    ("INV-4821", "No. INV-４８２１", "INV-４８２１"),
    ("STRASSE", "Hauptstraße 5", None),  # inside a word: no match, folded or not
    ("straße", "STRASSE", "STRASSE"),
    ("北京 市", "北京\n市", "北京\n市"),
    ("北京市", "北京\n市", "北京\n市"),
])
def test_normalisation_that_cannot_change_meaning(value, source, expected):
    record = one(value, source)
    if expected is None:
        assert record.status == "ungrounded"
    else:
        assert (record.status, record.text) == ("normalized", expected)


def test_whitespace_must_sit_between_the_same_tokens():
    assert status("Acme, Inc.", "Acme ,Inc.") == "ungrounded"
    assert status("AcmeInc", "Acme Inc") == "ungrounded"


@pytest.mark.parametrize(("value", "source", "expected"), [
    (1234, "Total: $1,234.00", "1,234.00"),
    (1234.5, "Total 1,234.50 due", "1,234.50"),
    (1234.5, "Total 1'234.50 CHF", "1'234.50"),
    (1234567, "pop. 1\u2009234\u2009567", "1\u2009234\u2009567"),
    (1234, "EUR\u00a01\u00a0234", "1\u00a0234"),
    (1234, "USD 1234.000", "1234.000"),
    (5, "gain +5 points", "+5"),
    (-5, "loss −5 points", "−5"),
    (-12.5, "−12.50", "−12.50"),
    (1234, "合计１２３４元", "１２３４"),
    (3, "数量３件", "３"),
    (7, "chapter 07", "07"),
    (0.5, "0.50 L", "0.50"),
    (1e21, "1,000,000,000,000,000,000,000 atoms", "1,000,000,000,000,000,000,000"),
    ("$1,234.50", "paid 1234.5 in cash", "1234.5"),
    ("1,234.50 EUR", "EUR 1234.5", "1234.5"),
    ("12", "twelve: 12.00", "12.00"),
])
def test_numbers_normalised(value, source, expected):
    record = one(value, source)
    assert (record.status, record.text) == ("normalized", expected)


@pytest.mark.parametrize(("value", "source"), [
    ("€5", "cost $5"), ("$5", "5 EUR"), ("5 GBP", "€5"),
])
def test_a_string_naming_a_currency_is_not_grounded_by_another(value, source):
    assert status(value, source) == "ungrounded"


def test_a_string_naming_a_currency_is_grounded_by_the_same_or_none():
    assert status("$5", "cost US$ 5") == "normalized"
    assert status("€5", "cost 5 EUR") == "normalized"
    assert status("€5", "cost 5") == "normalized"


@pytest.mark.parametrize("written", [
    "5 March 2024", "March 5, 2024", "5 Mar 2024", "Mar. 5th, 2024", "5th of March 2024",
    "2024/03/05", "2024.3.5", "2024-3-5", "5-Mar-2024", "2024年3月5日", "２０２４年３月５日",
    "2024年03月05日", "2024 年 3 月 5 日", "2024년 3월 5일", "MARCH 5, 2024",
])
def test_an_iso_date_is_grounded_by_each_way_of_writing_it(written):
    source = f"Issued on {written}, paid later."
    record = one("2024-03-05", source)
    assert (record.status, record.text) == ("normalized", written)


@pytest.mark.parametrize(("written", "iso"), [
    ("25/03/2024", "2024-03-25"), ("03/25/2024", "2024-03-25"), ("25.03.2024", "2024-03-25"),
    ("05/05/2024", "2024-05-05"),
])
def test_numeric_dates_count_when_unambiguous(written, iso):
    assert status(iso, f"due {written}") == "normalized"


def test_ambiguous_numeric_dates_and_impossible_dates_do_not_count():
    assert status("2024-03-05", "due 03/05/2024") == "ungrounded"
    assert status("2024-05-03", "due 03/05/2024") == "ungrounded"
    assert status("2024-02-30", "due 30 February 2024") == "ungrounded"


def test_a_date_written_another_way_in_the_answer_finds_an_iso_date():
    for value in ("5 March 2024", "March 5, 2024", "2024年3月5日", "25/03/2024"):
        day = "2024-03-25" if value.startswith("25") else "2024-03-05"
        record = one(value, f"Issued {day}.")
        assert (record.status, record.text) == ("normalized", day)


def test_numbers_and_dates_are_never_fuzzy():
    assert status("15 June 2024", "on 15 July 2024") == "ungrounded"  # words close enough
    assert status(1234.5, "Total 1,284.50") == "ungrounded"
    assert status("1,234.50", "Total 1,284.50") == "ungrounded"
    assert status("2024-03-06", "on 5 March 2024") == "ungrounded"
    assert status("6 March 2024", "on 5 March 2024") == "ungrounded"
    assert status(2024, "on 5 March 2025") == "ungrounded"


# --- token boundaries ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "source"), [
    (500000, "population 5000000"), ("500000", "population 5000000"),
    ("Ann", "the Annual report"), ("nual", "the Annual report"),
    (12, "12.5 kg"), (12, "3.12 kg"), ("12", "12.5 kg"), ("12", "3.12"), (5, "1,5 and 5,0"),
    (1234, "A1234"), (1234, "INV1234"), ("lamp", "lamps"), (234, "1,234"), (1, "1.2.3"),
])
def test_a_match_never_starts_or_ends_inside_a_word_or_a_number(value, source):
    assert status(value, source) == "ungrounded"


@pytest.mark.parametrize(("value", "source", "expected"), [
    ("北京", "我住在北京市", "北京"),
    (3, "数量3件", "3"),
    ("🎉", "party🎉time", "🎉"),
    ("time", "party🎉time", "time"),
    (12, "12kg of flour", "12"),
    (5, "the 5th day", "5"),
    (3, "pages 3-5", "3"),
    (5, "pages 3-5", "5"),
    (1234, "INV-1234", "1234"),
    ("Ltd", "Acme Ltd.", "Ltd"),
    ("12", "12. Item", "12"),
])
def test_cjk_characters_emoji_and_punctuation_are_tokens_of_their_own(value, source, expected):
    record = one(value, source)
    assert record.found and record.text == expected


# --- fuzzy -----------------------------------------------------------------------------------

STORY = ("Intro.\nThe quick brown fox jumps over the lazy dog near the riverbank today.\n"
         "我们在北京大学的图书馆里学习了整整一个下午。 Other text follows here.")


@pytest.mark.parametrize("value", [
    "The quick brown fox jumped over the lazy dog near the river bank",
    "The quikc brown fox jumps over teh lazy dog",
    "我们在北京大学图书馆里学习了一个下午",
])
def test_a_close_string_is_fuzzy_on_token_boundaries(value):
    record = one(value, STORY)
    assert record.status == "fuzzy"
    assert align.FUZZY_THRESHOLD <= record.score < 1.0
    tokens = align.normal.tokenize(STORY)
    assert record.start in tokens.starts and record.end in tokens.ends


def test_similarity_counts_the_letters_of_shared_and_misspelt_words():
    similarity = align.similarity
    assert similarity(["quick", "brown", "fox"], ["quick", "brown", "fox"]) == 1.0
    assert similarity(["quick", "brwn", "fox"], ["quick", "brown", "fox"]) == 24 / 25
    assert similarity(["a", "b"], ["c", "d"]) == 0.0
    assert similarity([], []) == 1.0
    assert similarity(["北", "京"], ["北", "京", "市"]) == 4 / 5


def test_fuzzy_needs_three_words_or_eight_cjk_characters():
    assert status("quick brwn", STORY) == "ungrounded"
    assert status("quick brwn fox", STORY) == "fuzzy"
    assert status("北京大学图书", "我们在北京大学的图书馆里") == "ungrounded"  # 6 characters
    assert status("在北京大学图书馆里", "我们在北京大学的图书馆里") == "fuzzy"  # 9


def test_fuzzy_stops_below_the_threshold():
    record = one("The slow red cat walks under a busy bridge", STORY)
    assert record.status == "ungrounded"


def test_fuzzy_keeps_every_token_with_a_digit():
    source = "Please pay within thirty days of the invoice date, thank you."
    assert status("Please pay within thirty dayz of the invoice date", source) == "fuzzy"
    assert status("Please pay within 30 days of the invoice date", source) == "ungrounded"
    source = "Room 12 is on the third floor of the east wing."
    assert status("Room 13 is on the third floor of the east wing", source) == "ungrounded"


def test_fuzzy_looks_only_around_rare_shared_tokens_or_pairs():
    # every word of the value, and every pair, is in the source thousands of times: no place
    # to start from
    source = " ".join(["the cat sat on the mat"] * 2000) + " the dog sat on the mat"
    assert status("the cat sat on the log", source) == "ungrounded"
    # nor for a rare pair of common words
    source = " ".join(["the cat sat on the mat."] * 2000) + " on the cat the mat sat."
    record = one("on the cat the mat sot", source)
    assert (record.status, record.text) == ("fuzzy", "on the cat the mat sat")
    # one rare word is enough to find the place
    source = " ".join(["the cat sat on the mat"] * 2000) + " the zebra sat on the mat"
    record = one("the zebra sat on the rug", source)
    assert record.status == "fuzzy" and record.text.startswith("the zebra")


# --- several occurrences ---------------------------------------------------------------------

RECEIPT = ("Shop receipt, 2 items\n"
           "2 x Widget   @ 3.00\n"
           "2 x Gadget   @ 5.00\n"
           "Total 16.00\n")


def test_a_lines_quantity_is_the_one_on_its_own_line():
    value = {"items": 2, "lines": [{"qty": 2, "name": "Widget", "price": 3},
                                   {"qty": 2, "name": "Gadget", "price": 5}]}
    result = ground(value, RECEIPT)
    check(result, value, RECEIPT)
    line1, line2 = RECEIPT.index("2 x Widget"), RECEIPT.index("2 x Gadget")
    assert result["lines[0].qty"].start == line1
    assert result["lines[1].qty"].start == line2  # not the 2 just after "Widget ... 3.00\n"
    assert result["items"].start == RECEIPT.index("2 items")


def test_a_value_in_the_header_and_next_to_its_siblings_takes_the_second():
    source = ("ACME Corp — statement\n\nSeller: ACME Corp, 12 Main St, VAT 998877\n"
              "Buyer: Zeta Ltd, 4 High Rd, VAT 112233\n")
    value = {"seller": {"name": "ACME Corp", "vat": "998877"},
             "buyer": {"name": "Zeta Ltd", "vat": "112233"}}
    result = ground(value, source)
    check(result, value, source)
    assert result["seller.name"].start == source.index("ACME Corp,")
    # alone, the first occurrence
    assert one("ACME Corp", source).start == 0


def test_siblings_without_a_place_take_the_first_occurrence_then_the_nearest_other():
    source = "x: 7\ny: 7\nz: 7\n"
    result = ground({"a": 7, "b": 7}, source)
    assert (result["a"].start, result["b"].start) == (3, 8)  # not the text a was placed on


def test_a_normalised_occurrence_next_to_the_siblings_beats_a_verbatim_one_far_away():
    source = "Header says 2.\n\nLine: Gadget qty 2.0 each\n"
    result = ground({"name": "Gadget", "qty": 2}, source)
    assert (result["qty"].status, result["qty"].text) == ("normalized", "2.0")


def test_a_date_or_an_amount_is_placed_next_to_its_siblings_too():
    source = ("Printed 5 March 2024, total $12.50\n\nService: hair cut\nDate: 2024-03-05\n"
              "Price: 12.5 USD\n")
    value = {"lines": [{"service": "hair cut", "date": "5 March 2024", "price": "$12.50"}]}
    result = ground(value, source)
    assert result["lines[0].date"].text == "2024-03-05"
    assert result["lines[0].price"].text == "12.5"


def test_an_array_of_scalars_places_items_next_to_each_other():
    source = "tags: red, blue\n... much later ...\ncolours: red, green, blue\n"
    result = ground({"colours": ["red", "green", "blue"]}, source)
    second = source.index("colours")
    assert all(r.start > second for r in result.values())


# --- sources with pages ----------------------------------------------------------------------


def test_pages_of_a_paged_source():
    text = "page one text\fpage two has Widget\fpage three: Widget again"
    pages = (0, text.index("page two"), text.index("page three"))
    source = Source(text, pages=pages, numbers=(1, 1, 2), names=("a.pdf", "b.pdf", "b.pdf"))
    value = {"first": "one", "w": "Widget", "three": "three"}
    result = ground(value, source)
    check(result, value, source)
    # the second Widget: on the line (the page) of its sibling "three"
    assert [r.page for r in result.values()] == [1, 2, 2]
    assert source.name_of(result["w"].start) == "b.pdf"
    assert ground({"first": "one", "w": "Widget"}, source)["w"].page == 1
    assert one("one", Source("page one")).page is None


# --- never raising ---------------------------------------------------------------------------

ODD_SOURCES = [
    "", "\x00", "\x00abc\x00", "\ud800 lone \udfff surrogates \ud83d", "a" * 1_000_000,
    "1" * 1_000_000, "1," * 200_000, " " * 300_000 + "x", "x" + " " * 300_000, "。" * 200_000,
    "\u0301" * 1000 + "e", "🎉" * 1000, "12.34.56.78.90" * 1000, "\u200b" * 1000,
]
ODD_VALUES = [
    {"s": "\ud800", "n": 10**5000, "m": -(10**30), "f": 1e308, "z": -0.0, "t": 5e-324,
     "nan": float("nan"), "inf": float("inf"), "e": "\x00", "u": "\u0301", "w": " a ",
     "k": [[], {}, [[[]]]], "big": "a" * 10_000, "words": "one two three four " * 500,
     "long": " ".join(f"w{i}" for i in range(50_000)),
     "set": {1, 2}, "bytes": b"abc", "obj": object(), "tuple": (1, "a")},
    "1" * 5000, 10**4000, [["a"] * 1000], "a",
]


@pytest.mark.parametrize("source", ODD_SOURCES, ids=range(len(ODD_SOURCES)))
def test_never_raises_on_odd_sources_and_values(source, caplog):
    with caplog.at_level(logging.WARNING, logger="structmagic.grounding"):
        for value in ODD_VALUES:
            result = ground(value, source)
            assert list(result) == [path for path, _ in leaves(value)]
            for record in result.values():
                if record.found:
                    assert source[record.start:record.end] == record.text
    assert caplog.records == []  # and no lookup failed and was caught


def test_values_that_are_not_json_are_ungrounded():
    value = {"nan": float("nan"), "inf": -math.inf, "set": {1}, "huge": 10**5000}
    result = ground(value, "nan inf NaN Infinity {1} " + "1" * 100)
    assert [r.status for r in result.values()] == ["ungrounded"] * 4


def test_a_container_holding_itself_is_walked_once():
    value: list = ["a"]
    value.append(value)
    result = ground(value, "a")
    assert [(p, r.status) for p, r in result.items()] == [("[0]", "exact"),
                                                          ("[1]", "ungrounded")]


# --- properties ------------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
_WORDS = st.sampled_from(["Acme", "acme", "ACME", "北京", "1,234.50", "1234.5", "2024-03-05",
                          "5 March 2024", "José", "Jose\u0301", "🎉", "12", "12.5", "-3",
                          "qty", "the", " ", "\n", "\u00a0", "２", ".", ",", "$"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
                     st.floats(allow_nan=False, allow_infinity=False), _TEXT,
                     st.lists(_WORDS, max_size=6).map(" ".join))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(_TEXT, inner, max_size=5)), max_leaves=25)
_SOURCES = st.one_of(_TEXT, st.lists(st.one_of(_WORDS, _TEXT), max_size=30).map("".join),
                     st.lists(_WORDS, max_size=40).map(" ".join))


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(_VALUES, _SOURCES)
def test_every_leaf_has_a_record_and_offsets_give_the_text(value, source):
    for src in (source, Source(source), Source(source, pages=(0, len(source) // 2))):
        check(ground(value, src, SCHEMA), value, src)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SCALARS, min_size=1, max_size=8), st.lists(_TEXT, max_size=8))
def test_values_written_into_the_source_are_found(values, filler):
    """A string or a number written into the source between spaces is always found."""
    pieces = []
    for i, value in enumerate(values):
        written = value if isinstance(value, str) else json.dumps(value)
        pieces += [filler[i] if i < len(filler) else "", written]
    source = " ".join(pieces)
    result = ground(values, source)
    check(result, values, source)
    for (path, value), record in zip(leaves(values), result.values(), strict=True):
        if value is None or isinstance(value, bool):
            assert record.status == "not_applicable"
        elif isinstance(value, str) and not align.normal.tokenize(value).norms:
            assert record.status in ("not_applicable", "ungrounded"), path
        else:
            assert record.status in ("exact", "normalized"), (path, value, source)


# --- the corpus ------------------------------------------------------------------------------


def _rates(cases: list[Case]) -> dict[str, float]:
    counts: dict[str, int] = {}

    def add(name: str, yes: bool = True) -> None:
        counts[name] = counts.get(name, 0) + (1 if yes else 0)

    for case in cases:
        result = ground(case.answer, case.text, SCHEMA)
        check(result, case.answer, case.text)
        for fact in case.facts:
            record = result[fact.path]
            add(fact.kind)
            add(f"{fact.kind} {record.status}")
            if record.found and fact.span is not None:
                add(f"{fact.kind} placed")
                add(f"{fact.kind} placed right", (record.start, record.end) == fact.span)
            if record.status == "exact":  # honest: the source says it letter for letter
                verbatim = fact.value if isinstance(fact.value, str) else \
                    align.normal.number_text(fact.value)
                assert record.text == verbatim, fact
    return {name: n / counts[name.split()[0]] for name, n in counts.items()}


def test_the_corpus_is_deterministic():
    assert make_case(7).text == make_case(7).text and make_case(7).answer == make_case(7).answer
    assert corpus(3, seed=1)[2].facts == corpus(3, seed=1)[2].facts
    assert make_case(7).text != make_case(8).text


def test_the_corpus_has_each_kind_in_each_language():
    cases = corpus(60, seed=4)
    for lang in ("en", "zh"):
        kinds = {f.kind for c in cases if c.lang == lang for f in c.facts}
        assert kinds == {"verbatim", "reformatted", "planted"}, lang
    text = "".join(c.text for c in cases)
    assert "\u0301" in text and "１" in text and "年" in text
    assert any(emoji in text for emoji in "🎉📦✅🚚🙏⭐")


def test_corpus_rates():
    rates = _rates(corpus(240, seed=11))
    assert rates["verbatim exact"] >= 0.99, rates
    assert rates.get("reformatted normalized", 0) + rates.get("reformatted exact", 0) >= 0.90
    assert rates.get("reformatted normalized", 0) >= 0.90, rates
    assert rates["planted ungrounded"] >= 0.98, rates
    # placed where the document says it: a value whose siblings are all planted has nothing
    # to anchor on, and takes its first occurrence
    assert rates["verbatim placed right"] / rates["verbatim placed"] >= 0.98, rates
    assert rates["reformatted placed right"] / rates["reformatted placed"] >= 0.98, rates


def test_corpus_rates_with_many_documents_as_one_source():
    """Many documents in one source: the planted values may now be in other documents, but
    the verbatim and reformatted ones are still placed in their own."""
    from ground_corpus import combine

    text, answer, facts = combine(corpus(120, seed=5))
    result = ground(answer, text, SCHEMA)
    check(result, answer, text)
    placed = [(result[f.path].start, result[f.path].end) == f.span for f in facts
              if f.span is not None and result[f.path].found]
    assert len(placed) > 1000 and sum(placed) / len(placed) >= 0.97


# --- work, counted -----------------------------------------------------------------------------


def _python_lines(value, source) -> int:
    """The Python lines of the aligner run to ground ``value`` in ``source``."""
    files = {align.__file__, align.normal.__file__}
    lines = [0]

    def tracer(frame, event, arg):
        if frame.f_code.co_filename not in files:
            return None
        if event == "line":
            lines[0] += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        ground(value, source, SCHEMA)
    finally:
        sys.settrace(previous)
    return lines[0]


def test_work_grows_linearly_with_the_source_and_with_the_values():
    from ground_corpus import combine

    cases = corpus(80, seed=9)
    small, answer, _ = combine(cases[:40])
    big, _, _ = combine(cases)
    few = {"docs": answer["docs"][:10]}
    many = {"docs": answer["docs"][:40]}
    base = _python_lines(few, small)
    assert _python_lines(few, big) <= 2.3 * base  # twice the source
    assert _python_lines(many, small) <= 4.6 * base  # four times the values


# --- the package -------------------------------------------------------------------------------


def test_the_package_exports():
    assert set(ground_package.__all__) == {"FOUND", "NOT_TEXT", "NO_TEXT", "STATUSES",
                                           "Grounding", "Source", "ground", "leaves",
                                           "path_of"}


def test_importing_grounding_loads_only_the_standard_library():
    code = ("import sys, json; before = set(sys.modules); import structmagic.grounding; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    new = json.loads(out.stdout)
    outside = [m for m in new if m.split(".")[0] not in sys.stdlib_module_names
               and m.split(".")[0] != "structmagic"]
    assert outside == []
    assert {m for m in new if m.startswith("structmagic")} <= {
        "structmagic", "structmagic.grounding", "structmagic.grounding.align",
        "structmagic.grounding.normal", "structmagic.grounding.paths",
        "structmagic.grounding.record"}


def test_a_long_source_is_scanned_once_for_many_rows(monkeypatch):
    """The rows of a batch over one document share its scan; short sources are not kept,
    and what is kept is bounded in characters, oldest out first."""
    from structmagic.grounding import normal
    from structmagic.grounding.align import Scans

    kept = Scans(least=100, most=1000)
    monkeypatch.setattr(align, "scans", kept)
    long = "Acme Tools GmbH sold 3 drills on 5 March 2024. " * 10
    other = "Bright Paper Co. " * 40  # 680 characters: with the first, over the 1000 kept
    calls = []
    tokenize = normal.tokenize

    def counted(text, *more):  # a scan of a source (values are cut into tokens too)
        if text in (long, other, "Acme, short"):
            calls.append(text)
        return tokenize(text, *more)

    monkeypatch.setattr(normal, "tokenize", counted)
    first = ground({"vendor": "Acme Tools GmbH", "n": 3}, long)
    again = ground({"vendor": "Acme Tools GmbH", "n": 3, "d": "2024-03-05"}, long)
    assert len(calls) == 1  # scanned once
    assert again["vendor"] == first["vendor"] and again["d"].status == "normalized"
    ground({"vendor": "Acme"}, "Acme, short")
    ground({"vendor": "Acme"}, "Acme, short")
    assert len(calls) == 3  # a short source each time
    ground({"vendor": "Bright Paper Co."}, other)
    ground({"vendor": "Acme Tools GmbH"}, long)
    assert len(calls) == 5  # the first was let go to keep the second
    ground({"vendor": "Bright Paper Co."}, other)
    assert len(calls) == 6  # ... and that one in turn
