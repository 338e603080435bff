// Shared by the conformance scripts: what the tests (node_support.py) pass in, audio chunks, waits.
//
// Environment: VOXGATE_BASE_URL (https://127.0.0.1:PORT/v1), VOXGATE_API_KEY, VOXGATE_PCM
// (a raw pcm16 mono 24 kHz file). The CA comes from NODE_EXTRA_CA_CERTS: nothing here
// turns certificate checks off. Each script prints one JSON line and exits 0, or prints
// the error and exits 1.
import { readFileSync } from 'node:fs';

export const BASE_URL = required('VOXGATE_BASE_URL');
export const API_KEY = required('VOXGATE_API_KEY');
export const TIMEOUT_MS = 60_000;
const CHUNK_BYTES = 1920; // 40 ms of pcm16 at 24 kHz

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** The clip as Buffers of 40 ms, as a microphone loop hands them over. */
export function pcmChunks() {
  const pcm = readFileSync(required('VOXGATE_PCM'));
  const chunks = [];
  for (let at = 0; at < pcm.length; at += CHUNK_BYTES) chunks.push(pcm.subarray(at, at + CHUNK_BYTES));
  return chunks;
}

/** The clip as base64 chunks of 40 ms, as a microphone loop sends them. */
export function audioChunks() {
  return pcmChunks().map((chunk) => chunk.toString('base64'));
}

/**
 * Collects the events `subscribe(listener)` delivers; `until(type)` resolves with the first
 * of that type (seen before the call or after), and rejects on an `error` event or after
 * TIMEOUT_MS. One waiter at a time (the scripts are sequential).
 */
export function eventLog(subscribe) {
  const seen = [];
  let wake = null;
  subscribe((event) => {
    seen.push(event);
    wake?.();
  });
  async function until(type) {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const failure = seen.find((event) => event.type === 'error');
      if (failure) throw new Error(`error event: ${JSON.stringify(failure)}`);
      const found = seen.find((event) => event.type === type);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no ${type} in ${TIMEOUT_MS} ms; saw ${seen.map((event) => event.type)}`);
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  }
  return { seen, until };
}

/** Resolves once `socket` (a WHATWG or `ws` WebSocket) is open; rejects if it fails first. */
export function opened(socket) {
  return new Promise((resolve, reject) => {
    if (socket.readyState === 1) return resolve();
    const fail = (event) => reject(new Error(`WebSocket failed: ${event?.message ?? event?.error ?? event}`));
    if (typeof socket.on === 'function') {
      socket.once('open', resolve);
      socket.once('error', fail);
    } else {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', fail, { once: true });
    }
  });
}

/** Runs `main`, printing its result as one JSON line (exit 0) or the error (exit 1). */
export async function run(main) {
  try {
    const result = await main();
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(0);
  } catch (error) {
    for (let cause = error; cause; cause = cause.cause) {
      process.stderr.write(`${cause === error ? '' : 'cause: '}${cause.stack ?? cause} ${cause.code ?? ''}\n`);
    }
    process.exit(1);
  }
}
