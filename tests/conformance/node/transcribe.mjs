// The batch route through the SDK: audio.transcriptions.create over https with a file upload.
//
//   node transcribe.mjs FILE
import { createReadStream } from 'node:fs';
import OpenAI from 'openai';
import { API_KEY, BASE_URL, run } from './common.mjs';

run(async () => {
  const client = new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY, maxRetries: 0 });
  const result = await client.audio.transcriptions.create({
    file: createReadStream(process.argv[2]),
    model: 'whisper-1',
    language: 'en',
  });
  return { text: result.text };
});
