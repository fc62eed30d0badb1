"""PostgreSQL unreachable, read-only (a failover) or refusing one write: alert notifications wait, are retried,
dead-lettered and re-admitted; nothing is declared twice; a runbook or a page webhook refused once is sent once."""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
import sqlalchemy
from aiohttp import web
from aiohttp.test_utils import TestServer
from psycopg import sql
from redis.asyncio import Redis

from bot.cli import retry_dead
from bot.settings import Settings
from handlers.http import DATABASE_UNAVAILABLE
from handlers.paging import PAGER
from storage import Keys
from tests.bot.harness import Bot
from tests.faults.proxy import Proxy
from tests.faults.scenario import PRIMARY, page_dms, with_webhook
from tests.fixtures import ALERTMANAGER as ALERTS

FIRING = "01-firing-single-critical"
REPEAT = "02-repeat-single-critical"  # byte-identical to 01: Alertmanager's repeat_interval


@pytest.fixture
def read_only(database_url: str) -> Iterator[Callable[[bool], None]]:
    """`read_only(True)` turns the test's PostgreSQL database read-only for every new and pooled connection."""
    url = sqlalchemy.make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False).replace("+psycopg", "")

    def switch(on: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            name = sql.Identifier(str(url.database))
            value = sql.SQL("on" if on else "off")
            connection.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(name, value))
            pids = [  # pooled connections keep their setting: end them, the pool reconnects
                pid
                for (pid,) in connection.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,)
                )
            ]
            for pid in pids:
                connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
            gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)"
            for _ in range(200):  # until they have exited: their goodbyes are on the pool's sockets
                if connection.execute(gone, (pids,)).fetchone() == (0,):
                    break
                time.sleep(0.01)

    yield switch
    switch(False)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_read_only_database_dead_letters_the_alert_and_its_repeat_is_admitted(
    start_bot: Callable[..., Awaitable[Bot]],
    read_only: Callable[[bool], None],
    redis: Redis,
    keys: Keys,
    make_settings: Callable[..., Settings],
) -> None:
    """Read-only PG: retried, then dead-lettered and announced; once writable, the repeat and retry-dead
    declare exactly one incident with the alert on its timeline once."""
    bot = await start_bot(alert_max_attempts=3, alert_retry_backoff=0.01)
    read_only(True)
    response = await bot.fixture(FIRING)
    assert response.status == 200
    assert await redis.xlen(keys.alert_dead()) == 1
    notices = [
        c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == bot.alerts_channel
    ]
    assert any("retry-dead" in text for text in notices)
    scrape = await (await bot.http.get("/metrics")).text()
    assert "firebreak_alerts_dead_lettered_total 1.0" in scrape.splitlines()
    read_only(False)
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []
    assert (await bot.fixture(REPEAT)).status == 200  # admitted again: its states were unmarked
    assert await retry_dead(make_settings()) == 1
    await bot.settle()
    incidents: list[dict[str, Any]] = (await bot.api("/api/incidents?status=all"))["incidents"]
    assert [incident["number"] for incident in incidents] == [1]
    kinds = [event["kind"] for event in (await bot.api("/api/incidents/1/timeline"))["events"]]
    assert kinds.count("alert_firing") == 1
    assert await redis.xlen(keys.alert_dead()) == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_alert_waits_out_an_unreachable_database_and_declares_once(
    start_bot: Callable[..., Awaitable[Bot]], database_url: str, redis: Redis, keys: Keys
) -> None:
    """PostgreSQL cut off: a declaration is refused (nothing stored), the API answers 503 and says why, an alert
    is accepted and retried; once the database is back the alert declares exactly one incident."""
    url = sqlalchemy.make_url(database_url)
    async with Proxy(f"tcp://{url.host}:{url.port or 5432}") as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        bot = await start_bot(database_url=proxied, alert_max_attempts=50, alert_retry_backoff=0.01)
        await proxy.stop()
        refused = await bot.post_signed(_declaration(bot), "application/x-www-form-urlencoded")
        assert "Declared incident" not in await refused.text()  # the user is not told it is declared
        unavailable = await bot.api("/api/incidents?status=all", status=503)
        assert unavailable == {"error": DATABASE_UNAVAILABLE}  # said plainly, not a bare 500
        body = (ALERTS / f"{FIRING}.json").read_bytes()
        assert (await bot.admit(body)).status == 200
        for _ in range(500):  # bounded (10 s): until the worker has failed twice against the dead database
            if int(await redis.hget(keys.alert_attempts(), (await _inbox_ids(redis, keys))[0]) or 0) >= 2:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the worker never tried the notification twice against the dead database")
        await proxy.start()
        await bot.settle()
        incidents = (await bot.api("/api/incidents?status=all"))["incidents"]
        kinds = [event["kind"] for event in (await bot.api("/api/incidents/1/timeline"))["events"]]
    assert [(i["number"], i["source"]["kind"]) for i in incidents] == [(1, "alertmanager")]
    assert (kinds.count("declared"), kinds.count("alert_firing")) == (1, 1)
    assert await redis.xlen(keys.alert_dead()) == 0


