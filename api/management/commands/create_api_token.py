"""`create_api_token USERNAME [--group GROUP ...]`: a new API key, on the last line."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from api.services import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key for USERNAME (the user is created, without a password login, "
        "if needed) and print the key on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--group",
            action="append",
            default=[],
            dest="groups",
            help="Add the user to this group (repeatable), e.g. “Billing staff”.",
        )
        parser.add_argument("--name", default="command line", help="What will use the key.")

    def handle(self, *args, username, groups, name, **options):
        found = {g.name: g for g in Group.objects.filter(name__in=groups)}
        unknown = [g for g in groups if g not in found]
        if unknown:
            known = ", ".join(Group.objects.order_by("name").values_list("name", flat=True))
            raise CommandError(
                f"Unknown group {', '.join(map(repr, unknown))}; the groups are: {known}."
            )
        User = get_user_model()
        try:
            User.username_validator(username)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            user.groups.add(*found.values())
            key, raw_key = api_key_create(user=user, name=name)
        self.stdout.write(
            f"{'Created' if created else 'Found'} user {username!r}"
            f"{' in ' + ', '.join(found) if found else ''}; key {key.prefix}… made."
        )
        self.stdout.write(raw_key)
