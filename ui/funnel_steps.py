"""The Funnels page's step picker: steps picked from the data's names, in order, any step a set.

Each step is a multiselect over the dataset's touchpoints (or stages): one name is a step,
several are a set (any of them counts). Steps are added, moved up and removed with buttons;
"Edit as text" offers the same steps as lines ("a | b" for a set). The steps travel in the
URL as the ``steps`` parameter, one value per step, in that text form (older links too).
"""

from __future__ import annotations

import difflib

import streamlit as st

from analysis import funnel
from analysis.frames import Filters
from ui import data
from ui.sidebar import Context
from ui.text import md, md_list

SEPARATOR = " | "
Steps = tuple[tuple[str, ...], ...]
_IDS, _NEXT, _SCOPE, _DEFAULT = "_f_ids", "_f_next", "_f_scope", "_f_default"
TEXT_KEY, TEXT_MODE_KEY = "f_steps", "f_as_text"


def step_key(step_id: int) -> str:
    return f"f_step::{step_id}"


def parse_text(text: str) -> Steps:
    """Steps from lines of text: one step per line, "a | b" for a set."""
    return tuple(
        names for line in text.splitlines()
        if (names := tuple(n.strip() for n in line.split("|") if n.strip()))
    )


def to_text(steps: Steps) -> str:
    return "\n".join(SEPARATOR.join(step) for step in steps)


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Finding the usual path…")
def default_steps(path: str, events_id: str, step_col: str, conversion: tuple[str, ...],
                  stages: tuple[str, ...]) -> Steps:
    """The dataset's default funnel (see :func:`analysis.funnel.default_steps`), unfiltered so
    that it does not change under the user while they filter."""
    steps = funnel.default_steps(data.events_frame(path, events_id, Filters()),
                                 conversion=conversion, stages=stages, step_col=step_col)
    return tuple((s,) if isinstance(s, str) else tuple(s) for s in steps)


def default_rule(ctx: Context, step_col: str, steps: Steps) -> str:
    """How the default steps were chosen, in plain words."""
    d = ctx.definitions
    if step_col == "stage" and len(d.stages) >= 2:
        return "The default steps are the stage order set in the dataset's definitions."
    if step_col == "touchpoint" and d.conversion and steps and steps[-1] == tuple(d.conversion):
        return ("The default steps are the usual path to conversion: the touchpoints at least "
                "half of the converting customers did before converting, in the order they "
                "usually did them, then the conversion.")
    return ("The default steps are the usual path: the ones at least half of the customers "
            "took (at least the two most common), in the order they usually took them.")


def current() -> Steps:
    """The steps picked (empty steps left out)."""
    if st.session_state.get(TEXT_MODE_KEY):
        return parse_text(st.session_state.get(TEXT_KEY, ""))
    picked = (tuple(st.session_state.get(step_key(i)) or ()) for i in st.session_state[_IDS])
    return tuple(step for step in picked if step)


def _load(steps: Steps, names: list[str]) -> None:
    """Put ``steps`` into the widgets; text mode when some name is not in the data."""
    for key in [k for k in st.session_state if str(k).startswith("f_step::")]:
        del st.session_state[key]
    known = set(names)
    st.session_state[_IDS] = list(range(len(steps)))
    st.session_state[_NEXT] = len(steps)
    for i, step in enumerate(steps):
        st.session_state[step_key(i)] = [n for n in step if n in known]
    st.session_state[TEXT_KEY] = to_text(steps)
    st.session_state[TEXT_MODE_KEY] = any(n not in known for step in steps for n in step)


