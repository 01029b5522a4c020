"""``python -m analysis``: run the app's analyses from the command line or a scheduled job.

Each subcommand (overview, paths, funnel, churn, experiments, painpoints, touchpoints) reads
one source: a file (CSV, TSV, Parquet, Excel or JSON, read like an upload, quarantined rows
written next to the results with their reason), a workspace dataset (``--workspace PATH`` or
``$JOURNEY_WORKSPACE``, ``--dataset ID``; opened read-only) or a Spark table
(``--spark-table NAME``, through ``SparkSession.builder.getOrCreate()``). It writes the
result tables (Parquet, or formula-safe CSV with ``--format csv``), the figures as HTML pages
that open offline, and ``manifest.json`` into ``--out DIR``, and prints what it wrote.

Exit codes: 0 success; 1 unexpected error (a bug: the message asks to report it; the
traceback only with ``--debug``); 2 usage error; 3 unreadable input or unusable data (missing
file, unknown column or touchpoint, no rows); 4 workspace missing or unreadable.

>>> main(["paths", "data/demo/events.parquet", "--out", "results"])   # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import traceback
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from analysis.cli_sources import CliError, open_source
from analysis.schema import AnalysisError
from analysis.store import WORKSPACE_ENV, WorkspaceError

PROG = "python -m analysis"

EXIT_CODES = """exit codes:
  0  success: the files listed on stdout were written
  1  unexpected error (a bug: please report it; --debug shows the traceback)
  2  usage error: unknown subcommand or option, options that do not fit together
  3  unreadable input or unusable data: missing file, unknown column or touchpoint, no rows
  4  workspace unavailable: no workspace there, or it cannot be read"""

SOURCES = f"""sources (one of):
  FILE                       CSV, TSV, Parquet, Excel or JSON (also .gz), read like an upload;
                             quarantined rows go to quarantine_events.* with their reason;
                             put it right after the subcommand
  --workspace PATH --dataset ID
                             a dataset of the app's workspace (default ${WORKSPACE_ENV} or
                             data/workspace), opened read-only beside the app, with its linked
                             feedback and saved definitions
  --spark-table NAME         a table or view of the active Spark session (spark-submit,
                             Databricks), in canonical columns

examples:
  python -m analysis paths data/demo/events.parquet --out results/paths
  python -m analysis funnel export.csv --steps "Product page" Checkout Purchase --out out
  python -m analysis churn --dataset 'Demo: omnichannel retail' --by segment --out out
  python -m analysis touchpoints --spark-table lake.events --out /dbfs/journeys  # on a driver"""

