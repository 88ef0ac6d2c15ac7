"""Crawl the control panel and the portal on `seed_demo` data as every demo persona.

Each persona (superuser, billing staff, manager, customer) first opens what it may reach:

- staff: the admin index, every app index, and for every model in `admin.site` the
  changelist, the change page of its rows (spread over the table, at most `ROW_CAP`),
  the add page where the persona may add, every custom view of the ModelAdmin's
  `get_urls()` (with each of those rows, and each FSM transition form offered on the
  row), and the confirmation page of every action that renders one (Django's
  `delete_selected`, posted without `post=yes`); the actions that act at once (money,
  keys, holds, tasks) are never posted;
- the customer: every portal page, with each of its invoices and subscriptions;

then follows, breadth first, every same-site `<a href>` shown on the pages it visits
(under /admin/ and /portal/, and API docs; never logout), at most `VARIANT_CAP`
querystrings per path and `ROW_CAP` objects per URL pattern. A request that fails, and
every POST, runs in a savepoint that is rolled back.

The test fails on any 5xx anywhere, and on any link shown to the persona (or any page
the admin says the persona may open) that answers it with a 4xx, a redirect to a login
page, or the admin's "no such object" redirect to its index. All failures of a persona
come in one assertion message, each with its status, the traceback summary of a 5xx,
and the page that showed the link.
"""

import time
import traceback
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import Resolver404, URLPattern, resolve, reverse

from accounts.management.commands.seed_demo import PORTAL_LOGIN, STAFF

# Rows opened per model (spread evenly over its primary keys), and distinct paths
# followed per URL pattern with an object in it ("admin/ledger/entry/<path:object_id>/
# change/"); Django's own history and delete pages of a model: a few are enough.
ROW_CAP = 50
GENERIC_OBJECT_PAGE_CAP = 3
GENERIC_OBJECT_PAGES = ("/history/", "/delete/")
# Querystring variants of one path (sort, filter, page, date drill-down): at most
# `VARIANT_CAP`, and one per set of parameter names.
VARIANT_CAP = 5
PER_PARAMS_CAP = 1
# A runaway guard: no persona's crawl makes more requests than this.
REQUEST_LIMIT = 3000

SCOPES = ("/admin/", "/portal/")
API_DOCS = ("schema", "docs", "redoc", "swagger")
LOGIN_PATHS = ("/admin/login/", "/portal/login/")
# Never followed: signing out (and any link with a side effect on GET, should one appear).
SKIP_PATH_PARTS = ("/logout/",)
# Querystring parameters that only say where to come back to.
IGNORED_PARAMS = {"_changelist_filters"}
REDIRECTS = {301, 302, 303, 307, 308}
OBJECT_ID_PARAMS = {"object_id", "id", "pk"}
SHOWN_KEPT = 200
ROOT = Path(settings.BASE_DIR).resolve()


@dataclass(frozen=True)
class Persona:
    label: str
    username: str


PERSONAS = [
    *(Persona(login.role, login.username) for login in STAFF),
    Persona("customer", PORTAL_LOGIN.username),
]


# -- helpers ------------------------------------------------------------------------


class LinkParser(HTMLParser):
    """Every `<a href>` of a page, in document order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href is not None:
                self.hrefs.append(href)


def links_of(html: str) -> list[str]:
    parser = LinkParser()
    parser.feed(html)
    parser.close()
    return parser.hrefs


def normalize(url: str) -> str:
    """Path and sorted querystring, without the fragment and back-navigation params."""
    parts = urlsplit(url)
    params = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in IGNORED_PARAMS
    )
    return parts.path + (f"?{urlencode(params)}" if params else "")


def in_scope(path: str) -> bool:
    if any(part in path for part in SKIP_PATH_PARTS):
        return False
    if path.startswith(SCOPES):
        return True
    return path.startswith("/api/") and any(word in path for word in API_DOCS)


@cache
def route_of(path: str) -> str:
    try:
        return resolve(path).route
    except Resolver404:
        return path


def kind_of(label: str) -> str:
    """The URL pattern of a page's label ("/admin/x/1/change/", "POST /admin/x/ {...}")."""
    words = label.split()
    url = words[1] if words[0] == "POST" else words[0]
    return "/" + route_of(urlsplit(url).path)


