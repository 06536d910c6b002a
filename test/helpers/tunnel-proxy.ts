import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { createServer } from 'node:http';

/**
 * A forward proxy on loopback that only tunnels (CONNECT, as undici's proxy agent asks for every
 * target) and notes each tunnel's `host:port`; anything else gets a 405.
 */
export async function startTunnelProxy(): Promise<{
  readonly url: string;
  readonly tunnels: string[];
  close(): void;
}> {
  const tunnels: string[] = [];
  const proxy = createServer((_request, response) => response.writeHead(405).end());
  proxy.on('connect', (request, client) => {
    tunnels.push(request.url ?? '');
    const [host, port] = (request.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    tunnels,
    close: () => proxy.close(),
  };
}

/** Runs `task` with HTTP_PROXY set to `proxyUrl` and NO_PROXY empty, then puts both back. */
export async function throughProxy<T>(proxyUrl: string, task: () => Promise<T>): Promise<T> {
  const names = ['HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'] as const;
  const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
  process.env.HTTP_PROXY = process.env.http_proxy = proxyUrl;
  process.env.NO_PROXY = process.env.no_proxy = '';
  try {
    return await task();
  } finally {
    for (const name of names)
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
  }
}
