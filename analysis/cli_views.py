"""One function per command-line subcommand: the public analysis calls the app's views make,
and the figures the app draws from them. No analysis happens here, only calls."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd

from analysis import experiments, overview, painpoints, paths, survival, touchpoints
from analysis import figures as fig
from analysis import funnel as funnels
from analysis.cli_output import Output
from analysis.cli_sources import CliError, Source, UsageError
from analysis.definitions import present_touchpoints
from analysis.experiments import compare
from analysis.experiments.kpis import available_kpis
from analysis.figures.experiments import effect_forest_chart, forest_rows
from analysis.figures.journey_map import journey_map_chart
from analysis.figures.painpoints import priority_quadrant_chart
from analysis.figures.survival import hazard_forest, survival_chart
from analysis.figures.touchpoints import attribution_chart, completion_chart
from analysis.schema import unknown_values_error


def resolved(source: Source, args: Any) -> tuple[tuple[str, ...], tuple[str, ...], int | None]:
    """Conversion and churn touchpoints and the inactivity rule: the options when given,
    else the dataset's definitions (saved in the workspace, or guessed from names)."""
    d = source.definitions
    conversion = tuple(args.conversion) if args.conversion is not None else d.conversion
    churn = tuple(args.churn) if args.churn is not None else d.churn
    days = args.inactivity_days if args.inactivity_days is not None else d.inactivity_days
    return conversion, churn, days


def _status(result: Any, what: str) -> list[str]:
    status = getattr(result, "status", "ok")
    message = getattr(result, "message", "")
    return [f"{what}: {status}: {message}".rstrip(": ")] if status != "ok" or message else []


def _feedback_frame(source: Source, *, customers: bool = False) -> pd.DataFrame | None:
    """Feedback as pandas (what the app's views pass); None without it, or without a
    customer_id when ``customers`` is needed."""
    if source.feedback is None:
        return None
    if customers and "customer_id" not in source.feedback.collect_schema().names():
        return None
    return source.feedback.collect().to_pandas()


def run_overview(source: Source, args: Any) -> Output:
    """Home: what the data holds and its headline KPIs; weekly activity by channel."""
    conversion, churn, days = resolved(source, args)
    result = overview.dataset_overview(source.events, source.feedback,
                                       conversion=list(conversion), churn=list(churn),
                                       inactivity_days=days)
    row = {k: ("; ".join(map(str, v)) if isinstance(v, tuple) else v)
           for k, v in asdict(result).items()}
    weekly = overview.weekly_activity(source.events)
    return Output(
        tables={"overview": pd.DataFrame([row]), "weekly_activity": weekly},
        figures={"activity": ("Weekly events by channel",
                              fig.activity_chart(weekly, metric="events"))},
        values={"customers": result.customers, "events": result.events,
                "conversion_rate": result.conversion_rate, "churn_rate": result.churn_rate},
        notes=list(result.messages))


def run_paths(source: Source, args: Any) -> Output:
    """Sankey links and the most common paths."""
    conversion, churn, days = resolved(source, args)
    links = paths.sankey_links(source.events, max_steps=args.max_steps,
                               top_nodes=args.top_nodes)
    top = paths.top_paths(source.events, max_steps=args.max_steps, limit=args.limit,
                          conversion=list(conversion), churn=list(churn), inactivity_days=days)
    figures = {"sankey": (f"First {args.max_steps} steps of every journey",
                          fig.sankey_chart(links))} if len(links) else {}
    return Output(tables={"sankey_links": links, "top_paths": top}, figures=figures,
                  notes=[] if len(links) else ["No journeys to draw."])


def funnel_steps(source: Source, args: Any, conversion: tuple[str, ...]
                 ) -> list[str | list[str]]:
    """``--steps`` (an item "A|B" counts either, unless a touchpoint is named so), or the
    funnel the Funnels page opens with."""
    if not args.steps:
        return funnels.default_steps(source.events, conversion=conversion,
                                     stages=source.definitions.stages)
    if not any("|" in s for s in args.steps):
        return list(args.steps)
    present = set(present_touchpoints(source.events))
    return [s if s in present or "|" not in s else [p.strip() for p in s.split("|")]
            for s in args.steps]


