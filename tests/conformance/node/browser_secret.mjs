// A browser's path: a backend mints an ephemeral client secret with the SDK
// (client.realtime.clientSecrets.create, over https), and the page opens the realtime
// WebSocket with only what a browser can send: the URL and the subprotocols OpenAI documents
// for browsers, ['realtime', 'openai-insecure-api-key.<ek_…>'] (no Authorization header).
// The `ws` package plays the browser, with an Origin header as a page would send.
import OpenAI from 'openai';
import WebSocket from 'ws';
import { API_KEY, BASE_URL, audioChunks, eventLog, opened, run } from './common.mjs';

run(async () => {
  const backend = new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY, maxRetries: 0 });
  const secret = await backend.realtime.clientSecrets.create({
    expires_after: { anchor: 'created_at', seconds: 60 },
    session: {
      type: 'transcription',
      audio: {
        input: {
          format: { type: 'audio/pcm', rate: 24000 },
          transcription: { model: 'whisper-1', language: 'en' },
          turn_detection: null,
        },
      },
    },
  });
  const url = new URL(BASE_URL.replace(/^https:/, 'wss:').replace(/\/$/, '') + '/realtime');
  const socket = new WebSocket(url, ['realtime', `openai-insecure-api-key.${secret.value}`], {
    origin: 'https://app.example.com',
  });
  const log = eventLog((listener) => socket.on('message', (data) => listener(JSON.parse(data.toString()))));
  await opened(socket);
  const created = await log.until('session.created');
  for (const audio of audioChunks()) socket.send(JSON.stringify({ type: 'input_audio_buffer.append', audio }));
  socket.send(JSON.stringify({ type: 'input_audio_buffer.commit' }));
  const completed = await log.until('conversation.item.input_audio_transcription.completed');
  socket.close(1000);
  return {
    secret_prefix: secret.value.slice(0, 3),
    protocol: socket.protocol,
    session_type: created.session.type,
    transcript: completed.transcript,
  };
});
