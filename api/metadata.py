"""What `OPTIONS` answers: the endpoint's name, media types and methods.

DRF's default metadata describes a POST by building the view's serializer, which these
views do not declare (each action validates its own input), so OPTIONS used to fail.
The request and answer bodies are described once, in the OpenAPI schema; OPTIONS points
there instead of describing them a second way.
"""

from django.urls import reverse
from rest_framework.metadata import BaseMetadata


class ApiMetadata(BaseMetadata):
    def determine_metadata(self, request, view):
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "methods": list(view.allowed_methods),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
            "schema": reverse("api:schema"),
        }
