"""/healthz against the session's real salt-api."""


def test_healthz_reports_the_real_salt_api_up(app, client, salt_env):
    app.config["SALT_API_URL"] = salt_env.api_url
    response = client.get("/healthz")
    assert response.status_code == 200, response.json
    assert response.json["checks"]["salt_api"]["status"] == "up", response.json
    assert response.json["status"] == "ok"
