// Realtime transcription through the SDK's own realtime clients, over wss: the SDK builds
// wss://HOST/v1/realtime from the https base URL by itself.
//
//   node realtime.mjs ga-websocket   OpenAIRealtimeWebSocket from 'openai/realtime/websocket'
//                                    (the runtime's WebSocket; the SDK's README example)
//   node realtime.mjs ga-ws          OpenAIRealtimeWS from 'openai/realtime/ws' (the ws package)
//   node realtime.mjs beta           OpenAIRealtimeWebSocket from 'openai/beta/realtime/websocket'
//
// Each: session.update (input transcription, no turn detection), the clip appended in 40 ms
// chunks, input_audio_buffer.commit, then the item's transcription.completed.
import OpenAI from 'openai';
import { OpenAIRealtimeWebSocket as BetaRealtimeWebSocket } from 'openai/beta/realtime/websocket';
import { OpenAIRealtimeWebSocket } from 'openai/realtime/websocket';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { API_KEY, BASE_URL, audioChunks, eventLog, opened, run } from './common.mjs';

const GA_SESSION = {
  type: 'realtime',
  audio: {
    input: {
      format: { type: 'audio/pcm', rate: 24000 },
      transcription: { model: 'whisper-1', language: 'en' },
      turn_detection: null,
    },
  },
};
const BETA_SESSION = {
  input_audio_format: 'pcm16',
  input_audio_transcription: { model: 'whisper-1', language: 'en' },
  turn_detection: null,
};
const CLIENTS = {
  'ga-websocket': (client) => new OpenAIRealtimeWebSocket({ model: 'gpt-realtime' }, client),
  'ga-ws': (client) => new OpenAIRealtimeWS({ model: 'gpt-realtime' }, client),
  beta: (client) => new BetaRealtimeWebSocket({ model: 'gpt-4o-realtime-preview' }, client),
};

/** Which dialect a session object is written in: GA nests input under `audio`. */
function dialectOf(session) {
  if ('audio' in session) return 'ga';
  return 'input_audio_transcription' in session ? 'beta' : 'unknown';
}

run(async () => {
  const variant = process.argv[2];
  if (!(variant in CLIENTS)) throw new Error(`usage: node realtime.mjs ${Object.keys(CLIENTS).join('|')}`);
  const client = new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY, maxRetries: 0 });
  const rt = CLIENTS[variant](client);
  const log = eventLog((listener) => {
    rt.on('event', listener);
    rt.on('error', (error) => listener({ type: 'error', error: { message: error.message } }));
  });
  await opened(rt.socket);
  await log.until('session.created');
  rt.send({ type: 'session.update', session: variant === 'beta' ? BETA_SESSION : GA_SESSION });
  await log.until('session.updated');
  for (const audio of audioChunks()) rt.send({ type: 'input_audio_buffer.append', audio });
  rt.send({ type: 'input_audio_buffer.commit' });
  const committed = await log.until('input_audio_buffer.committed');
  const completed = await log.until('conversation.item.input_audio_transcription.completed');
  rt.close();
  return {
    url: rt.url.toString(),
    transcript: completed.transcript,
    same_item: completed.item_id === committed.item_id,
    dialect: dialectOf(log.seen.find((event) => event.type === 'session.updated').session),
  };
});
