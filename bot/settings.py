"""Settings from the environment and `.env`. Built once by the CLI and passed down."""

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import setting_values as setting
from domain import IncidentError, ResponseTarget, ResponseTargets, Severity, parse_duration
from domain.alerts import AlertPolicy
from domain.calendar import BusinessCalendar, parse_days, parse_hours
from domain.errors import where_and_what
from domain.postmortem import Policy as PostmortemPolicy
from handlers.http import listens_on_loopback
from storage import async_url

_SECRET_WORDS = ("token", "secret", "url")
MANIFEST_HINT = "create the Slack app from manifest.yml (see README: 'Create the Slack app')"


class SettingsError(Exception):
    """A setting is missing or wrong. The message is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True, frozen=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///./var/firebreak.db"
    redis_url: str | None = None
    redis_prefix: str = "firebreak:"
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"  # loopback by default; production sets HOST=0.0.0.0 together with the tokens
    port: int = Field(default=3000, ge=1, le=65535)
    api_token: SecretStr | None = None
    incidents_channel: str | None = None
    incident_command: str = "/incident"
    response_target_sev1: str = "15m"
    response_target_sev2: str = "1h"
    response_target_sev3: str = "4h"
    response_target_sev4: str = "1bd"
    resolution_target_sev1: str = "4h"
    resolution_target_sev2: str = "24h"
    resolution_target_sev3: str = "1w"
    resolution_target_sev4: str = "2w"
    business_timezone: str = "UTC"
    business_hours: str = "00:00-24:00"
    business_days: str = "mon-fri"
    holidays_country: str | None = None
    holidays_extra: str = ""
    update_reminder_sev1: str = "30m"
    update_reminder_sev2: str = "60m"
    update_reminder_sev3: str = "off"
    update_reminder_sev4: str = "off"
    metrics_token: SecretStr | None = None
    alertmanager_token: SecretStr | None = None
    alerts_channel: str | None = None
    drill_channel: str | None = None  # where drills announce and post alert groups; unset: nowhere else
    drill_channel_prefix: str = "drill-"  # a drill incident's channel starts with it
    alert_severity_map: str = "critical=sev1,error=sev2,warning=sev3,info=sev4"
    alert_severity_label: str = "severity"
    alert_declare_up_to: str = "sev2"
    alert_service_labels: str = "service,team"
    alert_reopen_window: str = "1h"
    alert_auto_resolve: str = ""
    alert_max_body: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    card_update_interval: float = Field(default=1.0, ge=0, le=60)
    card_updates_per_minute: int = Field(default=50, ge=0, le=6000)
    repair_interval: float = Field(default=30.0, gt=0, le=3600)
    pager_interval: float = Field(default=0.5, gt=0, le=3600)
    pager_wake: bool = True  # a page created in this process is fired at once, not at the next tick
    slack_concurrency: int = Field(default=16, ge=1, le=10_000)  # Slack requests worked on at once; past it, busy
    database_pool_size: int = Field(default=20, ge=1, le=1000)  # PostgreSQL connections kept open
    # kept for what must not wait behind an alert storm's SQL work: the pager, and a new alert group's processing
    # (up to 16 groups at once, the worker's parallel runs: with fewer kept, the rest opened and closed one each)
    database_urgent_pool_size: int = Field(default=16, ge=1, le=100)
    setup_hold: float = Field(default=60.0, gt=0, le=3600)
    slack_effect_lease: float = Field(default=60.0, gt=0, le=3600)
    slack_effect_attempts: int = Field(default=6, ge=1, le=100)
    slack_effect_backoff: float = Field(default=2.0, gt=0, le=600)
    alert_max_attempts: int = Field(default=8, ge=1, le=100)
    alert_retry_backoff: float = Field(default=0.5, gt=0, le=60)
    runbooks_dir: Path = Path("runbooks")
    oncall_config: Path = Path("oncall.yaml")
    postmortem_required: str = "sev1,sev2"
    postmortem_due_days: int = Field(default=5, ge=1, le=60)
    action_item_due_days: str = "p1=7,p2=30,p3=90"
    postmortem_digest: bool = True
    reminder_interval: float = Field(default=30.0, gt=0, le=3600)
    public_url: str | None = None
    page_ack_secret: SecretStr | None = None
    page_ack_ttl: str = "1h"
    # all: one process does everything; web: Slack, the webhook and the API (alerts wait for a worker);
    # worker: the alert worker (with the background loops), serving only /healthz and /readyz
    process_role: Literal["all", "web", "worker"] = "all"
    # several processes on one host serve one port, the kernel spreading new connections among them
    # (SO_REUSEPORT; only processes of the same user can share it); off, a second start on the port fails
    reuse_port: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp- (with the connections:write scope)")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be the bot's public http:// or https:// base URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        async_url(value)  # raises ValueError naming the accepted forms
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL (or unset for the embedded Redis)")
        return value

    @field_validator("drill_channel_prefix")
    @classmethod
    def _drill_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,19}", value):
            raise ValueError("must be up to 20 lowercase letters, digits, - or _ (a Slack channel name's start)")
        return value

    @field_validator("incident_command")
    @classmethod
    def _command(cls, value: str) -> str:
        if not value.startswith("/") or " " in value:
            raise ValueError("must be a slash command such as /incident")
        return value

    @field_validator(
        "response_target_sev1", "response_target_sev2", "response_target_sev3", "response_target_sev4",
        "resolution_target_sev1", "resolution_target_sev2", "resolution_target_sev3", "resolution_target_sev4",
    )  # fmt: skip
    @classmethod
    def _target(cls, value: str) -> str:
        try:
            ResponseTarget.parse(value)
        except IncidentError as error:
            raise ValueError(f"{error} Business days are written like 1bd.") from None
        return value

    @field_validator("business_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA timezone such as Europe/Berlin") from None
        return value

    @field_validator("business_hours", "business_days", "holidays_extra")
    @classmethod
    def _calendar_part(cls, value: str, info: ValidationInfo) -> str:
        parse = {"business_hours": parse_hours, "business_days": parse_days, "holidays_extra": setting.dates}
        try:
            parse[str(info.field_name)](value)
        except IncidentError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("holidays_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in holidays.list_supported_countries():
            raise ValueError("must be a country code the holidays package knows, e.g. US, DE, GB")
        return value

    @field_validator("update_reminder_sev1", "update_reminder_sev2", "update_reminder_sev3", "update_reminder_sev4")
    @classmethod
    def _reminder(cls, value: str) -> str:
        try:
            setting.reminder_interval(value)
        except IncidentError as error:
            raise ValueError(f"{error} Or write off.") from None
        return value

    @field_validator("alert_severity_map")
    @classmethod
    def _severity_map(cls, value: str) -> str:
        setting.severity_map(value)
        return value

    @field_validator("alert_declare_up_to")
    @classmethod
    def _declare_up_to(cls, value: str) -> str:
        setting.severity(value)
        return value

    @field_validator("alert_auto_resolve")
    @classmethod
    def _auto_resolve(cls, value: str) -> str:
        for token in setting.items(value):
            setting.severity(token)
        return value

    @field_validator("postmortem_required")
    @classmethod
    def _postmortem_required(cls, value: str) -> str:
        for token in setting.items(value):
            setting.severity(token)
        return value

    @field_validator("action_item_due_days")
    @classmethod
    def _item_due_days(cls, value: str) -> str:
        setting.item_due_days(value)
        return value

    @property
    def postmortem_policy(self) -> PostmortemPolicy:
        return PostmortemPolicy(
            required=frozenset(setting.severity(token) for token in setting.items(self.postmortem_required)),
            due_business_days=self.postmortem_due_days,
            item_due_days=setting.item_due_days(self.action_item_due_days),
        )

    @field_validator("alert_reopen_window", "page_ack_ttl")
    @classmethod
    def _duration_setting(cls, value: str) -> str:
        try:
            parse_duration(value)
        except IncidentError as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def alert_policy(self) -> AlertPolicy:
        return AlertPolicy(
            severity_map=setting.severity_map(self.alert_severity_map),
            severity_label=self.alert_severity_label,
            declare_up_to=setting.severity(self.alert_declare_up_to),
            service_labels=tuple(setting.items(self.alert_service_labels)),
            reopen_window=parse_duration(self.alert_reopen_window),
            auto_resolve=frozenset(setting.severity(token) for token in setting.items(self.alert_auto_resolve)),
        )

    @property
    def response_targets(self) -> ResponseTargets:
        return setting.targets(self.response_target_sev1, self.response_target_sev2, self.response_target_sev3,
                        self.response_target_sev4)  # fmt: skip

    @property
    def resolution_targets(self) -> ResponseTargets:
        return setting.targets(self.resolution_target_sev1, self.resolution_target_sev2, self.resolution_target_sev3,
                        self.resolution_target_sev4)  # fmt: skip

    def business_calendar(self, years: range) -> BusinessCalendar:
        """The calendar business-time targets count on; country holidays are looked up for `years`."""
        opens, closes = parse_hours(self.business_hours)
        listed = set(setting.dates(self.holidays_extra))
        if self.holidays_country:
            listed |= set(holidays.country_holidays(self.holidays_country.upper(), years=years).keys())
        return BusinessCalendar(
            self.business_timezone, opens, closes, parse_days(self.business_days), frozenset(listed)
        )

    @property
    def update_reminders(self) -> dict[Severity, timedelta]:
        values = [
            self.update_reminder_sev1,
            self.update_reminder_sev2,
            self.update_reminder_sev3,
            self.update_reminder_sev4,
        ]
        every = {severity: setting.reminder_interval(value) for severity, value in zip(Severity, values, strict=True)}
        return {severity: interval for severity, interval in every.items() if interval is not None}

    @property
    def on_loopback(self) -> bool:
        """Whether the bot listens on a loopback address only (`HOST`): doors without a token are open then."""
        return listens_on_loopback(self.host)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def missing_slack(self) -> list[str]:
        """The Slack settings still needed before the bot can talk to Slack."""
        needed = {"SLACK_BOT_TOKEN": self.slack_bot_token}
        if not self.socket_mode:
            needed["SLACK_SIGNING_SECRET"] = self.slack_signing_secret
        return [name for name, value in needed.items() if value is None]


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one line per bad setting."""
    settings, problems = check_settings(**overrides)
    if problems:
        raise SettingsError("\n".join(problems))
    return settings


def check_settings(**overrides: object) -> tuple[Settings, list[str]]:
    """The settings and one line per bad setting; each bad one is at its default, so that what depends on the
    others (the on-call file, the runbooks) can still be checked."""
    try:
        return Settings(**overrides), []  # type: ignore[arg-type]
    except ValidationError as error:
        problems = [_describe(e) for e in error.errors()]
        bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]} & set(Settings.model_fields)
        defaults = {name: Settings.model_fields[name].get_default(call_default_factory=True) for name in bad}
    try:
        return Settings(**(overrides | defaults)), problems  # type: ignore[arg-type]
    except ValidationError:
        raise SettingsError("\n".join(problems)) from None


def _describe(error: ErrorDetails) -> str:
    name = str(error["loc"][0]).upper() if error["loc"] else "settings"
    _, message = where_and_what(error)
    given = error.get("input")
    secret = any(word in name.lower() for word in _SECRET_WORDS)  # URLs may carry passwords and tokens
    shown = "" if secret or isinstance(given, dict) else f" (got {given!r})"
    return f"invalid setting {name}: {message}{shown}"
