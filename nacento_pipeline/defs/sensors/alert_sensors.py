"""Alerts: a failed run, or a failed asset check, posts to Slack and/or sends an e-mail.

Off by default: no sensor exists until `NACENTO_ALERT_EMAIL_TO` or `NACENTO_ALERT_SLACK_TOKEN` is set.
Built on Dagster's own integrations: `make_email_on_run_failure_sensor` for failed runs by e-mail,
dagster-slack's `SlackResource` for Slack (with the Web API base URL configurable, for a proxy or a test
endpoint), and a plain-text e-mail over the same SSL/STARTTLS login for failed checks.
"""

from __future__ import annotations

import datetime as dt
import html
import smtplib
import ssl
from email.message import EmailMessage

import dagster as dg
from dagster_slack import SlackResource
from slack_sdk import WebClient

from nacento_pipeline.config import Settings
from nacento_pipeline.core.failure_text import FAILURE_TEXT_LIMIT, failure_text

RUN_FAILURE_EMAIL = "nacento_run_failure_email"
RUN_FAILURE_SLACK = "nacento_run_failure_slack"
CHECK_FAILURE_ALERT = "nacento_check_failure_alert"
RUNS_PER_TICK = 100
EMAIL_PIECE = 120  # characters per line of an e-mail's HTML (escaped: 6 bytes per character at most)
CHECKS_SHOWN = 10  # failed checks listed in one alert (each cut to about 2 KB)
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]


class AlertSlackResource(SlackResource):
    """dagster-slack's resource with the Web API's base URL as configuration (default: Slack itself)."""

    base_url: str = "https://slack.com/api/"

    def get_client(self) -> WebClient:
        """A Slack Web API client on the configured base URL."""
        return WebClient(token=self.token, base_url=self.base_url)


def alerts_enabled(settings: Settings) -> bool:
    """Whether any alert channel is configured (e-mail recipients or a Slack token)."""
    return bool(settings.alert_email_to or settings.alert_slack_token)


def _run_failure_text(context: dg.RunFailureSensorContext, settings: Settings) -> str:
    """The alert of a failed run: the run's failure and its first failed step's cause.

    Without SQL statements or values, cut to about 2 KB (core.failure_text); plain text (escaped where it
    goes into HTML).
    """
    run = context.dagster_run
    partition = run.tags.get("dagster/partition", "-")
    message = context.failure_event.message or "run failed"
    steps = context.get_step_failure_events()
    if steps and steps[0].step_failure_data.error is not None:  # the cause, not only "steps failed: [...]"
        error = steps[0].step_failure_data.error
        cause = error.cause.message if error.cause is not None else error.message
        message += f" {steps[0].step_key}: {cause.strip()}"
    link = f"\n{settings.dagster_url}/runs/{run.run_id}"
    return (
        failure_text(
            f"Run of {run.job_name} for partition {partition} failed: {message}",
            FAILURE_TEXT_LIMIT - len(link),
        )
        + link
    )


def _check_failure_text(evaluation: dg.AssetCheckEvaluation, run_id: str, settings: Settings) -> str:
    where = f" partition {evaluation.partition}" if evaluation.partition else ""
    link = f"\n{settings.dagster_url}/runs/{run_id}"
    return (
        failure_text(
            f"Check {evaluation.check_name} on {evaluation.asset_key.to_user_string()}{where} failed "
            f"({evaluation.severity.value}): {evaluation.description or 'see the run'}",
            FAILURE_TEXT_LIMIT - len(link),
        )
        + link
    )


def email_html(text: str) -> str:
    """Plain alert text as the HTML body of an e-mail: escaped, line breaks kept, no line too long for SMTP.

    SMTP allows 1,000 octets per line (an error without line breaks would be refused): each line is sent in
    pieces of EMAIL_PIECE characters, escaped one by one (an entity is never split), that HTML joins again.
    """
    return "<br>\n".join(
        "\n".join(
            html.escape(line[start : start + EMAIL_PIECE]) for start in range(0, len(line), EMAIL_PIECE)
        )
        for line in text.split("\n")
    )


def send_alert_email(settings: Settings, subject: str, body: str) -> None:
    """One HTML e-mail (the text escaped, email_html) to NACENTO_ALERT_EMAIL_TO.

    Sent over SSL or STARTTLS with login, as Dagster's run-failure e-mail sensor sends its own.
    """
    message = EmailMessage()
    message["From"] = settings.alert_email_from
    message["To"] = ", ".join(settings.alert_email_to)
    message["Subject"] = subject
    message.set_content(email_html(body), subtype="html")
    tls = ssl.create_default_context()
    user = settings.alert_smtp_user or settings.alert_email_from
    if settings.alert_smtp_type == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.alert_smtp_host, settings.alert_smtp_port, context=tls
        )
    else:
        server = smtplib.SMTP(settings.alert_smtp_host, settings.alert_smtp_port)
    with server:
        if settings.alert_smtp_type != "ssl":
            server.starttls(context=tls)
        server.login(user, settings.alert_smtp_password)
        server.send_message(message)


