"""A token from a vending server instead of a key: `mint --from URL`, `exec --from URL`.

The caller proves who it is with what its CI gives it (an OIDC ID token) or a bearer token;
the server (`momento-tvm serve`) decides the profile's scope, lifetime and token id, and
mints. No Momento key is involved on this side.

- Identity (`identity_from`): `--id-token-env NAME` or `--bearer-file FILE` when given (one of
  them); else, in GitHub Actions, an ID token requested for the audience; else
  `$MOMENTO_TVM_BEARER`; else none (an open server).
- One deadline (`--timeout`) covers the ID-token request and the token: 429 and 503 are asked
  again after their Retry-After while it allows, then exit 5; 401 and 403 exit 4 with the
  server's message; unreachable, 504 and other 5xx exit 5; anything that is not a
  momento-tvm answer exits 1, saying so.
- https:// with the system's CAs; plain http:// only to loopback (`netaddr.http_url_problem`).
  The credential sent is never printed, and a server message repeating it is withheld.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from tvmcli.credentials.decoding import CredentialFormatError, Kind, parse_credential
from tvmcli.credentials.jwtcodec import JwtFormatError, decode_unverified
from tvmcli.errors import (
    MintTimeoutError,
    RefusedError,
    UnavailableError,
    UnexpectedAnswerError,
    UsageError,
)
from tvmcli.minting.tokens import Token
from tvmcli.system import envvars, text_files
from tvmcli.system.netaddr import http_url_problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tvmcli.system.httpfetch import Fetched

# asyncio, email.utils and httpfetch (h11, ssl) load only when something is fetched: a
# `--from --reuse` hit reads this module for server_address and identity_from alone.

DEFAULT_AUDIENCE = "momento-tvm"
MAX_ANSWER_BYTES = 64 * 1024
RETRIED = frozenset({429, 503})
OnRetry = Callable[[int, str], None]
_ENVELOPES = (Kind.DISPOSABLE_TOKEN, Kind.ENVELOPE)  # what a vending server hands out


class Identity:
    """Who the caller says it is. `kind` names the source (never the value) for messages;
    `kind`, `audience` and `who` make the --reuse key. `who` is a SHA-256 digest of who the
    caller is (of the bearer token; of the ID token's `iss` and `sub`; in GitHub Actions, of
    the repository, run and job), never a secret; None when it cannot be told, and then a
    token is never reused. The value itself is fetched by `value`."""

    def __init__(
        self,
        kind: str,
        describe: str,
        *,
        value: str | None = None,
        audience: str | None = None,
        request: tuple[str, str] | None = None,
        who: str | None = None,
    ) -> None:
        self.kind = kind
        self.describe = describe
        self.audience = audience
        self.who = who
        self._value = value
        self._request = request  # GitHub Actions: (request URL, request token)

    def __repr__(self) -> str:
        return f"Identity({self.kind!r}, audience={self.audience!r})"

    async def value(self, ends: float, on_retry: OnRetry) -> str | None:
        if self._request is None:
            return self._value
        url, token = self._request
        audience = self.audience or DEFAULT_AUDIENCE
        return await _github_id_token(url, token, audience, ends, on_retry)


def identity_from(
    env: Mapping[str, str],
    *,
    id_token_env: str | None,
    bearer_file: Path | None,
    audience: str | None,
) -> Identity:
    """The caller's identity, first found: a flag's, GitHub Actions', $MOMENTO_TVM_BEARER's."""
    if id_token_env is not None and bearer_file is not None:
        raise UsageError("--id-token-env and --bearer-file are two identities: give one")
    if audience is not None and (id_token_env is not None or bearer_file is not None):
        raise UsageError(
            "--audience is what GitHub Actions' ID token is asked for; "
            "an ID token in a variable already has its audience"
        )
    if id_token_env is not None:
        return _id_token_in(env, id_token_env)
    if bearer_file is not None:
        bearer = _read_bearer(bearer_file)
        return Identity(
            f"bearer-file:{bearer_file}",
            f"the bearer token in {bearer_file}",
            value=bearer,
            who=_digest("bearer", bearer),
        )
    request_url = env.get(envvars.ACTIONS_ID_TOKEN_REQUEST_URL, "")
    request_token = env.get(envvars.ACTIONS_ID_TOKEN_REQUEST_TOKEN, "")
    if request_url and request_token:
        return Identity(
            "github-actions",
            "a GitHub Actions ID token",
            audience=audience or DEFAULT_AUDIENCE,
            request=(request_url, request_token),
            who=_github_job(env),
        )
    if audience is not None:
        raise UsageError(
            "--audience needs GitHub Actions' ID token, which is not available here",
            hint="The job needs `permissions: id-token: write`.",
        )
    bearer = env.get(envvars.TVM_BEARER, "").strip()
    if bearer:
        _check_header_safe(bearer, f"${envvars.TVM_BEARER}")
        return Identity(
            "bearer-env",
            f"the bearer token in ${envvars.TVM_BEARER}",
            value=bearer,
            who=_digest("bearer", bearer),
        )
    return Identity("none", "no identity", who="")  # an open server: everyone is one caller


def _id_token_in(env: Mapping[str, str], name: str) -> Identity:
    """--id-token-env NAME: an ID token the CI put in a variable (GitLab's id_tokens:)."""
    token = env.get(name, "").strip()
    if not token:
        raise UsageError(
            f"--id-token-env: ${name} is not set or empty",
            hint="In GitLab CI, declare it under id_tokens: in the job.",
        )
    _check_header_safe(token, f"${name}")
    return Identity(
        f"id-token-env:{name}",
        f"the ID token in ${name}",
        value=token,
        audience=_unverified_audience(token),
        who=_id_token_subject(token),
    )


def server_address(url: str, source: str = "--from") -> str:
    """The --from URL (`source` says where it came from), checked, without a trailing /token:
    the server's address (the --reuse key uses it)."""
    try:
        parts = urlsplit(url)
        secret_in_url = parts.username is not None or parts.password is not None
    except ValueError:
        secret_in_url = False
    if secret_in_url:  # checked first: the URL is never shown, it holds a password
        raise UsageError(f"{source}: a URL cannot carry a user or password; use --bearer-file")
    problem = http_url_problem(url)
    if problem is not None:
        raise UsageError(f"{source} {_shown(url)} {problem}")
    if parts.query or parts.fragment:
        raise UsageError(f"{source} takes the server's address, without ?query or #fragment")
    path = parts.path.rstrip("/").removesuffix("/token")
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


def fetch_token(
    address: str,
    profile: str,
    identity: Identity,
    *,
    token_id: str | None,
    timeout: float,
    on_retry: OnRetry | None = None,
) -> Token:
    """The token for `profile` from the server at `address` (see `server_address`).
    `on_retry(number, reason)` hears of each retry (a terminal shows it)."""
    from tvmcli.system.syncrun import run_sync

    tell = on_retry or (lambda number, reason: None)
    return run_sync(lambda: _fetch_token(address, profile, identity, token_id, timeout, tell))


async def _fetch_token(
    address: str,
    profile: str,
    identity: Identity,
    token_id: str | None,
    timeout: float,
    on_retry: OnRetry,
) -> Token:
    ends = time.monotonic() + timeout
    credential = await identity.value(ends, on_retry)
    query = {"profile": profile, **({"name": token_id} if token_id is not None else {})}
    url = f"{address}/token?{urlencode(query)}"
    headers = [("Authorization", f"Bearer {credential}")] if credential else []
    what = f"the vending server at {address}"
    answer = await _ask(url, headers, ends, what, on_retry)
    if answer.status == 200:
        return _token_from(answer, what, profile)
    code, message = _error_of(answer, credential)
    # What the server said, with its code; a plain HTTP status says nothing more than itself.
    reason = f"{message} ({code})" if message else None
    said = reason or f"HTTP {answer.status}"
    if answer.status in (401, 403):
        hint = (
            "No identity was sent: pass --id-token-env NAME (GitLab id_tokens:), run in GitHub "
            "Actions with `permissions: id-token: write`, or give --bearer-file."
            if credential is None
            else f"Sent {identity.describe}."
        )
        raise RefusedError(f"{what} refused: {said}", hint=hint)
    if answer.status == 400 and message:
        raise UsageError(f"{what}: {said}")
    if answer.status == 504:
        raise MintTimeoutError(f"{what}: {said}")
    if answer.status >= 500:
        raise UnavailableError(
            f"{what} answered HTTP {answer.status}" + (f": {reason}" if reason else "")
        )
    raise UnexpectedAnswerError(
        f"{what} answered HTTP {answer.status}"
        + (f" ({reason})" if reason else "")
        + ", not a token",
        hint="Is --from the address of a momento-tvm server?",
    )


async def _github_id_token(
    request_url: str, request_token: str, audience: str, ends: float, on_retry: OnRetry
) -> str:
    """GitHub Actions' ID token for `audience`: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...
    with `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the answer is {"value": jwt}."""
    what = "GitHub Actions' ID-token endpoint"
    problem = http_url_problem(request_url)
    if problem is not None:
        raise UsageError(f"${envvars.ACTIONS_ID_TOKEN_REQUEST_URL} {problem}")
    _check_header_safe(request_token, f"${envvars.ACTIONS_ID_TOKEN_REQUEST_TOKEN}")
    separator = "&" if "?" in request_url else "?"
    url = f"{request_url}{separator}audience={quote(audience, safe='')}"
    answer = await _ask(url, [("Authorization", f"bearer {request_token}")], ends, what, on_retry)
    if answer.status in (401, 403):
        raise RefusedError(
            f"{what} refused the request (HTTP {answer.status})",
            hint="The job needs `permissions: id-token: write`.",
        )
    if answer.status >= 500:
        raise UnavailableError(f"{what} answered HTTP {answer.status}")
    try:
        value = json.loads(answer.body)["value"] if answer.status == 200 else None
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, str) or not value:
        raise UnexpectedAnswerError(f"{what} answered HTTP {answer.status} without an ID token")
    _check_header_safe(value, "the ID token GitHub Actions sent")
    return value


