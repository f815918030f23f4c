"""/groupes: coordinators create, rename, archive groups, link their Telegram chat, and invite.

Who may do what: a global coordinator (COORDINATOR_IDS, or appointed without a group) creates,
archives and restores groups; the coordinator of a group renames it, gets its invitation link
and QR code, and links or unlinks its Telegram group chat. Buttons carry "gp:<action>:<id>"
(routed by handlers/core/buttons.py) and every press re-checks these rights: the id comes from the client.

Linking a chat uses Telegram's `?startgroup=g<id>` deep link: the coordinator picks a group
in Telegram, Telegram adds the bot and sends `/start g<id>` there from that coordinator, and
`on_start_in_group` stores `groups.chat_id` if the sender may manage that group.

The typed parts (name, short id, new name, whom to appoint) live in a `Dialog` row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import ContextTypes

from bot import notify
from bot.i18n import SafeHTML, t
from handlers.core import dialog
from handlers.core.buttons import BadButton, Button, ButtonFn, ButtonRouter, coordinators_only
from handlers.core.common import Ctx, Keyboard, Reply, handler, int_or_none
from handlers.core.qr import qr_png
from storage import dialogs
from storage import groups as store
from storage import meetings as meetings_store
from storage import users as users_store
from storage.models import Dialog, Group, User

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

FLOW = "groups"
APPOINT_FLOW = "appoint"
KEEP_WORDS = {"oui", "ok", "garder", "gardez", "je garde", "d'accord", "valider", "yes", "keep"}
TEXT_BUDGET = 3500  # characters of group lines in /groupes: a message holds 4,096
BUTTONS_SHOWN = 90  # group buttons in one message: Telegram accepts 100 buttons


# -- links ------------------------------------------------------------------------------------


def invite_link(ctx: Ctx, group_id: int) -> str:
    """Opens the bot in private and joins the group (handled by /start g<id>)."""
    return f"https://t.me/{ctx.services.bot_username}?start=g{group_id}"


def chat_link(ctx: Ctx, group_id: int) -> str:
    """Lets Telegram add the bot to a group chat of the coordinator's choice, then /start g<id> there."""
    return f"https://t.me/{ctx.services.bot_username}?startgroup=g{group_id}"


# -- what a coordinator may see ---------------------------------------------------------------


async def managed_groups(ctx: Ctx) -> list[Group]:
    """The active groups this user coordinates (all of them for a global coordinator)."""
    allowed = await ctx.coordinated_group_ids()
    return [g for g in await users_store.list_groups(ctx.session) if allowed is None or g.id in allowed]


async def managed_group(ctx: Ctx, group_id: int, *, active: bool = True) -> Group | None:
    """The group if this user may manage it (and, if `active`, it is not archived); else say why and None."""
    group = await store.get_group(ctx.session, group_id)
    if group is None or not await ctx.may_manage_group(group.id):
        ctx.refuse()
        return None
    if active and group.archived_at is not None:  # an older message's button, or archived by someone else
        ctx.refuse("groups.is_archived", name=group.name)
        return None
    return group


def group_buttons(groups: list[Group], data: str) -> list[list[tuple[str, str]]]:
    """One button per group, `data` formatted with the group id ("gp:open:{id}")."""
    return [[(g.name[:60], data.format(id=g.id))] for g in groups[:BUTTONS_SHOWN]]


# -- /groupes ---------------------------------------------------------------------------------


