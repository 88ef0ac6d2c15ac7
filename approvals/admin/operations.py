"""The managers' queue of manual operations and the full decision history.

The queue (`PendingManualOperation`) lists what waits, oldest first. Its Approve and
Decline buttons come from django-fsm-2's FSMAdminMixin (the transitions' `permission=`
shows them to managers only) and open a comment form; the decision itself is made by
`manual_operation_approve` / `manual_operation_decline`, which lock the books,
re-check the permission and do the side effects. Nothing here writes a row.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from django_fsm.admin import FSMAdminMixin

from accounts.admin.display import (
    MODE_SHORT,
    MODE_TONES,
    PERMISSION_TONES,
    amount_text,
    badge,
    figure_cards,
    local_minute,
    mode_summary,
    money_html,
)
from accounts.admin.forms import show_domain_error
from accounts.admin.views import render_action, require_perm
from billing_site.exceptions import DomainError
from ledger.selectors import account_figures

from ..models import (
    DECIDE_PERMISSION,
    ManualOperation,
    OperationKind,
    OperationStatus,
    PendingManualOperation,
)
from ..selectors import waiting_orders
from ..services import manual_operation_approve, manual_operation_decline

STATUS_TONES = {"pending": "warn", "approved": "ok", "declined": "bad"}
KIND_SHORT = {OperationKind.ALLOW_POSTPAID: "Allow postpaid"}
# A request older than this is shown as overdue for a decision.
SLOW_DECISION_DAYS = 2
DECISIONS = {
    "approve": {
        "service": manual_operation_approve,
        "title": "Approve",
        "intro": "Approving is final: {client} may have postpaid subscriptions from now on "
        "without further review, and its orders waiting for this decision start now.",
        "done": "Manual operation #{pk} approved: {client} may now order postpaid "
        "subscriptions; its waiting orders have started.",
    },
    "decline": {
        "service": manual_operation_decline,
        "title": "Decline",
        "intro": "Declining is final: {client} can never order postpaid subscriptions for a "
        "commercial period, and its orders waiting for this decision are cancelled. The "
        "client is only ever told that the account is under review.",
        "done": "Manual operation #{pk} declined: the waiting postpaid orders of {client} "
        "were cancelled; the client keeps seeing “under review”.",
    },
}


def _when_by(moment, user):
    return format_html(
        '<span class="when">{}</span><br><span class="quiet">by {}</span>',
        local_minute(moment),
        user or "system",
    )


class _OperationAdmin(admin.ModelAdmin):
    """Columns and read-only fields shared by the queue and the history."""

    list_select_related = ("account__client", "account__balance_row", "requested_by")
    search_fields = ("account__client__name", "account__client__email")
    search_help_text = "Search by client name or billing email."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    actions = None

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Nothing on these pages is edited; a decision goes through the services."""

    @admin.display(description="operation")
    def operation(self, obj):
        return f"#{obj.pk} {KIND_SHORT.get(obj.kind, obj.get_kind_display())}"

    @admin.display(description="operation")
    def operation_full(self, obj):
        return f"#{obj.pk} {obj.get_kind_display()}"

    @admin.display(description="client", ordering="account__client__name")
    def client_link(self, obj):
        url = reverse("admin:accounts_billingaccount_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account.client.name)

    @admin.display(description="payment mode")
    def account_mode(self, obj):
        return badge(MODE_SHORT[obj.account.payment_mode], MODE_TONES[obj.account.payment_mode])

    @admin.display(description="balance", ordering="account__balance_row__balance")
    def balance(self, obj):
        return money_html(obj.account.balance_row.balance, obj.account.currency)

    @admin.display(description="requested by")
    def requested_by_name(self, obj):
        return obj.requested_by or "system"

    @admin.display(description="requested", ordering="created_at")
    def created(self, obj):
        return local_minute(obj.created_at)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), STATUS_TONES[obj.status])

    @admin.display(description="postpaid permission now")
    def permission(self, obj):
        account = obj.account
        return badge(
            account.get_postpaid_permission_display(),
            PERMISSION_TONES[account.postpaid_permission],
        )


