// Microphone capture, inside the AudioWorkletGlobalScope.
//
// Input: the microphone's float frames at the AudioContext's rate (`sampleRate`, often
// 48000 or 44100), any channel count (averaged to mono).
// Output: messages {pcm: ArrayBuffer (Int16 little-endian, mono, 24 kHz), rms: number},
// one per 40 ms (960 samples), the buffer transferred.
//
// Resampling: a windowed-sinc low-pass (only when downsampling) followed by linear
// interpolation; both are streaming, with state carried across the 128-frame blocks.

const TARGET_RATE = 24000;
const CHUNK_SAMPLES = 960; // 40 ms at 24 kHz
const TAPS = 31;

function lowPass(cutoff, taps) {
  // cutoff in cycles per input sample (< 0.5); Hann-windowed sinc, unity DC gain
  const h = new Float32Array(taps);
  const mid = (taps - 1) / 2;
  let sum = 0;
  for (let k = 0; k < taps; k++) {
    const x = k - mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const window = 0.5 - 0.5 * Math.cos((2 * Math.PI * k) / (taps - 1));
    h[k] = sinc * window;
    sum += h[k];
  }
  for (let k = 0; k < taps; k++) h[k] /= sum;
  return h;
}

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.taps = this.step > 1 ? lowPass(0.45 / this.step, TAPS) : null;
    this.history = new Float32Array(this.taps ? TAPS - 1 : 0);
    this.previous = 0; // last filtered sample of the previous block (position -1)
    this.position = 0; // next output position, in input samples from this block's start
    this.chunk = new Int16Array(CHUNK_SAMPLES);
    this.filled = 0;
    this.energy = 0;
  }

  mono(input) {
    const first = input[0];
    if (input.length === 1) return first;
    const out = new Float32Array(first.length);
    for (const channel of input) {
      for (let i = 0; i < out.length; i++) out[i] += channel[i] / input.length;
    }
    return out;
  }

  filter(block) {
    if (!this.taps) return block;
    const taps = this.taps;
    const extended = new Float32Array(this.history.length + block.length);
    extended.set(this.history);
    extended.set(block, this.history.length);
    const out = new Float32Array(block.length);
    for (let j = 0; j < block.length; j++) {
      let acc = 0;
      for (let k = 0; k < taps.length; k++) acc += taps[k] * extended[j + k];
      out[j] = acc;
    }
    this.history = extended.slice(block.length);
    return out;
  }

  emit(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    this.chunk[this.filled++] = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    this.energy += clamped * clamped;
    if (this.filled === CHUNK_SAMPLES) {
      const rms = Math.sqrt(this.energy / CHUNK_SAMPLES);
      this.port.postMessage({ pcm: this.chunk.buffer, rms }, [this.chunk.buffer]);
      this.chunk = new Int16Array(CHUNK_SAMPLES);
      this.filled = 0;
      this.energy = 0;
    }
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true; // no device yet: keep the node alive
    const y = this.filter(this.mono(input));
    const n = y.length;
    while (this.position <= n - 1) {
      const i = Math.floor(this.position);
      const frac = this.position - i;
      const a = i < 0 ? this.previous : y[i];
      const b = i + 1 < n ? y[i + 1] : a;
      this.emit(a + (b - a) * frac);
      this.position += this.step;
    }
    this.position -= n;
    this.previous = y[n - 1];
    return true;
  }
}

registerProcessor("capture-processor", CaptureProcessor);
