"""Sign-up, sign-in, tokens, sign-out, the current user and MFA."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, Request, Response, status
from pydantic import ValidationError
from sqlalchemy import select

from artisan.auth import account, mfa, service
from artisan.auth.dependencies import CurrentUser
from artisan.auth.kit import AuthKit
from artisan.auth.schemas import (
    AcceptInvitationRequest,
    LoginRequest,
    MeResponse,
    MfaCodeRequest,
    MfaDisableRequest,
    MfaSetupResponse,
    MfaStatus,
    PasswordChange,
    RecoveryCodes,
    RefreshRequest,
    SessionOut,
    SignupRequest,
    TenantBrief,
    TenantStart,
    TokenResponse,
)
from artisan.core.db import SessionDep
from artisan.core.dependencies import LimiterDep, SettingsDep
from artisan.core.errors import ValidationFailed, problem_responses
from artisan.core.network import client_ip
from artisan.core.pagination import Page, PageParams, page_params
from artisan.models.tenant import Tenant
from artisan.models.user import User

router = APIRouter(prefix="/api/auth", tags=["auth"])


def get_auth_kit(request: Request) -> AuthKit:
    """The process's sign-in toolkit."""
    kit: AuthKit = request.app.state.auth_kit
    return kit


AuthKitDep = Annotated[AuthKit, Depends(get_auth_kit)]


async def limit_anonymous(
    request: Request, response: Response, limiter: LimiterDep, settings: SettingsDep
) -> None:
    """Per-IP rate limit of routes that run before anyone is signed in."""
    result = await limiter.enforce("anonymous", settings.rate_limit_anonymous, client_ip(request))
    response.headers.update(result.headers())


async def _limit_login(
    request: Request, response: Response, limiter: LimiterDep, settings: SettingsDep, email: str
) -> None:
    by_ip = await limiter.enforce("login_ip", settings.rate_limit_login_ip, client_ip(request))
    await limiter.enforce("login_email", settings.rate_limit_login_email, email.lower())
    response.headers.update(by_ip.headers())


_PUBLIC_ERRORS = problem_responses(401, 409, 413, 422, 429)


@router.post(
    "/signup",
    response_model=TokenResponse,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(limit_anonymous)],
    responses=_PUBLIC_ERRORS,
)
async def signup(data: SignupRequest, session: SessionDep, kit: AuthKitDep) -> TokenResponse:
    """Create a company on a trial plan with its first admin, and sign the admin in."""
    return await service.signup(session, kit, data)


