import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * A loopback server that answers like GitHub's code-scanning SARIF API:
 * `POST …/repos/{owner}/{repo}/code-scanning/sarifs` and `GET …/code-scanning/sarifs/{id}`, under
 * any path prefix (GHES serves the API under /api/v3). It records what it receives.
 */
export interface CodeScanningScript {
  /** Answers to successive uploads; after the list runs out, uploads are accepted (202). */
  readonly uploadAnswers?: readonly { status: number; message: string }[];
  /** processing_status for successive status requests; the last one repeats. */
  readonly processing?: readonly ('pending' | 'complete' | 'failed')[];
  /** errors reported with a failed status. */
  readonly processingErrors?: readonly string[];
}

export interface ReceivedUpload {
  readonly path: string;
  readonly authorization: string;
  readonly body: Record<string, unknown>;
  /** The `sarif` field decoded (base64 → gunzip → JSON), or the reason it could not be. */
  readonly sarif: unknown;
}

export interface FakeCodeScanningApi {
  readonly url: string;
  readonly uploads: ReceivedUpload[];
  readonly statusRequests: string[];
  close(): Promise<void>;
}

export const SARIF_ID = '47177e22-5596-11eb-80a1-c1e54ef945c6';

export async function startCodeScanningApi(script: CodeScanningScript = {}): Promise<FakeCodeScanningApi> {
  const uploads: ReceivedUpload[] = [];
  const statusRequests: string[] = [];
  let uploadCount = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
      const send = (status: number, body: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      const match = /\/repos\/([^/]+)\/([^/]+)\/code-scanning\/sarifs(?:\/([^/]+))?$/.exec(path);
      if (!match) return send(404, { message: 'Not Found' });
      if (request.method === 'POST' && !match[3]) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        let sarif: unknown;
        try {
          sarif = JSON.parse(gunzipSync(Buffer.from(String(body.sarif), 'base64')).toString('utf8'));
        } catch (error) {
          sarif = `undecodable: ${(error as Error).message}`;
        }
        uploads.push({ path, authorization: request.headers.authorization ?? '', body, sarif });
        const answer = script.uploadAnswers?.[uploadCount];
        uploadCount += 1;
        if (answer) return send(answer.status, { message: answer.message });
        return send(202, { id: SARIF_ID, url: `http://127.0.0.1${path}/${SARIF_ID}` });
      }
      if (request.method === 'GET' && match[3]) {
        if (match[3] !== SARIF_ID) return send(404, { message: 'Not Found' });
        const states = script.processing ?? ['complete'];
        const state = states[Math.min(statusRequests.length, states.length - 1)]!;
        statusRequests.push(path);
        return send(200, {
          processing_status: state,
          analyses_url: `http://127.0.0.1/repos/${match[1]}/${match[2]}/code-scanning/analyses?sarif_id=${SARIF_ID}`,
          errors: state === 'failed' ? (script.processingErrors ?? ['invalid SARIF']) : null,
        });
      }
      return send(405, { message: 'Method Not Allowed' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    uploads,
    statusRequests,
    close: () =>
      new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
