"""gunicorn serves `wsgi:app`; `flask --app wsgi ...` runs the CLI."""
from portal import create_app

app = create_app()