def run_funnel(source: Source, args: Any) -> Output:
    """The ordered funnel over the steps, optionally per group."""
    conversion, _, _ = resolved(source, args)
    steps = funnel_steps(source, args, conversion)
    window = timedelta(days=args.window_days) if args.window_days else None
    table = funnels.funnel(source.events, steps, window=window, by=args.by)
    title = "Funnel: " + " → ".join(funnels.step_label(s) for s in steps)
    return Output(tables={"funnel": table},
                  figures={"funnel": (title, fig.funnel_chart(table, by=args.by))},
                  values={"steps": steps})


def run_churn(source: Source, args: Any) -> Output:
    """Lifetimes, Kaplan–Meier curves per group with the log-rank test, optional Cox."""
    _, churn, days = resolved(source, args)
    if not churn and days is None:
        raise CliError("Churn is not defined for this data: no churn touchpoint was given "
                       "or found by name, and no inactivity rule.",
                       "Pass --churn TOUCHPOINT (e.g. a cancellation) or --inactivity-days N.")
    table = survival.churn_table(source.events, churn_touchpoints=list(churn) or None,
                                 inactivity_days=days, as_of=args.as_of,
                                 feedback=_feedback_frame(source), start_at=args.start_at or ())
    km = survival.kaplan_meier(table, by=args.by)
    clock = ("Days since the first " + " or ".join(args.start_at) if args.start_at
             else "Days since first event")
    out = Output(
        tables={"lifetimes": table, "km_curves": km.curves, "km_summary": km.summary},
        figures={"survival": ("Share of customers still active (Kaplan–Meier, 95% bands)",
                              survival_chart(km.curves, x_title=clock))},
        values={"logrank_p": km.logrank_p, "customers": len(table),
                "churned": int(table["churned"].sum()) if len(table) else 0},
        notes=_status(km, "Kaplan–Meier"))
    if len(km.pairwise):
        out.tables["km_pairwise"] = km.pairwise
    if args.covariates:
        cox = survival.cox_hazards(table, covariates=list(args.covariates))
        out.tables["cox"] = cox.table
        out.tables["cox_ph_test"] = cox.ph_test
        out.figures["hazards"] = ("What drives churn: hazard ratios (Cox, 95% CI)",
                                  hazard_forest(cox.table))
        out.values["concordance"] = cox.concordance
        out.notes.extend(_status(cox, "Cox") + ([cox.ph_message] if cox.ph_message else []))
    return out


def _treated_flag(units: pd.DataFrame, column: str, treated: list[str]) -> pd.Series:
    """True in the treated group, False in control, None without a (single) value."""
    values = units[column]
    present = set(values.dropna().astype(str))
    unknown = [t for t in treated if t not in present]
    if unknown:
        raise unknown_values_error(f"value of {column}", unknown, present)
    return compare.treated_flag(values, treated)


def run_experiments(source: Source, args: Any) -> Output:
    """A/B test (``--variant``) or difference-in-differences (``--treated-column``)."""
    if bool(args.variant) == bool(args.treated_column):
        raise UsageError("Pick one design: --variant COLUMN (A/B test) or --treated-column "
                         "COLUMN --treated VALUE --change DATE (difference-in-differences).",
                         "See python -m analysis experiments --help.")
    if args.variant and (args.treated or args.change):
        raise UsageError("--treated and --change go with --treated-column (DiD), not with "
                         "--variant (A/B test).", "Drop them, or use --treated-column.")
    if args.treated_column and (not args.treated or not args.change):
        raise UsageError("Difference-in-differences needs --treated VALUE and --change DATE.",
                         "E.g. --treated-column region --treated North --change 2025-06-01.")
    conversion, churn, _ = resolved(source, args)
    column = args.variant or args.treated_column
    units = experiments.customer_kpis(
        source.events, _feedback_frame(source, customers=True), conversion=conversion,
        churn=churn, churn_days=args.churn_days, attributes=[column])
    catalog = experiments.kpi_catalog(churn_days=args.churn_days)
    kpis = list(args.kpis) if args.kpis else available_kpis(units, catalog)
    if args.variant:
        effects = experiments.ab_effects(units, kpis, catalog, variant=args.variant,
                                         control=args.control, correction=args.correction)
    else:
        effects = experiments.did_effects(
            units, kpis, catalog, treated=_treated_flag(units, column, list(args.treated)),
            change=datetime.combine(args.change, time()), correction=args.correction)
    title = "Effects with their 95% intervals"
    return Output(tables={"customer_kpis": units, "effects": effects.table},
                  figures={"effects": (title, effect_forest_chart(forest_rows(effects)))},
                  values={"design": effects.mode, "kpis": kpis, "srm_p": effects.srm_p},
                  notes=list(effects.warnings) + _status(effects, "Effects"))


