"""Schemas of the chat platforms' slash-command callbacks: the form they post, the message
pushgate answers."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate


def _text(description: str) -> fields.String:
    return fields.String(metadata={"description": description})


class ChatCommandSchema(Schema):
    """The form a slash command posts (Slack and Mattermost send the same names); fields a
    platform adds are accepted and ignored."""

    class Meta:
        unknown = INCLUDE

    command = _text("The slash command, e.g. `/pushgate`.")
    text = _text(
        "What follows the command: `push SOURCE --app SLUG --to TARGET`, `plan ...`, "
        "`status ID`, `cancel ID` or `help`."
    )
    team_id = _text("The workspace (Slack `T…`) or team; grants match on it.")
    channel_id = _text("The channel; grants match on it.")
    user_id = _text("The user; grants match on it, and the audit trail records it.")
    user_name = _text("The user's name, recorded beside the id.")
    response_url = _text(
        "Where updates of a push go; its host must be on PUSHGATE_CHATOPS_RESPONSE_HOSTS."
    )
    trigger_id = _text("The command's id: a push's idempotency key, so a retry pushes once.")
    token = _text("Mattermost: the command's token (or the `Authorization: Token` header).")


class ChatMessageSchema(Schema):
    """The message chat shows at once (updates go to the command's response_url)."""

    response_type = fields.String(validate=validate.OneOf(["ephemeral", "in_channel"]))
    replace_original = fields.Boolean(metadata={"description": "Slack only: always false."})
    text = _text("The message as plain text (Slack: the fallback of `blocks`).")
    blocks = fields.List(fields.Dict(), metadata={"description": "Slack only: Block Kit."})
