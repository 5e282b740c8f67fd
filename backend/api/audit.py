"""The audit trail (admin only)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import json_response
from backend.schemas.auth import AuditList, AuditOut, AuditQuery
from backend.services import audit

bp = APIBlueprint("audit", __name__, url_prefix="/api/audit", abp_tags=[Tag(name="audit")])


@bp.get("", responses={200: AuditList})
def list_audit(query: AuditQuery) -> Response:
    """Who did what, newest first."""
    page = audit.list_events(action=query.action, username=query.username, page=query.page, per_page=query.per_page)
    names = audit.target_names(page.items)
    items = [AuditOut.of(event, target_name=names.get(event.id)) for event in page.items]
    return json_response(AuditList.of_page(page, items))