async def _ask(
    url: str, headers: list[tuple[str, str]], ends: float, what: str, on_retry: OnRetry
) -> Fetched:
    """One GET, asked again after Retry-After on 429 and 503 while the deadline allows."""
    import asyncio

    from tvmcli.system.httpfetch import FetchError, get

    retries = 0
    while True:
        left = ends - time.monotonic()
        if left <= 0:
            raise MintTimeoutError(f"no answer from {what} within --timeout")
        try:
            answer = await get(url, deadline=left, max_bytes=MAX_ANSWER_BYTES, headers=headers)
        except FetchError as exc:
            if time.monotonic() >= ends - 0.05:
                raise MintTimeoutError(f"no answer from {what} within --timeout") from None
            raise UnavailableError(f"cannot reach {what}: {exc}") from None
        if answer.status not in RETRIED:
            return answer
        wait = _retry_after(answer.headers.get("retry-after"))
        state = "throttling" if answer.status == 429 else "unavailable"
        if time.monotonic() + wait >= ends:
            raise UnavailableError(
                f"{what} is {state} (HTTP {answer.status}); it asks to retry after "
                f"{wait:g}s, past --timeout",
                hint="Retry later, or give a longer --timeout.",
            )
        retries += 1
        on_retry(retries, f"HTTP {answer.status} from {what} (waiting {wait:g}s)")
        await asyncio.sleep(wait)


