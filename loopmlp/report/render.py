"""Rendering a :class:`~loopmlp.report.model.Report` as HTML and as Markdown (the same content).

The HTML is one self-contained file: CSS inline, pictures as ``data:`` URIs, no scripts, no
external reference of any kind, so it opens from disk and survives being mailed or archived.
The Markdown refers to the pictures as PNG files written next to it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

from verify.result import Result, Verdict, combine

from .model import (
    LAYERS_PNG,
    TIMES_PNG,
    TRACE_PNG,
    GadgetView,
    NetworkView,
    Picture,
    Report,
    TraceView,
    coverage,
    finding,
    replay_command,
)

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 1.5em 2em 4em; color: #1d2329; background: #fff; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #dde2e6; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #5f6b76; margin-top: 0; }
.counts { display: flex; gap: 1em; margin: 1em 0; flex-wrap: wrap; }
.count { border-radius: 6px; padding: 0.6em 1.2em; min-width: 7em; border: 1px solid; }
.count .n { display: block; font-size: 2em; font-weight: 600; }
.proved { color: #1b5e20; background: #e8f5e9; border-color: #a5d6a7; }
.refuted { color: #b71c1c; background: #ffebee; border-color: #ef9a9a; }
.unknown { color: #8a5a00; background: #fff8e1; border-color: #ffe082; }
.total { color: #263238; background: #eceff1; border-color: #b0bec5; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 13.5px; }
th, td { border: 1px solid #dde2e6; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f4f6f8; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.verdict { font-weight: 600; white-space: nowrap; }
td.verdict.proved, td.verdict.refuted, td.verdict.unknown { border-color: #dde2e6; }
code, pre { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code.cmd { display: block; margin-top: 0.3em; padding: 0.3em 0.5em; background: #f4f6f8;
           border: 1px solid #dde2e6; border-radius: 4px; white-space: pre-wrap;
           user-select: all; }
pre { background: #f7f8fa; border: 1px solid #e3e7ea; padding: 0.6em 0.8em; overflow-x: auto; }
.more { color: #5f6b76; font-style: italic; }
.note { background: #fff8e1; border-left: 4px solid #ffca28; padding: 0.5em 1em;
        margin: 0.6em 0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #e3e7ea; }
figcaption { color: #5f6b76; font-size: 13.5px; margin-top: 0.3em; }
details { margin: 0.4em 0; }
summary { cursor: pointer; font-weight: 600; }
nav.contents { margin: 0.4em 0 0; }
nav.contents a { color: #1565c0; text-decoration: none; }
footer { margin-top: 3em; color: #5f6b76; font-size: 13px; }
"""

SHOWN_UNITS_NOTE = "first units of each layer shown"


def _seconds(s: float) -> str:
    return f"{s:.2f}"


def _overall(rep: Report) -> str:
    return combine(rep.results).name if rep.results else "NOTHING CHECKED"


# --------------------------------------------------------------------------- HTML
def _h(text: object) -> str:
    return escape(str(text), quote=True)