@handler
async def on_groups(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/groupes: the groups this coordinator manages, and (global coordinators) a new one."""
    if not await ctx.is_coordinator():
        ctx.refuse()
        return
    text, keyboard = await groups_overview(ctx)
    ctx.send(text, keyboard)


async def groups_overview(ctx: Ctx) -> tuple[str, Keyboard]:
    groups = await managed_groups(ctx)
    archived = await store.archived_groups(ctx.session) if ctx.is_admin else []
    if not groups:
        text = ctx.t("groups.none_admin" if ctx.is_admin else "groups.none_managed")
        keyboard: list[list[tuple[str, str]]] = [[(ctx.t("groups.button_first"), "gp:new:0")]] if ctx.is_admin else []
    else:
        counts = await store.member_counts(ctx.session, [g.id for g in groups])
        lines = [ctx.t("groups.list_header")]
        used, shown = 0, 0
        for g in groups:
            chat = ctx.t("groups.chat_linked" if g.chat_id else "groups.chat_none")
            members = ctx.tn("groups.members", counts[g.id])
            line = ctx.t("groups.list_line", name=g.name, slug=g.slug, members=members, chat=chat)
            if used + len(line) > TEXT_BUDGET:
                break
            lines.append(line)
            used, shown = used + len(line) + 1, shown + 1
        if shown < len(groups):
            lines.append(ctx.tn("groups.list_more", len(groups) - shown))
        lines.append(ctx.t("groups.list_pick"))
        text = "\n".join(lines)
        keyboard = group_buttons(groups, "gp:open:{id}")
        if ctx.is_admin:
            keyboard.append([(ctx.t("groups.button_new"), "gp:new:0")])
    if archived:
        keyboard.append([(ctx.t("groups.button_archived", n=len(archived)), "gp:arch:0")])
    return text, keyboard


async def group_card(ctx: Ctx, group: Group) -> tuple[str, Keyboard]:
    """A group's details and what this coordinator may do with it."""
    members = (await store.member_counts(ctx.session, [group.id]))[group.id]
    lines = [
        ctx.t(
            "groups.card",
            name=group.name,
            slug=group.slug,
            members=ctx.tn("groups.members", members),
            chat=ctx.t("groups.chat_linked" if group.chat_id else "groups.chat_none"),
        )
    ]
    if group.archived_at is not None:
        lines.append(ctx.t("groups.card_archived"))
        keyboard = [[(ctx.t("groups.button_restore"), f"gp:unarc:{group.id}")]] if ctx.is_admin else []
        keyboard.append([(ctx.t("groups.button_back"), "gp:list:0")])
        return "\n\n".join(lines), keyboard
    lines.append(ctx.t("groups.card_invite", link=invite_link(ctx, group.id)))
    if not group.chat_id:
        lines.append(ctx.t("groups.card_chat_help"))
    keyboard = [
        [(ctx.t("groups.button_invite"), f"gp:inv:{group.id}")],
        [(ctx.t("groups.button_link_chat"), f"url:{chat_link(ctx, group.id)}")],
    ]
    if group.chat_id:
        keyboard.append([(ctx.t("groups.button_unlink_chat"), f"gp:unl:{group.id}")])
    keyboard.append([(ctx.t("groups.button_rename"), f"gp:ren:{group.id}")])
    if ctx.is_admin:
        keyboard.append([(ctx.t("groups.button_archive"), f"gp:arc:{group.id}")])
    keyboard.append([(ctx.t("groups.button_back"), "gp:list:0")])
    return "\n\n".join(lines), keyboard


def send_invitation(ctx: Ctx, group: Group) -> None:
    """The invitation link as text, then its QR code (a PNG to print or paste in an e-mail)."""
    link = invite_link(ctx, group.id)
    ctx.say("groups.invite", name=group.name, link=link)
    ctx.send_photo(
        qr_png(link),
        caption=ctx.t("groups.invite_qr_caption", name=group.name, link=link),
        filename=f"qr-groupe-{group.slug}.png",
    )


# -- creating a group -------------------------------------------------------------------------


async def start_creation(ctx: Ctx) -> None:
    """Ask for the new group's name (global coordinators only; the caller checked)."""
    await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, FLOW, "name", {})
    ctx.say("groups.ask_name", max=store.NAME_MAX)


async def first_run(ctx: Ctx, *, edit: bool = False) -> None:
    """No active group yet and a global coordinator writes: guide them to create the first one.

    `edit`: replace the message whose button was pressed (a group list that has nothing to list).
    """
    (ctx.edit if edit else ctx.send)(ctx.t("groups.first_run", name=ctx.user.first_name))
    await start_creation(ctx)


async def read_name(ctx: Ctx, text: str, *, except_id: int | None = None) -> str | None:
    """A valid, unused group name, or None after saying what is wrong."""
    name = store.clean_name(text)
    if not name:
        ctx.say("groups.name_empty")
    elif len(name) > store.NAME_MAX:
        ctx.say("groups.name_too_long", length=len(name), max=store.NAME_MAX)
    elif await store.name_taken(ctx.session, name, except_id=except_id):
        ctx.say("groups.name_taken", name=name)
    else:
        return name
    return None


