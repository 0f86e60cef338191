"""The test cluster's certificates and kubeconfig files.

make_pki() writes, as PEM files in one directory:

* the cluster CA, the API server's serving certificate, the simulated kubelets'
  serving certificate and the service-account RSA key pair;
* the aggregation layer's: a second CA, the request-header CA, which the API
  server trusts for requests carrying X-Remote-User (--requestheader-client-ca-file),
  and the proxy client certificate it signed (CN FRONT_PROXY_CLIENT), which the API
  server presents when it proxies to an aggregated API (--proxy-client-cert-file);
* the metrics stand-in's serving certificate (127.0.0.1 and the Service's names).
"""
from __future__ import annotations

import base64
import datetime
import ipaddress
import json
from pathlib import Path

ADMIN_USER = "hummer-admin"
FRONT_PROXY_CLIENT = "front-proxy-client"


def make_pki(directory: Path, kubelet_ips: list[str], service_ip: str) -> dict[str, Path]:
    """Every certificate and key of the cluster as PEM files in directory; returns
    {name: path} with the names ca, apiserver_crt/key, kubelet_crt/key, sa_key/pub,
    front_proxy_ca, front_proxy_client_crt/key, metrics_crt/key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=365)

    def key_pem(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def authority(cn):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        return key, cert

    def leaf(ca, cn, usage, ips=(), dns=()):
        ca_key, ca_cert = ca
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        sans = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(d) for d in dns]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    server = ExtendedKeyUsageOID.SERVER_AUTH
    ca = authority("hummer-test-ca")
    front_proxy_ca = authority("hummer-test-front-proxy-ca")
    api_key, api_cert = leaf(ca, "kube-apiserver", server, ["127.0.0.1", service_ip],
                             ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                              "kubernetes.default.svc.cluster.local"])
    kl_key, kl_cert = leaf(ca, "hummer-kubelet-sim", server, kubelet_ips or ["127.0.0.2"], ["localhost"])
    ms_key, ms_cert = leaf(ca, "hummer-metrics-sim", server, ["127.0.0.1"],
                           ["localhost", "metrics-server.kube-system.svc"])
    fp_key, fp_cert = leaf(front_proxy_ca, FRONT_PROXY_CLIENT, ExtendedKeyUsageOID.CLIENT_AUTH)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    pem = serialization.Encoding.PEM
    ca_pem = ca[1].public_bytes(pem)
    files = {
        "ca": ca_pem,
        "apiserver_crt": api_cert.public_bytes(pem) + ca_pem,
        "apiserver_key": key_pem(api_key),
        "kubelet_crt": kl_cert.public_bytes(pem) + ca_pem,
        "kubelet_key": key_pem(kl_key),
        "metrics_crt": ms_cert.public_bytes(pem) + ca_pem,
        "metrics_key": key_pem(ms_key),
        "front_proxy_ca": front_proxy_ca[1].public_bytes(pem),
        "front_proxy_client_crt": fp_cert.public_bytes(pem),
        "front_proxy_client_key": key_pem(fp_key),
        "sa_key": sa_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()),
        "sa_pub": sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
    }
    paths = {}
    for k, data in files.items():
        p = directory / (k.replace("_", ".") + ".pem")
        p.write_bytes(data)
        if k.endswith("key"):
            p.chmod(0o600)
        paths[k] = p
    return paths


def kubeconfig_dict(api_url: str, token: str, ca_pem: bytes, name: str = "hummer-test") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": api_url,
            "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": ADMIN_USER}}],
        "current-context": name,
        "preferences": {},
    }


def write_kubeconfig(path, api_url: str, token: str, ca_pem: bytes, name: str = "hummer-test") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = kubeconfig_dict(api_url, token, ca_pem, name)
    try:
        import yaml
        text = yaml.safe_dump(doc, sort_keys=False)
    except ImportError:  # JSON is YAML too
        text = json.dumps(doc, indent=2)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
