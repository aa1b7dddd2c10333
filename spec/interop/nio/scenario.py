"""The two-user acceptance scenario driven by matrix-nio (AsyncClient).

Run by spec/interop/matrix-nio.spec.ts with the virtualenv's python:

    .venv/bin/python spec/interop/nio/scenario.py http://127.0.0.1:PORT

Two users register and log in, one creates a room and invites the other, who
joins; they exchange 200 messages; one edits and one redacts a message;
typing, receipts, name and topic changes travel between them; a third user is
kicked, rejoins, is banned and cannot rejoin; both paginate back through the
whole history, and fresh devices of both do too.

Everything the clients observe comes from nio's own sync loop (sync_forever
with response and ephemeral callbacks). The script prints one JSON object on
stdout: what each client saw, step by step, for the TypeScript side to assert
on and to compare with the server's /messages. It exits 0 when every step
completed, 1 when one failed (the summary says which and why), 2 on bad usage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    LoginResponse,
    MessageDirection,
    ReceiptEvent,
    RegisterResponse,
    RoomBanResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomKickResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomPutStateResponse,
    RoomRedactResponse,
    RoomSendResponse,
    RoomTypingResponse,
    SyncResponse,
    TypingNoticeEvent,
    UpdateReceiptMarkerResponse,
)
from nio.rooms import MatrixRoom

MESSAGES = 200
PASSWORD = "nio interop password"
WAIT_SECONDS = 15.0
# Incremental syncs may carry many events while the other user sends: a high
# limit keeps the live timelines free of gaps (a gap is reported, not hidden).
SYNC_FILTER = {"room": {"timeline": {"limit": 500}}}

log_lines: list[str] = []


class KeepWarnings(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        first_line = record.getMessage().strip().split("\n", 1)[0]
        log_lines.append(f"{record.name} {record.levelname}: {first_line}"[:300])


logging.basicConfig(level=logging.WARNING, handlers=[KeepWarnings()])


class StepFailed(Exception):
    pass


def event_id_of(event: Any) -> str | None:
    source = getattr(event, "source", None)
    return source.get("event_id") if isinstance(source, dict) else getattr(event, "event_id", None)


def describe(event: Any) -> dict[str, Any]:
    """What nio made of one timeline event: its id, type and the class nio parsed it into."""
    source = getattr(event, "source", {}) or {}
    return {"event_id": event_id_of(event), "type": source.get("type"), "nio_class": type(event).__name__}


def expect_response(response: Any, wanted: type, what: str) -> Any:
    if isinstance(response, wanted):
        return response
    status = getattr(getattr(response, "transport_response", None), "status", None)
    if isinstance(response, ErrorResponse):
        raise StepFailed(f"{what}: HTTP {status} {response.status_code}: {response.message}")
    raise StepFailed(f"{what}: unexpected {type(response).__name__} (HTTP {status}): {response}")


async def until(what: str, condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise StepFailed(f"timed out after {timeout:.0f} s waiting until {what}")
        await asyncio.sleep(0.02)


class Actor:
    """One user with one nio client, and what that client's sync loop delivered."""

    def __init__(self, name: str, localpart: str, base_url: str) -> None:
        self.name = name
        self.localpart = localpart
        self.base_url = base_url
        self.client: AsyncClient | None = None
        self.user_id = ""
        self.access_token = ""
        self.room_id = ""
        self.sync_task: asyncio.Task[None] | None = None
        # Per room id: timeline events in the order the sync loop delivered them.
        self.live: dict[str, list[dict[str, Any]]] = {}
        self.first_prev_batch: dict[str, str | None] = {}
        self.limited_after_first: dict[str, int] = {}
        self.membership: dict[str, dict[str, str]] = {}
        self.contents: dict[str, dict[str, Any]] = {}
        self.typing: list[list[str]] = []
        self.receipts: list[dict[str, Any]] = []
        self.syncs = 0

    def new_client(self) -> AsyncClient:
        config = AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False, max_timeouts=2, request_timeout=30)
        return AsyncClient(self.base_url, user=self.localpart, config=config)

    async def log_in(self, device: str) -> None:
        client = self.new_client()
        response = expect_response(await client.login(PASSWORD, device_name=device), LoginResponse, f"{self.name} logs in")
        self.client = client
        self.user_id = response.user_id
        self.access_token = response.access_token
        client.add_response_callback(self.on_sync, SyncResponse)
        client.add_ephemeral_callback(self.on_ephemeral, (TypingNoticeEvent, ReceiptEvent))

    async def on_sync(self, response: SyncResponse) -> None:
        self.syncs += 1
        for room_id, joined in response.rooms.join.items():
            timeline = joined.timeline
            if room_id not in self.first_prev_batch:
                self.first_prev_batch[room_id] = timeline.prev_batch
            elif timeline.limited:
                self.limited_after_first[room_id] = self.limited_after_first.get(room_id, 0) + 1
            events = self.live.setdefault(room_id, [])
            for event in timeline.events:
                events.append(describe(event))
                source = getattr(event, "source", {}) or {}
                if source.get("event_id"):
                    self.contents[source["event_id"]] = source
                if source.get("type") == "m.room.member" and isinstance(source.get("state_key"), str):
                    membership = (source.get("content") or {}).get("membership")
                    self.membership.setdefault(room_id, {})[source["state_key"]] = membership

    async def on_ephemeral(self, room: MatrixRoom, event: Any) -> None:
        if room.room_id != self.room_id:
            return
        if isinstance(event, TypingNoticeEvent):
            self.typing.append(list(event.users))
        elif isinstance(event, ReceiptEvent):
            for receipt in event.receipts:
                self.receipts.append({"event_id": receipt.event_id, "user_id": receipt.user_id, "type": str(getattr(receipt.receipt_type, "value", receipt.receipt_type))})

    def start_sync(self) -> None:
        assert self.client is not None
        self.sync_task = asyncio.ensure_future(self.client.sync_forever(timeout=10_000, sync_filter=SYNC_FILTER, full_state=True))

    async def stop(self) -> None:
        if self.client is not None:
            self.client.stop_sync_forever()
        if self.sync_task is not None:
            self.sync_task.cancel()
            try:
                await self.sync_task
            except BaseException:  # noqa: BLE001 - cancelled, or the loop's own failure (already reported)
                pass
        if self.client is not None:
            await self.client.close()

    def live_ids(self, room_id: str) -> list[str]:
        return [e["event_id"] for e in self.live.get(room_id, [])]

    def has(self, room_id: str, event_id: str) -> bool:
        return any(e["event_id"] == event_id for e in self.live.get(room_id, []))

    def sync_error(self) -> str | None:
        if self.sync_task is not None and self.sync_task.done() and not self.sync_task.cancelled():
            error = self.sync_task.exception()
            return f"{self.name}'s sync loop ended: {error!r}" if error else f"{self.name}'s sync loop ended"
        return None