async def step_name(ctx: Ctx, d: Dialog, text: str) -> None:
    if not ctx.is_admin:  # rights can change half-way through
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.refuse()
        return
    name = await read_name(ctx, text)
    if name is None:
        return
    slug = await store.free_slug(ctx.session, store.slugify(name))
    dialogs.advance(d, "slug", name=name, slug=slug)
    ask_slug(ctx, slug)


def ask_slug(ctx: Ctx, slug: str) -> None:
    ctx.say(
        "groups.ask_slug",
        [[(ctx.t("groups.button_keep_slug", slug=slug), "gp:slug:0")]],
        slug=slug,
        min=store.SLUG_MIN,
        max=store.SLUG_MAX,
    )


async def step_slug(ctx: Ctx, d: Dialog, text: str) -> None:
    """A short id typed instead of the proposed one: checked, then the group is created."""
    if not ctx.is_admin:
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.refuse()
        return
    typed = text.strip()
    if dialog.normalized(typed) in KEEP_WORDS:  # "oui", "ok": they mean the proposal, not a group called "oui"
        await create(ctx, d, str(d.data.get("slug", "")))
        return
    slug = typed.lower()
    if not store.slug_is_valid(slug):
        example = await store.free_slug(ctx.session, store.slugify(typed) or store.slugify(d.data.get("name", "")))
        ctx.say("groups.slug_invalid", typed=typed[:60], min=store.SLUG_MIN, max=store.SLUG_MAX, example=example)
        return
    await create(ctx, d, slug)


async def create(ctx: Ctx, d: Dialog, slug: str) -> None:
    name = str(d.data.get("name", ""))
    if await store.name_taken(ctx.session, name):  # created by someone else meanwhile
        dialogs.advance(d, "name")
        ctx.say("groups.name_taken", name=name)
        return
    group = None
    if not await store.slug_taken(ctx.session, slug):
        group = await store.create_group(ctx.session, name=name, slug=slug)
    if group is None:
        free = await store.free_slug(ctx.session, slug)
        dialogs.advance(d, "slug", slug=free)
        ctx.say("groups.slug_taken", slug=slug)
        ask_slug(ctx, free)
        return
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    ctx.say("groups.created", name=group.name, slug=group.slug)
    text, keyboard = await group_card(ctx, group)
    ctx.send(f"{text}\n\n{ctx.t('groups.next_steps')}", keyboard)
    send_invitation(ctx, group)


async def step_rename(ctx: Ctx, d: Dialog, text: str) -> None:
    group = await managed_group(ctx, int(d.data.get("gid", 0)))
    if group is None:
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        return
    name = await read_name(ctx, text, except_id=group.id)
    if name is None:
        return
    old, group.name = group.name, name
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    ctx.say("groups.renamed", old=old, name=name)


# -- buttons ----------------------------------------------------------------------------------


async def pressed_list(ctx: Ctx, _: int) -> None:
    text, keyboard = await groups_overview(ctx)
    ctx.edit(text, keyboard)


async def pressed_open(ctx: Ctx, group_id: int) -> None:
    group = await managed_group(ctx, group_id, active=False)
    if group is not None:
        text, keyboard = await group_card(ctx, group)
        ctx.edit(text, keyboard)


async def pressed_new(ctx: Ctx, _: int) -> None:
    ctx.edit(ctx.t("groups.new_started"))
    await start_creation(ctx)


async def pressed_keep_slug(ctx: Ctx, _: int) -> None:
    d = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    if d is None or d.flow != FLOW or d.step != "slug":
        raise BadButton("not choosing a short id")
    slug = str(d.data.get("slug", ""))
    ctx.edit(ctx.t("groups.slug_chosen", slug=slug))
    await create(ctx, d, slug)


async def pressed_invite(ctx: Ctx, group_id: int) -> None:
    group = await managed_group(ctx, group_id)
    if group is not None:
        send_invitation(ctx, group)


async def pressed_rename(ctx: Ctx, group_id: int) -> None:
    group = await managed_group(ctx, group_id)
    if group is None:
        return
    await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, FLOW, "rename", {"gid": group.id})
    ctx.edit(ctx.t("groups.ask_rename", name=group.name, slug=group.slug, max=store.NAME_MAX))