@router.post("/login", response_model=TokenResponse, responses=_PUBLIC_ERRORS)
async def login(
    data: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    kit: AuthKitDep,
    limiter: LimiterDep,
    settings: SettingsDep,
) -> TokenResponse:
    """Sign in with email and password (plus `mfa_code` when MFA is on)."""
    await _limit_login(request, response, limiter, settings, str(data.email))
    return await service.login(session, kit, data)


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    """The client id and secret of an `Authorization: Basic` header, if one was sent."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, client_secret = decoded.partition(":")
    return unquote(client_id) or None, unquote(client_secret) or None


@router.post("/token", response_model=TokenResponse, responses=_PUBLIC_ERRORS)
async def token(
    username: Annotated[str, Form(max_length=320, description="Email address")],
    password: Annotated[str, Form(max_length=256)],
    request: Request,
    response: Response,
    session: SessionDep,
    kit: AuthKitDep,
    limiter: LimiterDep,
    settings: SettingsDep,
    mfa_code: Annotated[str | None, Form(max_length=19)] = None,
    tenant_slug: Annotated[str | None, Form(max_length=63)] = None,
    client_id: Annotated[
        str | None, Form(max_length=63, description="Swagger's field for `tenant_slug`")
    ] = None,
    client_secret: Annotated[
        str | None, Form(max_length=19, description="Swagger's field for `mfa_code`")
    ] = None,
) -> TokenResponse:
    """OAuth2 password grant (form-encoded), so Swagger UI's Authorize button works.

    Swagger's dialog has no MFA or tenant field: put the 6-digit code in **client_secret** and
    the tenant's slug in **client_id** (in the body or as the Basic header Swagger sends).
    """
    basic_id, basic_secret = _basic_credentials(request)
    try:
        data = LoginRequest(
            email=username,
            password=password,
            mfa_code=mfa_code or client_secret or basic_secret or None,
            tenant_slug=tenant_slug or client_id or basic_id or None,
        )
    except ValidationError as exc:
        raise ValidationFailed(
            "The request is not valid; see errors",
            errors=[{"loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()],
        ) from exc
    await _limit_login(request, response, limiter, settings, str(data.email))
    return await service.login(session, kit, data)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    dependencies=[Depends(limit_anonymous)],
    responses=_PUBLIC_ERRORS,
)
async def refresh(data: RefreshRequest, session: SessionDep, kit: AuthKitDep) -> TokenResponse:
    """Trade a refresh token for new tokens; each refresh token works once."""
    return await service.refresh(session, kit, data.refresh_token)


@router.post(
    "/invitations/accept",
    response_model=TokenResponse,
    dependencies=[Depends(limit_anonymous)],
    responses=_PUBLIC_ERRORS,
)
async def accept_invitation(
    data: AcceptInvitationRequest, session: SessionDep, kit: AuthKitDep
) -> TokenResponse:
    """Accept an invitation: choose a password and sign in."""
    return await service.accept_invitation(session, kit, data.token, data.password)


@router.post(
    "/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(401, 429)
)
async def logout(principal: CurrentUser, session: SessionDep) -> Response:
    """End this session: its access and refresh tokens stop working at once."""
    await service.logout(session, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=MeResponse, responses=problem_responses(401, 429))
async def me(principal: CurrentUser, session: SessionDep) -> MeResponse:
    """The signed-in user, their tenant and the scopes their role grants."""
    user, tenant = (
        await session.execute(
            select(User, Tenant)
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(User.id == principal.user_id)
        )
    ).one()
    return MeResponse(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        is_superuser=user.is_superuser,
        mfa_enabled=user.mfa_enabled,
        last_login_at=user.last_login_at,
        scopes=sorted(principal.scopes),
        tenant=TenantBrief(
            id=tenant.id,
            name=tenant.name,
            slug=tenant.slug,
            plan=tenant.plan,
            trial_ends_at=tenant.trial_ends_at,
        ),
    )


@router.post(
    "/mfa/setup", response_model=MfaSetupResponse, responses=problem_responses(401, 409, 429)
)
async def mfa_setup(
    principal: CurrentUser, session: SessionDep, kit: AuthKitDep
) -> MfaSetupResponse:
    """Create a TOTP secret and otpauth URI; confirm it with /mfa/enable."""
    return await mfa.mfa_setup(session, kit, principal)


@router.post(
    "/mfa/enable", response_model=RecoveryCodes, responses=problem_responses(401, 409, 422, 429)
)
async def mfa_enable(
    data: MfaCodeRequest, principal: CurrentUser, session: SessionDep, kit: AuthKitDep
) -> RecoveryCodes:
    """Turn MFA on by proving the authenticator produces valid codes; answers ten recovery
    codes, each good for one sign-in without the authenticator, shown this once."""
    codes = await mfa.mfa_enable(session, kit, principal, data.code)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/mfa/recovery-codes",
    response_model=RecoveryCodes,
    responses=problem_responses(401, 409, 422, 429),
)
async def regenerate_recovery_codes(
    data: MfaCodeRequest, principal: CurrentUser, session: SessionDep, kit: AuthKitDep
) -> RecoveryCodes:
    """Replace your recovery codes (the old ones stop working); a current TOTP code required."""
    codes = await mfa.regenerate_recovery_codes(session, kit, principal, data.code)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/mfa/disable", response_model=MfaStatus, responses=problem_responses(401, 409, 422, 429)
)
async def mfa_disable(
    data: MfaDisableRequest, principal: CurrentUser, session: SessionDep, kit: AuthKitDep
) -> MfaStatus:
    """Turn MFA off (password and a current code required)."""
    await mfa.mfa_disable(session, kit, principal, data.password, data.code)
    return MfaStatus(mfa_enabled=False)


@router.post(
    "/tenants",
    response_model=TokenResponse,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 422, 429),
)
async def start_tenant(
    data: TenantStart, principal: CurrentUser, session: SessionDep, kit: AuthKitDep
) -> TokenResponse:
    """Create another company with you as its admin (same email and password); the tokens are
    for the new tenant, and signing in later takes its `tenant_slug`."""
    return await account.create_another_tenant(session, kit, principal, data.company_name)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 422, 429),
)
async def change_password(
    data: PasswordChange, principal: CurrentUser, session: SessionDep, kit: AuthKitDep
) -> Response:
    """Change your password (the current one required); every other session is signed out."""
    await account.change_password(session, kit, principal, data.current_password, data.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/sessions", response_model=Page[SessionOut], responses=problem_responses(401, 422, 429)
)
async def list_sessions(
    principal: CurrentUser,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[SessionOut]:
    """Your live sign-in sessions (device, address, when started and last used), newest first."""
    rows, cursor = await account.list_sessions(session, principal, page)
    return Page.of(rows, cursor)


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 429),
)
async def revoke_session(
    session_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> Response:
    """Sign one of your sessions out; its tokens stop working at once."""
    await account.revoke_session(session, principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
