"""The status page (``GET /``): plain server-rendered HTML, no JavaScript, refreshed by a meta tag.

The page needs no key, so it shows aggregates only: the queue (jobs per status) and
each backend's jobs and error rate over the last 24 hours. A key sees its own jobs
through the API (``GET /v1/jobs``). Only a service started with ``--public-jobs``
(``Settings.public_jobs``) adds a table of the most recent jobs of every key: their
target, circuit depth and two-qubit gates as run, shots, queue and run time,
estimated cost and mitigation, named by a short job id; it never shows key ids,
parameters or keys.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable

from qjax.serve.store import STATUSES, JobRecord
from qjax.serve.targets import USD_PER_QPU_SECOND

__all__ = ["render_status_page"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.5rem;margin:0 0 .25rem} h2{font-size:1.1rem;margin:1.75rem 0 .5rem}
p.sub{color:#5b6474;margin:0 0 1rem} p.note{color:#5b6474;margin-top:1rem}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08);font-size:.9rem}
th,td{padding:.35rem .7rem;border-bottom:1px solid #e6e8eb;text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-weight:600} td.l,th.l{text-align:left}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08);padding:.7rem 1.1rem;min-width:7rem}
.card b{display:block;font-size:1.6rem} .card span{color:#5b6474;font-size:.85rem}
.done{color:#1a7f37} .failed{color:#cf222e} .running{color:#9a6700} .queued{color:#0969da} .cancelled{color:#6e7781}
"""


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _row(cells: Iterable[str], classes: Iterable[str] = ()) -> str:
    classes = list(classes)
    out = []
    for i, cell in enumerate(cells):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        out.append(f"<td{cls}>{cell}</td>")
    return "<tr>" + "".join(out) + "</tr>"


def _mitigation(job: JobRecord) -> str:
    m = job.payload.get("mitigation", "none")
    return str(m.get("name", "none") if isinstance(m, dict) else m)


def render_status_page(
    counts: dict[str, int],
    by_target: dict[str, dict[str, int]],
    recent: list[JobRecord] | None = None,
    *,
    targets: tuple[str, ...],
    workers: int,
    refresh_s: int = 5,
) -> str:
    """The page as one HTML document; ``recent`` jobs are listed only when given (``--public-jobs``)."""
    e = html.escape
    cards = "".join(f'<div class="card"><b class="{s}">{counts.get(s, 0)}</b><span>{s}</span></div>' for s in STATUSES)
    backend_rows = []
    for target in sorted(set(targets) | set(by_target)):
        c = by_target.get(target, {})
        ended = c.get("done", 0) + c.get("failed", 0)
        rate = f"{100 * c.get('failed', 0) / ended:.1f} %" if ended else "–"
        backend_rows.append(_row([e(target)] + [str(c.get(s, 0)) for s in STATUSES] + [rate], ["l"]))
    now = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{int(refresh_s)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>qjax execution service</title><style>{_STYLE}</style></head>
<body>
<h1>qjax execution service</h1>
<p class="sub">{e(now)} · targets: {e(", ".join(targets))} · {workers} worker(s) ·
refreshes every {int(refresh_s)} s</p>
<h2>Queue</h2>
<div class="cards" id="queue">{cards}</div>
<h2>Backends (last 24 h)</h2>
<table id="backends"><tr><th class="l">target</th>{"".join(f"<th>{s}</th>" for s in STATUSES)}<th>error rate</th></tr>
{"".join(backend_rows)}</table>
{_jobs_table(recent) if recent is not None else _PRIVATE_NOTE}
<p class="note">Estimated cost: QPU seconds (reported, or estimated from shots) × ${USD_PER_QPU_SECOND:.2f}/s,
IBM's pay-as-you-go price; fake devices show what the same job would cost on hardware.
Metrics: <a href="/metrics">/metrics</a>.</p>
</body></html>
"""


_PRIVATE_NOTE = (
    '<p class="note" id="private">Jobs are private: each API key lists its own with '
    "<code>GET /v1/jobs</code> (<code>Authorization: Bearer &lt;key&gt;</code>).</p>"
)


def _jobs_table(recent: list[JobRecord]) -> str:
    """The recent jobs of every key, without key ids (shown only with ``--public-jobs``)."""
    e = html.escape
    job_rows = []
    for job in recent:
        r = job.result or {}
        shots = r.get("shots", job.shots or 0)
        cost = r.get("estimated_cost_usd")
        job_rows.append(
            _row(
                [
                    f"<code>{e(job.id[:8])}</code>",
                    f'<span class="{e(job.status)}">{e(job.status)}</span>',
                    e(job.target),
                    e(str(r.get("device") or job.payload.get("device") or "–")[:40]),
                    str(r.get("num_qubits", "–")),
                    str(r.get("depth", "–")),
                    str(r.get("two_qubit_gates", "–")),
                    str(r.get("batch", "–")),
                    f"{shots:,}",
                    _fmt_s(job.queue_s),
                    _fmt_s(job.run_s),
                    "–" if cost is None else f"${cost:,.2f}",
                    e(_mitigation(job)[:40]),
                    e(time.strftime("%H:%M:%S", time.gmtime(job.created_at))),
                ],
                ["l", "l", "l", "l", "", "", "", "", "", "", "", "", "l", "l"],
            )
        )
    return f"""<h2>Recent jobs (public: --public-jobs)</h2>
<table id="jobs"><tr><th class="l">job</th><th class="l">status</th><th class="l">target</th><th class="l">device</th>
<th>qubits</th><th>depth</th><th>2q gates</th><th>sets</th><th>shots</th><th>queue time</th><th>run time</th>
<th>est. cost</th><th class="l">mitigation</th><th class="l">submitted</th></tr>
{"".join(job_rows) or '<tr><td class="l" colspan="14">no jobs yet</td></tr>'}</table>"""
