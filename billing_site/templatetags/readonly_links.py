"""`{% readonly_contents field %}`: a read-only admin field's value, as Django's
`{{ field.contents }}` shows it but with a related object linked only for a viewer who
may open its page (see `billing_site.admin_readonly.PermittedReadonlyField`).

Used by templates/admin/includes/fieldset.html and templates/admin/edit_inline/tabular.html.
"""

from django import template

from billing_site.admin_readonly import PermittedReadonlyField

register = template.Library()


@register.simple_tag(takes_context=True)
def readonly_contents(context, field):
    return PermittedReadonlyField(field, context.get("request")).contents()
