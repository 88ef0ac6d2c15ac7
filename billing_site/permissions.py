"""Granting permissions to the staff groups from data migrations.

Permissions are normally created after all migrations have run; `grant` creates them
first, so one `migrate` on a fresh database ends with complete groups.
"""

from django.contrib.auth.management import create_permissions


def grant(apps, grants: dict[str, list[tuple[str, str]]]) -> None:
    """`grants` maps a group name to (app_label, codename) pairs it must have."""
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in grants.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codes:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
