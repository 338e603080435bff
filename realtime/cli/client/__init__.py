"""A small client for a running gateway: stream audio in, print transcripts, speak text.

The logic behind ``voxgate listen``, ``voxgate chat`` and ``voxgate talk``. It speaks the GA realtime
protocol over a plain WebSocket (the ``websockets`` package), 24 kHz pcm16 in and out:

* :func:`listen` opens a transcription session (``?intent=transcription``, server VAD),
  streams audio chunks and hands every partial and final transcript to a
  :class:`TranscriptPrinter`.
* :func:`chat` opens a realtime session and, for each line of text, asks the server to speak
  it (``response.create`` with ``instructions``); each reply's audio goes to a callback.
* :func:`talk` holds a spoken conversation: server VAD answers each user turn; the user's
  and the assistant's transcripts print (:class:`ConversationPrinter`), the answers play
  as they arrive and stop on barge-in (the heard part kept by ``conversation.item.truncate``).

Audio sources are async iterators of pcm16 bytes: :func:`file_source` (any format FFmpeg
reads, at real-time pace or as fast as possible) and :func:`microphone_source` (needs the
optional ``sounddevice`` package). Failures to connect or authenticate raise
:class:`ClientError` with a one-line message.

Modules: :mod:`~realtime.cli.client.connection` (the WebSocket and its events),
:mod:`~realtime.cli.client.sources` (file, microphone, stdin),
:mod:`~realtime.cli.client.printer` (transcripts on the console),
:mod:`~realtime.cli.client.listening` (:func:`listen`),
:mod:`~realtime.cli.client.chatting` (:func:`chat`),
:mod:`~realtime.cli.client.talking` (:func:`talk`) and
:mod:`~realtime.cli.client.playback` (play or save replies).
"""

from realtime.cli.client.chatting import SpokenReply, chat
from realtime.cli.client.connection import (
    DEFAULT_URL,
    PCM_RATE,
    SILENCE_DURATION_MS,
    ClientError,
    connect,
    realtime_url,
)
from realtime.cli.client.listening import SETTLE_S, listen
from realtime.cli.client.playback import (
    PlaybackQueue,
    StreamingPlayer,
    output_device,
    play,
    write_wav,
)
from realtime.cli.client.printer import ConversationPrinter, TranscriptPrinter
from realtime.cli.client.sources import (
    CHUNK_MS,
    MIC_INSTALL_HINT,
    TRAILING_SILENCE_S,
    chunked,
    file_pcm,
    file_source,
    microphone_source,
    require_sounddevice,
    stdin_lines,
)
from realtime.cli.client.talking import talk, talk_session

__all__ = [
    "CHUNK_MS",
    "DEFAULT_URL",
    "MIC_INSTALL_HINT",
    "PCM_RATE",
    "SETTLE_S",
    "SILENCE_DURATION_MS",
    "TRAILING_SILENCE_S",
    "ClientError",
    "ConversationPrinter",
    "PlaybackQueue",
    "SpokenReply",
    "StreamingPlayer",
    "TranscriptPrinter",
    "chat",
    "chunked",
    "connect",
    "file_pcm",
    "file_source",
    "listen",
    "microphone_source",
    "output_device",
    "play",
    "realtime_url",
    "require_sounddevice",
    "stdin_lines",
    "talk",
    "talk_session",
    "write_wav",
]
