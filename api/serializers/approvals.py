"""System settings and manual operations as the API shows and takes them."""

from rest_framework import serializers

from approvals.models import (
    MAX_COMMENT_LENGTH,
    MAX_DUE_REMINDER_DAYS,
    MAX_PAYMENT_TERM_DAYS,
    OperationKind,
    OperationStatus,
    PostpaidPermissionMode,
)

from .strict import JsonInput, QueryIntegerField


class SystemSettingsSerializer(serializers.Serializer):
    postpaid_permission_mode = serializers.ChoiceField(
        PostpaidPermissionMode.choices,
        help_text="automatic: nobody is reviewed; manual: an account's first commercial "
        "postpaid order waits for a manager's approval.",
    )
    external_invoicing = serializers.BooleanField(
        help_text="An external ERP generates and approves invoices."
    )
    default_payment_term_days = serializers.IntegerField(
        min_value=0, max_value=MAX_PAYMENT_TERM_DAYS
    )
    due_reminder_days = serializers.IntegerField(
        min_value=0,
        max_value=MAX_DUE_REMINDER_DAYS,
        help_text="Days before the due date the client is reminded.",
    )
    updated_at = serializers.DateTimeField(read_only=True)


class SystemSettingsPatch(JsonInput, SystemSettingsSerializer):
    """Any subset of the settings; an unknown name is refused (400 naming it)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            for name in data:
                if name not in self.fields or self.fields[name].read_only:
                    raise serializers.ValidationError(
                        {name: f"“{name}” is not a system setting you can change."}
                    )
        return super().to_internal_value(data)


class ManualOperationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(OperationKind.choices)
    account = serializers.IntegerField(source="account_id")
    client_name = serializers.CharField(source="account.client.name")
    status = serializers.ChoiceField(OperationStatus.choices)
    created_at = serializers.DateTimeField()
    requested_by = serializers.CharField(
        source="requested_by.username", allow_null=True, help_text="Null: the system."
    )
    decided_by = serializers.CharField(
        source="decided_by.username", allow_null=True, help_text="Null while pending."
    )
    decided_at = serializers.DateTimeField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)


class ManualOperationFilter(serializers.Serializer):
    """Query filters; an empty value (`?status=`) filters nothing."""

    status = serializers.ChoiceField(OperationStatus.choices, required=False, allow_blank=True)
    kind = serializers.ChoiceField(OperationKind.choices, required=False, allow_blank=True)
    account = QueryIntegerField(required=False, min_value=1)


class DecisionInput(JsonInput):
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_COMMENT_LENGTH,
        help_text="Kept in the decision history; required to decline. The client never sees it.",
    )
