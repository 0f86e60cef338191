"""/healthz names each dependency and its state; it and static files never load the user."""
from sqlalchemy import event

from portal.extensions import db
from tests.support.processes import free_port

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""


def test_healthz_says_which_dependency_is_down(app, client, tmp_path, caplog):
    body = client.get("/healthz")
    assert body.status_code == 200
    assert body.json["status"] == "ok" and body.json["checks"]["database"]["status"] == "up"
    assert set(body.json["checks"]) == {"database"}  # salt-api and Kubernetes not configured

    # Both configured, neither listening (free loopback ports): reported down, still 200,
    # because the portal serves its pages without them.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.format(port=free_port()))
    app.config.update(SALT_API_URL=f"http://127.0.0.1:{free_port()}", KUBECONFIG=str(kubeconfig))
    response = client.get("/healthz")
    assert response.status_code == 200, response.json
    checks = response.json["checks"]
    assert response.json["status"] == "degraded"
    assert checks["database"]["status"] == "up"
    assert checks["salt_api"]["status"] == "down" and checks["kubernetes"]["status"] == "down"
    assert "127.0.0.1" not in response.get_data(as_text=True)  # reasons go to the log only
    assert "healthz: salt_api is down" in caplog.text and "healthz: kubernetes is down" in caplog.text
    assert checks["salt_api"]["ms"] < 5000 and checks["kubernetes"]["ms"] < 15000


def test_static_files_and_healthz_do_not_load_the_user(app, web, login, make_user):
    make_user("ann")
    login("ann")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        static = web.get("/static/hummer.css")
        static.close()
        assert static.status_code == 200
        assert statements == [], statements  # a static file needs no database at all
        assert web.get("/healthz").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert statements and not any("user" in s.lower() for s in statements), statements
