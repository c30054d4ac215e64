"""Security headers: every answer has a Content-Security-Policy without inline script,
nosniff and no framing; /wall may be framed by the origins ``--wall-frame-ancestors`` names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.harness import Live, StartServer
from whistle.cli import _parser
from whistle.web.headers import content_security_policy, parse_frame_ancestors


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in policy.split(";") if d.strip())
    return {name: values for name, *values in parts}


@pytest.mark.parametrize(
    "path", ["/login", "/citizen", "/wall", "/healthz", "/api/v1/categories", "/nothing-here"]
)
async def test_every_answer_sends_the_policy_nosniff_and_no_framing(live: Live, path: str) -> None:
    response = await live.client.get(path, allow_redirects=False)
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["style-src"] + policy["default-src"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_the_wall_may_be_framed_by_the_named_origins_only(start_server: StartServer) -> None:
    live = await start_server(wall_frame_ancestors=("https://dash.example.org",))
    wall = await live.client.get("/wall", allow_redirects=False)
    assert _directives(wall.headers["Content-Security-Policy"])["frame-ancestors"] == [
        "https://dash.example.org"
    ]
    assert "X-Frame-Options" not in wall.headers
    other = await live.client.get("/login")
    assert _directives(other.headers["Content-Security-Policy"])["frame-ancestors"] == ["'none'"]
    assert other.headers["X-Frame-Options"] == "DENY"


def test_serve_takes_the_wall_origins_and_refuses_what_is_not_an_origin(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _parser().parse_args(
        ["serve", "--wall-frame-ancestors", "https://a.cn, https://b.cn:8443"]
    )
    assert args.wall_frame_ancestors == ("https://a.cn", "https://b.cn:8443")
    assert _parser().parse_args(["serve"]).wall_frame_ancestors == ()
    for bad in ("*", "https://a.cn; script-src *", "javascript:x"):
        with pytest.raises(SystemExit):
            _parser().parse_args(["serve", "--wall-frame-ancestors", bad])
    assert "not an origin" in capsys.readouterr().err


def test_the_policy_names_the_ancestors_it_is_given() -> None:
    assert "frame-ancestors 'none'" in content_security_policy()
    assert content_security_policy(parse_frame_ancestors("https://x.cn")).endswith(
        "frame-ancestors https://x.cn"
    )


WEB = Path(__file__).resolve().parents[3] / "whistle" / "web"
INLINE = {
    "inline <script> code": re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I
    ),
    "an on*= handler": re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
    "a style= attribute": re.compile(r"<[^>]+\sstyle\s*=", re.I),
    "a <style> element": re.compile(r"<style\b", re.I),
    "a javascript: link": re.compile(r"javascript:", re.I),
}


@pytest.mark.parametrize("kind", INLINE)
def test_no_template_or_script_carries_what_the_policy_refuses(kind: str) -> None:
    """What the policy would block must not be in the pages' own files (the Chromium probe
    sees it at run time; this names the file)."""
    files = [*(WEB / "templates").rglob("*.html"), *(WEB / "static").glob("*.js")]
    assert len(files) > 20
    found = [
        f"{path.relative_to(WEB)}: {match.group(0)[:80]}"
        for path in files
        for match in INLINE[kind].finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, f"{kind}:\n" + "\n".join(found)
