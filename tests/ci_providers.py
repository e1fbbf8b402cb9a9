"""CI identity providers played locally: an RSA key, an OIDC discovery document and a JWKS over
HTTP on loopback, and GitHub's ID-token request endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`),
which checks its bearer and the audience asked for. Tokens are shaped like GitHub's and
GitLab's (claim names and types from their documentation)."""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
ID_TOKEN_PATH = "/_apis/actions/idtoken"


class Provider:
    """Serves its discovery document at /.well-known/openid-configuration, its keys at
    `jwks_path`, and ID tokens at ID_TOKEN_PATH for the bearer `request_token`. `issuer`
    defaults to its own URL (http://127.0.0.1:PORT); `job` holds the claims of the job
    asking for an ID token. `id_token_requests` records (bearer ok, audience) of each ask."""

    def __init__(self, issuer: str | None = None, jwks_path: str = "/.well-known/jwks") -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "ci-" + secrets.token_hex(4)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk = {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}
        self.request_token = "ghs_" + secrets.token_urlsafe(24)
        self.job: dict[str, Any] = {}
        self.id_token_requests: list[tuple[bool, str | None]] = []
        self.fetches: dict[str, int] = {}
        self.discovery_issuer: str | None = None  # to serve a document naming another issuer
        self.jwks_uri: str | None = None  # to serve a document pointing elsewhere
        self.id_token_status = 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                outer.fetches[path] = outer.fetches.get(path, 0) + 1
                if path == "/.well-known/openid-configuration":
                    self._json(
                        200,
                        {
                            "issuer": outer.discovery_issuer or outer.issuer,
                            "jwks_uri": outer.jwks_uri or outer.url + jwks_path,
                            "response_types_supported": ["id_token"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                        },
                    )
                elif path == jwks_path:
                    self._json(200, {"keys": [outer.jwk]})
                elif path == ID_TOKEN_PATH:
                    self._id_token()
                else:
                    self._json(404, {"message": "not found"})

            def _id_token(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                bearer = self.headers.get("Authorization", "")
                bearer_ok = secrets.compare_digest(
                    bearer.encode(), f"bearer {outer.request_token}".encode()
                ) or secrets.compare_digest(
                    bearer.encode(), f"Bearer {outer.request_token}".encode()
                )
                audience = query.get("audience", [None])[0]
                outer.id_token_requests.append((bearer_ok, audience))
                if not bearer_ok or query.get("api-version") != ["2.0"]:
                    self._json(401, {"message": "bad credentials"})
                    return
                if outer.id_token_status != 200:
                    self._json(outer.id_token_status, {"message": "unavailable"})
                    return
                claims = {**outer.job}
                if audience is not None:
                    claims["aud"] = audience
                self._json(200, {"count": 2000, "value": outer.sign(claims)})

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.issuer = issuer or self.url
        self.jwks_url = self.url + jwks_path
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def sign(self, claims: dict[str, Any]) -> str:
        now = int(time.time())
        full = {"iss": self.issuer, "iat": now, "nbf": now - 5, "exp": now + 300, **claims}
        return jwt.encode(
            {k: v for k, v in full.items() if v is not None},
            self.private,
            algorithm="RS256",
            headers={"kid": self.kid, "typ": "JWT"},
        )

    def actions_env(self) -> dict[str, str]:
        """What the GitHub runner sets in a job with `permissions: id-token: write` (the
        repository, run and job as the job's claims name them)."""
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}{ID_TOKEN_PATH}?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
            "GITHUB_REPOSITORY": str(self.job.get("repository", "acme/web")),
            "GITHUB_RUN_ID": str(self.job.get("run_id", "9876543210")),
            "GITHUB_JOB": "deploy",
        }

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def github_claims(
    repository: str = "acme/web",
    ref: str = "refs/heads/main",
    event_name: str = "push",
    audience: str | None = "momento-tvm",
    **override: Any,
) -> dict[str, Any]:
    """An ID token's claims as GitHub Actions sends them (ids are strings)."""
    owner = repository.split("/")[0]
    if event_name.startswith("pull_request"):
        subject = f"repo:{repository}:pull_request"
    elif "environment" in override:
        subject = f"repo:{repository}:environment:{override['environment']}"
    else:
        subject = f"repo:{repository}:ref:{ref}"
    claims: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "sub": subject,
        "aud": audience,
        "ref": ref,
        "sha": "d1b5b7c5a3e0b6b0c5f0a8e4b8f6c2d1e0a9b8c7",
        "repository": repository,
        "repository_owner": owner,
        "repository_owner_id": "1001" if owner == "acme" else "6660",
        "repository_id": "2002" if repository == "acme/web" else "7770",
        "repository_visibility": "private",
        "run_id": "9876543210",
        "run_number": "42",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "actor": "octo-dev",
        "actor_id": "3003",
        "workflow": "deploy",
        "workflow_ref": f"{repository}/.github/workflows/deploy.yml@{ref}",
        "job_workflow_ref": f"{repository}/.github/workflows/deploy.yml@{ref}",
        "head_ref": "",
        "base_ref": "",
        "event_name": event_name,
        "ref_type": "branch",
    }
    claims.update(override)
    return claims


def gitlab_claims(
    project_path: str = "acme/web",
    ref: str = "main",
    ref_protected: str = "true",
    audience: str | None = "https://tvm.example.com",
    **override: Any,
) -> dict[str, Any]:
    """An ID token's claims as GitLab CI sends them (`ref_protected` is a string; some ids
    are numbers)."""
    namespace = project_path.rsplit("/", 1)[0]
    claims: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "sub": f"project_path:{project_path}:ref_type:branch:ref:{ref}",
        "aud": audience,
        "namespace_id": "72",
        "namespace_path": namespace,
        "project_id": 4242,
        "project_path": project_path,
        "user_id": "17",
        "user_login": "gitlab-dev",
        "pipeline_id": "555",
        "pipeline_source": "push",
        "job_id": "777",
        "ref": ref,
        "ref_type": "branch",
        "ref_path": f"refs/heads/{ref}",
        "ref_protected": ref_protected,
        "runner_id": 33,
        "runner_environment": "gitlab-hosted",
        "sha": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
    }
    claims.update(override)
    return claims


CI_PROFILES = """
[profiles.ci-deploy]
expires_in = "15m"
permissions = [{ role = "read-write", cache = "deploy" }]

[profiles.ci-readonly]
expires_in = "15m"
permissions = [{ role = "read-only", cache = "deploy" }]
"""


def keyless_server_toml(github: Provider, gitlab: Provider, extra: str = "") -> str:
    """A server trusting both providers played here: acme/web's main branch (GitHub) and its
    protected refs (GitLab) may deploy."""
    return f"""
[server]
auth = "jwt"
client_rate = 0
{extra}
[server.trust.github]
issuer = "{github.issuer}"
audience = "momento-tvm"
provider = "github"
[[server.trust.github.rules]]
claims = {{ repository = "acme/web", ref = "refs/heads/main" }}
profiles = ["ci-deploy"]

[server.trust.gitlab]
issuer = "{gitlab.issuer}"
audience = "https://tvm.example.com"
provider = "gitlab"
[[server.trust.gitlab.rules]]
claims = {{ project_path = "acme/web", ref_protected = "true" }}
profiles = ["ci-deploy"]
"""