def _retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); 1 when absent or odd."""
    if value is None:
        return 1.0
    value = value.strip()
    if value.isdigit():
        return min(float(value), 3600.0)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return 1.0
    return min(max(0.0, when - time.time()), 3600.0)


def _token_from(answer: Fetched, what: str, profile: str) -> Token:
    """The TVM JSON ({authToken, expiresAt, endpoint, profile, tokenId}) as a Token."""
    not_tvm = UnexpectedAnswerError(
        f"{what} answered 200 with something other than a momento-tvm token",
        hint="Is --from the address of a momento-tvm server?",
    )
    try:
        body = json.loads(answer.body)
        auth_token, expires_at = body["authToken"], body["expiresAt"]
        decoded = parse_credential(auth_token) if isinstance(auth_token, str) else None
    except (ValueError, KeyError, TypeError, CredentialFormatError):
        raise not_tvm from None
    endpoint = body.get("endpoint", decoded.endpoint if decoded else None)
    token_id = body.get("tokenId")
    if (
        decoded is None
        or decoded.kind not in _ENVELOPES
        or not isinstance(expires_at, int)
        or isinstance(expires_at, bool)
        or expires_at <= 0
        or not isinstance(endpoint, str)
        or endpoint != decoded.endpoint
        or not (token_id is None or isinstance(token_id, str))
        or body.get("profile", profile) != profile
    ):
        raise not_tvm
    return Token(auth_token, endpoint, expires_at, token_id, profile)


def _error_of(answer: Fetched, credential: str | None) -> tuple[str, str]:
    """(code, message) of a momento-tvm error answer, made safe to print; ("", "") when the
    answer has no such shape."""
    try:
        error = json.loads(answer.body)["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        return "", ""
    if not isinstance(code, str) or not isinstance(message, str):
        return "", ""
    if credential and (credential in message or credential in code):
        return "withheld", "the answer repeated the credential sent"
    return _shown(code, 40), _shown(message, 200)


def _shown(text: str, limit: int = 200) -> str:
    """Text from elsewhere, fit for one line on a terminal: control characters escaped."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _check_header_safe(value: str, where: str) -> None:
    if not value.isascii() or not all(33 <= ord(c) <= 126 for c in value):
        raise UsageError(f"{where} holds characters an HTTP header cannot carry")


def _read_bearer(path: Path) -> str:
    text = text_files.read_text(str(path), what="--bearer-file", error=UsageError)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise UsageError(f"--bearer-file {path} is empty")
    _check_header_safe(lines[0], f"--bearer-file {path}")
    return lines[0]


def _unverified_audience(token: str) -> str | None:
    """The `aud` an ID token names (not a secret), for the --reuse key; None if unreadable."""
    try:
        audience = decode_unverified(token)[1].get("aud")
    except JwtFormatError:
        return None
    return json.dumps(audience) if audience is not None else None


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def _id_token_subject(token: str) -> str:
    """Who an ID token names: its `iss` and `sub` (unverified: the server verifies; a forged
    one only reaches the forger's own cached tokens), else the whole token's digest."""
    try:
        claims = decode_unverified(token)[1]
    except JwtFormatError:
        claims = {}
    issuer, subject = claims.get("iss"), claims.get("sub")
    if isinstance(issuer, str) and isinstance(subject, str):
        return _digest("iss+sub", issuer, subject)
    return _digest("id-token", token)


def _github_job(env: Mapping[str, str]) -> str | None:
    """GitHub Actions' ID token cannot be read before it is asked for, so the job names who
    asks: repository, run and job. None (no reuse) when the runner did not set them all."""
    values = [env.get(name, "") for name in envvars.GITHUB_JOB_VARIABLES]
    if not all(values):
        return None
    return _digest("github-job", *values)
