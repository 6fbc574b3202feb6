"""How well each model did, where people would rather look than read: :class:`ScoresView`.

What ``--each … --expect`` (and ``--compare``) shows after its rows: the models' summary
and their scores against the labels, each a formatted table with a caption (shares as
percentages, times in seconds, money as money; a column that is empty for every model is
left out; the best model of each field and measure marked ★), and the headline score of
each field as grouped bars, one bar per model (:func:`chart_png`, drawn with matplotlib when
it is installed, as pandas' ``.plot`` does; without it, a line saying what to install). The
chart is a PNG embedded as a ``data:`` URI, so an exported page keeps it and makes no
request. Every name (fields, models) is escaped into our own template; the ``text/plain``
form is the same tables as aligned text, deterministic (nbval compares it).

With ``--expect corrections``, a ``note`` first says how many rows were scored against the
corrections file, and which reviewed rows were not used, and why.

The scores themselves stay plain DataFrames (``frame.attrs["scores"]``, ``.summary``):
this is only their display.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

from ..cost.calc import money
from .markup import (
    BG_SOFT,
    BLOCK,
    BORDER,
    FG,
    FG_MUTED,
    NO_MATH,
    TEXT_STYLE,
    edge,
    esc,
    humanize,
)

__all__ = ["MEASURES", "ScoresView", "chart_png", "headline", "score_rows"]

#: the measures of a score table, in the order shown, with the word shown for each
MEASURES = {"accuracy": "accuracy", "normalised": "normalised match",
            "within_tol": "within tolerance", "precision": "precision", "recall": "recall"}
#: the measure a field's bar shows, by the field's kind (others: accuracy)
HEADLINE = {"text": "normalised", "number": "within_tol", "set": "recall"}
#: what to install for the chart
CHART_HINT = 'pip install matplotlib (or "structmagic[plot]") to see these scores as a chart.'
BEST = "★"


def _number(value: Any) -> float | None:
    """A finite float, or None for a gap (None, NaN, pandas' NA)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _per_model(scores: Any) -> dict[str, list[dict[str, Any]]]:
    """Each model's rows of a score table (one table, or a ``(model, field)``-indexed one),
    as records with their ``field``."""
    frame = scores.reset_index()
    if "model" not in frame.columns:
        frame.insert(0, "model", "")
    out: dict[str, list[dict[str, Any]]] = {}
    for record in frame.to_dict("records"):
        out.setdefault(str(record.pop("model")), []).append(record)
    return out


def headline(kind: Any) -> str:
    """The measure that stands for a field of this kind in the chart."""
    return HEADLINE.get(str(kind), "accuracy")


def score_rows(scores: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The models, and one row per field and measure that any model has a value for:
    ``{"field", "measure", "n", "values": {model: share or None}, "best": {models}}``."""
    models = _per_model(scores)
    fields: dict[str, dict[str, Any]] = {}
    for model, records in models.items():
        for record in records:
            entry = fields.setdefault(str(record["field"]), {"kind": record.get("kind"),
                                                             "n": record.get("n"), "by": {}})
            entry["by"][model] = record
    rows = []
    for name, entry in fields.items():
        for measure in MEASURES:
            values = {m: _number(entry["by"].get(m, {}).get(measure)) for m in models}
            known = [v for v in values.values() if v is not None]
            if not known:
                continue  # empty for every model: left out
            top = max(known)
            best = {m for m, v in values.items() if v == top} if len(models) > 1 else set()
            rows.append({"field": name, "kind": entry["kind"], "measure": measure,
                         "n": entry["n"], "values": values, "best": best})
    return list(models), rows


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}" if value in (0.0, 1.0) else f"{value:.1%}"


def _summary_rows(summary: Any) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The summary's columns that have a value, formatted, and a row per model."""
    formats = {"valid": ("valid answers", _percent),
               "mean_latency_s": ("mean latency", lambda v: "—" if v is None else f"{v:.2f} s"),
               "tokens": ("tokens", lambda v: "—" if v is None else f"{round(v):,}"),
               "cost": ("cost", lambda v: "—" if v is None else money(v))}
    records = summary.reset_index().to_dict("records")
    columns = [c for c in formats if any(_number(r.get(c)) is not None for r in records)]
    rows = [(str(r.get("model", "")), [formats[c][1](_number(r.get(c))) for c in columns])
            for r in records]
    return [formats[c][0] for c in columns], rows


def chart_png(models: list[str], rows: list[dict[str, Any]]) -> bytes | None:
    """Grouped bars: for each field its headline measure (:func:`headline`), a bar per
    model, as a PNG; None without matplotlib or without a score to draw."""
    bars = [r for r in rows if r["measure"] == headline(r["kind"])]
    if not bars:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    figure = Figure(figsize=(min(2 + 1.1 * len(bars) * max(len(models), 1) ** 0.5, 10), 3.2),
                    dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        heights = [(r["values"].get(model) or 0.0) * 100 for r in bars]
        where = [i - 0.4 + width * (k + 0.5) for i in range(len(bars))]
        drawn = axes.bar(where, heights, width * 0.92, label=model or "answers")
        axes.bar_label(drawn, labels=[_percent(r["values"].get(model)) for r in bars],
                       fontsize=7, padding=1)
    axes.set_xticks(range(len(bars)),
                    [f"{humanize(r['field'])}\n({MEASURES[r['measure']]})" for r in bars],
                    fontsize=8)
    axes.set_ylim(0, 112)
    axes.set_ylabel("% right")
    axes.spines[["top", "right"]].set_visible(False)
    if len(models) > 1:
        axes.legend(fontsize=8, frameon=False, loc="upper center", ncols=len(models),
                    bbox_to_anchor=(0.5, 1.18))
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


class ScoresView:
    """The display of a run's scores (``scores``: a score table, or one indexed by model and
    field) and its per-model ``summary`` (optional): captioned tables, and a chart."""

    def __init__(self, scores: Any = None, summary: Any = None, *, title: str = "",
                 note: str = "") -> None:
        self.scores = scores
        self.summary = summary
        self.title = title
        self.note = note
        self.models, self.rows = score_rows(scores) if scores is not None else ([], [])

    def __repr__(self) -> str:
        return f"<ScoresView: {len(self.models)} models, {len(self.rows)} scores>"

    # --- the parts ---------------------------------------------------------------------------

    def caption(self) -> str:
        labelled = max((int(n) for r in self.rows if (n := _number(r["n"])) is not None),
                       default=0)
        best = f"; the best model of each is marked {BEST}" if len(self.models) > 1 else ""
        return (f"Scores against the labels ({labelled} labelled rows at most), per field and "
                f"measure{best}")

    def summary_caption(self) -> str:
        return "Each model's answers: the share that were valid, their mean latency, tokens "\
               "and cost"

    def _cell(self, row: dict[str, Any], model: str) -> str:
        value = row["values"].get(model)
        return _percent(value) + (f" {BEST}" if model in row["best"] else "")

    # --- text --------------------------------------------------------------------------------

    def _text(self) -> str:
        parts = [self.note] if self.note else []
        if self.summary is not None:
            heads, rows = _summary_rows(self.summary)
            parts.append(self.summary_caption() + ":\n" + _aligned(
                ["model", *heads], [[m or "answers", *cells] for m, cells in rows]))
        if self.scores is not None:
            names = [m or "answers" for m in self.models]
            body = [[humanize(r["field"]), MEASURES[r["measure"]],
                     "" if _number(r["n"]) is None else str(int(r["n"])),
                     *(self._cell(r, m) for m in self.models)] for r in self.rows]
            parts.append(self.caption() + ":\n" + _aligned(["field", "measure", "n", *names],
                                                            body, names=2))
        return "\n\n".join(parts)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())

    # --- HTML --------------------------------------------------------------------------------

    def chart_html(self) -> str:
        """The chart as an ``<img>`` of a ``data:`` URI; without matplotlib, the line saying
        what to install; ``""`` when there is nothing to draw."""
        if not any(r["measure"] == headline(r["kind"]) for r in self.rows):
            return ""
        png = chart_png(self.models, self.rows)
        if png is None:
            return f'<div style="color:{FG_MUTED};margin:0.3em 0">{esc(CHART_HINT)}</div>'
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        alt = "Scores per field and model, as bars"
        return (f'<figure class="structmagic-chart" style="margin:0.4em 0">'
                f'<img src="{uri}" alt="{alt}" style="max-width:100%;height:auto;'
                f'background:#ffffff;border-radius:3px;padding:4px">'
                f'<figcaption style="color:{FG_MUTED}">{esc(alt)}</figcaption></figure>')

    def _repr_html_(self) -> str:
        parts = []
        if self.summary is not None:
            heads, rows = _summary_rows(self.summary)
            parts.append(_table_html(self.summary_caption(), ["model", *heads],
                                     [([m or "answers"], cells, set()) for m, cells in rows]))
        if self.scores is not None:
            names = [m or "answers" for m in self.models]
            body = [([humanize(r["field"]), MEASURES[r["measure"]],
                      "" if _number(r["n"]) is None else str(int(r["n"]))],
                     [self._cell(r, m) for m in self.models],
                     {i for i, m in enumerate(self.models) if m in r["best"]})
                    for r in self.rows]
            parts.append(self.chart_html())
            parts.append(_table_html(self.caption(), ["field", "measure", "n", *names], body))
        title = (f'<div style="font-weight:600">{esc(self.title)}</div>' if self.title else "")
        note = (f'<div class="structmagic-scores-note" style="color:{FG_MUTED}">'
                f"{esc(self.note)}</div>" if self.note else "")
        return (f'<div class="structmagic-scores {NO_MATH}" style="{BLOCK}color:{FG}">{title}'
                f'{note}{"".join(parts)}</div>')


def _aligned(head: list[str], rows: list[list[str]], names: int = 1) -> str:
    """Rows of text under a header, in aligned columns: the first ``names`` to the left,
    the figures to the right."""
    table = [head, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = []
    for r in table:
        cells = [c.ljust(w) if i < names else c.rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _table_html(caption: str, head: list[str],
                rows: list[tuple[list[str], list[str], set[int]]]) -> str:
    """A captioned table: the row's names (left), then its figures (right), the marked
    figures (``best``) in bold on a highlight."""
    cell = f"padding:0.2em 0.6em;{edge('border-bottom', '1px solid', BORDER)}{TEXT_STYLE}"
    names = len(rows[0][0]) if rows else 1
    ths = "".join(
        f'<th scope="col" style="{cell}text-align:{"left" if i < names else "right"};'
        f'color:{FG_MUTED}">{esc(h)}</th>' for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f'<th scope="row" style="{cell}text-align:left;font-weight:'
                         f'{600 if i == 0 else 400}">{esc(n)}</th>'
                         for i, n in enumerate(left))
        + "".join(f'<td style="{cell}text-align:right'
                  + (f';font-weight:700;background:{BG_SOFT}' if k in best
                     else "") + f'">{esc(v)}</td>' for k, v in enumerate(figures))
        + "</tr>" for left, figures, best in rows)
    return (f'<table style="border-collapse:collapse;margin:0.4em 0;color:{FG}">'
            f'<caption style="caption-side:top;text-align:left;color:{FG};font-weight:600;'
            f'padding:0.2em 0">{esc(caption)}</caption><thead><tr>{ths}</tr></thead>'
            f"<tbody>{body}</tbody></table>")