@admin.register(PendingManualOperation)
class PendingManualOperationAdmin(FSMAdminMixin, _OperationAdmin):
    fsm_fields = ["status"]
    list_display = (
        "operation",
        "client_link",
        "account_mode",
        "balance",
        "requested_by_name",
        "created",
        "waiting",
    )
    list_display_links = ("operation",)
    ordering = ("created_at", "id")
    fields = readonly_fields = (
        "operation_full",
        "client_link",
        "permission",
        "requested_by_name",
        "created",
        "waiting",
        "orders",
    )
    change_form_template = "admin/approvals/pendingmanualoperation/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=OperationStatus.PENDING)

    @admin.display(description="waiting for", ordering="created_at")
    def waiting(self, obj):
        age = timesince(obj.created_at, depth=1)
        if (timezone.now() - obj.created_at).days >= SLOW_DECISION_DAYS:
            return badge(age, "warn")
        return age

    @admin.display(description="orders waiting for the decision")
    def orders(self, obj):
        waiting = waiting_orders(obj.account_id)
        if not waiting:
            return "—"
        # The price snapshot is what the account will be charged: in its own currency.
        return format_html_join(
            mark_safe("<br>"),
            "#{} {} · {} {} a month · ordered {} by {}",
            (
                (
                    s.pk,
                    s.plan.name,
                    amount_text(s.plan_price, s.account.currency),
                    s.account.currency,
                    local_minute(s.created_at),
                    s.ordered_by or "system",
                )
                for s in waiting
            ),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "title": "Manual operations waiting for a decision (oldest first)",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        operation = self.get_object(request, unquote(object_id))
        if operation is None:
            return self._gone(request, object_id)
        may_decide = request.user.has_perm(DECIDE_PERMISSION)
        extra_context = {
            **(extra_context or {}),
            **self._account_context(operation),
            "title": f"{'Decide' if may_decide else 'Pending'} manual operation #{operation.pk}",
            "may_decide": may_decide,
            "history_url": reverse("admin:approvals_manualoperation_changelist")
            + f"?account__id__exact={operation.account_id}",
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _account_context(self, operation):
        account = operation.account
        return {
            "figures": figure_cards(account_figures(account.pk)),
            "mode_summary": mode_summary(account),
        }

    def _get_fsm_extra_context(self, *, request, obj):
        # A list, not the mixin's generator: the template reads it more than once.
        return list(super()._get_fsm_extra_context(request=request, obj=obj))

    @staticmethod
    def get_fsm_block_label(fsm_field_name):
        return "Decision"

    def _gone(self, request, object_id):
        """An operation that left the queue (decided meanwhile): say so, show the queue."""
        decided = ManualOperation.objects.filter(pk=unquote(object_id)).first()
        if decided is None:
            raise Http404(f"No manual operation with id {object_id}.")
        self.message_user(
            request,
            f"Manual operation #{decided.pk} is no longer pending: it was {decided.status}.",
            messages.WARNING,
        )
        return HttpResponseRedirect(
            reverse("admin:approvals_manualoperation_change", args=[decided.pk])
        )

    # -- the decision ------------------------------------------------------------------

    def fsm_transition_view(self, request, object_id, transition_name, **kwargs):
        """The comment form of Approve / Decline; the service makes the decision."""
        decision = DECISIONS.get(transition_name)
        if decision is None:
            raise Http404(f"'{transition_name}' is not a decision.")
        operation = self.get_object(request, unquote(object_id))
        if operation is None:
            return self._gone(request, object_id)
        require_perm(request, DECIDE_PERMISSION)
        form_class = self.get_fsm_transition_form(
            self._get_fsm_transition_by_name(obj=operation, transition_name=transition_name)
        )
        form = form_class(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                self._decide(request, operation, transition_name, form.cleaned_data["comment"])
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                return HttpResponseRedirect(
                    reverse("admin:approvals_pendingmanualoperation_changelist")
                )
        client = operation.account.client.name
        return render_action(
            self,
            request,
            title=f"{decision['title']} manual operation #{operation.pk}",
            form=form,
            submit_label=decision["title"],
            danger=transition_name == "decline",
            cancel_url=reverse(
                "admin:approvals_pendingmanualoperation_change", args=[operation.pk]
            ),
            intro=decision["intro"].format(client=client),
            account=operation.account,
            **self._account_context(operation),
        )

    def _decide(self, request, operation, transition_name, comment):
        decision = DECISIONS[transition_name]
        decision["service"](operation_id=operation.pk, comment=comment, decided_by=request.user)
        self.message_user(
            request,
            decision["done"].format(pk=operation.pk, client=operation.account.client.name),
            messages.SUCCESS,
        )

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None):
        """Route any other path of the FSM mixin to the services too."""
        if transition_name not in DECISIONS:
            self.message_user(request, f"'{transition_name}' is not a decision.", messages.ERROR)
            return False
        try:
            self._decide(request, obj, transition_name, (kwargs or {}).get("comment", ""))
        except DomainError as exc:
            self.message_user(request, exc.detail, level=messages.ERROR)
            return False
        return True


@admin.register(ManualOperation)
class ManualOperationAdmin(_OperationAdmin):
    """Every operation with its decision: who, when, and the comment. Read-only."""

    list_display = (
        "operation_stacked",
        "client_link",
        "status_badge",
        "requested",
        "decision",
    )
    list_display_links = ("operation_stacked",)
    list_select_related = ("account__client", "requested_by", "decided_by")
    list_filter = ("status", "kind")
    search_fields = (*_OperationAdmin.search_fields, "comment")
    search_help_text = "Search by client name, billing email or the decision's comment."
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    fields = readonly_fields = (
        "operation_full",
        "client_link",
        "status_badge",
        "permission",
        "requested_by_name",
        "created",
        "decided_by_name",
        "decided",
        "comment",
        "queue_link",
    )

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="decided by")
    def decided_by_name(self, obj):
        if obj.status == OperationStatus.PENDING:
            return "—"
        return obj.decided_by or "system"

    @admin.display(description="decided", ordering="decided_at")
    def decided(self, obj):
        return local_minute(obj.decided_at)

    @admin.display(description="operation")
    def operation_stacked(self, obj):
        return format_html(
            '#{}<br><span class="quiet">{}</span>',
            obj.pk,
            KIND_SHORT.get(obj.kind, obj.get_kind_display()).lower(),
        )

    @admin.display(description="requested", ordering="created_at")
    def requested(self, obj):
        return _when_by(obj.created_at, obj.requested_by)

    @admin.display(description="decision", ordering="decided_at")
    def decision(self, obj):
        if obj.status == OperationStatus.PENDING:
            return "—"
        comment = obj.comment if len(obj.comment) <= 120 else f"{obj.comment[:119]}…"
        return format_html(
            '{}<div class="comment">{}</div>', _when_by(obj.decided_at, obj.decided_by), comment
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "title": "Manual operations and their decisions (newest first)",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description="decision")
    def queue_link(self, obj):
        if obj.status != OperationStatus.PENDING:
            return "Final: it cannot be changed."
        url = reverse("admin:approvals_pendingmanualoperation_change", args=[obj.pk])
        return format_html('<a href="{}">Waiting in the queue →</a>', url)