def _img(pic: Picture) -> str:
    data = base64.b64encode(pic.png).decode("ascii")
    return (f'<figure><img alt="{_h(pic.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_h(pic.caption)}</figcaption></figure>")


def _html_result_row(i: int, r: Result) -> str:
    v = r.verdict.label
    cell = ""
    command = replay_command(r)
    if command is not None:
        cell = f"{_h(finding(r))}<code class=\"cmd\">{_h(command)}</code>"
    elif r.verdict is not Verdict.PROVED:
        cell = _h(r.reason)
    return (f'<tr id="ob-{i}"><td><code>{_h(r.obligation)}</code></td>'
            f'<td class="verdict {v}">{_h(r.verdict.name)}</td><td>{_h(r.method)}</td>'
            f'<td class="num">{_h(coverage(r.checked, r.total))}</td>'
            f'<td class="num">{_seconds(r.seconds)}</td><td>{cell}</td></tr>')


def _html_gadget(g: GadgetView) -> str:
    parts = [f"<details><summary><code>{_h(g.title)}</code>: {len(g.layers)} layers</summary>"]
    if g.exactness:
        parts.append(f"<p>{_h(g.exactness)}</p>")
    for label, formulas, more in g.layers:
        parts.append(f"<h4>{_h(label)} ({len(formulas) + more} units)</h4><pre>")
        parts.append("\n".join(_h(f) for f in formulas))
        if more:
            parts.append(f'\n<span class="more">... and {more} more units</span>')
        parts.append("</pre>")
    parts.append("</details>")
    return "".join(parts)


def _html_network(v: NetworkView) -> str:
    rows = "".join(
        f"<tr><td class=\"num\">{r.index}</td><td>{_h(r.label)}</td><td>{_h(r.owner)}</td>"
        f"<td class=\"num\">{r.outputs}</td><td class=\"num\">{r.inputs}</td>"
        f"<td class=\"num\">{r.nnz}</td><td>{'identity' if r.identity else ''}"
        f"{'' if r.relu else 'affine (no ReLU)'}</td></tr>" for r in v.layers)
    return (f"<details><summary>{_h(v.title)}: {len(v.layers)} layers, {v.nnz:,} nonzero "
            "weights</summary><table><tr><th>layer</th><th>label</th><th>owner</th>"
            "<th>width</th><th>inputs</th><th>nonzeros</th><th></th></tr>"
            f"{rows}</table></details>")


def _trace_rows(t: TraceView) -> list[tuple[str, int, int, int]]:
    return [(label, a, t.memory[0][a], t.memory[-1][a]) for a, label in enumerate(t.rows)]


def _html_trace(t: TraceView) -> str:
    rows = "".join(f"<tr><td>{_h(label)}</td><td class=\"num\">{a}</td>"
                   f"<td class=\"num\">{first}</td><td class=\"num\">{last}</td></tr>"
                   for label, a, first, last in _trace_rows(t))
    return (f"<p><code>{_h(t.program)}</code> ({_h(t.size)}) on the reference interpreter: "
            f"{t.steps} steps, {_h(t.reason)}.</p><table><tr><th>word</th><th>address</th>"
            f"<th>initial</th><th>final</th></tr>{rows}</table>")


def html(rep: Report) -> str:
    """The report as one self-contained HTML page."""
    c = rep.counts
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>loopmlp report: {c['proved']} proved, {c['refuted']} refuted, "
        f"{c['unknown']} unknown</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>loopmlp correctness report</h1>",
        f'<p class="meta">Generated {_h(rep.generated)}; {_h(rep.source)}.</p>',
        _html_contents(rep), "</header>",
    ]
    out += _html_summary(rep) + _html_refuted(rep) + _html_obligations(rep)
    if TIMES_PNG in rep.pictures:
        out.append('<section id="times"><h2>Proof time against bits</h2>'
                   f"{_img(rep.pictures['proof-times.png'])}</section>")
    out.append(f'<section id="gadgets"><h2>Gadgets</h2><p>Each gadget\'s units as formulas '
               f"(the symbolic form its weights are compiled from; {SHOWN_UNITS_NOTE}).</p>")
    out += [_html_gadget(g) for g in rep.gadgets]
    out.append("</section>")
    out.append('<section id="layers"><h2>Layer structure</h2>')
    if LAYERS_PNG in rep.pictures:
        out.append(_img(rep.pictures[LAYERS_PNG]))
    out += [_html_network(v) for v in rep.networks]
    out.append("</section>")
    if rep.trace is not None:
        out.append('<section id="trace"><h2>Execution trace</h2>')
        if TRACE_PNG in rep.pictures:
            out.append(_img(rep.pictures[TRACE_PNG]))
        out.append(_html_trace(rep.trace) + "</section>")
    out.append("<footer>Written by <code>loopmlp report</code>. The same results are in "
               '<a href="results.json">results.json</a> and <a href="junit.xml">junit.xml</a>, '
               'and the report as Markdown in <a href="report.md">report.md</a>, next to this '
               "file.</footer></body></html>")
    return "\n".join(out) + "\n"


