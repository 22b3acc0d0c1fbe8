"""The notification service's HTTP API for operators: counts, never addresses.

Served on the operations listener only (``ServiceParts.operator_routers``).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ilmo_notification.storage import MailStore


class MailSummary(BaseModel):
    """Mails by kind and state (pending, waiting, sending, sent, failed, skipped)."""

    model_config = ConfigDict(frozen=True)

    kinds: dict[str, dict[str, int]] = Field(
        description="For each kind, how many mails are in each state. 'waiting' are pending "
        "mails whose contact or event details have not arrived; 'failed' are parked for an "
        "operator."
    )


def mails_router(mails: MailStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["operations"])

    @router.get("/mails/summary", response_model=MailSummary, summary="Mails by kind and state")
    async def summary() -> MailSummary:
        return MailSummary(kinds=await mails.summary())

    return router
