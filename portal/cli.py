"""Flask CLI commands: `flask --app wsgi create-admin`."""
from __future__ import annotations

import os
import secrets

import click
from flask import Flask

from portal.services import users
from portal.services.errors import Invalid


def init_app(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--username", default=lambda: os.environ.get("HUMMER_ADMIN_USERNAME", ""),
                  help="Default: $HUMMER_ADMIN_USERNAME, else asked.")
    @click.option("--email", default=lambda: os.environ.get("HUMMER_ADMIN_EMAIL", ""))
    @click.option("--if-none", is_flag=True,
                  help="Do nothing when an admin exists; otherwise create 'admin' without "
                       "prompting, with $HUMMER_ADMIN_PASSWORD or a generated password "
                       "printed once.")
    def create_admin(username: str, email: str, if_none: bool) -> None:
        """Create an administrator, like Django's createsuperuser."""
        if if_none:
            if users.admin_exists():
                click.echo("An administrator exists already; nothing to do.")
                return
            username = username or "admin"
            password = os.environ.get("HUMMER_ADMIN_PASSWORD") or ""
            generated = not password
            password = password or secrets.token_urlsafe(12)
        else:
            username = username or click.prompt("Username", default="admin")
            password = os.environ.get("HUMMER_ADMIN_PASSWORD") or click.prompt(
                "Password", hide_input=True, confirmation_prompt=True)
            generated = False
        try:
            user = users.create(username, password, email=email, is_admin=True)
        except Invalid as error:
            raise click.ClickException(f"{error.field or 'admin'}: {error.message}")
        click.echo(f"Administrator '{user.username}' created.")
        if generated:
            click.echo(f"Its generated password (shown once): {password}")

    @app.cli.command("pull-secrets")
    def pull_secrets() -> None:
        """Write the registry's pull Secret into every project's namespace as the credentials
        (HUMMER_REGISTRY_USERNAME/PASSWORD) are now; unchanged ones are left alone. Workers do
        this when they start."""
        from portal.services.errors import ServiceError
        from portal.services.images import pullsecrets
        try:
            counts = pullsecrets.ensure_all()
        except ServiceError as error:
            raise click.ClickException(error.message)
        click.echo(", ".join(f"{what}: {n}" for what, n in sorted(counts.items())) or "No project.")
        if counts.get("failed"):
            raise click.ClickException("Some namespaces were not written; see the log.")
