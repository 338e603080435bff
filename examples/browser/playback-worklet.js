// Gapless speech playback, inside the AudioWorkletGlobalScope.
//
// Messages in:  {type: "chunk", pcm: ArrayBuffer}  Int16 mono 24 kHz, appended to a ring
//               {type: "end"}                      no more audio for now: play the tail
//               {type: "clear"}                    stop now and drop what is queued
// Messages out: {type: "progress", played}  every ~50 ms while playing, and at each drain
//               {type: "cleared", played}   answer to "clear"
// `played` counts 24 kHz source samples actually rendered since the node started, so the
// page can tell how much of an assistant item was heard (for conversation.item.truncate).
//
// Playback starts once PREBUFFER samples are queued (or at "end"), which absorbs network
// jitter; chunks then play back to back through the ring with no gaps. Resampling to the
// context rate is linear interpolation (upsampling speech: no aliasing to filter).

const SOURCE_RATE = 24000;
const CAPACITY = SOURCE_RATE * 180; // three minutes of queued speech
const PREBUFFER = SOURCE_RATE / 10; // 100 ms
const PROGRESS_EVERY = Math.round(sampleRate / 20); // output frames between reports

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ring = new Float32Array(CAPACITY);
    this.read = 0;
    this.size = 0;
    this.step = SOURCE_RATE / sampleRate; // source samples per output frame
    this.frac = 0;
    this.playing = false;
    this.ended = false;
    this.played = 0;
    this.sinceReport = 0;
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.type === "chunk") {
      const pcm = new Int16Array(message.pcm);
      let dropped = 0;
      for (let i = 0; i < pcm.length; i++) {
        if (this.size === CAPACITY) {
          dropped++;
          continue;
        }
        this.ring[(this.read + this.size) % CAPACITY] = pcm[i] / 0x8000;
        this.size++;
      }
      this.ended = false;
      if (dropped) this.port.postMessage({ type: "overflow", dropped });
    } else if (message.type === "end") {
      this.ended = true;
    } else if (message.type === "clear") {
      this.read = (this.read + this.size) % CAPACITY;
      this.size = 0;
      this.frac = 0;
      this.playing = false;
      this.port.postMessage({ type: "cleared", played: this.played });
    }
  }

  process(_inputs, outputs) {
    const output = outputs[0];
    const out = output[0];
    if (!this.playing && this.size > 0 && (this.size >= PREBUFFER || this.ended)) {
      this.playing = true;
    }
    for (let i = 0; i < out.length; i++) {
      if (!this.playing || this.size === 0) {
        out[i] = 0;
        continue;
      }
      const a = this.ring[this.read];
      const b = this.size > 1 ? this.ring[(this.read + 1) % CAPACITY] : a;
      out[i] = a + (b - a) * this.frac;
      this.frac += this.step;
      while (this.frac >= 1 && this.size > 0) {
        this.frac -= 1;
        this.read = (this.read + 1) % CAPACITY;
        this.size--;
        this.played++;
      }
    }
    for (let c = 1; c < output.length; c++) output[c].set(out);
    if (this.playing) {
      this.sinceReport += out.length;
      if (this.size === 0) {
        this.playing = false; // drained: wait for the next prebuffer
        this.frac = 0;
        this.sinceReport = 0;
        this.port.postMessage({ type: "progress", played: this.played });
      } else if (this.sinceReport >= PROGRESS_EVERY) {
        this.sinceReport = 0;
        this.port.postMessage({ type: "progress", played: this.played });
      }
    }
    return true;
  }
}

registerProcessor("playback-processor", PlaybackProcessor);
