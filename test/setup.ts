// Any request that would leave the machine must fail loudly: point every proxy variable at a
// loopback port nothing listens on. Tests that talk to their own loopback servers list them in
// NO_PROXY themselves.
const deadProxy = 'http://127.0.0.1:9';
for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) process.env[name] = deadProxy;
process.env.NO_PROXY = process.env.no_proxy = '127.0.0.1,localhost,::1';
