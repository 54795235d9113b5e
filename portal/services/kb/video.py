"""Video URLs of articles: only YouTube and Vimeo addresses are accepted, embedded through their privacy-friendly
players (youtube-nocookie.com, Vimeo with ``dnt=1``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Video:
    provider: str  # "YouTube" or "Vimeo"
    video_id: str
    watch_url: str
    embed_url: str  # privacy-friendly: youtube-nocookie.com, Vimeo with dnt=1


_YT_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_VIMEO_ID = re.compile(r"^\d{1,12}$")


def parse_video_url(url: str) -> Video | None:
    """A Video for an allow-listed provider URL (youtube.com, youtu.be, vimeo.com), else None."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or parts.username or parts.port not in (None, 80, 443):
        return None
    host = host[4:] if host.startswith("www.") else host
    segments = [s for s in parts.path.split("/") if s]
    video_id = None
    if host in ("youtube.com", "m.youtube.com"):
        if segments == ["watch"]:
            video_id = (parse_qs(parts.query).get("v") or [""])[0]
        elif len(segments) == 2 and segments[0] in ("embed", "shorts", "live"):
            video_id = segments[1]
    elif host == "youtu.be" and len(segments) == 1:
        video_id = segments[0]
    if video_id is not None:
        if not _YT_ID.match(video_id):
            return None
        return Video(
            "YouTube",
            video_id,
            f"https://www.youtube.com/watch?v={video_id}",
            f"https://www.youtube-nocookie.com/embed/{video_id}",
        )
    if host in ("vimeo.com", "player.vimeo.com"):
        candidate = segments[-1] if segments else ""
        if _VIMEO_ID.match(candidate):
            return Video(
                "Vimeo",
                candidate,
                f"https://vimeo.com/{candidate}",
                f"https://player.vimeo.com/video/{candidate}?dnt=1",
            )
    return None