async def pressed_unlink(ctx: Ctx, group_id: int) -> None:
    group = await managed_group(ctx, group_id)
    if group is None:
        return
    group.chat_id = None
    ctx.edit(ctx.t("groups.unlinked", name=group.name))


async def pressed_archive(ctx: Ctx, group_id: int) -> None:
    group = await managed_group(ctx, group_id)
    if group is None:
        return
    ctx.edit(
        ctx.t("groups.archive_question", name=group.name),
        [
            [(ctx.t("groups.button_archive_yes"), f"gp:arcok:{group.id}")],
            [(ctx.t("groups.button_archive_no"), f"gp:open:{group.id}")],
        ],
    )


async def pressed_archive_ok(ctx: Ctx, group_id: int) -> None:
    group = await managed_group(ctx, group_id, active=False)
    if group is None:
        return
    store.archive(group, ctx.now)
    ctx.edit(ctx.t("groups.archived", name=group.name))


async def pressed_archived_list(ctx: Ctx, _: int) -> None:
    archived = await store.archived_groups(ctx.session)
    if not archived:
        ctx.edit(ctx.t("groups.archived_none"), [[(ctx.t("groups.button_back"), "gp:list:0")]])
        return
    keyboard = group_buttons(archived, "gp:open:{id}")
    keyboard.append([(ctx.t("groups.button_back"), "gp:list:0")])
    ctx.edit(ctx.t("groups.archived_header"), keyboard)


async def pressed_restore(ctx: Ctx, group_id: int) -> None:
    group = await managed_group(ctx, group_id, active=False)
    if group is None:
        return
    if group.archived_at is not None and await store.name_taken(ctx.session, group.name):
        ctx.edit(ctx.t("groups.restore_name_taken", name=group.name))
        return
    store.restore(group)
    ctx.edit(ctx.t("groups.restored", name=group.name))


# Actions only a global coordinator may take (creating, archiving, restoring).
ADMIN_ONLY = {"new", "slug", "arc", "arcok", "arch", "unarc"}
BUTTONS = {
    "list": pressed_list,
    "open": pressed_open,
    "new": pressed_new,
    "slug": pressed_keep_slug,
    "inv": pressed_invite,
    "ren": pressed_rename,
    "unl": pressed_unlink,
    "arc": pressed_archive,
    "arcok": pressed_archive_ok,
    "arch": pressed_archived_list,
    "unarc": pressed_restore,
}


def _with_id(fn: Callable[[Ctx, int], Awaitable[None]]) -> ButtonFn:
    """gp:<action>:<group id, or 0>."""

    async def pressed(ctx: Ctx, button: Button) -> None:
        await fn(ctx, button.int(0))

    return pressed


async def _admin_only_actions(ctx: Ctx, button: Button) -> bool:
    """Creating, archiving and restoring groups is for global coordinators."""
    return button.action not in ADMIN_ONLY or ctx.is_admin


for _action, _fn in BUTTONS.items():
    router.on("gp", _action, _with_id(_fn), args=1)
router.on("gp", "apt", lambda ctx, button: pressed_appoint(ctx, button.int(0), button.int(1, bits=64)), args=2)
router.guard("gp", coordinators_only)
router.guard("gp", _admin_only_actions)


# -- linking a Telegram group chat ------------------------------------------------------------