COMMANDS: dict[str, tuple[str, str]] = {
    "overview": (
        "headline KPIs and what the data holds",
        "Customers, events, date range, touchpoints, channels, revenue, conversion and churn "
        "rates, NPS/CSAT/CES from feedback (Home), and active customers and events per week "
        "by channel.\n\noutput files: overview.* (one row), weekly_activity.*, activity.html"),
    "paths": (
        "Sankey of the first steps and the most common paths",
        "Customers flowing between touchpoints over the first --max-steps steps (rare "
        "touchpoints folded into \"Other\", \"(end)\" where journeys stop) and the most common "
        "paths with their conversion and churn shares.\n\noutput files: sankey_links.* (step, "
        "source, target, customers), top_paths.*, sankey.html"),
    "funnel": (
        "ordered funnel over touchpoints",
        "Customers reaching each step in order (within --window-days of step 1), conversion "
        "from the start and from the previous step, median time between steps; with --by, per "
        "group with 95% Wilson intervals and a test per step. Without --steps: the funnel the "
        "Funnels page opens with (the usual path to conversion).\n\noutput files: funnel.*, "
        "funnel.html"),
    "churn": (
        "lifetimes, Kaplan-Meier curves, log-rank test, optional Cox model",
        "Each customer's lifetime (churned at a --churn touchpoint or after --inactivity-days "
        "without events, otherwise censored at --as-of), Kaplan-Meier survival per --by group "
        "with 95% bands, median and restricted mean lifetime, the log-rank p; with "
        "--covariates, Cox hazard ratios.\n\noutput files: lifetimes.*, km_curves.*, "
        "km_summary.*, km_pairwise.* (3+ groups), cox.* and cox_ph_test.* (with --covariates), "
        "survival.html, hazards.html"),
    "experiments": (
        "A/B test or difference-in-differences on per-customer KPIs",
        "Per-customer KPIs (conversion, revenue, time to convert, churn within --churn-days, "
        "NPS/CSAT/CES from linked feedback). A/B: every --variant value against --control "
        "(z-test for rates, Welch for means, sample-ratio check). DiD: customers with "
        "--treated in --treated-column against the others, before and after --change, with "
        "month fixed effects. p-values adjusted over the KPIs (--correction).\n\noutput "
        "files: customer_kpis.*, effects.*, effects.html (forest chart)"),
    "painpoints": (
        "topics in feedback, tied to touchpoints, ranked by priority",
        "Topics found in the comments (or --categories), sentiment, the touchpoint each "
        "comment belongs to, and the priority matrix per touchpoint and topic (mentions, "
        "negative share, churn hazard ratio, conversion impact, revenue at risk, priority). "
        "Needs feedback: --feedback PATH, or a workspace dataset with linked feedback.\n\n"
        "output files: priority_matrix.*, comments.*, priority.html (quadrant chart)"),
    "touchpoints": (
        "make-or-break scorecard, attribution, online/offline, journey map",
        "One row per touchpoint with reach, conversion lift, attribution share, churn hazard "
        "ratio, feedback score and its role (make, break, neutral); conversions credited by "
        "every attribution model (by touchpoint or channel, --lookback-days); where converters "
        "start and finish (online or offline); the journey map drawn from the data.\n\n"
        "output files: scorecard.*, reach_trend.*, attribution.*, online_offline_*.*, "
        "journey_map_cells.*, journey_map_stages.*, journey_map.html, attribution.html, "
        "online_offline.html"),
}


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {number}")
    return number


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2025-06-30, got {value!r}"
                                         ) from None


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes: the source, the definitions, the output."""
    common = argparse.ArgumentParser(add_help=False)
    src = common.add_argument_group("source")
    src.add_argument("source", nargs="?", metavar="FILE", help="events file to analyse")
    src.add_argument("--column", action="append", metavar="CANONICAL=COLUMN",
                     help="map an events column yourself, e.g. customer_id=user (repeatable)")
    src.add_argument("--feedback", metavar="PATH", help="feedback file (surveys, reviews)")
    src.add_argument("--feedback-column", action="append", metavar="CANONICAL=COLUMN",
                     help="map a feedback column yourself, e.g. text=comment")
    src.add_argument("--workspace", metavar="PATH",
                     help=f"workspace directory (default ${WORKSPACE_ENV} or data/workspace)")
    src.add_argument("--dataset", metavar="ID", help="workspace dataset id or name")
    src.add_argument("--spark-table", metavar="NAME", help="Spark table or view of events")
    src.add_argument("--spark-feedback-table", metavar="NAME", help="Spark table of feedback")
    src.add_argument("--from", dest="start", type=_date, metavar="DATE",
                     help="keep events on or after this day (UTC)")
    src.add_argument("--to", dest="end", type=_date, metavar="DATE",
                     help="keep events up to and including this day (UTC)")
    defs = common.add_argument_group("definitions (default: the dataset's saved definitions, "
                                     "else guessed from touchpoint names as at import)")
    defs.add_argument("--conversion", nargs="+", metavar="TOUCHPOINT",
                      help="touchpoints that count as converting")
    defs.add_argument("--churn", nargs="+", metavar="TOUCHPOINT",
                      help="touchpoints that mean the customer left")
    defs.add_argument("--inactivity-days", type=_positive, metavar="N",
                      help="customers inactive longer than N days also churned")
    out = common.add_argument_group("output")
    out.add_argument("--out", required=True, type=Path, metavar="DIR",
                     help="folder for the result files (created if needed)")
    out.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                     help="tables as Parquet (default) or formula-safe CSV")
    out.add_argument("--debug", action="store_true",
                     help="show the traceback of an unexpected error")
    return common


def _view_options(sub: dict[str, argparse.ArgumentParser]) -> None:
    """The options of each view."""
    p = sub["paths"]
    p.add_argument("--max-steps", type=_positive, default=5, help="steps drawn (default 5)")
    p.add_argument("--top-nodes", type=_positive, default=10,
                   help="touchpoints kept per step, the rest folded into Other (default 10)")
    p.add_argument("--limit", type=_positive, default=20, help="top paths listed (default 20)")
    f = sub["funnel"]
    f.add_argument("--steps", nargs="+", metavar="TOUCHPOINT",
                   help='funnel steps in order; "A|B" counts either (default: the usual path '
                   "to conversion)")
    f.add_argument("--window-days", type=_positive, metavar="N",
                   help="each step within N days of step 1")
    f.add_argument("--by", metavar="COLUMN", help="break down by a column (channel, segment…)")
    c = sub["churn"]
    c.add_argument("--start-at", nargs="+", metavar="TOUCHPOINT",
                   help="lifetimes start at the first of these (default: the first event)")
    c.add_argument("--as-of", type=_date, metavar="DATE",
                   help="observation date (default: the last event)")
    c.add_argument("--by", metavar="COLUMN", help="one curve per value of this column")
    c.add_argument("--covariates", nargs="+", metavar="COLUMN",
                   help="fit a Cox model on these columns of lifetimes.*")
    e = sub["experiments"]
    e.add_argument("--variant", metavar="COLUMN", help="A/B test: the variant column")
    e.add_argument("--control", metavar="VALUE", help="A/B test: the control variant")
    e.add_argument("--treated-column", metavar="COLUMN",
                   help="DiD: the column that says who got the change")
    e.add_argument("--treated", nargs="+", metavar="VALUE", help="DiD: its treated values")
    e.add_argument("--change", type=_date, metavar="DATE", help="DiD: when the change came")
    e.add_argument("--kpis", nargs="+", metavar="KPI",
                   help="converted, revenue, days_to_convert, churned, nps, csat, "
                   "csat_satisfied, ces (default: every KPI the data allows)")
    e.add_argument("--churn-days", type=_positive, default=30,
                   help="horizon of the churn KPI (default 30)")
    e.add_argument("--correction", choices=("holm", "fdr_bh", "bonferroni"), default="holm")
    pp = sub["painpoints"]
    pp.add_argument("--n-topics", type=_positive, metavar="N",
                    help="number of topics (default: chosen by coherence)")
    pp.add_argument("--categories", action="store_true",
                    help="use the feedback's category column as topics")
    t = sub["touchpoints"]
    t.add_argument("--by", choices=("touchpoint", "channel"), default="touchpoint",
                   help="attribution by touchpoint or channel")
    t.add_argument("--lookback-days", type=_positive, metavar="N",
                   help="attribution counts touches within N days before converting")


def _wrap(text: str) -> str:
    return "\n\n".join(textwrap.fill(part, 90) for part in text.split("\n\n"))


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m analysis`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap("Run the journey analyses of the app on a file, a workspace dataset "
                          "or a Spark table, and write the result tables, figures (HTML, opens "
                          "offline) and manifest.json into --out. Each subcommand's --help "
                          "says what it computes and which files it writes."),
        epilog=SOURCES + "\n\n" + EXIT_CODES)
    subparsers = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    common = _common()
    sub = {}
    for name, (summary, details) in COMMANDS.items():
        sub[name] = subparsers.add_parser(
            name, parents=[common], help=summary, description=_wrap(details),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=SOURCES + "\n\n" + EXIT_CODES)
    _view_options(sub)
    return parser


def _settings(args: argparse.Namespace, source: dict[str, Any]) -> list[tuple[str, str]]:
    """Label/value pairs that reproduce a figure, written on its page."""
    from analysis.cli_output import source_text

    shown = {k: v for k, v in vars(args).items()
             if v not in (None, False, []) and k not in ("command", "debug", "out", "format")}
    return ([("Command", f"{PROG} {args.command}"), ("Source", source_text(source))]
            + [(k.replace("_", "-"), " ".join(map(str, v)) if isinstance(v, list) else str(v))
               for k, v in shown.items()])


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run one parsed command: compute, write the files and the manifest, print a summary."""
    # Imported here, so that --help and usage errors answer before the analysis libraries load.
    from analysis import cli_output, cli_views

    with open_source(args) as source:
        output = cli_views.RUNNERS[args.command](source, args)
        conversion, churn, days = cli_views.resolved(source, args)
        settings = _settings(args, source.description)
        files = cli_output.write_all(output, args.out, args.format, settings, source.quarantine)
    manifest = {
        "command": args.command, "argv": list(argv),
        "options": {k: v for k, v in vars(args).items() if k not in ("command",)},
        "source": source.description,
        "definitions": {"conversion": conversion, "churn": churn, "inactivity_days": days},
        "files": files, "results": output.values, "notes": output.notes,
        "versions": cli_output.versions(),
    }
    cli_output.write_manifest(args.out, manifest)
    for line in cli_output.summary_lines(args.command, args.out, files, source.description,
                                         output.notes):
        print(line)
    return 0


def _fail(error: AnalysisError, code: int) -> int:
    print(f"{PROG}: error: {error.problem}", file=sys.stderr)
    if error.hint:
        print(f"  {error.hint}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return the exit code.

    Never raises and never prints a traceback (unless ``--debug``): see the module
    docstring for the exit codes.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error (2)
        return done.code if isinstance(done.code, int) else 2
    try:
        return run(args, argv)
    except CliError as error:
        return _fail(error, error.exit_code)
    except WorkspaceError as error:
        return _fail(error, 4)
    except AnalysisError as error:
        return _fail(error, 3)
    except OSError as error:  # an unreadable file or an unwritable --out
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: unexpected error: {type(error).__name__}: {error}\nThis is a bug: "
              "please report this with the command you ran"
              + ("" if args.debug else " and its output with --debug") + ".", file=sys.stderr)
        return 1
