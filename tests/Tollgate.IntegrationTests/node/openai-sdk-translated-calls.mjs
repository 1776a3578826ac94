// Drives the npm `openai` SDK (chat completions) against model groups that Tollgate serves from upstreams of
// another kind (Anthropic, Gemini) and prints one JSON object with what it saw, keyed by step and model group.
// Inputs come from the environment:
//   TOLLGATE_TOOLS_DIR  folder whose node_modules holds `openai`
//   OPENAI_BASE_URL     the gateway, e.g. http://127.0.0.1:PORT/v1
//   OPENAI_API_KEY      the virtual key
//   TG_GROUPS           comma-separated model groups for the text, stream and tool steps
//   TG_IMAGE_GROUP      the model group for the image step (its upstream records what it received)
//   TG_IMAGE_MARKER     a unique text the image step sends with the picture
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

// A 1x1 transparent PNG.
const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
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
  await step(`chat:${model}`, async () => {
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "TG_ANTH_HELLO from node" }] })
      .withResponse();
    return {
      text: data.choices[0].message.content,
      finish_reason: data.choices[0].finish_reason,
      deployment: response.headers.get("x-tollgate-deployment"),
    };
  });

  await step(`chat_stream:${model}`, async () => {
    const stream = await client.chat.completions.create({
      model,
      stream: true,
      messages: [{ role: "user", content: "TG_ANTH_STREAM from node" }],
    });
    let text = "";
    let chunks = 0;
    let finish = null;
    for await (const chunk of stream) {
      chunks++;
      const choice = chunk.choices[0];
      if (choice?.delta?.content) text += choice.delta.content;
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    return { text, chunks, finish_reason: finish };
  });

  await step(`tools:${model}`, async () => {
    const messages = [{ role: "user", content: "TG_ANTH_TOOL: what is the weather in Hobart?" }];
    const first = await client.chat.completions.create({ model, messages, tools: [weather] });
    const call = first.choices[0].message.tool_calls?.[0];
    messages.push(first.choices[0].message);
    messages.push({ role: "tool", tool_call_id: call?.id, content: JSON.stringify({ forecast: "sunny-17C" }) });
    const second = await client.chat.completions.create({ model, messages, tools: [weather] });
    return {
      first_finish_reason: first.choices[0].finish_reason,
      tool_calls: first.choices[0].message.tool_calls?.length ?? 0,
      tool_name: call?.function?.name ?? null,
      tool_arguments: call?.function?.arguments ?? null,
      tool_call_id: call?.id ?? null,
      text: second.choices[0].message.content,
      finish_reason: second.choices[0].finish_reason,
    };
  });
}

if (process.env.TG_IMAGE_GROUP) {
  await step("image", async () => {
    const data = await client.chat.completions.create({
      model: process.env.TG_IMAGE_GROUP,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: `${process.env.TG_IMAGE_MARKER} what is in this picture?` },
            { type: "image_url", image_url: { url: `data:image/png;base64,${png}` } },
          ],
        },
      ],
    });
    return { text: data.choices[0].message.content, png };
  });
}

process.stdout.write(JSON.stringify(result) + "\n");