def where(frame) -> str:
    path = Path(frame.filename).resolve()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return f"{shown}:{frame.lineno} in {frame.name}"


def is_ours(frame) -> bool:
    path = Path(frame.filename).resolve()
    return path.is_relative_to(ROOT) and ".venv" not in path.parts


def traceback_summary(exc_info) -> str:
    """`Type: message [our innermost frames -> where it was raised]`."""
    if not exc_info:
        return ""
    kind, value, tb = exc_info
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if is_ours(f)]
    chain = [where(f) for f in ours[-3:]]
    if frames and (not ours or frames[-1] is not ours[-1]):
        chain.append(where(frames[-1]))
    message = (str(value).strip().splitlines() or [""])[0][:240]
    return f"{kind.__name__}: {message} [{' -> '.join(chain)}]"


def sample(queryset, cap: int) -> list:
    """At most `cap` rows, spread evenly over the primary keys (first, ..., last)."""
    pks = list(queryset.order_by("pk").values_list("pk", flat=True).distinct())
    if len(pks) > cap:
        step = len(pks) / cap
        pks = [pks[int(i * step)] for i in range(cap - 1)] + [pks[-1]]
    return list(queryset.filter(pk__in=pks).order_by("pk"))


@dataclass
class Page:
    url: str
    method: str = "GET"
    data: dict | None = None
    # The pages that showed the persona a link to this one (the first `SHOWN_KEPT`)...
    shown_on: list[str] = field(default_factory=list)
    shown_count: int = 0
    # ...or why the persona may open it although no page linked it yet.
    allowed_by: str = ""
    status: int | None = None
    problem: str = ""  # a bad redirect, or a download that is not what it says
    error: str = ""  # the traceback summary of a 5xx

    @property
    def label(self) -> str:
        return self.url if self.method == "GET" else f"POST {self.url} {self.data}"

    @property
    def expected_to_work(self) -> bool:
        return bool(self.shown_on or self.allowed_by)


# -- the crawler --------------------------------------------------------------------


