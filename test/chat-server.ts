// A real HTTP server on 127.0.0.1 speaking OpenAI's chat-completions API, answering from a script. Tests drive
// the LLM policy through the real `ai` SDK and HTTP against it; nothing in the SDK is replaced.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatRequest {
  model: string;
  messages: { role: string; content: unknown; tool_calls?: unknown[]; tool_call_id?: string }[];
  tools?: { type: string; function: { name: string; description?: string; parameters: unknown } }[];
  [key: string]: unknown;
}

export type Reply =
  | { toolCall: { name: string; arguments: unknown }; usage?: { prompt: number; completion: number } }
  | { text: string; usage?: { prompt: number; completion: number } }
  | { status: number; headers?: Record<string, string>; body?: unknown };

export interface ChatServer {
  url: string;
  requests: ChatRequest[];
  close(): Promise<void>;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let data = '';
    req.on('data', (chunk: Buffer) => (data += chunk.toString()));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });

/** `script(request, index)` gives the reply to the index-th request (0-based). */
export async function startChatServer(
  script: (request: ChatRequest, index: number) => Reply,
): Promise<ChatServer> {
  const requests: ChatRequest[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
        return;
      }
      const request = JSON.parse(await readBody(req)) as ChatRequest;
      requests.push(request);
      const reply = script(request, requests.length - 1);
      if ('status' in reply) {
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(
          JSON.stringify(reply.body ?? { error: { message: `status ${reply.status}`, type: 'error' } }),
        );
        return;
      }
      // Like a real server: the prompt's tokens grow with what was sent (about 4 bytes a token).
      const sent = Buffer.byteLength(JSON.stringify([request.messages, request.tools]));
      const usage = reply.usage ?? { prompt: Math.ceil(sent / 4), completion: 50 };
      const message =
        'toolCall' in reply
          ? {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: `call_${requests.length}`,
                  type: 'function',
                  function: {
                    name: reply.toolCall.name,
                    arguments:
                      typeof reply.toolCall.arguments === 'string'
                        ? reply.toolCall.arguments
                        : JSON.stringify(reply.toolCall.arguments),
                  },
                },
              ],
            }
          : { role: 'assistant', content: reply.text };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `chatcmpl-${requests.length}`,
          object: 'chat.completion',
          created: 1_700_000_000,
          model: request.model,
          choices: [{ index: 0, message, finish_reason: 'toolCall' in reply ? 'tool_calls' : 'stop' }],
          usage: {
            prompt_tokens: usage.prompt,
            completion_tokens: usage.completion,
            total_tokens: usage.prompt + usage.completion,
          },
        }),
      );
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