def prepare(ctx: Context, step_col: str, names: list[str]) -> Steps:
    """Fill the widgets on entering the page, on another dataset or step type, and when the
    default changes (definitions saved) while the steps are still the old default.
    Returns the default steps."""
    d = ctx.definitions
    default = default_steps(ctx.path, ctx.events.id, step_col, d.conversion, d.stages)
    scope = (ctx.events.id, step_col)
    was = st.session_state.get(_SCOPE)
    # Widget values are forgotten once the page is left: entering it again starts over.
    entering = was is None or TEXT_MODE_KEY not in st.session_state
    if entering or was != scope:
        # Funnel links always carry "on"; Paths uses "steps" for a number of steps.
        from_url = ctx.url.get("steps") if entering and ctx.url.get("on") else None
        _load(tuple(tuple(n.strip() for n in s.split("|") if n.strip())
                    for s in from_url) if from_url else default, names)
    elif st.session_state.get(_DEFAULT) not in (None, default) and (
            current() == st.session_state[_DEFAULT]):
        _load(default, names)
    st.session_state[_SCOPE] = scope
    st.session_state[_DEFAULT] = default
    return default


def _add() -> None:
    new = st.session_state[_NEXT]
    st.session_state[_IDS] = [*st.session_state[_IDS], new]
    st.session_state[step_key(new)] = []
    st.session_state[_NEXT] = new + 1


def _remove(position: int) -> None:
    ids = list(st.session_state[_IDS])
    st.session_state.pop(step_key(ids.pop(position)), None)
    st.session_state[_IDS] = ids


def _move_up(position: int) -> None:
    ids = list(st.session_state[_IDS])
    ids[position - 1], ids[position] = ids[position], ids[position - 1]
    st.session_state[_IDS] = ids


def _switch_mode(names: list[str]) -> None:
    """Carry the steps over when switching between the picker and the text."""
    if st.session_state[TEXT_MODE_KEY]:
        picked = (tuple(st.session_state.get(step_key(i)) or ()) for i in st.session_state[_IDS])
        st.session_state[TEXT_KEY] = to_text(tuple(s for s in picked if s))
        return
    steps = parse_text(st.session_state.get(TEXT_KEY, ""))
    dropped = sorted({n for step in steps for n in step if n not in set(names)})
    _load(steps, names)
    st.session_state[TEXT_MODE_KEY] = False
    st.session_state["_f_dropped"] = dropped


def picker(names: list[str], what: str) -> Steps | None:
    """The step widgets; the steps picked, or None when the text names unknown steps."""
    st.toggle("Edit as text", key=TEXT_MODE_KEY, on_change=_switch_mode, args=(names,),
              help="One step per line; several names on one line, separated by “ | ”, make a "
              "step that any of them completes.")
    if dropped := st.session_state.pop("_f_dropped", None):
        st.warning(f"Left out names that are not in this dataset: {md_list(dropped)}.")
    if st.session_state[TEXT_MODE_KEY]:
        return _text_steps(names)
    ids = st.session_state[_IDS]
    for position, step_id in enumerate(ids):
        cols = st.columns([0.07, 0.79, 0.07, 0.07], vertical_alignment="center", gap="small")
        cols[0].markdown(f"**{position + 1}.**")
        cols[1].multiselect(
            f"Step {position + 1}", names, key=step_key(step_id),
            label_visibility="collapsed",
            placeholder=f"Pick a {what}, or several (any of them counts)",
        )
        cols[2].button(":material/arrow_upward:", key=f"f_up::{step_id}", on_click=_move_up,
                       args=(position,), disabled=position == 0, help="Move this step up",
                       type="tertiary")
        cols[3].button(":material/close:", key=f"f_remove::{step_id}", on_click=_remove,
                       args=(position,), help="Remove this step", type="tertiary")
    st.button("Add step", key="f_add", icon=":material/add:", on_click=_add)
    return current()


def _text_steps(names: list[str]) -> Steps | None:
    st.text_area("Steps, one per line", key=TEXT_KEY, height=150)
    steps = current()
    unknown = sorted({n for s in steps for n in s if n not in names})
    if unknown:
        hints = "; ".join(
            f"“{md(n)}”" + (f" (did you mean “{md(m[0])}”?)" if (m := difflib.get_close_matches(
                n, names, n=1)) else "") for n in unknown)
        st.warning(f"Not in this dataset: {hints}. Available: {md_list(names)}.")
        return None
    return steps
