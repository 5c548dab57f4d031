"""State that follows the user: a page's settings survive a trip to another page, and
live in the page's URL.

Streamlit forgets a widget's value as soon as a run does not draw it: a trip to another
page through the sidebar put every page back to its defaults (issue 25). One mechanism
here keeps them:

- :func:`keep`: before the widgets with these keys are drawn, put back the value each
  had when it was last drawn (kept under :data:`KEPT`, a plain session key Streamlit
  never drops), and remember the current ones. The router calls :func:`remember_kept`
  at the start of every run, while the previous page's widgets are still in the session.
- :class:`PageState`: a page declares its main state once, as :class:`Bound` fields (a
  :class:`core.common.query.QueryField` and the session key it lives under);
  :func:`declare`, called before the page's widgets, keeps those keys, applies a link
  that opens the page (bad values keep their defaults, with a notice) and writes the
  page's state into its URL; the router's :func:`finish` writes it again after the run
  (values the page changed while it ran) and keeps the presenter mode in every URL;
  its :func:`arrive` drops a query string the previous page left behind on a move.

Parsing and validation live in ``core`` (the fields); this module moves values between
the query string and the session. The functions that do so take the session and the
query as plain mappings (:func:`sync`), so they are tested without Streamlit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import streamlit as st

from core.common.query import QueryField, format_value, read_query, write_query
from ui.present import PRESENT, PRESENT_SEEN

KEPT = "state_kept"  # session key -> its last value, for every key kept so far
KEPT_KEYS = "state_kept_keys"  # every key kept so far, with a value yet or not
APPLIED = "state_applied"  # page -> the query string its widgets already reflect
FROM_LINK = "state_from_link"  # the keys the link opened in this run set
PAGE_SHOWN = "state_page"  # (the page the last run showed, the query it left in the URL)
URL = "state_url"  # the URL's query as this run last read or wrote it
Session = MutableMapping[str, Any]
T = TypeVar("T")
_current = threading.local()  # the page declared in this script run (for finish)


def _session() -> Session:
    return cast(Session, st.session_state)  # a MutableMapping, though not typed as one


def keep(keys: Iterable[str], session: Session | None = None) -> None:
    """Give the widgets with these keys back the values they had when last drawn.

    Call it before the widgets are drawn. A key in the session is remembered; a key
    Streamlit dropped (its widget was not drawn in a run, on another page say) gets its
    remembered value back. Never for widgets whose value cannot be set (buttons, file
    uploaders, data editors).

    Args:
        keys: Widget keys (or plain session keys).
        session: ``st.session_state`` (a plain dict in tests).
    """
    store = _session() if session is None else session
    kept: dict[str, Any] = store.setdefault(KEPT, {})
    names: set[str] = store.setdefault(KEPT_KEYS, set())
    for key in keys:
        names.add(key)
        if key in store:
            kept[key] = store[key]
        elif key in kept:
            store[key] = kept[key]


def current(key: str, fallback: T, session: Mapping[str, Any] | None = None) -> T:
    """What a keyed widget should declare as its default: its current value, or
    ``fallback`` before it has one.

    Why: under load the browser can lose a widget's value between two runs and then
    reports the default the widget declared. With 16 students on this 2-core machine
    (``bench/classroom.py --students 16``), 2 of 16 method lists on "Explain an image"
    came back empty after an upload (14 of 16 with an empty declared default), and the
    page showed no map (issue 21). Declaring the current value makes such a loss
    harmless. Streamlit takes the session's value whatever the default (a keyed
    widget's identity is its key), and this app turns the warning about a default
    beside a session value off (.streamlit/config.toml).

    Args:
        key: The widget's key.
        fallback: Its default before it has a value.
        session: ``st.session_state`` (a plain dict in tests).
    """
    store = _session() if session is None else session
    return cast(T, store.get(key, fallback))


def remember_kept(session: Session | None = None) -> None:
    """Remember the current value of every key kept so far (the router, at the start of
    every run: the last page's widgets are still in the session, and Streamlit drops
    them at the end of this run when this page does not draw them)."""
    store = _session() if session is None else session
    kept: dict[str, Any] = store.setdefault(KEPT, {})
    for key in store.get(KEPT_KEYS, ()):
        if key in store:
            kept[key] = store[key]


@dataclass(frozen=True)
class Bound:
    """One field of a page's state and where the page keeps it.

    Attributes:
        field: The URL parameter (name, default, how it is read and written).
        key: The session key (a widget's key), or a function of the session giving it
            (a key that depends on the model, say).
        when: The parameter is written only when this holds (e.g. a setting of one
            operation only); None: always.
        get: Reads the value from the session instead of ``session[key]``.
        put: Sets the value in the session instead of ``session[key] = value``.
        also: More keys ``get``/``put`` use, kept as well.
    """

    field: QueryField
    key: str | Callable[[Mapping[str, Any]], str]
    when: Callable[[Mapping[str, Any]], bool] | None = None
    get: Callable[[Mapping[str, Any]], Any] | None = None
    put: Callable[[Session, Any], None] | None = None
    also: tuple[str, ...] = ()

    def key_in(self, session: Mapping[str, Any]) -> str:
        """The session key, for this session."""
        return self.key if isinstance(self.key, str) else self.key(session)

    def keys(self, session: Mapping[str, Any]) -> tuple[str, ...]:
        """Every session key the field lives under."""
        return (self.key_in(session), *self.also)

    def value(self, session: Mapping[str, Any]) -> Any:
        """The field's current value (None: not set)."""
        return self.get(session) if self.get else session.get(self.key_in(session))

    def set(self, session: Session, value: Any) -> None:
        """Set the field's value (before its widget is drawn; a multiselect's as a list)."""
        if self.field.kind == "list":
            value = list(value)
        if self.put is not None:
            self.put(session, value)
        else:
            session[self.key_in(session)] = value


def bind(fields: Sequence[QueryField], prefix: str, **special: str | Bound) -> tuple[Bound, ...]:
    """Each field under ``prefix + name``, unless ``special`` names its key or binding.

    Args:
        fields: The page's fields, in the URL's order.
        prefix: The page's widget-key prefix (``"pg_"``: ``lr`` lives under ``pg_lr``).
        **special: Field name -> its session key, or its :class:`Bound`.
    """
    bound = []
    for declared in fields:
        given = special.get(declared.name, prefix + declared.name)
        bound.append(given if isinstance(given, Bound) else Bound(declared, given))
    return tuple(bound)


@dataclass(frozen=True)
class PageState:
    """A page's main state: what its URL holds and what follows the user.

    Attributes:
        page: The page's name (which link it last applied is kept per page).
        bound: Its fields, in the URL's order.
    """

    page: str
    bound: tuple[Bound, ...]

    @property
    def fields(self) -> tuple[QueryField, ...]:
        """The URL parameters."""
        return tuple(b.field for b in self.bound)


def signature(query: Mapping[str, Any]) -> str:
    """A query string as one comparable text (the order of its parameters aside)."""
    return repr(sorted((k, format_value(v)) for k, v in query.items()))


def page_query(state: PageState, session: Mapping[str, Any]) -> dict[str, str]:
    """The query string of the page's current state (defaults left out), with the
    presenter mode."""
    values = {
        b.field.name: b.value(session) for b in state.bound if b.when is None or b.when(session)
    }
    query = write_query(state.fields, values)
    if session.get(PRESENT):
        query[PRESENT] = "1"
    return query


def sync(
    state: PageState, session: Session, query: Mapping[str, Any]
) -> tuple[dict[str, str], list[str]]:
    """Restore the page's kept state, apply the link that opened it, and say what its
    URL should now be.

    The link is applied once (a URL the page wrote itself, or one already applied, is
    not applied again); it sets only the fields it names, after the kept values, so a
    link wins over what the session had. Never raises on a query.

    Args:
        state: The page's declaration.
        session: The session state (a plain dict in tests).
        query: The page's query string now.

    Returns:
        ``(query to write, notices about the link)``.
    """
    keep((key for b in state.bound for key in b.keys(session)), session)
    applied: dict[str, str] = session.setdefault(APPLIED, {})
    notices: list[str] = []
    from_link: list[str] = []
    if applied.get(state.page) != signature(query):
        values, notices = read_query(state.fields, query, ignore=(PRESENT,))
        for b in state.bound:  # in declaration order: a model before its layer
            if b.field.name in values:
                b.set(session, values[b.field.name])
                from_link.extend(b.keys(session))
        keep(from_link, session)  # what the link set is what follows the user now
    session[FROM_LINK] = from_link
    written = page_query(state, session)
    applied[state.page] = signature(written)
    session[PRESENT_SEEN] = written.get(PRESENT)
    return written, notices


def from_link(key: str, session: Mapping[str, Any] | None = None) -> bool:
    """Whether the link that opened the page in this run set ``key``."""
    store = _session() if session is None else session
    return key in store.get(FROM_LINK, ())


def link_notice(text: str) -> None:
    """A notice about a link's value, in the page."""
    st.warning(text, icon=":material/link_off:")


def check_choice(
    key: str, options: Sequence[Any] | range, what: str, many: bool = False, why: str = ""
) -> None:
    """Before a widget whose options are known only now (a model's layers, the models
    with weights here): a value the session holds that is not one of them is dropped,
    with a notice when the link that opened the page set it.

    Args:
        key: The widget's session key.
        options: Its options.
        what: What the value is, in words, for the notice (``"layer"``).
        many: The widget holds a list (a multiselect): only the unknown entries go.
        why: Why a value can be missing, for the notice.
    """
    session = _session()
    if key not in session:
        return
    value = session[key]
    if many:
        unknown = [v for v in value if v not in options]
        if unknown:
            session[key] = [v for v in value if v in options]
    else:
        unknown = [] if value in options else [value]
        if unknown:
            del session[key]
    if unknown and from_link(key):
        names = ", ".join(repr(v[0] if isinstance(v, tuple) else v) for v in unknown)
        link_notice(f"The link's {what} {names} cannot be shown here"
                    + (f" ({why}): " if why else ": ")
                    + ("left out." if many else f"showing the default {what}."))  # fmt: skip


def declare(state: PageState) -> None:
    """Call at the top of a page, before its widgets: restore its kept state, apply the
    link that opened it (notices in the page), write its state into the URL."""
    _current.state = state
    written, notices = sync(state, _session(), st.query_params.to_dict())
    set_query(written)
    for notice in notices:
        link_notice(notice)


def carried_over(page: str, session: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Whether a run's query string is the one the previous page left (a move to another
    page that kept the URL's query) rather than a link to this page.

    Args:
        page: The page this run shows (its URL path).
        session: The session state.
        query: The URL's query now.

    Returns:
        True when the page changed and the query is exactly what the last run left.
    """
    shown = session.get(PAGE_SHOWN)
    return shown is not None and shown[0] != page and shown[1] == signature(query)


def set_query(query: dict[str, str]) -> None:
    """Put ``query`` into the URL (when it differs), and remember it as what this run
    leaves there (for the next run's :func:`arrive`).

    Args:
        query: Parameter -> text.
    """
    session = _session()
    if query != session.get(URL):
        st.query_params.from_dict(query)
        session[URL] = dict(query)
    session[PAGE_SHOWN] = (session.get(PAGE_SHOWN, (None, ""))[0], signature(query))


def arrive(page: str) -> None:
    """The router, once it knows the page of this run: a query string the previous page
    left behind is not a link to this one (the page starts from its kept state); the
    presenter mode stays.

    Args:
        page: The page's URL path.
    """
    session = _session()
    query = st.query_params.to_dict()
    session[URL] = query
    carried = carried_over(page, session, query)
    session[PAGE_SHOWN] = (page, signature(query))
    if carried:
        set_query({PRESENT: "1"} if session.get(PRESENT) else {})


def finish() -> None:
    """The router, after the page ran (also when it stopped early): the URL and the
    kept values get what the page changed while it ran.

    After a page's ``st.stop()`` nothing here runs (the first use of the session or the
    URL ends the run): what the page wrote through :func:`declare` or :func:`set_query`
    before it stopped stays.
    """
    state: PageState | None = getattr(_current, "state", None)
    _current.state = None
    session = _session()
    query: dict[str, str] = session.get(URL, {})
    if state is None:  # a page with a URL of its own (Explain), or stopped before declaring
        written = {k: v for k, v in query.items() if k != PRESENT}
        if session.get(PRESENT):
            written[PRESENT] = "1"
    else:
        keep((key for b in state.bound for key in b.keys(session) if key in session), session)
        written = page_query(state, session)
        session.setdefault(APPLIED, {})[state.page] = signature(written)
        session[PRESENT_SEEN] = written.get(PRESENT)
    set_query(written)
