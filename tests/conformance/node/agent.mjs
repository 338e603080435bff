// The OpenAI Agents SDK for JS (@openai/agents-realtime) holds a spoken conversation with
// voxgate, set up as its voice-agent docs show: a RealtimeAgent, a RealtimeSession with the
// websocket transport, connect({ apiKey, url }) (only the URL and the key differ from the
// docs), the recorded question handed to sendAudio in 40 ms chunks, the session's `audio`
// events collected. Everything else is the SDK's default (semantic_vad turn detection, audio
// out, input transcription).
//
//   node agent.mjs weather OUT.pcm   the agent has a zod-typed `get_weather` tool; waits for
//                                    the spoken answer that follows the tool's output
//   node agent.mjs chat OUT.pcm      no tools; waits for the first spoken answer
//
// Writes the assistant audio it received (pcm16 24 kHz) to OUT.pcm and prints one JSON line:
// the tool's calls and events, the session's history (audio fields left out), the answers'
// texts (agent_end), and what went wrong: `error` events, server events the SDK's own event
// schema rejects (the SDK drops those silently as "generic"), and what the SDK logged with
// console.error or console.warn (where it reports events it could not parse).
import { writeFileSync } from 'node:fs';
import { RealtimeAgent, RealtimeSession, tool } from '@openai/agents-realtime';
import { z } from 'zod';
// The SDK's schema of server events, from its dist folder (the package does not export it).
import { realtimeServerEventSchema } from './node_modules/@openai/agents-realtime/dist/openaiRealtimeEvents.mjs';
import { API_KEY, BASE_URL, TIMEOUT_MS, pcmChunks, run } from './common.mjs';

const WEATHER = '21 degrees and sunny';
const KNOWN_EVENTS = new Set(realtimeServerEventSchema.options.map((option) => option.shape.type.value));

const logged = [];
for (const level of ['error', 'warn']) {
  const original = console[level];
  console[level] = (...args) => {
    logged.push(`${level}: ${args.map((arg) => (arg instanceof Error ? arg.stack : String(arg))).join(' ')}`);
    original(...args);
  };
}

/** The agent of each scenario, and when its conversation is over (given what was seen). */
function scenario(name, calls) {
  if (name === 'chat') {
    const agent = new RealtimeAgent({ name: 'Assistant', instructions: 'You are a helpful assistant.' });
    return { agent, done: (seen) => seen.answers.length > 0 };
  }
  if (name !== 'weather') throw new Error('usage: node agent.mjs weather|chat OUT.pcm');
  const getWeather = tool({
    name: 'get_weather',
    description: 'The current weather in a city.',
    parameters: z.object({ city: z.string() }),
    async execute({ city }) {
      calls.push(city);
      return WEATHER;
    },
  });
  const agent = new RealtimeAgent({ name: 'Weather', instructions: 'You are a weather bot.', tools: [getWeather] });
  // the answer after the tool's output: an agent_end with text once the tool has ended
  return { agent, done: (seen) => seen.answers.some((answer) => answer.afterTool) };
}

function describe(error) {
  return error instanceof Error ? `${error.name}: ${error.message}` : JSON.stringify(error);
}

/** A history item without its audio (base64), as JSON. */
function withoutAudio(item) {
  return JSON.parse(JSON.stringify(item, (key, value) => (key === 'audio' ? undefined : value)));
}

/** Whether every user turn in `history` has its transcript (it may come after the answer). */
function transcribed(history) {
  const spoken = history.filter((item) => item.type === 'message' && item.role === 'user');
  return spoken.every((item) => item.content.every((part) => part.type !== 'input_audio' || part.transcript));
}

/**
 * Records what the session reports; `finished` resolves once `done(seen)` holds and the
 * history has every user turn's transcript.
 */
function watch(session, done) {
  const seen = { audio: [], errors: [], rejected: [], toolEvents: [], answers: [], types: [] };
  let settle;
  const finished = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer in ${TIMEOUT_MS} ms; server events: ${seen.types}; errors: ${seen.errors}`)),
      TIMEOUT_MS,
    );
    settle = () => {
      if (!done(seen) || !transcribed(session.history)) return;
      clearTimeout(timer);
      resolve();
    };
  });
  session.on('audio', (event) => seen.audio.push(Buffer.from(event.data)));
  session.on('error', (event) => seen.errors.push(describe(event.error)));
  session.on('transport_event', (event) => {
    seen.types.push(event.type);
    if (!KNOWN_EVENTS.has(event.type)) return;
    const checked = realtimeServerEventSchema.safeParse(event);
    if (!checked.success) {
      const issues = checked.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
      seen.rejected.push({ type: event.type, issues });
    }
  });
  session.on('agent_tool_start', (_context, _agent, used, { toolCall }) => {
    seen.toolEvents.push(['tool_start', used.name, JSON.parse(toolCall.arguments)]);
  });
  session.on('agent_tool_end', (_context, _agent, used, result, { toolCall }) => {
    seen.toolEvents.push(['tool_end', used.name, JSON.parse(toolCall.arguments), result]);
  });
  session.on('agent_end', (_context, _agent, output) => {
    const afterTool = seen.toolEvents.some(([kind]) => kind === 'tool_end');
    if (output) seen.answers.push({ text: output, afterTool });
    settle();
  });
  session.on('history_updated', () => settle());
  return { seen, finished };
}

run(async () => {
  const [name, out] = process.argv.slice(2);
  if (!out) throw new Error('usage: node agent.mjs weather|chat OUT.pcm');
  const calls = [];
  const { agent, done } = scenario(name, calls);
  const session = new RealtimeSession(agent, { transport: 'websocket', model: 'gpt-realtime' });
  const { seen, finished } = watch(session, done);
  const url = `${BASE_URL.replace(/^https:/, 'wss:')}/realtime?model=gpt-realtime`;
  await session.connect({ apiKey: API_KEY, url });
  for (const chunk of pcmChunks()) {
    session.sendAudio(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
  }
  await finished;
  const history = session.history.map(withoutAudio);
  session.close();
  writeFileSync(out, Buffer.concat(seen.audio));
  return {
    url,
    calls,
    tool_events: seen.toolEvents,
    answers: seen.answers.map((answer) => answer.text),
    history,
    errors: seen.errors,
    rejected: seen.rejected,
    logged,
  };
});
