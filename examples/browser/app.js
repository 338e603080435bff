// voxgate browser demo: microphone → /v1/realtime → live transcripts; typed text → speech;
// in Converse mode, a spoken conversation with voxgate's responder (a language model).
//
// 1. POST ./session returns an ephemeral client secret (ek_…, single use); the page never
//    holds an API key. The server decides the session (transcription with speaker
//    segments and non-speech tags, server VAD with barge-in, 24 kHz pcm16 both ways).
// 2. WebSocket to ../v1/realtime with subprotocols ["realtime", "openai-insecure-api-key.ek_…"].
//    Each new session (and each change of mode or instructions) gets one session.update:
//    Transcribe keeps create_response false; Converse sets it true, so every finished
//    user turn is answered aloud, and applies the optional instructions.
// 3. capture-worklet.js turns the mic into 40 ms pcm16 24 kHz chunks → input_audio_buffer.append.
// 4. response.output_audio.delta chunks → playback-worklet.js (gapless ring buffer); the
//    answer's words stream from response.output_audio_transcript.delta, final on response.done.
// 5. Barge-in: on input_audio_buffer.speech_started, playback stops and the page sends
//    conversation.item.truncate with the milliseconds of the item that were really played.
// 6. An unexpected close reconnects with exponential backoff (a fresh secret each time).
//
// For tests: body[data-played-samples] counts rendered 24 kHz samples; an assistant turn
// carries data-audio-ms (received), data-played-ms (rendered) and, once truncated,
// data-heard-ms (as the server confirmed).

const SOURCE_RATE = 24000;
const BACKOFF_MAX_S = 30;

// Turn taking per mode (server_vad; interrupt_response stays on from the minted session).
const MODES = {
  transcribe: { silence_duration_ms: 800, create_response: false }, // a breath is no turn end
  converse: { silence_duration_ms: 600, create_response: true }, // answer each finished turn
};

const $ = (id) => document.getElementById(id);
const ui = {
  start: $("start"),
  stop: $("stop"),
  status: $("status"),
  level: $("level"),
  transcript: $("transcript"),
  form: $("say"),
  sayLabel: $("say-label"),
  text: $("say-text"),
  speak: $("say-button"),
  modes: [...document.querySelectorAll('input[name="mode"]')],
  instructionsForm: $("instructions-form"),
  instructions: $("instructions"),
};

const demo = {
  running: false,
  ws: null,
  context: null,
  mic: null,
  capture: null,
  playback: null,
  attempt: 0,
  retryTimer: null,
  turns: new Map(), // item_id → {element, text, final, segments}
  speakers: new Map(), // speaker label → colour index
  written: 0, // 24 kHz samples sent to the playback worklet, ever
  played: 0, // … of which rendered (reported by the worklet)
  audioItems: new Map(), // assistant item_id → {start, end} in `written` samples
  lastAudioItem: null,
  silenced: new Set(), // assistant items interrupted here: ignore their late deltas
  responding: null, // id of the response in progress (response.created → response.done)
  interrupted: null, // assistant item whose playback a barge-in is clearing
  typed: 0, // typed user messages so far (their log keys)
};

// --- UI state ---------------------------------------------------------------------------

function mode() {
  return ui.modes.find((input) => input.checked)?.value === "converse" ? "converse" : "transcribe";
}

function listeningMessage() {
  return mode() === "converse" ? "Listening — talk to voxgate." : "Listening — speak now.";
}

function showMode() {
  const converse = mode() === "converse";
  document.body.dataset.mode = mode();
  ui.instructionsForm.hidden = !converse;
  ui.sayLabel.textContent = converse ? "Type a message:" : "Make voxgate say:";
  ui.speak.textContent = converse ? "Send" : "Speak";
  ui.text.placeholder = converse ? "Ask voxgate something." : "Hello! Talk over me to interrupt.";
}

