"""Downloads over TLS and HTTP/2, from a real nginx started by the tests.

nginx (installed by tools/setup-system.sh) serves a few files over HTTPS
with HTTP/2 and a self-signed certificate made with the openssl tool; its
access log records the connection serial of every request, so the tests
can see that transfers were multiplexed over one connection.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

import ungil

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FILES = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("nginx")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60)
    site = root / "site"
    site.mkdir()
    bodies = {}
    for i in range(FILES):
        bodies[f"f{i}.bin"] = os.urandom(1000 + 997 * i)
        (site / f"f{i}.bin").write_bytes(bodies[f"f{i}.bin"])
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(f"""
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{
    log_format conn '$connection $request_uri $server_protocol';
    access_log {root}/access.log conn;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {site};
    }}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(root),
                             "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("nginx did not start: "
                                   + proc.stderr.read().decode())
            time.sleep(0.05)
    try:
        yield {"base": f"https://127.0.0.1:{port}", "cert": cert,
               "bodies": bodies, "log": root / "access.log"}
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_https_with_http2_multiplexes_on_one_connection(https_server,
                                                         tmp_path, threads):
    # One connection per transfer loop (threads=2: two loops, each with
    # its own connections).
    base, bodies = https_server["base"], https_server["bodies"]
    names = sorted(bodies)
    results = ungil.download([f"{base}/{n}" for n in names], tmp_path,
                             ca_file=https_server["cert"], per_host=8,
                             threads=threads)
    for name, r in zip(names, results):
        assert r.ok, r
        assert r.status == 200 and r.http_version == 2, r
        assert (tmp_path / name).read_bytes() == bodies[name]
    # One TLS handshake opened the connection; the others reused it (their
    # TLS time is 0).
    assert [r.tls > 0 for r in results].count(True) >= 1
    # Every request of the batch travelled on one connection per loop:
    # nginx logs the connection serial of each request.
    time.sleep(0.2)  # nginx writes its log line after the response
    lines = [line.split() for line in
             https_server["log"].read_text().splitlines()]
    ours = [line for line in lines if line[1].lstrip("/") in bodies]
    assert len(ours) >= FILES
    assert {line[2] for line in ours} == {"HTTP/2.0"}
    assert len({line[0] for line in ours[-FILES:]}) == threads


def test_untrusted_certificate_fails_without_retry(https_server, tmp_path):
    base = https_server["base"]
    results = ungil.download([f"{base}/f0.bin", f"{base}/f1.bin"], tmp_path,
                             retries=3)
    for r in results:
        assert r.error == "network", r
        assert "certificate" in r.message, r
        assert r.attempts == 1, r
    assert os.listdir(tmp_path) == []
