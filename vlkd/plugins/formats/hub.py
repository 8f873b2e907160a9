"""The Hugging Face Hub: the token (checked before any work), and a folder pushed as a repository.

The token comes from an environment variable (``HF_TOKEN`` unless told otherwise), never from a
recipe or a file vlkd writes. ``huggingface_hub`` talks to ``HF_ENDPOINT`` when it is set (a
private Hub, or ``vlkd.testing.fake_hub`` in tests). A missing token, one the Hub does not know,
and one that may only read are each a one-line error before anything is exported or uploaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from vlkd.api import VlkdError


def endpoint() -> str | None:
    """``HF_ENDPOINT`` as it is now (``huggingface_hub`` reads it once, at import)."""
    return os.environ.get("HF_ENDPOINT") or None


def hub_token(token_env: str, what: str = "push_to_hub") -> str:
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise VlkdError(
            f"{what} needs a Hugging Face token in the environment: export {token_env}=hf_... "
            f"(a write token from https://huggingface.co/settings/tokens)"
        )
    return token


def check_write_token(token: str, token_env: str) -> str:
    """The account the token belongs to; an error when it cannot write."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        me = HfApi(endpoint=endpoint()).whoami(token=token)
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", None)
        raise VlkdError(
            f"the Hub refused the token in {token_env} ({status or exc}): make a new one at "
            "https://huggingface.co/settings/tokens"
        ) from None
    role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise VlkdError(
            f"the token in {token_env} may only read; pushing needs a write token "
            "(https://huggingface.co/settings/tokens)"
        )
    return str(me.get("name") or "")


def push_folder(
    folder: Path, repo_id: str, *, token: str, private: bool, message: str, repo_type: str = "model"
) -> str:
    """Create ``repo_id`` (private unless told otherwise; kept as it is when it exists) and
    upload every file of ``folder``; the repository's address."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint(), token=token)
    url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, commit_message=message)
    return str(url)