class Crawler:
    def __init__(self, persona: Persona, user):
        self.persona = persona
        self.user = user
        self.client = Client(raise_request_exception=False)
        self.client.force_login(user)
        self.pages: dict[str, Page] = {}
        self.queue: deque[Page] = deque()
        self.per_route: dict[str, set[str]] = defaultdict(set)
        self.variants: dict[str, dict[frozenset, int]] = defaultdict(lambda: defaultdict(int))
        self.requests = 0
        self.links_seen = 0
        self.capped: set[str] = set()
        self.out_of_scope: set[str] = set()
        self.not_posted: list[str] = []
        self.unfilled: list[str] = []

    # -- queueing ----------------------------------------------------------------------

    def add(self, url: str, *, shown_on="", allowed_by="", ours=False) -> None:
        """Queue a GET of `url`, shown on page `shown_on` or `allowed_by` a permission.

        `ours`: a target the crawler made up; queued whatever the caps say (and counted).
        """
        key = normalize(url)
        page = self.pages.get(key)
        if page is None:
            if key in self.capped:
                return
            if not ours and not self._within_caps(key):
                self.capped.add(key)
                return
            self._count(key)
            page = self.pages[key] = Page(key)
            self.queue.append(page)
        if shown_on:
            page.shown_count += 1
            if len(page.shown_on) < SHOWN_KEPT:
                page.shown_on.append(shown_on)
        page.allowed_by = page.allowed_by or allowed_by

    def add_post(self, url: str, data: dict, *, allowed_by: str) -> None:
        page = Page(url, method="POST", data=data, allowed_by=allowed_by)
        self.pages[page.label] = page
        self.queue.append(page)

    @staticmethod
    def _names(query: str) -> frozenset:
        return frozenset(k for k, _ in parse_qsl(query, keep_blank_values=True))

    def _within_caps(self, key: str) -> bool:
        path, _, query = key.partition("?")
        if query:
            seen = self.variants[path]
            if sum(seen.values()) >= VARIANT_CAP or seen[self._names(query)] >= PER_PARAMS_CAP:
                return False
        route = route_of(path)
        if "<" not in route:
            return True
        cap = GENERIC_OBJECT_PAGE_CAP if route.endswith(GENERIC_OBJECT_PAGES) else ROW_CAP
        return path in self.per_route[route] or len(self.per_route[route]) < cap

    def _count(self, key: str) -> None:
        path, _, query = key.partition("?")
        if query:
            self.variants[path][self._names(query)] += 1
        self.per_route[route_of(path)].add(path)

    # -- what each persona opens first ---------------------------------------------------

    def start_admin(self) -> None:
        request = RequestFactory().get("/admin/")
        request.user = self.user
        may = f"(the admin lets {self.persona.label} open it)"
        for name in ("index", "password_change", "password_change_done"):
            self.add(reverse(f"admin:{name}"), allowed_by=may, ours=True)
        self.add(reverse("admin:jsi18n"), ours=True)
        for app in admin.site.get_app_list(request):
            self.add(app["app_url"], allowed_by=may, ours=True)
        # The other apps' indexes too: refused, but never with a 5xx.
        for app_label in {model._meta.app_label for model in admin.site._registry}:
            self.add(reverse("admin:app_list", args=[app_label]), ours=True)
        for model, model_admin in admin.site._registry.items():
            self._start_model(request, model, model_admin)

    def _start_model(self, request, model, model_admin) -> None:
        opts = model._meta
        info = f"{opts.app_label}_{opts.model_name}"
        label = f"{opts.app_label}.{opts.model_name}"
        viewable = model_admin.has_view_or_change_permission(request)
        may_view = f"(the admin lets {self.persona.label} view {label})" if viewable else ""
        changelist = reverse(f"admin:{info}_changelist")
        self.add(changelist, allowed_by=may_view, ours=True)
        if model_admin.has_add_permission(request):
            may_add = f"(the admin lets {self.persona.label} add {label})"
            self.add(reverse(f"admin:{info}_add"), allowed_by=may_add, ours=True)
        queryset = model_admin.get_queryset(request)
        # A model the persona may not view: one row, to see it refused cleanly (no 5xx).
        rows = sample(queryset, ROW_CAP if viewable else 1)
        for obj in rows:
            url = reverse(f"admin:{info}_change", args=[quote(obj.pk)])
            row_may = may_view if model_admin.has_view_or_change_permission(request, obj) else ""
            self.add(url, allowed_by=row_may, ours=True)
        self._start_custom_views(model_admin, info, rows)
        for name in model_admin.autocomplete_fields:
            query = urlencode(
                {"app_label": opts.app_label, "model_name": opts.model_name, "field_name": name}
            )
            self.add(f"{reverse('admin:autocomplete')}?{query}", ours=True)
        if viewable:
            self._start_actions(request, model_admin, changelist, label, queryset)

    def _start_custom_views(self, model_admin, info, rows) -> None:
        standard = {
            f"{info}_{name}" for name in ("changelist", "add", "change", "history", "delete")
        }
        for pattern in model_admin.get_urls():
            if not isinstance(pattern, URLPattern) or pattern.name in {*standard, None}:
                continue
            name = f"admin:{pattern.name}"
            params = set(pattern.pattern.converters)
            object_param = next(iter(params & OBJECT_ID_PARAMS), None)
            if not params:
                self.add(reverse(name), ours=True)
            elif params == {object_param}:
                for obj in rows:
                    self.add(reverse(name, kwargs={object_param: quote(obj.pk)}), ours=True)
            elif params == {"object_id", "transition_name"}:
                for obj in rows:
                    for transition in self._form_transitions(model_admin, obj):
                        kwargs = {"object_id": quote(obj.pk), "transition_name": transition}
                        self.add(reverse(name, kwargs=kwargs), ours=True)
            else:
                self.unfilled.append(name)

    def _form_transitions(self, model_admin, obj) -> list[str]:
        """The FSM transitions the change page offers this persona on `obj` with a form."""
        names = []
        for fsm_field in getattr(model_admin, "fsm_fields", ()):
            available = getattr(obj, f"get_available_user_{fsm_field}_transitions")(user=self.user)
            names += [
                t.name
                for t in available
                if model_admin.is_fsm_transition_visible(t)
                and model_admin.get_fsm_transition_form(t) is not None
            ]
        return names

    def _start_actions(self, request, model_admin, changelist, label, queryset) -> None:
        for name, (function, _name, _description) in model_admin.get_actions(request).items():
            if function is not delete_selected:
                self.not_posted.append(f"{label}:{name}")
                continue
            pks = [str(obj.pk) for obj in sample(queryset, 3)]
            if pks:
                data = {"action": name, "_selected_action": pks, "index": "0", "select_across": "0"}
                offered = f"(the action menu of {changelist} offers {self.persona.label} {name})"
                self.add_post(changelist, data, allowed_by=offered)

    def start_portal(self) -> None:
        from portal import urls as portal_urls
        from portal.selectors import client_invoices, client_subscriptions, membership

        member = membership(self.user)
        assert member is not None, f"{self.user} has no portal membership"
        client = member.client
        rows = {
            "invoice": sample(client_invoices(client.pk), ROW_CAP),
            "subscription": sample(client_subscriptions(client.account.pk), ROW_CAP),
        }
        mine = f"(a portal page of {client.name}, the client of {self.persona.label})"
        for pattern in portal_urls.urlpatterns:
            name = f"portal:{pattern.name}"
            params = set(pattern.pattern.converters)
            # "invoice_pdf" opens one of the client's invoices, "subscriptions" none.
            kind = pattern.name.split("_")[0]
            if not params:
                if in_scope(reverse(name)):
                    self.add(reverse(name), allowed_by=mine, ours=True)
            elif params == {"pk"} and kind in rows:
                for obj in rows[kind]:
                    self.add(reverse(name, args=[obj.pk]), allowed_by=mine, ours=True)
            else:
                self.unfilled.append(name)

    # -- crawling -----------------------------------------------------------------------

    def run(self) -> None:
        while self.queue and self.requests < REQUEST_LIMIT:
            self.visit(self.queue.popleft())

    def visit(self, page: Page) -> None:
        self.requests += 1
        with transaction.atomic():
            if page.method == "POST":
                response = self.client.post(page.url, page.data)
            else:
                response = self.client.get(page.url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            # A POST changes nothing, whatever it did; a failed request leaves no
            # broken transaction behind. (A GET may cache: a PDF, the last login.)
            if page.method == "POST" or response.status_code >= 500:
                transaction.set_rollback(True)
        page.status = response.status_code
        page.error = traceback_summary(getattr(response, "exc_info", None))
        content_type = response.get("Content-Type", "")
        if page.status in REDIRECTS:
            self._follow_redirect(page, response["Location"])
        elif page.status == 200 and content_type.startswith("application/pdf"):
            if not body.startswith(b"%PDF"):
                page.problem = "says it is a PDF but is not one"
        elif page.status == 200 and content_type.startswith("text/html"):
            for href in links_of(body.decode(response.charset or "utf-8", errors="replace")):
                self._found(page, href)

    def _follow_redirect(self, page: Page, location: str) -> None:
        target = urljoin(f"http://testserver{page.url}", location)
        parts = urlsplit(target)
        if parts.netloc != "testserver":
            self.out_of_scope.add(target)
            return
        if parts.path.startswith(LOGIN_PATHS):
            page.problem = f"redirects to the login page ({location})"
        elif parts.path == reverse("admin:index") != urlsplit(page.url).path:
            page.problem = f"redirects to the admin index ({location}): no such object?"
        elif in_scope(parts.path):
            self.add(
                target,
                shown_on=f"{page.label} (a redirect)" if page.expected_to_work else "",
                ours=True,
            )

    def _found(self, page: Page, href: str) -> None:
        href = href.strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            return
        self.links_seen += 1
        target = urljoin(f"http://testserver{page.url}", href)
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or parts.netloc != "testserver":
            self.out_of_scope.add(target)
        elif not in_scope(parts.path):
            self.out_of_scope.add(normalize(target))
        else:
            self.add(target, shown_on=page.label)

    # -- the verdict --------------------------------------------------------------------

    def failures(self) -> list[str]:
        found = []
        for page in self.pages.values():
            if page.status is None:
                continue
            broken = page.status >= 500 or (
                page.expected_to_work and (400 <= page.status < 500 or bool(page.problem))
            )
            if not broken:
                continue
            line = f"{page.status} {page.label}" + (f" — {page.problem}" if page.problem else "")
            if page.error:
                line += f"\n      {page.error}"
            if page.shown_on:
                line += f"\n      shown on {page.shown_on[0]}"
                if page.shown_count > 1:
                    kinds = sorted({kind_of(label) for label in page.shown_on})
                    line += (
                        f" and {page.shown_count - 1} more page(s); "
                        f"{len(kinds)} kind(s) of page: {', '.join(kinds[:8])}"
                        + (", ..." if len(kinds) > 8 else "")
                    )
            line += f"\n      {page.allowed_by}" if page.allowed_by else ""
            if not page.expected_to_work:
                line += "\n      (linked nowhere: opened by the crawler)"
            found.append(line)
        if self.queue:
            found.append(
                f"the crawl stopped at {REQUEST_LIMIT} requests with {len(self.queue)} pages "
                "still queued: raise REQUEST_LIMIT or lower the caps"
            )
        return sorted(found)

    def summary(self, seconds: float) -> str:
        visited = [p for p in self.pages.values() if p.status is not None]
        statuses = defaultdict(int)
        for page in visited:
            statuses[page.status] += 1
        posts = sum(1 for p in visited if p.method == "POST")
        linked = sum(1 for p in visited if p.shown_on)
        lines = [
            f"crawl as {self.persona.label} ({self.persona.username}): {self.requests} "
            f"requests in {seconds:.1f}s: {len(visited) - posts} pages ({linked} of them "
            f"linked from a page), {posts} action confirmations; {self.links_seen} links "
            f"seen, {len(self.capped)} distinct URLs left out by the caps; statuses "
            f"{dict(sorted(statuses.items()))}",
        ]
        if self.out_of_scope:
            lines.append(f"  not followed (out of scope): {sorted(self.out_of_scope)[:10]}")
        if self.not_posted:
            lines.append(f"  actions that act at once, never posted: {self.not_posted}")
        if self.unfilled:
            lines.append(f"  URL patterns the crawler cannot fill in: {self.unfilled}")
        return "\n".join(lines)


# -- the test -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS, ids=[p.label.replace(" ", "_") for p in PERSONAS])
def test_every_page_and_every_link_shown_works(demo_data, persona):
    user = get_user_model().objects.get(username=persona.username)
    crawler = Crawler(persona, user)
    started = time.monotonic()
    if user.is_staff:
        crawler.start_admin()
    else:
        crawler.start_portal()
    crawler.run()
    print(crawler.summary(time.monotonic() - started))

    failures = crawler.failures()
    assert not failures, (
        f"{len(failures)} failure(s) crawling as {persona.label} ({persona.username}):\n  "
        + "\n  ".join(failures)
    )