def build_alert_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    """The alert sensors the settings ask for (none by default), running from the start."""
    sensors: list[dg.SensorDefinition] = []
    if settings.alert_email_to:
        if settings.alert_smtp_type == "plain":
            raise dg.DagsterInvalidDefinitionError("Dagster's e-mail sensor sends over SSL or STARTTLS only")
        sensors.append(
            dg.make_email_on_run_failure_sensor(
                email_from=settings.alert_email_from,
                email_password=settings.alert_smtp_password,
                email_to=list(settings.alert_email_to),
                email_subject_fn=lambda c: f"[nacento] run {c.dagster_run.job_name} failed",
                email_body_fn=lambda c: email_html(_run_failure_text(c, settings)),
                smtp_host=settings.alert_smtp_host,
                smtp_type=settings.alert_smtp_type.upper(),
                smtp_port=settings.alert_smtp_port,
                smtp_user=settings.alert_smtp_user,
                name=RUN_FAILURE_EMAIL,
                webserver_base_url=settings.dagster_url,
                default_status=dg.DefaultSensorStatus.RUNNING,
            )
        )
    if settings.alert_slack_token:

        @dg.run_failure_sensor(
            name=RUN_FAILURE_SLACK,
            default_status=dg.DefaultSensorStatus.RUNNING,
            description="Posts every failed run to NACENTO_ALERT_SLACK_CHANNEL.",
        )
        def slack_on_run_failure(
            context: dg.RunFailureSensorContext, alert_slack: AlertSlackResource
        ) -> None:
            alert_slack.get_client().chat_postMessage(
                channel=settings.alert_slack_channel, text=_run_failure_text(context, settings)
            )

        sensors.append(slack_on_run_failure)
    if sensors:
        sensors.append(_check_failure_sensor(settings))
    return sensors


def alert_resources(settings: Settings) -> dict[str, AlertSlackResource]:
    """The Slack resource when a token is set (the token as EnvVar: never shown)."""
    if not settings.alert_slack_token:
        return {}
    return {
        "alert_slack": AlertSlackResource(
            token=dg.EnvVar("NACENTO_ALERT_SLACK_TOKEN"), base_url=settings.alert_slack_base_url
        )
    }


def _check_failure_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name=CHECK_FAILURE_ALERT,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends an alert for every failed asset check (ERROR and WARN) since its last tick.",
    )
    def check_failure_alert(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        # Runs finished since the cursor, then their check results: works on every event log storage
        # (the embedded SQLite one is sharded per run and cannot be scanned across runs by storage id).
        if not context.cursor:  # first tick: start from now, do not alert on history
            context.update_cursor(dt.datetime.now(dt.UTC).isoformat())
            return dg.SkipReason("alerting on check failures from now on")
        records = context.instance.get_run_records(
            dg.RunsFilter(statuses=FINISHED, updated_after=dt.datetime.fromisoformat(context.cursor)),
            limit=RUNS_PER_TICK,
            order_by="update_timestamp",
            ascending=True,
        )
        failed = []
        checked = 0
        for record in records:
            for entry in context.instance.all_logs(
                record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ):
                checked += 1
                evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
                if isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed:
                    failed.append(_check_failure_text(evaluation, entry.run_id, settings))
        if records:
            context.update_cursor(records[-1].update_timestamp.isoformat())
        if not failed:
            return dg.SkipReason(f"{checked} check result(s) in {len(records)} finished run(s), none failed")
        subject = f"[nacento] {len(failed)} asset check(s) failed"
        body = "\n\n".join(failed[:CHECKS_SHOWN]) + (
            f"\n\n... and {len(failed) - CHECKS_SHOWN} more failed check(s)"
            if len(failed) > CHECKS_SHOWN
            else ""
        )
        if settings.alert_email_to:
            send_alert_email(settings, subject, body)
        if settings.alert_slack_token:
            slack = AlertSlackResource(
                token=settings.alert_slack_token, base_url=settings.alert_slack_base_url
            )
            slack.get_client().chat_postMessage(
                channel=settings.alert_slack_channel, text=f"{subject}\n{body}"
            )
        return dg.SkipReason(f"alerted on {len(failed)} failed check(s)")

    return check_failure_alert