function setState(state, message) {
  document.body.dataset.state = state;
  ui.status.textContent = message;
  const live = state === "listening";
  ui.text.disabled = !live;
  ui.speak.disabled = !live;
  ui.start.hidden = demo.running;
  ui.stop.hidden = !demo.running;
}

function setSpeaking() {
  document.body.dataset.speaking = String(demo.played < demo.written);
}

function speakerClass(label) {
  if (!demo.speakers.has(label)) demo.speakers.set(label, demo.speakers.size % 6);
  return `spk-${demo.speakers.get(label)}`;
}

// Text with inline non-speech tags ("so [laugh] anyway") → text nodes and .tag spans.
function renderText(container, text) {
  container.replaceChildren();
  for (const [i, part] of text.split(/\[([^\]]+)\]/).entries()) {
    if (i % 2 === 0) {
      if (part) container.append(document.createTextNode(part));
    } else {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = part;
      container.append(tag);
    }
  }
}

function userTurn(itemId) {
  let turn = demo.turns.get(itemId);
  if (!turn) {
    const element = document.createElement("li");
    element.className = "turn user partial";
    element.dataset.itemId = itemId;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = "you";
    const text = document.createElement("span");
    text.className = "text";
    element.append(who, text);
    ui.transcript.append(element);
    turn = { element, who, textEl: text, text: "", final: false, segments: [] };
    demo.turns.set(itemId, turn);
  }
  return turn;
}

function renderTurn(turn) {
  const { element } = turn;
  element.classList.toggle("partial", !turn.final);
  element.classList.toggle("final", turn.final);
  const speakers = [...new Set(turn.segments.map((s) => s.speaker))];
  if (turn.final && turn.segments.length && speakers.length > 1) {
    // several speakers in one turn: one coloured line per segment
    turn.who.textContent = "";
    turn.textEl.replaceChildren();
    for (const segment of turn.segments) {
      const line = document.createElement("span");
      line.className = `segment ${speakerClass(segment.speaker)}`;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = segment.speaker;
      const words = document.createElement("span");
      renderText(words, segment.text.trim());
      line.append(who, words);
      turn.textEl.append(line);
    }
    return;
  }
  if (speakers.length === 1) {
    element.classList.add(speakerClass(speakers[0]));
    turn.who.textContent = speakers[0];
  }
  renderText(turn.textEl, turn.text.trim());
  element.scrollIntoView({ block: "end" });
}

function assistantTurn(itemId) {
  const key = `assistant:${itemId}`;
  let turn = demo.turns.get(key);
  if (!turn) {
    const element = document.createElement("li");
    element.className = "turn assistant partial";
    element.dataset.itemId = itemId;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = "voxgate";
    const text = document.createElement("span");
    text.className = "text";
    element.append(who, text);
    ui.transcript.append(element);
    turn = { element, textEl: text, text: "" };
    demo.turns.set(key, turn);
  }
  return turn;
}

// A line in the log that is no one's words (a failed response).
function notice(key, message) {
  const element = document.createElement("li");
  element.className = "turn assistant notice failed final";
  element.dataset.key = key;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = "voxgate";
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message;
  element.append(who, text);
  ui.transcript.append(element);
  element.scrollIntoView({ block: "end" });
}

// A message typed in Converse mode: final at once (the server has its text).
function typedTurn(text) {
  demo.typed += 1;
  const turn = userTurn(`typed:${demo.typed}`);
  turn.text = text;
  turn.final = true;
  turn.element.classList.add("typed");
  renderTurn(turn);
}

// response.done: the answer's turns are final; a cancelled one was interrupted, a failed
// one gets the server's reason in the log.
function finishResponse(response) {
  if (!response) return;
  if (demo.responding === response.id) demo.responding = null;
  for (const item of response.output || []) {
    const turn = demo.turns.get(`assistant:${item.id}`);
    if (!turn) continue;
    turn.element.classList.remove("partial");
    turn.element.classList.add("final");
    if (response.status === "cancelled") turn.element.classList.add("interrupted");
    if (response.status === "failed") turn.element.classList.add("failed");
  }
  if (response.status === "failed") {
    const reason = response.status_details?.error?.message || "the response failed";
    notice(`failed:${response.id}`, `No answer: ${reason}`);
  }
}

