// Drives the npm `@anthropic-ai/sdk` against the gateway's Anthropic surface, for model groups that Tollgate
// serves from upstreams of another kind (OpenAI-compatible, Gemini), and prints one JSON object with what it saw,
// keyed by step and model group. Inputs come from the environment:
//   TOLLGATE_TOOLS_DIR  folder whose node_modules holds `@anthropic-ai/sdk`
//   TG_BASE_URL         the gateway root, e.g. http://127.0.0.1:PORT (the SDK adds /v1/messages)
//   TG_API_KEY          the virtual key (sent as x-api-key)
//   TG_GROUPS           comma-separated model groups
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.TOLLGATE_TOOLS_DIR, "package.json"));
const { Anthropic } = require("@anthropic-ai/sdk");

const client = new Anthropic({
  baseURL: process.env.TG_BASE_URL,
  apiKey: process.env.TG_API_KEY,
  authToken: null,
  maxRetries: 0,
  timeout: 30_000,
});

const weather = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

const result = {};

async function step(name, fn) {
  try {
    result[name] = await fn();
  } catch (err) {
    result[name] = { error: String(err?.message ?? err), status: err?.status ?? null };
  }
}

for (const model of (process.env.TG_GROUPS ?? "").split(",").filter(Boolean)) {
  await step(`message:${model}`, async () => {
    const { data, response } = await client.messages
      .create({ model, max_tokens: 256, system: "You are terse.", messages: [{ role: "user", content: "TG_ANTH_SDK_HELLO from node" }] })
      .withResponse();
    return {
      text: data.content.filter((b) => b.type === "text").map((b) => b.text).join(""),
      stop_reason: data.stop_reason,
      type: data.type,
      role: data.role,
      deployment: response.headers.get("x-tollgate-deployment"),
    };
  });

  await step(`stream:${model}`, async () => {
    const stream = client.messages.stream({
      model,
      max_tokens: 256,
      messages: [{ role: "user", content: "TG_ANTH_SDK_STREAM from node" }],
    });
    const types = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
    }
    const final = await stream.finalMessage();
    return { text, types, stop_reason: final.stop_reason };
  });

  await step(`tools:${model}`, async () => {
    const messages = [{ role: "user", content: "TG_ANTH_TOOL: what is the weather in Hobart?" }];
    const first = await client.messages.create({ model, max_tokens: 256, tools: [weather], messages });
    const use = first.content.find((b) => b.type === "tool_use");
    messages.push({ role: "assistant", content: first.content });
    messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: use?.id, content: JSON.stringify({ forecast: "sunny-17C" }) }] });
    const second = await client.messages.create({ model, max_tokens: 256, tools: [weather], messages });
    return {
      first_stop_reason: first.stop_reason,
      tool_name: use?.name ?? null,
      tool_input: use?.input ?? null,
      text: second.content.filter((b) => b.type === "text").map((b) => b.text).join(""),
      stop_reason: second.stop_reason,
    };
  });
}

process.stdout.write(JSON.stringify(result) + "\n");