async def _inbox_ids(redis: Redis, keys: Keys) -> list[bytes | str]:
    """The queued notifications' ids, the priority lane's first (a group's first notification goes there)."""
    lanes = [keys.alert_inbox_priority(), keys.alert_inbox()]
    return [entry_id for lane in lanes for entry_id, _ in await redis.xrange(lane) or [] if entry_id] or ["none"]


def _declaration(bot: Bot) -> str:
    form = {
        "command": "/incident",
        "text": "declare Checkout is down sev1",
        "user_id": "U0ALICE",
        "channel_id": "C0GENERAL",
        "team_id": "T0TEAM",
        "response_url": bot.response_url(),
        "trigger_id": "trigger-sql-down",
    }
    return urlencode(form)


@pytest.fixture
def refused_once(database_url: str) -> Iterator[Callable[[str], None]]:
    """`refused_once(pattern)`: the database refuses the first queued Slack effect whose once-token is LIKE
    `pattern`, as a failing disk or a failover would, then takes every write again. (A sequence counts the
    refusals: unlike a table, it is not rolled back with the refused transaction.)"""
    url = sqlalchemy.make_url(database_url).render_as_string(hide_password=False).replace("+psycopg", "")

    def refuse(pattern: str) -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE SEQUENCE refusals")
            connection.execute(
                sql.SQL(
                    "CREATE FUNCTION refuse_once() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.once LIKE {} AND nextval('refusals') = 1 THEN RAISE EXCEPTION 'disk I/O'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                ).format(sql.Literal(pattern))
            )
            connection.execute(
                "CREATE TRIGGER refuse_once BEFORE INSERT ON slack_effects FOR EACH ROW EXECUTE FUNCTION refuse_once()"
            )

    yield refuse
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TRIGGER IF EXISTS refuse_once ON slack_effects")
        connection.execute("DROP FUNCTION IF EXISTS refuse_once()")
        connection.execute("DROP SEQUENCE IF EXISTS refusals")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_runbook_the_database_refused_once_is_posted_when_the_notification_is_retried(
    start_bot: Callable[..., Awaitable[Bot]], refused_once: Callable[[str], None]
) -> None:
    """The runbook's post could not be queued: the notification is retried, and the runbook posted once."""
    bot = await start_bot(alert_retry_backoff=0.01)
    refused_once("runbook:%")
    assert (await bot.fixture(FIRING)).status == 200
    channel = (await bot.api("/api/incidents/1"))["channel_id"]
    posts = [c for c in bot.slack.calls_to("chat.postMessage") if c.ok and c.args["channel"] == channel]
    assert len([c for c in posts if "Runbook for" in str(c.args["text"])]) == 1
    kinds = [event["kind"] for event in (await bot.api("/api/incidents/1/timeline"))["events"]]
    assert kinds.count("runbook") == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_page_webhook_the_database_refused_once_is_sent_when_the_page_is_taken_again(
    start_bot: Callable[..., Awaitable[Bot]], refused_once: Callable[[str], None]
) -> None:
    """The gateway webhook could not be queued mid-page: the page's timer is taken again after its lease and
    the gateway gets the page, once; the DM went out once."""
    received: list[dict[str, Any]] = []

    async def gateway(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/sms", gateway)
    async with TestServer(app, host="127.0.0.1") as server:
        bot = await start_bot(
            oncall=with_webhook(str(server.make_url("/sms"))),
            pager_interval=3600,
            pager_wake=False,
            page_ack_secret="test-page-ack-secret",
            public_url="https://bot.example",
        )
        refused_once("page:%")
        await bot.declare("Checkout is down sev1")
        with pytest.raises(sqlalchemy.exc.DBAPIError):
            await bot.http.app[PAGER].tick()
        bot.clock.advance(timedelta(seconds=31))  # past the timer's lease: the page is taken again
        await bot.http.app[PAGER].tick()
        await bot.settle()
        await bot.http.app[PAGER].tick()
        await bot.settle()
    assert [r["user"] for r in received] == [PRIMARY]
    assert page_dms(bot) == Counter({PRIMARY: 1})
