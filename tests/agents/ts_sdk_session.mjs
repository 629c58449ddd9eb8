// One Codex TypeScript SDK session against lockgate, written as a user writes it; prints a JSON summary.
// Inputs come from the environment: LOCKGATE_URL, LOCKGATE_KEY, MODEL, WORKDIR, CODEX_HOME, PROMPT, RESUME_PROMPT.
import { Codex } from "@openai/codex-sdk";

const env = { PATH: process.env.PATH, HOME: process.env.HOME, CODEX_HOME: process.env.CODEX_HOME };
const codex = new Codex({ baseUrl: process.env.LOCKGATE_URL, apiKey: process.env.LOCKGATE_KEY, env });
const options = { model: process.env.MODEL, workingDirectory: process.env.WORKDIR, skipGitRepoCheck: true,
                  sandboxMode: "workspace-write", approvalPolicy: "never" };
const thread = codex.startThread(options);
const first = await thread.run(process.env.PROMPT);
const resumed = codex.resumeThread(thread.id, options);
const { events } = await resumed.runStreamed(process.env.RESUME_PROMPT);
const seen = [];
let final = null;
let usage = null;
for await (const event of events) {
  seen.push(event.type);
  if (event.type === "item.completed" && event.item.type === "agent_message") final = event.item.text;
  if (event.type === "turn.completed") usage = event.usage;
}
console.log(JSON.stringify({
  threadId: thread.id,
  first: { final: first.finalResponse, usage: first.usage, items: first.items.map((i) => i.type),
           errors: first.items.filter((i) => i.type === "error").map((i) => i.message) },
  second: { final, usage, events: seen },
}));
