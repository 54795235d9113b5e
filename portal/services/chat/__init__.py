"""Live chat: availability (hours, presence, seats), chats and their messages (``core``), the transcript ticket
(``transcript``) and what the live streams and the polling fallback send (``live``)."""
