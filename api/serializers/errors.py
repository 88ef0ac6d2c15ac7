"""The error body, for the schema (`api.errors` builds it)."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Stable machine code, e.g. insufficient_funds.")
    detail = serializers.CharField(help_text="A sentence a person can act on.")
    field = serializers.CharField(required=False, help_text="The input to blame, when one is.")
