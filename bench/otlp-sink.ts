/**
 * A stand-in OpenTelemetry collector for the tracing overhead benchmark: accepts OTLP/HTTP posts to
 * /v1/traces and drops them (it reads each body whole, as a collector must, but does not parse it).
 *
 *   node --import tsx bench/otlp-sink.ts [port=4318] &
 *   npm run bench:ab -- --variants='[{"name":"off"},{"name":"tracing","env":{"OTEL_EXPORTER_OTLP_ENDPOINT":"http://127.0.0.1:4318"}}]'
 *
 * It prints the bytes and posts it received when stopped (SIGTERM or SIGINT).
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 4318);
let posts = 0;
let bytes = 0;
const server = createServer((request, response) => {
  request.on('data', (chunk: Buffer) => (bytes += chunk.length));
  request.on('end', () => {
    if (request.method === 'POST' && request.url === '/v1/traces') posts += 1;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
server.listen(port, '127.0.0.1', () => console.log(`OTLP sink on http://127.0.0.1:${port}`));
const stop = () => {
  console.log(`OTLP sink: ${posts} posts, ${(bytes / 1024 / 1024).toFixed(1)} MB`);
  server.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
