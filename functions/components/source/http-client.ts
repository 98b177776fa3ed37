import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';

/**
 * isomorphic-git's HttpClient interface on Node's own fetch, used for every request to a Git host
 * (isomorphic-git's discovery and our upload-pack/receive-pack posts alike). Chosen over
 * isomorphic-git/http/node because fetch streams a request body with backpressure (a pack read
 * from /tmp), exposes the response as a stream with backpressure (its node client queues the whole
 * response without it), and takes an AbortSignal so a silent host cannot hang a Lambda until its
 * timeout.
 */
export function fetchHttpClient(options: {
  readonly defaultTimeoutMs: number;
  readonly userAgent: string;
}): HttpClient {
  return {
    async request(request: GitHttpRequest): Promise<GitHttpResponse> {
      const method = request.method ?? 'GET';
      const init: RequestInit & { duplex?: 'half' } = {
        method,
        headers: { 'user-agent': options.userAgent, ...(request.headers ?? {}) },
        signal: request.signal ?? AbortSignal.timeout(options.defaultTimeoutMs),
        redirect: 'follow',
      };
      const body = request.body as AsyncIterable<Uint8Array> | Uint8Array[] | undefined;
      if (Array.isArray(body)) {
        // isomorphic-git hands small bodies over as an array of buffers: one buffer, with its length.
        init.body = Buffer.concat(body);
      } else if (body) {
        // undici takes an async iterable body as a stream; `duplex: 'half'` is required for it.
        init.body = body as unknown as RequestInit['body'];
        init.duplex = 'half';
      }
      const response = await fetch(request.url, init);
      const headers: Record<string, string> = {};
      response.headers.forEach((value, key) => {
        headers[key] = value;
      });
      return {
        url: response.url || request.url,
        method,
        statusCode: response.status,
        statusMessage: response.statusText,
        headers,
        body: bodyIterator(response.body),
      };
    },
  };
}

async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value) yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

function bodyIterator(stream: ReadableStream<Uint8Array> | null): AsyncIterableIterator<Uint8Array> {
  if (!stream) return chunksOf(new ReadableStream<Uint8Array>({ start: (controller) => controller.close() }));
  return chunksOf(stream);
}
