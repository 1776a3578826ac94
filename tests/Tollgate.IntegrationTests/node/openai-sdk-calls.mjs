// Drives the npm `openai` SDK against an OpenAI-compatible base URL and prints one JSON object with what
// it saw. The C# test asserts on that object. Inputs come from the environment:
//   TOLLGATE_TOOLS_DIR  folder whose node_modules holds `openai`
//   OPENAI_BASE_URL     e.g. http://127.0.0.1:PORT/v1
//   OPENAI_API_KEY      the virtual key
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.TOLLGATE_TOOLS_DIR, "package.json"));
const { OpenAI } = require("openai");

const client = new OpenAI({
  baseURL: process.env.OPENAI_BASE_URL,
  apiKey: process.env.OPENAI_API_KEY,
  maxRetries: 0,
  timeout: 30_000,
});

const result = {};

async function step(name, fn) {
  try {
    result[name] = await fn();
  } catch (err) {
    result[name] = { error: String(err?.message ?? err), status: err?.status ?? null };
  }
}

await step("chat", async () => {
  const { data, response } = await client.chat.completions
    .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "TG_CHAT_HELLO from node" }] })
    .withResponse();
  return {
    text: data.choices[0].message.content,
    finish_reason: data.choices[0].finish_reason,
    usage: data.usage ?? null,
    deployment: response.headers.get("x-tollgate-deployment"),
    request_id: response.headers.get("x-tollgate-request-id"),
  };
});

await step("chat_stream", async () => {
  const { data: stream, response } = await client.chat.completions
    .create({
      model: "gpt-4o-mini",
      stream: true,
      messages: [{ role: "user", content: "TG_STREAM_STORY from node" }],
    })
    .withResponse();
  let text = "";
  let chunks = 0;
  let finish = null;
  for await (const chunk of stream) {
    chunks++;
    const choice = chunk.choices[0];
    if (choice?.delta?.content) text += choice.delta.content;
    if (choice?.finish_reason) finish = choice.finish_reason;
  }
  return { text, chunks, finish_reason: finish, deployment: response.headers.get("x-tollgate-deployment") };
});

await step("responses", async () => {
  const { data, response } = await client.responses
    .create({ model: "gpt-4o-mini", input: "TG_RESPONSES_HELLO from node" })
    .withResponse();
  return { text: data.output_text, status: data.status, usage: data.usage ?? null, deployment: response.headers.get("x-tollgate-deployment") };
});

await step("responses_stream", async () => {
  const stream = await client.responses.create({ model: "gpt-4o-mini", input: "TG_RESPONSES_HELLO streamed from node", stream: true });
  let text = "";
  let completed = null;
  for await (const event of stream) {
    if (event.type === "response.output_text.delta") text += event.delta;
    if (event.type === "response.completed") completed = { status: event.response.status, usage: event.response.usage ?? null };
  }
  return { text, completed };
});

await step("embeddings", async () => {
  const data = await client.embeddings.create({ model: "text-embedding-3-small", input: "TG_EMBED_ME", encoding_format: "float" });
  return { vector: data.data[0].embedding };
});

await step("models", async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  return { ids };
});

await step("model_hidden", async () => {
  await client.models.retrieve("gpt-4o");
  return { status: 200 };
});

process.stdout.write(JSON.stringify(result) + "\n");
