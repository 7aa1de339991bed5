"""Who a /v1 request acts for: the key's owner, or a sub-user of a trusted service key."""

from __future__ import annotations

from typing import Any

from accounts.services import sub_user_get_or_create
from proxy.models import ApiKey

SUB_USER_HEADER = "X-AutoSkill-User"


def acting_user(*, api_key: ApiKey, requested: object = None) -> Any:
    """The identity of a request. Only a service key may name a sub-user; others ignore it.

    Sub-users are created under the key's owner, so a service can never reach another
    owner's users, whatever name it sends.
    """
    if requested in (None, "") or not api_key.can_act_for_users:
        return api_key.owner
    if not isinstance(requested, str):
        requested = str(requested)
    return sub_user_get_or_create(parent=api_key.owner, external_id=requested)
