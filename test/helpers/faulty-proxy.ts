import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request as forward } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback reverse proxy in front of a test registry that breaks requests on purpose, so the
 * publish stage's retries, error messages and digest check meet the failures real registries
 * produce. It records every request it sees.
 */

export type Fault =
  /** Answer with this status (and body) instead of asking the registry. */
  | { readonly kind: 'status'; readonly status: number; readonly body?: string }
  /** Close the connection without an answer, as a crashed load balancer does. */
  | { readonly kind: 'reset' }
  /**
   * Let the registry answer, then alter a manifest response: `Docker-Content-Digest` names
   * another digest and a GET body gains a trailing newline, so any digest read back differs.
   */
  | { readonly kind: 'tamper-manifest' }
  /**
   * Alter the request on its way to the registry: the body gains a trailing newline (a manifest
   * stays valid JSON with another digest), as a man in the middle or a broken cache would.
   */
  | { readonly kind: 'tamper-request' };

export interface FaultRule {
  /** Upper-case HTTP method; any method when absent. */
  readonly method?: string;
  /** Tested against the request path with its query; any path when absent. */
  readonly path?: RegExp;
  /** How many matching requests get the fault; then the rule is spent. Default 1. */
  readonly times?: number;
  readonly fault: Fault;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly hasAuthorization: boolean;
  /** The status the client received; `undefined` when the connection was reset. */
  readonly status: number | undefined;
  /** Whether a rule decided the answer. */
  readonly faulted: boolean;
}

export interface FaultyProxyOptions {
  readonly rules?: readonly FaultRule[];
  /** Demand these credentials with a Basic challenge, as a private registry does. */
  readonly basicAuth?: { readonly username: string; readonly password: string };
}

export interface FaultyProxy {
  /** `127.0.0.1:PORT`: use it as the registry part of image references. */
  readonly host: string;
  readonly requests: RecordedRequest[];
  /** Adds rules after the ones already present; the first matching rule with uses left applies. */
  addRules(...rules: FaultRule[]): void;
  /** Drops all rules and recorded requests. */
  reset(): void;
  stop(): Promise<void>;
}

const TAMPERED_DIGEST = `sha256:${createHash('sha256').update('tampered by the faulty proxy').digest('hex')}`;

export async function startFaultyProxy(
  upstream: string,
  options: FaultyProxyOptions = {},
): Promise<FaultyProxy> {
  const rules: Array<{ rule: FaultRule; left: number }> = [];
  const requests: RecordedRequest[] = [];
  const addRules = (...added: FaultRule[]): void => {
    for (const rule of added) rules.push({ rule, left: rule.times ?? 1 });
  };
  addRules(...(options.rules ?? []));
  const expectedAuthorization =
    options.basicAuth &&
    `Basic ${Buffer.from(`${options.basicAuth.username}:${options.basicAuth.password}`).toString('base64')}`;

  const server = createServer((incoming, outgoing) => {
    const method = incoming.method ?? 'GET';
    const path = incoming.url ?? '/';
    const record = (status: number | undefined, faulted: boolean): void => {
      requests.push({
        method,
        path,
        hasAuthorization: Boolean(incoming.headers.authorization),
        status,
        faulted,
      });
    };
    const match = rules.find(
      ({ rule, left }) =>
        left > 0 && (!rule.method || rule.method === method) && (!rule.path || rule.path.test(path)),
    );
    if (match) match.left--;
    const fault = match?.rule.fault;

    if (fault?.kind === 'reset') {
      record(undefined, true);
      incoming.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      record(fault.status, true);
      drainThen(incoming, () => outgoing.writeHead(fault.status).end(fault.body ?? ''));
      return;
    }
    if (expectedAuthorization && incoming.headers.authorization !== expectedAuthorization) {
      record(401, false);
      drainThen(incoming, () =>
        outgoing
          .writeHead(401, {
            'Content-Type': 'application/json',
            'WWW-Authenticate': 'Basic realm="faulty-proxy"',
          })
          .end(
            JSON.stringify({
              errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }],
            }),
          ),
      );
      return;
    }
    proxy(upstream, incoming, outgoing, fault?.kind, (status) => record(status, fault !== undefined));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    addRules,
    reset() {
      rules.length = 0;
      requests.length = 0;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

function drainThen(incoming: IncomingMessage, answer: () => void): void {
  incoming.resume();
  incoming.on('end', answer);
}

function proxy(
  upstream: string,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  tamper: 'tamper-manifest' | 'tamper-request' | undefined,
  record: (status: number | undefined) => void,
): void {
  const [hostname = '127.0.0.1', port = '80'] = upstream.split(':');
  const headers = { ...incoming.headers };
  if (tamper === 'tamper-request') {
    delete headers['content-length'];
    headers['transfer-encoding'] = 'chunked';
  }
  // The Host header is passed on unchanged, so upload locations the registry builds point back here.
  const upstreamRequest = forward(
    { hostname, port: Number(port), method: incoming.method, path: incoming.url, headers },
    (response) => {
      record(response.statusCode);
      const headers = { ...response.headers };
      const isManifest = /\/manifests\//.test(incoming.url ?? '') && response.statusCode === 200;
      if (!(tamper === 'tamper-manifest' && isManifest)) {
        outgoing.writeHead(response.statusCode ?? 502, headers);
        response.pipe(outgoing);
        return;
      }
      headers['docker-content-digest'] = TAMPERED_DIGEST;
      if (incoming.method === 'HEAD') {
        outgoing.writeHead(200, headers);
        outgoing.end();
        response.resume();
        return;
      }
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat([...chunks, Buffer.from('\n')]);
        headers['content-length'] = String(body.length);
        outgoing.writeHead(200, headers);
        outgoing.end(body);
      });
    },
  );
  upstreamRequest.on('error', (error) => {
    record(502);
    outgoing.writeHead(502).end(`faulty proxy: upstream ${upstream} failed: ${error.message}`);
  });
  if (tamper !== 'tamper-request') {
    incoming.pipe(upstreamRequest);
    return;
  }
  incoming.pipe(upstreamRequest, { end: false });
  incoming.on('end', () => upstreamRequest.end('\n'));
}
