"""Tenant admins manage their users: invite with a role, change roles, deactivate, remove."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from artisan.api_keys.verifier import Authenticator
from artisan.auth.dependencies import TokensDep, require_tenant_role
from artisan.auth.principal import Principal
from artisan.core.db import SessionDep
from artisan.core.errors import problem_responses
from artisan.core.pagination import Page, PageParams, page_params
from artisan.models.user import Role
from artisan.users import service
from artisan.users.schemas import UserInvite, UserInvited, UserOut, UserUpdate

router = APIRouter(prefix="/api/admin/{tenant_id}/users", tags=["users"])
TenantAdmin = Annotated[Principal, Depends(require_tenant_role("admin"))]
_ERRORS = problem_responses(401, 402, 403, 404, 409, 422, 429)


@router.get("", response_model=Page[UserOut], responses=_ERRORS)
async def list_users(
    tenant_id: uuid.UUID,
    principal: TenantAdmin,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    role: Role | None = None,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Search email and name")] = None,
) -> Page[UserOut]:
    """List the tenant's users, newest first."""
    rows, cursor = await service.list_users(
        session, principal, page, role=role, is_active=is_active, q=q
    )
    return Page.of([service.user_out(u) for u in rows], cursor)


@router.post("", response_model=UserInvited, status_code=status.HTTP_201_CREATED, responses=_ERRORS)
async def invite_user(
    tenant_id: uuid.UUID,
    data: UserInvite,
    principal: TenantAdmin,
    session: SessionDep,
    tokens: TokensDep,
) -> UserInvited:
    """Invite a user with a role; the response carries the one-time invitation token."""
    return await service.invite_user(session, principal, tokens, data)


@router.get("/{user_id}", response_model=UserOut, responses=_ERRORS)
async def get_user(
    tenant_id: uuid.UUID, user_id: uuid.UUID, principal: TenantAdmin, session: SessionDep
) -> UserOut:
    """Read one user."""
    return service.user_out(await service.get_user(session, principal, user_id))


@router.patch("/{user_id}", response_model=UserOut, responses=_ERRORS)
async def update_user(
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    data: UserUpdate,
    principal: TenantAdmin,
    session: SessionDep,
    authenticator: Authenticator,
) -> UserOut:
    """Rename a user, change their role, or deactivate/reactivate them."""
    user = await service.update_user(session, principal, user_id, data, authenticator)
    return service.user_out(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_user(
    tenant_id: uuid.UUID, user_id: uuid.UUID, principal: TenantAdmin, session: SessionDep
) -> Response:
    """Remove a user; the tenant's last admin cannot be removed."""
    await service.delete_user(session, principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{user_id}/invitation",
    response_model=UserInvited,
    responses=_ERRORS,
)
async def resend_invitation(
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: TenantAdmin,
    session: SessionDep,
    tokens: TokensDep,
) -> UserInvited:
    """Issue a new invitation token (7 days) for a user who has not accepted; the old one stops."""
    return await service.resend_invitation(session, principal, tokens, user_id)


@router.delete("/{user_id}/invitation", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def revoke_invitation(
    tenant_id: uuid.UUID, user_id: uuid.UUID, principal: TenantAdmin, session: SessionDep
) -> Response:
    """Withdraw an invitation nobody accepted; the invited user is removed."""
    await service.revoke_invitation(session, principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
