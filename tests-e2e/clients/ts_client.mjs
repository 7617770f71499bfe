// A TypeScript SDK client (@modelcontextprotocol/sdk) over streamable HTTP with a bearer token.
//
//   node ts_client.mjs <mcp-url> <search-query>
//   env MCP_TOOLKIT_NPM_PREFIX  the folder holding node_modules/@modelcontextprotocol/sdk
//                               (tools/node/install.py prints it)
//   env MCP_BEARER_TOKEN        sent as "Authorization: Bearer ..." when set
//
// Prints one JSON object on stdout: {"protocolVersion", "tools": [names], "search": structured
// result} on success (exit 0), or {"error", "code"} when the server refuses (exit 2).
// The SDK is loaded from the npm cache folder with createRequire, because ESM `import` only
// resolves packages next to this file, and the e2e tests must not install into the repo.
import { createRequire } from "node:module";
import { join } from "node:path";

const [url, query] = process.argv.slice(2);
const prefix = process.env.MCP_TOOLKIT_NPM_PREFIX;
if (!url || !query || !prefix) {
  console.error("usage: MCP_TOOLKIT_NPM_PREFIX=... node ts_client.mjs <mcp-url> <query>");
  process.exit(1);
}
const require = createRequire(join(prefix, "package.json"));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require(
  "@modelcontextprotocol/sdk/client/streamableHttp.js",
);

const token = process.env.MCP_BEARER_TOKEN;
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
const client = new Client({ name: "mcp-toolkit-e2e-ts", version: "0.1.0" });

try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  const search = await client.callTool({ name: "search", arguments: { query } });
  if (search.isError) {
    throw new Error(`search failed: ${JSON.stringify(search.content)}`);
  }
  const out = {
    protocolVersion: transport.protocolVersion ?? null,
    tools: tools.map((tool) => tool.name),
    search: search.structuredContent ?? null,
  };
  console.log(JSON.stringify(out));
  await client.close();
} catch (error) {
  console.log(JSON.stringify({ error: String(error?.message ?? error), code: error?.code ?? null }));
  await client.close().catch(() => {});
  process.exit(2);
}
