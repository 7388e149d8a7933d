"""Alerts: a failed run and a failed check reach loopback servers: SMTP (SSL + login) and Slack's API."""

import datetime as dt
import email
import ipaddress
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dagster._core.events import DagsterEventType

from nacento_pipeline.config import Settings
from nacento_pipeline.defs.sensors.alert_sensors import (
    CHECK_FAILURE_ALERT,
    RUN_FAILURE_EMAIL,
    RUN_FAILURE_SLACK,
    alert_resources,
    build_alert_sensors,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


class _Inbox:
    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)


@pytest.fixture
def smtp_server(tmp_path, monkeypatch):
    """aiosmtpd over implicit TLS with AUTH, its certificate trusted through SSL_CERT_FILE (as Dagster's
    `ssl.create_default_context()` reads it)."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        ssl_context=context,
        server_hostname="localhost",
        authenticator=inbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def slack_api():
    """A loopback stand-in for Slack's Web API: records every call, answers ok."""
    received: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                payload = json.loads(body)
            else:
                payload = {k: v[0] for k, v in parse_qs(body).items()}
            received.append((self.path, {**payload, "authorization": self.headers.get("Authorization")}))
            answer = json.dumps({"ok": True, "channel": "C1", "ts": "1.0"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/", received
    server.shutdown()
    server.server_close()
    thread.join(5)


@dg.op
def boom():
    raise RuntimeError("Magento is down")


@dg.job
def failing_job():
    boom()


@dg.asset(check_specs=[dg.AssetCheckSpec("all_good", asset="checked")])
def checked():
    yield dg.Output(1)
    yield dg.AssetCheckResult(
        check_name="all_good",
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description="3 rows were wrong",
    )


def _settings(smtp_port, slack_url, monkeypatch):
    monkeypatch.setenv("NACENTO_ALERT_SLACK_TOKEN", "xoxb-test")
    return Settings.from_env(
        {
            "NACENTO_ALERT_EMAIL_TO": "ops@example.com, oncall@example.com",
            "NACENTO_ALERT_SMTP_HOST": "localhost",
            "NACENTO_ALERT_SMTP_PORT": str(smtp_port),
            "NACENTO_ALERT_SMTP_TYPE": "SSL",
            "NACENTO_ALERT_SMTP_PASSWORD": "pw",
            "NACENTO_ALERT_SLACK_TOKEN": "xoxb-test",
            "NACENTO_ALERT_SLACK_CHANNEL": "#catalog-ops",
            "NACENTO_ALERT_SLACK_BASE_URL": slack_url,
            "NACENTO_DAGSTER_URL": "http://dagster.test",
        }
    )


def test_alerts_are_off_by_default():
    assert build_alert_sensors(Settings.from_env({})) == []
    assert alert_resources(Settings.from_env({})) == {}


def test_run_failure_reaches_email_and_slack(smtp_server, slack_api, monkeypatch):
    inbox, port = smtp_server
    slack_url, received = slack_api
    settings = _settings(port, slack_url, monkeypatch)
    sensors = {s.name: s for s in build_alert_sensors(settings)}
    assert set(sensors) == {RUN_FAILURE_EMAIL, RUN_FAILURE_SLACK, CHECK_FAILURE_ALERT}
    with dg.instance_for_test() as instance:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        [entry] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
        failure = entry.dagster_event
        resources = {"alert_slack": alert_resources(settings)["alert_slack"]}
        for name in (RUN_FAILURE_EMAIL, RUN_FAILURE_SLACK):
            context = dg.build_run_status_sensor_context(
                sensor_name=name,
                dagster_instance=instance,
                dagster_run=result.dagster_run,
                dagster_event=failure,
                resources=resources,
            ).for_run_failure()
            sensors[name](context)
    [mail] = inbox.messages
    assert inbox.logins == [("nacento-pipeline@localhost", "pw")]
    assert mail["Subject"] == "[nacento] run failing_job failed"
    assert "ops@example.com" in mail["To"] and "oncall@example.com" in mail["To"]
    body = mail.get_payload()
    assert "Magento is down" in body and f"http://dagster.test/runs/{result.run_id}" in body
    [(path, payload)] = received
    assert path == "/api/chat.postMessage" and payload["channel"] == "#catalog-ops"
    assert payload["authorization"] == "Bearer xoxb-test"
    assert "failing_job" in payload["text"] and "Magento is down" in payload["text"]


def test_failed_check_alerts_once(smtp_server, slack_api, monkeypatch):
    inbox, port = smtp_server
    slack_url, received = slack_api
    settings = _settings(port, slack_url, monkeypatch)
    sensor = next(s for s in build_alert_sensors(settings) if s.name == CHECK_FAILURE_ALERT)
    resources = alert_resources(settings)
    with dg.instance_for_test() as instance:
        first = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert "from now on" in first.skip_message  # history is not alerted on
        context = dg.build_sensor_context(
            instance=instance, resources=resources, cursor=dt.datetime(2000, 1, 1, tzinfo=dt.UTC).isoformat()
        )
        assert dg.materialize([checked], instance=instance, raise_on_error=False)
        outcome = sensor(context)
        assert outcome.skip_message == "alerted on 1 failed check(s)"
        again = sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=context.cursor))
        assert again.skip_message.startswith("0 check result(s) in 0 finished run(s)")
    [mail] = inbox.messages
    assert mail["Subject"] == "[nacento] 1 asset check(s) failed"
    assert "all_good on checked failed (ERROR): 3 rows were wrong" in mail.get_payload()
    [(_, payload)] = received
    assert "all_good on checked failed" in payload["text"]


@dg.op
def boom_with_sql():
    raise RuntimeError(
        '(1062, "Duplicate entry <script>alert(1)</script>") '
        + "y" * 5000
        + "\n[SQL: INSERT INTO t (label) VALUES (%s)]\n[parameters: ('hunter2-label',)]"
    )


@dg.job
def failing_sql_job():
    boom_with_sql()


def test_run_failure_alert_is_cut_has_no_sql_values_and_is_escaped_in_html(
    smtp_server, slack_api, monkeypatch
):
    inbox, port = smtp_server
    slack_url, received = slack_api
    settings = _settings(port, slack_url, monkeypatch)
    sensors = {s.name: s for s in build_alert_sensors(settings)}
    with dg.instance_for_test() as instance:
        result = failing_sql_job.execute_in_process(instance=instance, raise_on_error=False)
        [entry] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
        resources = {"alert_slack": alert_resources(settings)["alert_slack"]}
        for name in (RUN_FAILURE_EMAIL, RUN_FAILURE_SLACK):
            sensors[name](
                dg.build_run_status_sensor_context(
                    sensor_name=name,
                    dagster_instance=instance,
                    dagster_run=result.dagster_run,
                    dagster_event=entry.dagster_event,
                    resources=resources,
                ).for_run_failure()
            )
    [mail] = inbox.messages
    body = mail.get_payload(decode=True).decode().replace("\n", "")  # lines of the HTML are cut for SMTP
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>" not in body
    assert "hunter2" not in body and "INSERT INTO" not in body
    assert f"http://dagster.test/runs/{result.run_id}" in body
    [(_, payload)] = received
    text = payload["text"]
    assert "hunter2" not in text and "[cut]" in text and len(text) <= 2048 + 10
    assert text.endswith(f"http://dagster.test/runs/{result.run_id}")
