"""/healthz against the real Kubernetes API server of the test cluster."""


def test_healthz_reports_the_real_api_server_up(kube_app, client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json
    assert response.json["checks"]["kubernetes"]["status"] == "up", response.json
    assert response.json["checks"]["database"]["status"] == "up"
