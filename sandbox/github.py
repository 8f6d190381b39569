"""GitHub OAuth simulator: the protocol django-allauth's GitHub provider speaks, on loopback.

allauth reaches it through its `GITHUB_URL` setting (GitHub Enterprise's URL layout):

- `GET  /login/oauth/authorize`     a page where a person picks or types which user to be
- `POST /login/oauth/authorize`     issues a one-time code and redirects to `redirect_uri`
- `POST /login/oauth/access_token`  exchanges the code (checked against client id, secret and
                                    redirect URI) for an access token
- `GET  /api/v3/user`               the signed-in user's profile (`Authorization: token ...`)
- `GET  /api/v3/user/emails`        their email addresses

so the whole OAuth dance really happens over HTTP, as it does against github.com.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import threading
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlencode, urlsplit

from sandbox.server import Request, Response, SandboxApp

LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
PRESET_USERS = ("octocat", "hubot", "monalisa")


@dataclass(frozen=True)
class _Grant:
    login: str
    client_id: str
    redirect_uri: str


def user_profile(login: str) -> dict[str, object]:
    """A stable GitHub-shaped profile for any login: the same login always gets the same id."""
    user_id = int(hashlib.sha256(login.lower().encode()).hexdigest()[:7], 16)
    return {
        "login": login,
        "id": user_id,
        "node_id": f"U_sandbox{user_id}",
        "avatar_url": f"https://avatars.githubusercontent.invalid/u/{user_id}",
        "html_url": f"https://github.invalid/{login}",
        "type": "User",
        "site_admin": False,
        "name": login.replace("-", " ").title(),
        "company": None,
        "blog": "",
        "location": None,
        "email": f"{login.lower()}@users.sandbox.test-customer.dev",
        "bio": None,
    }


class GitHubSandbox(SandboxApp):
    def __init__(self, *, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self._lock = threading.Lock()
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, str] = {}

    def handle(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        if route == ("GET", "/login/oauth/authorize"):
            return self._authorize_page(request)
        if route == ("POST", "/login/oauth/authorize"):
            return self._authorize(request)
        if route == ("POST", "/login/oauth/access_token"):
            return self._access_token(request)
        if route == ("GET", "/api/v3/user"):
            return self._user(request, emails=False)
        if route == ("GET", "/api/v3/user/emails"):
            return self._user(request, emails=True)
        return Response.json({"message": "Not Found"}, status=404)

    # -- the browser side ------------------------------------------------------------------

    def _authorize_page(self, request: Request, error: str = "") -> Response:
        client_id = request.arg("client_id")
        redirect_uri = request.arg("redirect_uri")
        if client_id != self.client_id:
            return Response.html(
                "<h1>Unknown OAuth application</h1><p>The client_id does not match the "
                "sandbox's application.</p>",
                status=400,
            )
        if not redirect_uri.startswith(("http://", "https://")):
            return Response.html("<h1>redirect_uri is missing or invalid</h1>", status=400)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(request.arg(k))}">'
            for k in ("client_id", "redirect_uri", "state", "scope")
        )
        presets = "".join(
            f'<button type="submit" name="login" value="{u}" data-testid="pick-{u}">'
            f"Continue as {u}</button> "
            for u in PRESET_USERS
        )
        app = html.escape(urlsplit(redirect_uri).netloc)
        message = f'<p role="alert" class="error">{html.escape(error)}</p>' if error else ""
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sign in to GitHub (sandbox)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
button{{margin:.25rem 0;padding:.5rem 1rem}} input[type=text]{{padding:.5rem;width:14rem}}
.note{{color:#555;font-size:.9rem}} .error{{color:#b00}}</style></head><body>
<h1>GitHub sandbox</h1>
<p><strong>{app}</strong> wants to sign you in with GitHub
(scopes: {html.escape(request.arg("scope") or "none")}).</p>
<p class="note">This is DCVaaS's local GitHub simulator: no account needed.
Pick a user or type any GitHub login.</p>{message}
<form method="post">{hidden}{presets}</form>
<form method="post">{hidden}
<label>GitHub login <input type="text" name="login" required data-testid="login-input"></label>
<button type="submit" data-testid="authorize">Authorize</button></form>
</body></html>"""
        return Response.html(page)

    def _authorize(self, request: Request) -> Response:
        form = request.form()
        login = form.get("login", "").strip()
        redirect_uri = form.get("redirect_uri", "")
        if form.get("client_id") != self.client_id or not redirect_uri:
            return Response.html("<h1>Invalid authorization request</h1>", status=400)
        if not LOGIN_RE.match(login):
            request.query = {k: [v] for k, v in form.items()}
            return self._authorize_page(
                request,
                error="A GitHub login is 1–39 letters, digits or single hyphens, "
                "and cannot start or end with a hyphen.",
            )
        code = secrets.token_hex(10)
        with self._lock:
            self._codes[code] = _Grant(login, self.client_id, redirect_uri)
        separator = "&" if "?" in redirect_uri else "?"
        query = urlencode({"code": code, "state": form.get("state", "")})
        return Response.redirect(f"{redirect_uri}{separator}{query}")

    # -- the server side -------------------------------------------------------------------

    def _access_token(self, request: Request) -> Response:
        data = request.form() if request.body else {k: v[0] for k, v in request.query.items()}
        with self._lock:
            grant = self._codes.pop(data.get("code", ""), None)  # codes are single-use
        valid = (
            grant is not None
            and data.get("client_id") == self.client_id
            and data.get("client_secret") == self.client_secret
            and data.get("redirect_uri", grant.redirect_uri) == grant.redirect_uri
        )
        if not valid or grant is None:
            # GitHub answers 200 with an error body for a bad code.
            return Response.json(
                {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                }
            )
        token = "gho_" + secrets.token_hex(18)
        with self._lock:
            self._tokens[token] = grant.login
        return Response.json(
            {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}
        )

    def _user(self, request: Request, *, emails: bool) -> Response:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        with self._lock:
            login = self._tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        if login is None:
            return Response.json({"message": "Bad credentials"}, status=401)
        profile = user_profile(login)
        if not emails:
            return Response.json(profile)
        return Response.json(
            [{"email": profile["email"], "primary": True, "verified": True, "visibility": None}]
        )


def app_from_settings() -> GitHubSandbox:
    from django.conf import settings

    app = cast(dict[str, str], settings.SOCIALACCOUNT_PROVIDERS["github"]["APP"])
    return GitHubSandbox(client_id=app["client_id"], client_secret=app["secret"])
