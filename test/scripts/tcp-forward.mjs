#!/usr/bin/env node
// A TCP forwarder for the integration tests: listens on LISTEN_HOST:LISTEN_PORT and joins each
// connection to TARGET_HOST:TARGET_PORT, as a proxy or a container port mapping in front of an MTA
// does, so the MTA sees the forwarder's address instead of the client's. Prints "listening" once it
// accepts. Exits on SIGTERM, and when its standard input closes (the test that started it is gone).
//   node tcp-forward.mjs LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT
import net from 'node:net';

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
if (targetPort === undefined) {
  process.stderr.write('usage: tcp-forward.mjs LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT\n');
  process.exit(2);
}
const CONNECT_TIMEOUT_MS = 5000;

const server = net.createServer((client) => {
  const upstream = net.connect({ host: targetHost, port: Number(targetPort) });
  const timer = setTimeout(() => upstream.destroy(new Error('upstream connect timed out')), CONNECT_TIMEOUT_MS);
  upstream.once('connect', () => clearTimeout(timer));
  const end = () => {
    clearTimeout(timer);
    client.destroy();
    upstream.destroy();
  };
  for (const s of [client, upstream]) {
    s.on('error', end);
    s.on('close', end);
  }
  client.pipe(upstream).pipe(client);
});
server.on('error', (err) => {
  process.stderr.write(`tcp-forward: ${err.message}\n`);
  process.exit(1);
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write('listening\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