// --- audio --------------------------------------------------------------------------------

async function openAudio() {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    throw new Error(
      "The microphone needs a secure page: open it as http://localhost:<port>/demo or over HTTPS.",
    );
  }
  const context = new AudioContext();
  await context.resume();
  await context.audioWorklet.addModule("capture-worklet.js");
  await context.audioWorklet.addModule("playback-worklet.js");
  const playback = new AudioWorkletNode(context, "playback-processor", {
    numberOfInputs: 0,
    outputChannelCount: [1],
  });
  playback.port.onmessage = ({ data }) => {
    if (data.type === "progress" || data.type === "cleared") demo.played = data.played;
    if (data.type === "cleared") truncateInterrupted();
    showPlayed();
    setSpeaking();
  };
  playback.connect(context.destination);
  demo.context = context;
  demo.playback = playback;
}

async function openMicrophone() {
  // Echo cancellation stays on: without it voxgate's own voice from the loudspeakers would
  // count as the user speaking and interrupt itself. Noise suppression and automatic gain
  // are off: they smear consonants, and Whisper transcribes the raw signal better (the
  // browser test lost "Americans" → "America" with them on).
  const mic = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: false },
  });
  const source = demo.context.createMediaStreamSource(mic);
  const capture = new AudioWorkletNode(demo.context, "capture-processor", {
    numberOfOutputs: 0,
  });
  capture.port.onmessage = ({ data }) => {
    ui.level.value = data.rms;
    send({ type: "input_audio_buffer.append", audio: toBase64(data.pcm) });
  };
  source.connect(capture);
  demo.mic = mic;
  demo.capture = capture;
}

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

function play(itemId, responseId, base64) {
  if (demo.silenced.has(itemId)) return;
  const pcm = fromBase64(base64);
  const samples = pcm.byteLength / 2;
  let span = demo.audioItems.get(itemId);
  if (!span) {
    span = { start: demo.written, end: demo.written, response: responseId };
    demo.audioItems.set(itemId, span);
  }
  span.end += samples;
  demo.written += samples;
  const turn = assistantTurn(itemId);
  turn.element.dataset.audioMs = String(Math.round(((span.end - span.start) * 1000) / SOURCE_RATE));
  demo.lastAudioItem = itemId;
  demo.playback.port.postMessage({ type: "chunk", pcm }, [pcm]);
  setSpeaking();
}

// How much of each assistant item was rendered, for the page's readers (and tests).
function showPlayed() {
  document.body.dataset.playedSamples = String(demo.played);
  for (const [itemId, span] of demo.audioItems) {
    const rendered = Math.min(demo.played, span.end) - span.start;
    const turn = demo.turns.get(`assistant:${itemId}`);
    if (turn && rendered > 0) {
      turn.element.dataset.playedMs = String(Math.round((rendered * 1000) / SOURCE_RATE));
    }
  }
}

// Barge-in: stop playback now; the worklet answers "cleared" with what it really played.
// An answer still streaming counts even while its queue has run dry (speech synthesis
// slower than playback for a moment): the rest of it was not heard either.
function interruptPlayback() {
  if (!demo.playback) return;
  const itemId = demo.lastAudioItem;
  const span = itemId && demo.audioItems.get(itemId);
  const streaming = Boolean(
    span && demo.responding && span.response === demo.responding && !demo.silenced.has(itemId),
  );
  if (demo.played >= demo.written && !streaming) return;
  if (itemId) demo.silenced.add(itemId);
  demo.interrupted = streaming || (span && demo.played < span.end) ? itemId : null;
  demo.playback.port.postMessage({ type: "clear" });
}

