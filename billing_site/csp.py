"""Content-Security-Policy on the site's HTML pages (django-csp, policy in settings).

The policy is about documents that run scripts: the admin, the portal, the start page
and the API reference. A PDF or a JSON answer is not one; a policy on a PDF only gets
in the way of the browser's PDF viewer, so other content types go without it.
"""

from csp.middleware import CSPMiddleware

HTML = "text/html"


class HtmlContentSecurityPolicyMiddleware(CSPMiddleware):
    def process_response(self, request, response):
        content_type = response.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != HTML:
            response._csp_exempt = True
            response._csp_exempt_ro = True
        return super().process_response(request, response)