async def paginate_back(client: AsyncClient, room_id: str, token: str | None) -> tuple[list[dict[str, Any]], int]:
    """Pages GET /messages backwards from token to the room's start; returns the events oldest first and the page count."""
    events: list[dict[str, Any]] = []
    pages = 0
    while token is not None:
        pages += 1
        if pages > 100:
            raise StepFailed("paginated 100 pages without reaching the start of the room")
        response = expect_response(
            await client.room_messages(room_id, start=token, direction=MessageDirection.back, limit=50),
            RoomMessagesResponse,
            "GET /messages",
        )
        events.extend(describe(e) for e in response.chunk)
        if not response.chunk or response.end is None:
            break
        token = response.end
    events.reverse()
    return events, pages


async def main(base_url: str) -> int:
    run = uuid.uuid4().hex[:8]
    alice = Actor("alice", f"nio_alice_{run}", base_url)
    bob = Actor("bob", f"nio_bob_{run}", base_url)
    charlie = Actor("charlie", f"nio_charlie_{run}", base_url)
    fresh_devices: list[Actor] = []
    summary: dict[str, Any] = {"client": "matrix-nio", "steps": {}, "messages": MESSAGES}
    state: dict[str, Any] = {}
    aborted: list[str] = []

    async def step(name: str, body: Callable[[], Awaitable[dict[str, Any] | None]], prerequisite: bool = False) -> None:
        if aborted:
            summary["steps"][name] = {"ok": False, "skipped": True, "error": f"not run: step '{aborted[0]}' failed"}
            return
        started = time.monotonic()
        record: dict[str, Any] = {"ok": True}
        try:
            record.update(await body() or {})
        except StepFailed as failure:
            record.update(ok=False, error=str(failure))
        except Exception as failure:  # noqa: BLE001 - any crash is this step's failure, reported in the summary
            record.update(ok=False, error=f"{type(failure).__name__}: {failure}", traceback=traceback.format_exc()[-2000:])
        for actor in (alice, bob):
            problem = actor.sync_error()
            if problem and record["ok"]:
                record.update(ok=False, error=problem)
        record["seconds"] = round(time.monotonic() - started, 3)
        summary["steps"][name] = record
        if prerequisite and not record["ok"]:
            aborted.append(name)

    async def register_all() -> dict[str, Any]:
        for actor in (alice, bob, charlie):
            anonymous = actor.new_client()
            try:
                response = expect_response(await anonymous.register(actor.localpart, PASSWORD, device_name=f"nio {actor.name} signup"), RegisterResponse, f"{actor.name} registers")
            finally:
                await anonymous.close()
            await actor.log_in(f"nio {actor.name}")
            if actor.user_id != response.user_id:
                raise StepFailed(f"login answered {actor.user_id}, registration {response.user_id}")
        for actor in (alice, bob):
            actor.start_sync()
        await until("both sync loops completed a sync", lambda: alice.syncs > 0 and bob.syncs > 0)
        return {"users": {a.name: a.user_id for a in (alice, bob, charlie)}}

    async def create_invite_join() -> dict[str, Any]:
        assert alice.client and bob.client and charlie.client
        created = expect_response(
            await alice.client.room_create(name="interop", topic="first topic", preset=RoomPreset.public_chat),
            RoomCreateResponse,
            "alice creates the room",
        )
        room_id = created.room_id
        state["room_id"] = room_id
        for actor in (alice, bob, charlie):
            actor.room_id = room_id
        await until("alice's sync has the room", lambda: room_id in alice.client.rooms)
        expect_response(await alice.client.room_invite(room_id, bob.user_id), RoomInviteResponse, "alice invites bob")
        await until("bob's sync shows the invite", lambda: room_id in bob.client.invited_rooms)
        expect_response(await bob.client.join(room_id), JoinResponse, "bob joins")
        await until("bob's sync shows him joined", lambda: room_id in bob.client.rooms and bob.membership.get(room_id, {}).get(bob.user_id) == "join")
        expect_response(await charlie.client.join(room_id), JoinResponse, "charlie joins")
        await until("both see charlie joined", lambda: all(a.membership.get(room_id, {}).get(charlie.user_id) == "join" for a in (alice, bob)))
        return {"room_id": room_id}

    async def exchange_messages() -> dict[str, Any]:
        assert alice.client and bob.client
        room_id = state["room_id"]
        ids: list[str] = []
        for i in range(MESSAGES):
            sender = alice if i % 2 == 0 else bob
            assert sender.client
            response = expect_response(
                await sender.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": f"message {i} from {sender.name}"}),
                RoomSendResponse,
                f"message {i}",
            )
            ids.append(response.event_id)
        state["message_ids"] = ids
        await until(f"both sync loops delivered all {MESSAGES} messages", lambda: all(all(a.has(room_id, i) for i in ids) for a in (alice, bob)))
        bodies = {a.name: [(a.contents[i].get("content") or {}).get("body") for i in ids] for a in (alice, bob)}
        return {"message_ids": ids, "bodies": bodies}

    async def edit() -> dict[str, Any]:
        assert alice.client
        room_id = state["room_id"]
        target = state["message_ids"][MESSAGES - 2]
        response = expect_response(
            await alice.client.room_send(
                room_id,
                "m.room.message",
                {
                    "msgtype": "m.text",
                    "body": "* edited by alice",
                    "m.new_content": {"msgtype": "m.text", "body": "edited by alice"},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": target},
                },
            ),
            RoomSendResponse,
            "alice sends the edit",
        )
        state["edit_id"] = response.event_id
        await until("bob's sync delivered the edit", lambda: bob.has(room_id, response.event_id))
        seen = bob.contents[response.event_id]
        return {"target": target, "edit_id": response.event_id, "bob_saw": {"content": seen.get("content"), "nio_class": next(e["nio_class"] for e in bob.live[room_id] if e["event_id"] == response.event_id)}}

    async def redact() -> dict[str, Any]:
        assert bob.client
        room_id = state["room_id"]
        target = state["message_ids"][MESSAGES - 1]
        response = expect_response(await bob.client.room_redact(room_id, target, reason="interop redaction"), RoomRedactResponse, "bob redacts")
        redaction_id = response.event_id
        state["redaction_id"] = redaction_id
        await until("alice's sync delivered the redaction", lambda: alice.has(room_id, redaction_id))
        seen = next(e for e in alice.live[room_id] if e["event_id"] == redaction_id)
        source = alice.contents[redaction_id]
        result = {"target": target, "redaction_id": redaction_id, "alice_saw": {**seen, "redacts": source.get("redacts"), "content": source.get("content")}}
        if seen["nio_class"] != "RedactionEvent":
            raise StepFailed(
                f"alice's nio parsed the redaction as {seen['nio_class']}, not RedactionEvent: nio requires the top-level `redacts` key, "
                f"which the server left out (top-level redacts={source.get('redacts')!r}, content={source.get('content')!r}); "
                "the room v11 spec says servers should add it when serving m.room.redaction over the client-server API"
            )
        return result

    async def typing_and_receipts() -> dict[str, Any]:
        assert alice.client and bob.client
        room_id = state["room_id"]
        expect_response(await alice.client.room_typing(room_id, True, 20_000), RoomTypingResponse, "alice types")
        await until("bob's sync shows alice typing", lambda: any(alice.user_id in users for users in bob.typing))
        expect_response(await alice.client.room_typing(room_id, False), RoomTypingResponse, "alice stops typing")
        await until("bob's sync shows alice stopped typing", lambda: bool(bob.typing) and alice.user_id not in bob.typing[-1])
        edit_id = state["edit_id"]
        expect_response(await bob.client.update_receipt_marker(room_id, edit_id), UpdateReceiptMarkerResponse, "bob sends a read receipt")
        await until("alice's sync shows bob's read receipt", lambda: any(r["user_id"] == bob.user_id and r["event_id"] == edit_id for r in alice.receipts))
        assert alice.client
        room = alice.client.rooms[room_id]
        return {
            "bob_typing_seen": bob.typing,
            "alice_receipts_seen": [r for r in alice.receipts if r["user_id"] == bob.user_id],
            "alice_room_read_receipt": getattr(room.read_receipts.get(bob.user_id), "event_id", None),
        }

    async def name_and_topic() -> dict[str, Any]:
        assert alice.client and bob.client
        room_id = state["room_id"]
        for event_type, content in (("m.room.name", {"name": "interop renamed"}), ("m.room.topic", {"topic": "second topic"})):
            expect_response(await alice.client.room_put_state(room_id, event_type, content), RoomPutStateResponse, f"alice sets {event_type}")
        for actor in (alice, bob):
            assert actor.client
            client = actor.client
            await until(f"{actor.name} sees the new name and topic", lambda: client.rooms[room_id].name == "interop renamed" and client.rooms[room_id].topic == "second topic")
        return {a.name: {"name": a.client.rooms[room_id].name, "topic": a.client.rooms[room_id].topic} for a in (alice, bob) if a.client}

    async def kick_ban() -> dict[str, Any]:
        assert alice.client and charlie.client
        room_id = state["room_id"]
        seen: dict[str, list[str | None]] = {"alice": [], "bob": []}

        def note() -> None:
            for a in (alice, bob):
                seen[a.name].append(a.membership.get(room_id, {}).get(charlie.user_id))

        for what, call, answer, wanted in (
            ("alice kicks charlie", lambda: alice.client.room_kick(room_id, charlie.user_id, "interop kick"), RoomKickResponse, "leave"),
            ("charlie rejoins", lambda: charlie.client.join(room_id), JoinResponse, "join"),
            ("alice bans charlie", lambda: alice.client.room_ban(room_id, charlie.user_id, "interop ban"), RoomBanResponse, "ban"),
        ):
            expect_response(await call(), answer, what)
            await until(f"both see charlie's membership '{wanted}' after: {what}", lambda: all(a.membership.get(room_id, {}).get(charlie.user_id) == wanted for a in (alice, bob)))
            note()
        refused = await charlie.client.join(room_id)
        if not isinstance(refused, ErrorResponse):
            raise StepFailed(f"a banned user's join succeeded: {refused}")
        return {
            "membership_seen": seen,
            "rejoin_after_ban": {"http_status": refused.transport_response.status if refused.transport_response else None, "errcode": refused.status_code},
        }

    async def paginate() -> dict[str, Any]:
        room_id = state["room_id"]
        result: dict[str, Any] = {"live": {}, "history": {}, "pages": {}, "limited_after_first_sync": {}}
        for actor in (alice, bob):
            assert actor.client
            older, pages = await paginate_back(actor.client, room_id, actor.first_prev_batch.get(room_id))
            result["live"][actor.name] = actor.live_ids(room_id)
            result["history"][actor.name] = [e["event_id"] for e in older] + actor.live_ids(room_id)
            result["pages"][actor.name] = pages
            result["limited_after_first_sync"][actor.name] = actor.limited_after_first.get(room_id, 0)
        result["access_token"] = alice.access_token
        return result

    async def fresh_device_history() -> dict[str, Any]:
        room_id = state["room_id"]
        result: dict[str, Any] = {}
        for actor in (alice, bob):
            device = Actor(f"{actor.name}-device2", actor.localpart, base_url)
            fresh_devices.append(device)
            await device.log_in(f"nio {actor.name} second device")
            assert device.client
            response = expect_response(
                await device.client.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 10}}}, full_state=True),
                SyncResponse,
                f"{device.name}'s initial sync",
            )
            joined = response.rooms.join.get(room_id)
            if joined is None:
                raise StepFailed(f"{device.name}'s initial sync has no joined room {room_id}")
            recent = [describe(e) for e in joined.timeline.events]
            older, pages = await paginate_back(device.client, room_id, joined.timeline.prev_batch)
            result[actor.name] = {
                "initial": [e["event_id"] for e in recent],
                "limited": joined.timeline.limited,
                "history": [e["event_id"] for e in older + recent],
                "pages": pages,
                "classes": sorted({e["nio_class"] for e in older + recent}),
                "room_name": device.client.rooms[room_id].name if room_id in device.client.rooms else None,
            }
        return result

    try:
        await step("register and log in", register_all, prerequisite=True)
        await step("create, invite, join", create_invite_join, prerequisite=True)
        await step("exchange messages", exchange_messages, prerequisite=True)
        await step("edit", edit)
        await step("redact", redact)
        await step("typing and receipts", typing_and_receipts)
        await step("name and topic", name_and_topic)
        await step("kick and ban", kick_ban)
        await step("paginate", paginate)
        await step("fresh devices", fresh_device_history)
    finally:
        for actor in (alice, bob, charlie, *fresh_devices):
            await actor.stop()
    summary["room_id"] = state.get("room_id")
    summary["ids"] = {key: state.get(key) for key in ("message_ids", "edit_id", "redaction_id")}
    summary["users"] = {a.name: a.user_id for a in (alice, bob, charlie)}
    summary["warnings"] = log_lines[-50:]
    print(json.dumps(summary))
    return 0 if all(s["ok"] for s in summary["steps"].values()) else 1


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].startswith("http"):
        print("usage: scenario.py BASE_URL (e.g. http://127.0.0.1:8008)", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1].rstrip("/"))))