def run_painpoints(source: Source, args: Any) -> Output:
    """Topics in the feedback, tied to touchpoints, ranked in the priority matrix."""
    feedback = _feedback_frame(source)
    if feedback is None:
        raise UsageError("Pain points need feedback.",
                         "Pass --feedback PATH (a survey, review or ticket export), or a "
                         "workspace dataset with linked feedback.")
    conversion, churn, _ = resolved(source, args)
    result = painpoints.pain_points(feedback, source.events, n_topics=args.n_topics,
                                    use_categories=args.categories, churn=churn,
                                    conversion=conversion, start_at=conversion)
    return Output(
        tables={"priority_matrix": result.matrix, "comments": result.comments},
        figures={"priority": ("Pain points: reach against severity",
                              priority_quadrant_chart(result.matrix))},
        values={"links": result.links, "topics": len(result.matrix["topic"].unique())
                if len(result.matrix) else 0},
        notes=_status(result, "Pain points"))


def run_touchpoints(source: Source, args: Any) -> Output:
    """Scorecard (make or break), attribution by every model, online/offline, journey map."""
    conversion, churn, _ = resolved(source, args)
    feedback = _feedback_frame(source)
    card = touchpoints.touchpoint_scorecard(source.events, feedback,
                                            conversion=conversion or None,
                                            churn=churn or None, start_at=conversion)
    jm = touchpoints.journey_map(source.events, feedback,
                                 stages=source.definitions.stages or None)
    out = Output(
        tables={"scorecard": card.table, "reach_trend": card.trend,
                "journey_map_cells": jm.cells, "journey_map_stages": jm.stages},
        figures={"journey_map": ("Journey map", journey_map_chart(jm))},
        values={"customers": card.customers, "converters": card.converters, "rule": card.rule},
        notes=_status(card, "Scorecard") + _status(jm, "Journey map"))
    if not conversion:
        out.notes.append("No conversion touchpoint: attribution and online/offline were "
                         "skipped (pass --conversion).")
        return out
    lookback = timedelta(days=args.lookback_days) if args.lookback_days else None
    credit = touchpoints.compare_models(source.events, conversion=list(conversion), by=args.by,
                                        lookback=lookback)
    d = source.definitions
    completion = touchpoints.online_offline(source.events, conversion=list(conversion),
                                            online=list(d.online) or None,
                                            offline=list(d.offline) or None)
    out.tables.update(attribution=credit, online_offline_paths=completion.paths,
                      online_offline_finish=completion.finish,
                      online_offline_before=completion.before,
                      online_offline_mix=completion.mix)
    out.figures.update(
        attribution=("Conversions credited by each attribution model",
                     attribution_chart(credit, by=args.by)),
        online_offline=("Where converters start and finish", completion_chart(completion)))
    out.values.update(online_to_offline=completion.online_to_offline,
                      offline_to_online=completion.offline_to_online)
    out.notes.extend(_status(completion, "Online/offline"))
    return out


RUNNERS = {
    "overview": run_overview, "paths": run_paths, "funnel": run_funnel, "churn": run_churn,
    "experiments": run_experiments, "painpoints": run_painpoints,
    "touchpoints": run_touchpoints,
}