@handler
async def on_start_in_group(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start g<id> in a group chat: Telegram sends it after the startgroup link added the bot."""
    payload = context.args[0] if context.args else ""
    group_id = int_or_none(payload[1:]) if payload.startswith("g") else None
    if group_id is None:
        ctx.say("groups.chat.start_hint", link=f"https://t.me/{ctx.services.bot_username}")
        return
    group = await store.get_group(ctx.session, group_id, active=True)
    if group is None:
        ctx.say("groups.chat.unknown")
        return
    if not await ctx.may_manage_group(group.id):
        ctx.say("groups.chat.not_allowed")
        return
    chat = update.effective_chat
    title = (chat.title if chat is not None else None) or str(ctx.chat_id)
    group.chat_id = ctx.chat_id
    ctx.say("groups.chat.linked_here", name=group.name)
    ctx.replies.append(Reply(ctx.t("groups.chat.linked_private", title=title, name=group.name), chat_id=ctx.user.id))


# -- /coordinateur: the group is picked from buttons, never typed blind ----------------------


@handler
async def on_appoint(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/coordinateur [@pseudo|id] [short id]: whom, then which group (buttons), or all groups."""
    if not await ctx.is_coordinator():
        ctx.refuse()
        return
    args = context.args or []
    if not args:
        await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, APPOINT_FLOW, "who", {})
        ctx.say("groups.appoint.ask_who")
        return
    target = await users_store.find_user(ctx.session, args[0])
    if target is None:
        ctx.say("coord.appoint.unknown_user", ref=args[0][:64])
        return
    if len(args) == 1:
        await offer_groups(ctx, target, "groups.appoint.pick_group")
        return
    slug = " ".join(args[1:]).strip().lower()
    group = await meetings_store.group_by_slug(ctx.session, slug)
    if group is None:
        await offer_groups(ctx, target, "groups.appoint.unknown_group", slug=slug[:64])
        return
    if not await ctx.may_manage_group(group.id):
        ctx.refuse()
        return
    await appoint(ctx, target, group)


async def step_who(ctx: Ctx, d: Dialog, text: str) -> None:
    if not await ctx.is_coordinator():
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.refuse()
        return
    target = await users_store.find_user(ctx.session, text.split()[0] if text.split() else "")
    if target is None:
        ctx.say("coord.appoint.unknown_user", ref=text.strip()[:64])
        return
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    await offer_groups(ctx, target, "groups.appoint.pick_group")


async def offer_groups(ctx: Ctx, target: User, key: str, **params: str) -> None:
    """The groups this coordinator may appoint `target` to, as buttons (plus "all" for admins)."""
    groups = await managed_groups(ctx)
    keyboard = group_buttons(groups, f"gp:apt:{{id}}:{target.id}")
    if ctx.is_admin:
        keyboard.append([(ctx.t("groups.appoint.button_all"), f"gp:apt:0:{target.id}")])
    text = ctx.t(key, name=target.display_name, **params)
    if not groups:
        text = f"{text}\n{ctx.t('groups.appoint.no_group')}"
    ctx.send(text, keyboard)


async def pressed_appoint(ctx: Ctx, group_id: int, target_id: int) -> None:
    """gp:apt:<group, 0 = every group>:<user>: the rights on the group first, then the person."""
    group = None
    if group_id == 0 and not ctx.is_admin:
        ctx.refuse("coord.appoint.only_admin_everywhere")
        return
    if group_id != 0 and (group := await managed_group(ctx, group_id)) is None:
        return
    target = await ctx.session.get(User, target_id)
    if target is None:
        raise BadButton("that person is gone")
    await appoint(ctx, target, group, edit=True)


async def appoint(ctx: Ctx, target: User, group: Group | None, *, edit: bool = False) -> None:
    """Make `target` coordinator of `group` (None: every group) and tell them."""
    if group is None and not ctx.is_admin:
        ctx.refuse("coord.appoint.only_admin_everywhere")
        return
    await users_store.appoint_coordinator(ctx.session, target, group.id if group else None)
    scope_key = "coord.appoint.scope_group" if group else "coord.appoint.scope_all"
    group_name = group.name if group else ""

    def scope(lang: str) -> SafeHTML:
        return SafeHTML(t(scope_key, lang, group=group_name))

    (ctx.edit if edit else ctx.send)(ctx.t("coord.appoint.done", name=target.display_name, scope=scope(ctx.lang)))
    await notify.notify(
        ctx.session,
        [target.id],
        purpose=f"appointed:u{target.id}:g{group.id if group else 0}:upd{ctx.update_id}",
        render=lambda lang: (t("coord.appoint.you_are", lang, scope=scope(lang)), None),
        default_lang=ctx.services.settings.default_locale,
    )
    ctx.wake_outbox = True


# The guided conversations of this module, installed by handlers.install.
FLOWS: dict[str, dict[str, dialog.StepFn]] = {
    FLOW: {"name": step_name, "slug": step_slug, "rename": step_rename},
    APPOINT_FLOW: {"who": step_who},
}