def _html_contents(rep: Report) -> str:
    """Links to the sections the page has."""
    parts = [("summary", "Summary")]
    if any(r.verdict is Verdict.REFUTED for r in rep.results):
        parts.append(("refuted", "Refuted"))
    parts.append(("obligations", "Obligations"))
    if TIMES_PNG in rep.pictures:
        parts.append(("times", "Proof times"))
    parts += [("gadgets", "Gadgets"), ("layers", "Layer structure")]
    if rep.trace is not None:
        parts.append(("trace", "Execution trace"))
    links = " · ".join(f'<a href="#{key}">{text}</a>' for key, text in parts)
    return f'<nav class="contents">{links}</nav>'


def _html_summary(rep: Report) -> list[str]:
    c = rep.counts
    out = ['<section id="summary"><h2>Summary</h2><div class="counts">']
    for key in ("proved", "refuted", "unknown"):
        out.append(f'<div class="count {key}"><span class="n">{c[key]}</span>{key}</div>')
    out.append(f'<div class="count total"><span class="n">{rep.seconds:.1f}s</span>total time, '
               f"{len(rep.results)} obligations</div></div>")
    out.append(f"<p>Overall verdict: <strong>{_h(_overall(rep))}</strong> (the weakest verdict "
               "of all obligations; refuted &lt; unknown &lt; proved).</p>")
    out.append("<table><tr><th>component</th><th>version</th></tr>")
    out += [f"<tr><td>{_h(k)}</td><td>{_h(v)}</td></tr>" for k, v in rep.versions.items()]
    out.append("</table>")
    out += [f'<p class="note">{_h(n)}</p>' for n in rep.notes]
    out.append("</section>")
    return out


def _html_refuted(rep: Report) -> list[str]:
    refuted = [(i, r) for i, r in enumerate(rep.results) if r.verdict is Verdict.REFUTED]
    if not refuted:
        return []
    out = ['<section id="refuted"><h2>Refuted</h2><p>Each command below rebuilds the '
           "obligation and evaluates the counterexample through the exact forward pass "
           "and the spec; it exits 1 while they differ.</p><ul>"]
    for i, r in refuted:
        command = replay_command(r)
        cmd = f'<code class="cmd">{_h(command)}</code>' if command is not None else ""
        out.append(f'<li><a href="#ob-{i}"><code>{_h(r.obligation)}</code></a>: '
                   f"{_h(finding(r))}{cmd}</li>")
    out.append("</ul></section>")
    return out


def _html_obligations(rep: Report) -> list[str]:
    out = ['<section id="obligations"><h2>Obligations</h2>']
    if rep.results:
        out.append("<table><tr><th>obligation</th><th>verdict</th><th>method</th>"
                   "<th>coverage (checked/total)</th><th>seconds</th>"
                   "<th>counterexample or reason</th></tr>")
        out += [_html_result_row(i, r) for i, r in enumerate(rep.results)]
        out.append("</table>")
    else:
        out.append("<p>No obligation was selected.</p>")
    out.append("</section>")
    return out


# --------------------------------------------------------------------------- Markdown
def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: object) -> str:
    s = str(text).replace("|", "\\|")
    fence = "``" if "`" in s else "`"
    return f"{fence}{s}{fence}"


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _md_img(pic: Picture) -> list[str]:
    return [f"![{pic.title}]({pic.name})", "", pic.caption, ""]


