"""The drill report: ``summary.json`` and ``report.html`` with plots (matplotlib, Agg)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # no display here, and never one in a server process

import matplotlib.pyplot as plt

__all__ = ["write_report"]


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _alerts_plot(d: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(7, 2.6))
    for status, colour in (("issued", "tab:red"), ("draft", "tab:gray")):
        shown = [a for a in d["alerts"] if a["status"] == status]
        if shown:
            ax.scatter([a["issued_s"] / 60 for a in shown], [a["level"] for a in shown],
                       color=colour, label=status)  # fmt: skip
    if d["alerts"]:
        ax.legend(fontsize=7)
    ax.set(xlabel="minutes from start", ylabel="alert level", title="alerts (issued, drafted)",
           ylim=(0, 5.5))  # fmt: skip
    return _png(fig)


def _timeline_plot(d: dict[str, Any]) -> str:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    caps = d["shelters"]["capacity"]
    for sid in caps:
        xs = [s["at_s"] / 60 for s in d["shelters"]["timeline"]]
        ys = [s["occupancy"].get(sid, 0) for s in d["shelters"]["timeline"]]
        if any(ys):
            top.plot(xs, ys, label=sid)
    top.set(ylabel="occupancy", title="shelter occupancy")
    if top.get_legend_handles_labels()[0]:
        top.legend(fontsize=6)
    xs = [s["at_s"] / 60 for s in d["vulnerable_unanswered"]]
    bottom.step(xs, [s["count"] for s in d["vulnerable_unanswered"]], label="vulnerable unanswered")
    bottom.step(xs, [s["active"] for s in d["closures"]["timeline"]], label="closures in force")
    bottom.set(xlabel="minutes from start")
    bottom.legend(fontsize=7)
    return _png(fig)


def _routes_plot(d: dict[str, Any]) -> str:
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 2.8))
    routes = [r for r in d["routes"]["all"] if r["distance_m"] is not None]
    profiles = sorted({r["profile"] for r in routes}) or ["walk"]
    left.boxplot([[r["distance_m"] for r in routes if r["profile"] == p] or [0] for p in profiles])
    right.boxplot([[r["minutes"] for r in routes if r["profile"] == p] or [0] for p in profiles])
    for ax, what in ((left, "distance m"), (right, "minutes")):
        ax.set_xticks(range(1, len(profiles) + 1), profiles)
        ax.set(title=f"route {what} per profile")
    return _png(fig)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(summary: dict[str, Any], plots: dict[str, str]) -> str:
    d = summary["decisions"]
    verdict = "PASSED" if summary["passed"] else "FAILED"
    images = "".join(f'<h2>{html.escape(k)}</h2><img alt="{html.escape(k)}" '
                     f'src="data:image/png;base64,{v}">' for k, v in plots.items())  # fmt: skip
    alerts = [{**a, **{f"deliv {k}": v for k, v in a["trigger_to_delivered_s"].items()}}
              for a in d["alerts"]]  # fmt: skip
    return f"""<!doctype html><html lang="ja"><head><meta charset="utf-8">
<title>訓練 drill report: {html.escape(d["scenario"])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:auto}}td,th{{border:1px solid #ccc;
padding:2px 6px;font-size:12px}}table{{border-collapse:collapse}}</style></head><body>
<h1>【訓練】 {html.escape(d["scenario"])} — {verdict}</h1>
<p>run {html.escape(summary["run_id"])} · {html.escape(summary["measured"]["mode"])} ·
{summary["measured"]["wall_s"]} s of real time</p>
<h2>expected outcomes</h2>{_table(summary["outcomes"], ["kind", "note", "passed", "found"])}
<h2>alerts (scenario seconds)</h2>{
        _table(
            alerts,
            [
                "n",
                "level",
                "status",
                "hazard",
                "area",
                "event",
                "trigger_s",
                "issued_s",
                "trigger_to_issued_s",
                "deliv p50",
                "deliv p90",
                "deliv p99",
                "targeted",
                "reached",
            ],
        )
    }
<h2>residents</h2><pre>{html.escape(json.dumps(d["residents"], ensure_ascii=False, indent=1))}</pre>
<h2>shelter overflows</h2>{
        _table(d["shelters"]["overflows"], ["at_s", "shelter", "occupancy", "capacity"])
    }
<p>reroutes: {d["routes"]["reroutes"]}; closures in force at most: {d["closures"]["max_active"]};
DLQ: {html.escape(json.dumps(d["dlq"]))}</p>{images}</body></html>"""


def write_report(summary: dict[str, Any], out_dir: Path) -> Path:
    """Write ``summary.json`` and ``report.html`` into ``out_dir``; return the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    d = summary["decisions"]
    plots = {"alerts": _alerts_plot(d), "shelters, closures, answers": _timeline_plot(d),
             "routes": _routes_plot(d)}  # fmt: skip
    page = out_dir / "report.html"
    page.write_text(_html(summary, plots), encoding="utf-8")
    return page