function truncateInterrupted() {
  const itemId = demo.interrupted;
  demo.interrupted = null;
  demo.written = demo.played; // what was queued and not played is gone
  for (const queued of demo.audioItems.values()) queued.end = Math.min(queued.end, demo.played);
  showPlayed();
  const span = itemId && demo.audioItems.get(itemId);
  if (!span) return;
  const heard = Math.max(0, demo.played - span.start);
  send({
    type: "conversation.item.truncate",
    item_id: itemId,
    content_index: 0,
    audio_end_ms: Math.floor((heard * 1000) / SOURCE_RATE),
  });
  assistantTurn(itemId).element.classList.add("interrupted");
}

// --- connection ---------------------------------------------------------------------------

function send(event) {
  if (demo.ws?.readyState === WebSocket.OPEN) demo.ws.send(JSON.stringify(event));
}

class FatalError extends Error {}

async function fetchSecret() {
  let response;
  try {
    response = await fetch("session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
  } catch {
    throw new Error("voxgate is not reachable");
  }
  if (response.ok) return (await response.json()).value;
  const body = await response.json().catch(() => ({}));
  const message = body.error?.message || `HTTP ${response.status}`;
  if (response.status === 429) {
    const retry = Number(response.headers.get("Retry-After") || 5);
    const error = new Error(message);
    error.retryAfter = retry;
    throw error;
  }
  if (response.status >= 400 && response.status < 500) throw new FatalError(message);
  throw new Error(message);
}

async function connect() {
  clearTimeout(demo.retryTimer);
  if (!demo.running) return;
  setState(demo.attempt ? "reconnecting" : "connecting", demo.attempt ? "Reconnecting…" : "Connecting…");
  let secret;
  try {
    secret = await fetchSecret();
  } catch (error) {
    if (error instanceof FatalError) return fail(error.message);
    return scheduleReconnect(error.message, error.retryAfter);
  }
  if (!demo.running) return;
  const url = new URL("../v1/realtime", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url, ["realtime", `openai-insecure-api-key.${secret}`]);
  demo.ws = ws;
  ws.onmessage = (message) => handle(JSON.parse(message.data));
  ws.onclose = (event) => {
    if (demo.ws !== ws) return;
    demo.ws = null;
    if (!demo.running) return;
    interruptPlayback();
    scheduleReconnect(`connection closed (${event.code}${event.reason ? `: ${event.reason}` : ""})`);
  };
}

function scheduleReconnect(reason, afterSeconds) {
  if (!demo.running) return;
  demo.attempt += 1;
  const backoff = Math.min(BACKOFF_MAX_S, 2 ** (demo.attempt - 1));
  const delay = afterSeconds ?? backoff * (0.5 + Math.random() / 2);
  setState("reconnecting", `Reconnecting in ${Math.ceil(delay)} s (${reason})…`);
  demo.retryTimer = setTimeout(connect, delay * 1000);
}

function fail(message) {
  stop();
  setState("error", `Error: ${message}`);
}

async function handle(event) {
  switch (event.type) {
    case "session.created":
      demo.attempt = 0;
      demo.responding = null;
      applySession(); // before the first audio, so the first turn already follows the mode
      if (!demo.mic) {
        try {
          await openMicrophone();
        } catch (error) {
          return fail(`microphone unavailable (${error.message})`);
        }
      }
      setState("listening", listeningMessage());
      break;
    case "session.updated": {
      const turnDetection = event.session?.audio?.input?.turn_detection;
      const answers = Boolean(turnDetection?.create_response);
      document.body.dataset.sessionMode = answers ? "converse" : "transcribe";
      break;
    }
    case "input_audio_buffer.speech_started":
      interruptPlayback();
      userTurn(event.item_id);
      break;
    case "conversation.item.input_audio_transcription.delta": {
      const turn = userTurn(event.item_id);
      if (!turn.final) {
        turn.text += event.delta;
        renderTurn(turn);
      }
      break;
    }
    case "conversation.item.input_audio_transcription.segment": {
      const turn = userTurn(event.item_id);
      turn.segments.push({ speaker: event.speaker, text: event.text, start: event.start });
      turn.segments.sort((a, b) => a.start - b.start);
      renderTurn(turn);
      break;
    }
    case "conversation.item.input_audio_transcription.completed": {
      const turn = userTurn(event.item_id);
      turn.text = event.transcript;
      turn.final = true;
      renderTurn(turn);
      break;
    }
    case "conversation.item.input_audio_transcription.failed":
      userTurn(event.item_id).element.classList.add("failed");
      break;
    case "response.output_audio.delta":
      play(event.item_id, event.response_id, event.delta);
      break;
    case "response.output_audio.done":
      demo.playback?.port.postMessage({ type: "end" });
      break;
    case "response.created":
      demo.responding = event.response?.id ?? null;
      break;
    case "response.output_audio_transcript.delta": {
      const turn = assistantTurn(event.item_id);
      turn.text += event.delta;
      renderText(turn.textEl, turn.text);
      break;
    }
    case "conversation.item.truncated": {
      const turn = assistantTurn(event.item_id);
      turn.element.dataset.heardMs = String(event.audio_end_ms);
      turn.element.classList.add("interrupted");
      break;
    }
    case "response.done":
      demo.playback?.port.postMessage({ type: "end" });
      finishResponse(event.response);
      break;
    case "error":
      ui.status.textContent = `Listening — server said: ${event.error?.message}`;
      break;
    default:
      break;
  }
}

// --- modes, instructions, typed text -----------------------------------------------------

// The mode's turn taking and the instructions as one session.update (a partial update: the
// rest of the minted session stays). Empty instructions mean the server's default prompt.
function applySession() {
  send({
    type: "session.update",
    session: {
      type: "realtime",
      instructions: ui.instructions.value.trim(),
      audio: { input: { turn_detection: { type: "server_vad", ...MODES[mode()] } } },
    },
  });
}

function changeMode() {
  showMode();
  if (!demo.ws) return;
  applySession();
  if (document.body.dataset.state === "listening") setState("listening", listeningMessage());
}

// Transcribe: voxgate speaks the text verbatim (response.voxgate.say). Converse: the text is the
// user's next message, answered like a spoken turn (interrupting any answer in progress).
function submitText(text) {
  if (mode() !== "converse") {
    send({ type: "response.create", response: { voxgate: { say: text } } });
    return;
  }
  if (demo.responding) send({ type: "response.cancel" });
  interruptPlayback();
  send({
    type: "conversation.item.create",
    item: { type: "message", role: "user", content: [{ type: "input_text", text }] },
  });
  send({ type: "response.create" });
  typedTurn(text);
}

// --- buttons ------------------------------------------------------------------------------

async function start() {
  demo.running = true;
  demo.attempt = 0;
  setState("connecting", "Starting audio…");
  try {
    if (!demo.context) await openAudio();
  } catch (error) {
    return fail(error.message);
  }
  await connect();
}

function stop() {
  demo.running = false;
  clearTimeout(demo.retryTimer);
  const ws = demo.ws;
  demo.ws = null;
  ws?.close(1000);
  demo.mic?.getTracks().forEach((track) => track.stop());
  demo.context?.close();
  Object.assign(demo, { mic: null, capture: null, playback: null, context: null });
  Object.assign(demo, { written: 0, played: 0, lastAudioItem: null, responding: null });
  demo.interrupted = null;
  demo.audioItems.clear();
  ui.level.value = 0;
  setSpeaking();
  setState("idle", "Stopped. Press “Start microphone” to listen again.");
}

ui.start.addEventListener("click", start);
ui.stop.addEventListener("click", stop);
ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  submitText(text);
  ui.text.value = "";
});
for (const input of ui.modes) input.addEventListener("change", changeMode);
ui.instructionsForm.addEventListener("submit", (event) => {
  event.preventDefault();
  applySession();
});
showMode();