def markdown(rep: Report) -> str:
    """The report as Markdown, the pictures referred to as files next to it."""
    c = rep.counts
    out = ["# loopmlp correctness report", "", f"Generated {rep.generated}; {rep.source}.", "",
           f"**{c['proved']} proved, {c['refuted']} refuted, {c['unknown']} unknown** of "
           f"{len(rep.results)} obligations in {rep.seconds:.1f}s. Overall verdict: "
           f"**{_overall(rep)}**.", ""]
    out += _md_table(["component", "version"],
                     [[_cell(k), _cell(v)] for k, v in rep.versions.items()])
    out.append("")
    for n in rep.notes:
        out += [f"> {n}", ""]
    out += _md_refuted(rep) + _md_obligations(rep)
    if TIMES_PNG in rep.pictures:
        out += ["## Proof time against bits", ""] + _md_img(rep.pictures[TIMES_PNG])
    out += _md_gadgets(rep) + _md_layers(rep)
    if rep.trace is not None:
        out += _md_trace(rep, rep.trace)
    out += ["---", "", "Written by `loopmlp report`; the same results are in `results.json` and "
            "`junit.xml` next to this file."]
    return "\n".join(out) + "\n"


def _md_refuted(rep: Report) -> list[str]:
    refuted = [r for r in rep.results if r.verdict is Verdict.REFUTED]
    if not refuted:
        return []
    out = ["## Refuted", "", "Each command rebuilds the obligation and evaluates the "
           "counterexample; it exits 1 while network and spec differ.", ""]
    for r in refuted:
        out.append(f"- {_code(r.obligation)}: {finding(r)}")
        command = replay_command(r)
        if command is not None:
            out += ["", "  ```", f"  {command}", "  ```"]
    return out + [""]


def _md_obligations(rep: Report) -> list[str]:
    out = ["## Obligations", ""]
    if not rep.results:
        return out + ["No obligation was selected.", ""]
    rows = []
    for r in rep.results:
        cell = _cell(finding(r))
        command = replay_command(r)
        if command is not None:
            cell += "<br>" + _code(command)
        rows.append([_code(r.obligation), f"**{r.verdict.name}**", r.method,
                     coverage(r.checked, r.total), _seconds(r.seconds), cell])
    return out + _md_table(["obligation", "verdict", "method", "coverage", "seconds",
                            "counterexample or reason"], rows) + [""]


def _md_gadgets(rep: Report) -> list[str]:
    out = ["## Gadgets", "", "Each gadget's units as formulas (the symbolic form its weights are "
           f"compiled from; {SHOWN_UNITS_NOTE}).", ""]
    for g in rep.gadgets:
        out += [f"### {_code(g.title)}", ""]
        if g.exactness:
            out += [g.exactness, ""]
        for label, formulas, more in g.layers:
            out += [f"**{label}** ({len(formulas) + more} units)", "", "```", *formulas]
            if more:
                out.append(f"... and {more} more units")
            out += ["```", ""]
    return out


def _md_layers(rep: Report) -> list[str]:
    out = ["## Layer structure", ""]
    if LAYERS_PNG in rep.pictures:
        out += _md_img(rep.pictures[LAYERS_PNG])
    for v in rep.networks:
        out += [f"### {v.title}", "", f"{len(v.layers)} layers, {v.nnz:,} nonzero weights.", ""]
        out += _md_table(
            ["layer", "label", "owner", "width", "inputs", "nonzeros", ""],
            [[str(r.index), _cell(r.label), _cell(r.owner), str(r.outputs), str(r.inputs),
              str(r.nnz), ("identity" if r.identity else "") + ("" if r.relu else "affine")]
             for r in v.layers])
        out.append("")
    return out


def _md_trace(rep: Report, t: TraceView) -> list[str]:
    out = ["## Execution trace", ""]
    if TRACE_PNG in rep.pictures:
        out += _md_img(rep.pictures[TRACE_PNG])
    out += [f"{_code(t.program)} ({t.size}) on the reference interpreter: {t.steps} steps, "
            f"{t.reason}.", ""]
    out += _md_table(["word", "address", "initial", "final"],
                     [[_cell(label), str(a), str(first), str(last)]
                      for label, a, first, last in _trace_rows(t)])
    return out + [""]
